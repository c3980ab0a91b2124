"""Impact before saving (Services.identity_impact) and the match matrix (merge_matrix,
matrix_accounts) over the demo organisation, checked against the store and the sync itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import delete, select, update
from sqlmodel import col

from engine.config import RosterConfig, from_document, to_document
from engine.errors import InvalidInput, NotFound, Stopped
from engine.records import norm_key
from engine.services import Services
from engine.setup import demo_folder_for
from engine.store.models import Account, Grant

LEAVERS_STAY = """
account.profile.employment_type in ["FULL_TIME", "CONTRACTOR", "INTERN"]
  ? "CREATE"
  : "MATCH_ONLY"
"""


def edited(services: Services, change: Callable[[dict[str, Any]], None]) -> RosterConfig:
    """The saved configuration with CHANGE applied to its document form."""
    document = to_document(services.ctx.config())
    change(document)
    return from_document(document)


def directory(document: dict[str, Any], app: str) -> dict[str, Any]:
    return next(d for d in document["directories"] if d["app"] == app)


def app_config(document: dict[str, Any], app: str) -> dict[str, Any]:
    return next(a for a in document["apps"] if a["id"] == app)


def stored(services: Services, *conditions: Any) -> list[Account]:
    with services.db.session() as session:
        return list(session.scalars(select(Account).where(*conditions)).all())


def live_people_emails(services: Services) -> set[str]:
    return {norm_key(u.email) for u in services.population().users if u.status != "DELETED"}


# --- impact ------------------------------------------------------------------------------


def test_the_saved_configuration_changes_nothing(demo: Services) -> None:
    impact = demo.identity_impact(demo.ctx.config())
    assert (impact.decisions_changed, impact.people_created, impact.people_removed) == (0, 0, 0)
    assert impact.owner_changed == 0 and not impact.cancelled
    hr = stored(demo, col(Account.app_id) == "hr", col(Account.status) != "DELETED")
    assert impact.decision_counts["hr"] == {
        "CREATE": sum(a.filter_result == "CREATE" for a in hr),
        "MATCH_ONLY": sum(a.filter_result == "MATCH_ONLY" for a in hr),
        "IGNORE": sum(a.filter_result == "IGNORE" for a in hr),
        "errors": 0,
    }
    assert list(impact.decision_counts) == ["hr", "idp", "hr_feed"]


def test_leavers_kept_as_people_are_created(demo: Services) -> None:
    config = edited(demo, lambda d: directory(d, "hr").update(filter=LEAVERS_STAY))
    impact = demo.identity_impact(config)
    leavers = stored(demo, col(Account.app_id) == "hr", col(Account.filter_result) == "IGNORE")
    kept = {
        norm_key(a.email)
        for a in leavers
        if a.status != "DELETED"
        and a.profile.get("employment_type") in ("FULL_TIME", "CONTRACTOR", "INTERN")
    }
    # a leaver someone else (the IdP) still keeps is a person already: only the others are new
    new = sorted(kept - live_people_emails(demo))
    assert new and impact.people_created == len(new)
    assert impact.samples["people_created"] == new[:10]
    assert impact.people_removed == 0
    assert impact.decisions_changed == len(kept)
    assert impact.decision_counts["hr"]["IGNORE"] == len(leavers) - len(kept)
    # their AD, Slack, ... accounts find the new people: owners change
    assert impact.owner_changed > 0 and len(impact.samples["owner_changed"]) == 10


def test_a_filter_ignoring_everyone_removes_the_people_only_hr_keeps(demo: Services) -> None:
    config = edited(demo, lambda d: directory(d, "hr").update(filter='"IGNORE"'))
    impact = demo.identity_impact(config)
    kept_by_idp = {
        a.owner_id
        for a in stored(demo, col(Account.app_id) == "idp", col(Account.filter_result) == "CREATE")
    }
    only_hr = [
        u for u in demo.population().users if u.status != "DELETED" and u.id not in kept_by_idp
    ]
    assert only_hr and impact.people_removed == len(only_hr)
    labels = sorted(u.email or u.display_name for u in only_hr)
    assert impact.samples["people_removed"] == labels[:10]
    assert impact.people_created == 0
    hr_live = stored(demo, col(Account.app_id) == "hr", col(Account.status) != "DELETED")
    assert impact.decision_counts["hr"] == {
        "CREATE": 0,
        "MATCH_ONLY": 0,
        "IGNORE": len(hr_live),
        "errors": 0,
    }


def test_the_impact_is_what_the_next_sync_does(demo: Services) -> None:
    """The same stages: import the edit and plan a sync; its identify counts are the impact's."""
    config = edited(demo, lambda d: directory(d, "hr").update(filter='"IGNORE"'))
    impact = demo.identity_impact(config)
    folder = demo_folder_for(demo.db)
    document = yaml.safe_load(demo.export_config())
    directory(document, "hr")["filter"] = '"IGNORE"'
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    demo.import_config(text, source="edited.yaml", base_dir=folder)
    plan = demo.sync(dry_run=True, allow_deletes=True)
    identify = next(s for s in plan.stages if s.name == "identify")
    assert identify.counts.get("users_removed", 0) == impact.people_removed
    assert identify.counts.get("users_created", 0) == impact.people_created
    owner_changes = {c.object_id for c in plan.planned if c.field == "owner"}
    assert len(owner_changes) == impact.owner_changed


def test_a_filter_that_fails_keeps_the_stored_decisions(demo: Services) -> None:
    config = edited(demo, lambda d: directory(d, "hr").update(filter="account.profile.nope"))
    impact = demo.identity_impact(config)
    hr_live = stored(demo, col(Account.app_id) == "hr", col(Account.status) != "DELETED")
    assert impact.decision_counts["hr"]["errors"] == len(hr_live)
    # a failing filter leaves the accounts as they were, as a sync does: nobody moves
    assert (impact.people_created, impact.people_removed, impact.owner_changed) == (0, 0, 0)
    assert impact.decisions_changed == len(hr_live)


def test_a_filter_that_does_not_compile_is_refused(demo: Services) -> None:
    config = edited(demo, lambda d: directory(d, "hr").update(filter="account.("))
    with pytest.raises(InvalidInput, match="directory hr: filter"):
        demo.identity_impact(config)


def test_removing_a_merge_rule_changes_owners(demo: Services) -> None:
    # a contractor-feed account with no employee id, unlinked since the last sync: the saved
    # rules (email, then employee id) merge it again; with only the employee id it stays alone
    feed = stored(demo, col(Account.app_id) == "hr_feed", col(Account.owner_id).is_not(None))
    account = next(a for a in feed if not a.employee_ids)
    key = f"hr_feed:{account.external_id}"
    demo.set_link(key, None, pin=False)
    demo.invalidate()
    config = edited(
        demo,
        lambda d: directory(d, "hr_feed").update(
            merge_rules=[
                {
                    "name": "employee_id",
                    "account": {"preset": "employee_id"},
                    "user": {"preset": "employee_id"},
                }
            ]
        ),
    )
    impact = demo.identity_impact(config)
    assert impact.owner_changed == 1
    assert impact.samples["owner_changed"] == [f"{key} ({account.display_name})"]
    assert (impact.people_created, impact.people_removed, impact.decisions_changed) == (0, 0, 0)


def test_a_broader_ownership_strategy_changes_owners(demo: Services) -> None:
    config = edited(demo, lambda d: app_config(d, "slack").update(ownership={"strategy": "broad"}))
    impact = demo.identity_impact(config)
    people = [u for u in demo.population().users if u.status != "DELETED"]
    names: dict[str, int] = {}
    for user in people:
        name = " ".join(norm_key(user.display_name).split())
        names[name] = names.get(name, 0) + 1
    found_by_name = []
    for account in stored(
        demo,
        col(Account.app_id) == "slack",
        col(Account.owner_id).is_(None),
        col(Account.type) == "USER",
        col(Account.status) != "DELETED",
    ):
        if account.given_name and account.family_name:
            name = f"{account.given_name} {account.family_name}"
        else:
            name = account.display_name
        if names.get(" ".join(norm_key(name).split())) == 1:
            found_by_name.append(account)
    assert found_by_name and impact.owner_changed == len(found_by_name)
    assert (impact.people_created, impact.people_removed) == (0, 0)


def test_cancelling_stops_the_simulation(demo: Services) -> None:
    config = edited(demo, lambda d: directory(d, "hr").update(filter='"IGNORE"'))
    assert demo.identity_impact(config, cancelled=lambda: True).cancelled
    asked: list[int] = []

    def later() -> bool:  # true from inside the first stage on
        asked.append(1)
        return len(asked) > 2

    stopped = demo.identity_impact(config, cancelled=later)
    assert stopped.cancelled and stopped.people_removed == 0
    assert stopped.as_dict()["cancelled"] is True
    steps: list[tuple[str, int, int]] = []
    done = demo.identity_impact(config, progress=lambda *a: steps.append(a))
    assert not done.cancelled and done.people_removed > 0
    assert steps[-1] == ("done", 4, 4)
    assert ("edited: identify", 2, 4) in steps and ("edited: ownership", 3, 4) in steps


def test_impact_as_dict_keeps_its_shape(demo: Services) -> None:
    impact = demo.identity_impact(demo.ctx.config())
    assert set(impact.as_dict()) == {
        "decisions_changed",
        "decision_counts",
        "people_created",
        "people_removed",
        "owner_changed",
        "samples",
        "cancelled",
    }
    assert set(impact.samples) == {"people_created", "people_removed", "owner_changed"}


# --- the match matrix ----------------------------------------------------------------------


def all_rows(services: Services, kind: Any, **options: Any) -> list[str]:
    keys: list[str] = []
    offset = 0
    while True:
        page = services.matrix_accounts(kind, offset=offset, limit=20, **options)
        keys += [r.key for r in page.rows]
        offset += 20
        if offset >= page.total:
            assert len(keys) == page.total
            return keys


def test_unowned_are_the_dashboards(demo: Services) -> None:
    dashboard = demo.dashboard()
    directories = ["hr", "idp", "hr_feed"]
    unowned = stored(
        demo,
        col(Account.owner_id).is_(None),
        col(Account.status) != "DELETED",
        col(Account.app_id).not_in(directories),
    )
    listed = all_rows(demo, "unowned")
    assert len(listed) == dashboard.unowned == len(unowned)
    assert sorted(listed) == sorted(f"{a.app_id}:{a.external_id}" for a in unowned)
    matrix = demo.merge_matrix()
    assert sum(a.unowned for a in matrix.apps) == dashboard.unowned
    # every live account of an app is owned or not
    for counts in matrix.apps:
        live = stored(demo, col(Account.app_id) == counts.app, col(Account.status) != "DELETED")
        assert counts.owned + counts.unowned == len(live)


def test_unmatched_includes_the_dashboards_unmerged(demo: Services) -> None:
    dashboard = demo.dashboard()
    unmerged = stored(
        demo,
        col(Account.owner_id).is_(None),
        col(Account.status) != "DELETED",
        col(Account.filter_result) == "MATCH_ONLY",
    )
    assert len(unmerged) == dashboard.unmerged == 20  # 7 feed rows, 13 disabled IdP
    listing = demo.matrix_accounts("unmatched", limit=500)
    keys = {r.key for r in listing.rows}
    assert {f"{a.app_id}:{a.external_id}" for a in unmerged} <= keys
    row = next(r for r in listing.rows if r.key == "hr_feed:CW-0030")
    assert row.label == "Victor Hale"
    assert row.reason == (
        "MATCH_ONLY: 'email' found nobody; 'employee_id' found nobody; "
        "MATCH_ONLY creates nobody, so it stays unmerged"
    )


def test_the_matrix_counts_every_considered_account_once_per_rule(demo: Services) -> None:
    matrix = demo.merge_matrix()
    assert [d.app for d in matrix.directories] == ["hr", "idp", "hr_feed"]
    assert [a.app for a in matrix.apps] == ["ad", "entra", "github", "slack", "badge"]
    assert [a.strategy for a in matrix.apps] == ["narrow", "narrow", "broad", "narrow", "custom"]
    for row in matrix.directories:
        passing = stored(
            demo,
            col(Account.app_id) == row.app,
            col(Account.status) != "DELETED",
            col(Account.filter_result).in_(["CREATE", "MATCH_ONLY"]),
        )
        assert row.considered == len(passing) and row.pinned == 0 and row.errors == 0
        for rule in row.rules:
            total = rule.matched + rule.ambiguous + rule.unmatched + rule.decided_earlier
            assert total == row.considered
        # what one rule did not decide the next one tries
        for first, second in zip(row.rules, row.rules[1:], strict=False):
            assert second.decided_earlier == first.decided_earlier + first.matched
    hr = matrix.directories[0]
    assert [r.rule for r in hr.rules] == ["email", "employee-id"]
    assert demo.merge_matrix("hr").directories == [hr] and demo.merge_matrix("hr").apps == []
    assert demo.merge_matrix("slack").apps == [matrix.apps[3]]


def test_reordering_merge_rules_changes_the_matrix(demo: Services) -> None:
    before = demo.merge_matrix("hr").directories[0]
    config = edited(
        demo,
        lambda d: directory(d, "hr").update(merge_rules=directory(d, "hr")["merge_rules"][::-1]),
    )
    after = demo.merge_matrix("hr", config=config).directories[0]
    assert [r.rule for r in after.rules] == ["employee-id", "email"]
    # HR accounts all carry an employee id: it now decides what email decided
    assert after.rules[0].matched > before.rules[1].matched
    assert after.rules[1].decided_earlier == after.rules[0].matched
    assert after.considered == before.considered
    # the saved configuration's matrix is not the edited one's
    assert demo.merge_matrix("hr").directories[0] == before


def test_ambiguous_accounts_are_listed_with_the_reason(demo: Services) -> None:
    everyone = {"cel": '"same"'}
    config = edited(
        demo,
        lambda d: directory(d, "hr_feed").update(
            merge_rules=[{"name": "everyone", "account": everyone, "user": everyone}]
        ),
    )
    matrix = demo.merge_matrix("hr_feed", config=config).directories[0]
    people = len(demo.population().users)  # identify's index holds removed people too
    assert matrix.rules[0].ambiguous == matrix.considered == 32
    listing = demo.matrix_accounts("ambiguous", "hr_feed", config=config, limit=5)
    assert listing.total == 32 and len(listing.rows) == 5
    assert listing.rows[0].reason.startswith(f"MATCH_ONLY: 'everyone' found {people} people")
    by_rule = demo.matrix_accounts("ambiguous", "hr_feed", rule="everyone", config=config)
    assert by_rule.total == 32
    assert demo.matrix_accounts("ambiguous").total == 0  # the saved rules: nobody


def test_listing_by_rule_matches_the_matrix(demo: Services) -> None:
    feed = demo.merge_matrix("hr_feed").directories[0]
    for rule in feed.rules:
        listed = demo.matrix_accounts("unmatched", "hr_feed", rule=rule.rule, limit=500)
        assert listed.total == rule.unmatched
    badge = demo.matrix_accounts("unowned", "badge", rule="email", limit=500)
    assert badge.total == demo.merge_matrix("badge").apps[0].unowned  # every one tried both
    assert all(r.key.startswith("badge:") for r in badge.rows)


def test_bad_listing_requests_say_what_to_do(demo: Services) -> None:
    with pytest.raises(InvalidInput, match="use one of: ambiguous, unmatched, unowned"):
        demo.matrix_accounts("lost")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="No app 'nope'.*the apps are: hr, idp"):
        demo.matrix_accounts("unowned", "nope")
    with pytest.raises(NotFound, match="No app 'nope'"):
        demo.merge_matrix("nope")
    with pytest.raises(InvalidInput, match="slack is not a directory.*--list unowned"):
        demo.matrix_accounts("unmatched", "slack")
    with pytest.raises(InvalidInput, match="hr is a directory.*--list unmatched"):
        demo.matrix_accounts("unowned", "hr")
    with pytest.raises(
        InvalidInput, match="No rule 'mail' in hr; the rules are: email, employee-id"
    ):
        demo.matrix_accounts("unmatched", "hr", rule="mail")
    with pytest.raises(InvalidInput, match="offset must be 0 or more"):
        demo.matrix_accounts("unowned", offset=-1)
    with pytest.raises(InvalidInput, match="limit 1 or more"):
        demo.matrix_accounts("unowned", limit=0)


def test_matrix_json_shape(demo: Services) -> None:
    data = demo.merge_matrix("hr_feed").as_dict()
    assert data == {
        "directories": [
            {
                "app": "hr_feed",
                "considered": 32,
                "pinned": 0,
                "errors": 0,
                "rules": [
                    {
                        "rule": "email",
                        "matched": 25,
                        "ambiguous": 0,
                        "unmatched": 7,
                        "decided_earlier": 0,
                    },
                    {
                        "rule": "employee_id",
                        "matched": 0,
                        "ambiguous": 0,
                        "unmatched": 7,
                        "decided_earlier": 25,
                    },
                ],
            }
        ],
        "apps": [],
    }
    page = demo.matrix_accounts("unmatched", "hr_feed", limit=2, offset=1).as_dict()
    assert set(page) == {"kind", "total", "offset", "rows"}
    assert (page["kind"], page["total"], page["offset"], len(page["rows"])) == (
        "unmatched",
        7,
        1,
        2,
    )
    assert set(page["rows"][0]) == {"key", "label", "reason"}


# --- roster merge-matrix -------------------------------------------------------------------


def cli(demo: Services, *args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from console.cli import main

    path = demo.db.sqlite_path
    assert path is not None
    result = CliRunner().invoke(main, ["merge-matrix", *args, "--db", str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_cli_matrix_table_and_json(demo: Services) -> None:
    code, out, _ = cli(demo)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Directory hr: 277 accounts considered (0 pinned, 0 filter errors)"
    assert lines[1].split() == ["merge", "rule", "matched", "ambiguous", "nobody", "earlier"]
    feed = lines.index("Directory hr_feed: 32 accounts considered (0 pinned, 0 filter errors)")
    assert lines[feed + 2].split() == ["email", "25", "0", "7", "0"]
    assert lines[feed + 3].split() == ["employee_id", "0", "0", "7", "25"]
    slack = next(line for line in lines if line.startswith("slack "))
    assert slack.split() == ["slack", "narrow", "250", "16", "0", "0"]
    assert "a directory's: --list unmatched|ambiguous [--rule NAME]" in out
    assert "an app's: --list unowned|ambiguous" in out
    code, out, _ = cli(demo, "github", "--json")
    assert code == 0
    assert json.loads(out) == demo.merge_matrix("github").as_dict()
    assert json.loads(out)["apps"][0]["strategy"] == "broad"


def test_cli_matrix_lists(demo: Services) -> None:
    code, out, _ = cli(demo, "--list", "unowned", "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Unowned accounts (1–2 of 107):"
    assert lines[1].split() == ["ad:Administrator", "Administrator"]
    assert lines[2].strip() == "a system account: rules never link one, an admin does (roster link)"
    assert lines[-1] == "… 105 more: --offset 2"
    code, out, _ = cli(demo, "hr_feed", "--list", "unmatched", "--rule", "email", "--json")
    data = json.loads(out)
    assert code == 0 and (data["kind"], data["total"], data["offset"]) == ("unmatched", 7, 0)
    assert [r["key"] for r in data["rows"]][:2] == ["hr_feed:CW-0003", "hr_feed:CW-0010"]
    code, out, _ = cli(demo, "--list", "ambiguous")
    assert (code, out) == (0, "No ambiguous accounts.\n")


def test_cli_matrix_lists_print_a_name_s_line_break_as_text(demo: Services) -> None:
    """An account's name is data: one holding a line break forged a line of the listing
    (hostile review)."""
    path = demo_folder_for(demo.db) / "apps" / "ad.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    admin = next(a for a in data["accounts"] if a["id"] == "Administrator")
    admin["display_name"] = "Admin\n  [ownership] ad:forged linked to someone"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert demo.sync().status == "applied"
    code, out, _ = cli(demo, "--list", "unowned", "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["ad:Administrator", "Admin"] and "[ownership]" in lines[1]
    assert not any(line.lstrip().startswith("[ownership]") for line in lines), lines


def test_cli_matrix_errors(demo: Services) -> None:
    code, _, err = cli(demo, "nope")
    assert code == 1 and "No app 'nope' in the configuration; the apps are: hr" in err
    code, _, err = cli(demo, "hr", "--list", "unowned")
    assert code == 1 and "hr is a directory" in err
    code, _, err = cli(demo, "--rule", "email")
    assert code == 2 and "--rule narrows a list" in err
    code, _, err = cli(demo, "hr", "--list", "unmatched", "--rule", "mail")
    assert code == 1 and "the rules are: email, employee-id" in err
    code, _, err = cli(demo, "--list", "lost")
    assert code == 2 and "'lost' is not one of 'ambiguous', 'unmatched', 'unowned'" in err
    code, _, err = cli(demo, "--list", "unowned", "--json", "--limit", "-1")
    assert code == 2
    # --limit 0 lists every one, as it does for `people list` and `runs` (newcomer review)
    code, out, _ = cli(demo, "--list", "unowned", "--json", "--limit", "0")
    listed = json.loads(out)
    assert code == 0 and len(listed["rows"]) == listed["total"] > 0


def test_cli_matrix_shows_hostile_names_literally(demo: Services, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "x.yaml").write_text(
        # (the file connector refuses C0 control characters; C1's CSI and a bidi override
        # pass, and must still never reach the terminal raw)
        yaml.safe_dump({"accounts": [{"id": "e\x9b31m1", "display_name": "[red]Eve\u202ex"}]})
    )
    document = yaml.safe_load(demo.export_config())
    document["apps"].append(
        {"id": "x", "name": "X", "connector": "file", "settings": {"path": str(folder / "x.yaml")}}
    )
    demo.import_config(yaml.safe_dump(document), source="x.yaml", base_dir=demo_folder_for(demo.db))
    assert demo.sync(allow_deletes=True).status == "applied"
    code, out, _ = cli(demo, "x", "--list", "unowned")
    assert code == 0 and "\x9b" not in out and "\u202e" not in out
    assert "x:e\\x9b31m1" in out and "[red]Eve\\u202ex" in out


# --- roster preview --against: what saving the draft would do -------------------------------


def preview(demo: Services, context: str, path: str, text: str) -> dict[str, Any]:
    from click.testing import CliRunner

    from console.cli import main

    db = str(demo.db.sqlite_path)
    args = ["preview", "--db", db, "--context", context, "--against", path, text, "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    compare: dict[str, Any] = json.loads(result.stdout)["compare"]
    return compare


def test_preview_against_a_filter_says_who_would_be_removed(demo: Services) -> None:
    compare = preview(demo, "directory_filter", "directories.hr.filter", '"IGNORE"')
    config = edited(demo, lambda d: directory(d, "hr").update(filter='"IGNORE"'))
    impact = demo.identity_impact(config)
    assert compare["changed"] == impact.decisions_changed == 277
    assert compare["people_removed"] == impact.people_removed > 0
    assert (compare["people_created"], compare["owner_changed"]) == (0, impact.owner_changed)
    assert compare["impact_samples"] == impact.as_dict()["samples"]
    assert compare["impact_error"] is None


def test_preview_against_a_merge_rule_and_an_ownership_rule(demo: Services) -> None:
    # the IdP's login rule reads the email instead: everyone already linked stays linked
    compare = preview(
        demo, "account_key", "directories.idp.merge_rules.login.account", "account.email"
    )
    assert compare["changed"] > 0
    assert (compare["people_created"], compare["people_removed"], compare["owner_changed"]) == (
        0,
        0,
        0,
    )
    # badges by a key nobody has: the badges the email rule linked lose their owner
    compare = preview(demo, "account_key", "apps.badge.ownership.rules.email.account", '"x"')
    badge = demo.merge_matrix("badge").apps[0]
    assert 0 < compare["owner_changed"] <= badge.owned
    assert all(s.startswith("badge:") for s in compare["impact_samples"]["owner_changed"])
    assert (compare["people_created"], compare["people_removed"]) == (0, 0)


def test_preview_against_other_paths_is_unchanged(demo: Services) -> None:
    compare = preview(demo, "push_condition", "push_rules.ad-core.condition", "true")
    assert compare["changed"] > 0
    assert "people_created" not in compare and "impact_samples" not in compare


def test_a_disabled_directory_removes_the_people_only_it_keeps(demo: Services) -> None:
    ignoring = demo.identity_impact(
        edited(demo, lambda d: directory(d, "hr").update(filter='"IGNORE"'))
    )
    disabled = demo.identity_impact(
        edited(demo, lambda d: directory(d, "hr").update(enabled=False))
    )
    assert disabled.people_removed == ignoring.people_removed > 0
    assert disabled.samples == ignoring.samples
    matrix = demo.merge_matrix(
        "hr", config=edited(demo, lambda d: directory(d, "hr").update(enabled=False))
    )
    assert matrix.directories[0].considered == 0


# --- the filters' decisions, counted from the filters alone ----------------------------------


ENTRA_EXECUTIVES = '"grp-executive" in account.entitlements ? "MATCH_ONLY" : "IGNORE"'


@pytest.mark.parametrize(
    "change",
    [
        lambda d: None,  # the saved configuration
        lambda d: directory(d, "hr").update(filter=LEAVERS_STAY),
        # fails for interns only: their decisions are errors, the others count
        lambda d: directory(d, "hr").update(
            filter='account.profile.employment_type == "INTERN" ? account.profile.nope : "CREATE"'
        ),
        lambda d: directory(d, "hr").update(filter='"maybe"'),  # not a decision: errors
        lambda d: directory(d, "idp").update(enabled=False),  # IGNORE for all
        lambda d: d["directories"].append({"app": "entra", "filter": ENTRA_EXECUTIVES}),
        lambda d: d["directories"].reverse(),
    ],
)
def test_decision_counts_are_what_identify_counts(demo: Services, change: Any) -> None:
    """The filters alone count what identify and ownership around them count."""
    config = edited(demo, change)
    counts = demo.impact.filter_counts(config)  # the filters alone answer these
    assert counts is not None
    assert counts == demo.identity_impact(config).decision_counts
    assert demo.decision_counts(config) == counts
    if config == demo.ctx.config():  # the saved configuration, as the sync left the store
        assert demo.stored_decision_counts(config) == counts


def test_decision_counts_are_the_filters_today_not_the_stored_decisions(
    demo: Services,
) -> None:
    """A sync decides again only the accounts whose imported data changed: a revoked grant a
    filter reads leaves the stored decision behind (hostile review). The count is today's."""
    save = yaml.safe_load(demo.export_config())
    directory_list = save["directories"]
    directory_list.append({"app": "entra", "filter": ENTRA_EXECUTIVES})
    text = yaml.safe_dump(save, sort_keys=False, allow_unicode=True)
    demo.import_config(text, source="edited.yaml", base_dir=demo_folder_for(demo.db))
    assert demo.sync(allow_deletes=True).status == "applied"
    config = demo.ctx.config()
    before = demo.decision_counts(config)
    assert before is not None and before["entra"]["MATCH_ONLY"] > 0
    with demo.db.session() as session, session.begin():  # every grant revoked
        session.execute(delete(Grant))
    after = demo.decision_counts(config)
    assert after is not None and after["entra"]["MATCH_ONLY"] == 0
    # the store still holds the decisions the sync made: what the screen shows, dimmed,
    # until today's are counted
    assert demo.stored_decision_counts(config) == before
    assert after["entra"]["IGNORE"] == before["entra"]["IGNORE"] + before["entra"]["MATCH_ONLY"]
    assert after == demo.identity_impact(config).decision_counts


@pytest.mark.parametrize(
    "filter_text",
    [
        'now() > timestamp("2000-01-01T00:00:00Z") ? "CREATE" : "IGNORE"',  # the clock
        'has(c1.directory.users.v1.FindByEmail(account.email).id) ? "MATCH_ONLY" : "CREATE"',
        "account.(",  # does not compile: identity_impact says where
    ],
)
def test_filters_reading_beyond_the_account_are_left_to_identify(
    demo: Services, filter_text: str
) -> None:
    config = edited(demo, lambda d: directory(d, "hr_feed").update(filter=filter_text))
    assert demo.impact.filter_counts(config) is None
    if filter_text != "account.(":
        assert demo.decision_counts(config) == demo.identity_impact(config).decision_counts
    else:
        with pytest.raises(InvalidInput, match="directory hr_feed: filter"):
            demo.decision_counts(config)


def test_configurations_no_sync_runs_are_left_to_identify(demo: Services) -> None:
    """An app named by two directories, or a directory of an unknown app: identify says
    what is wrong (the filters alone counted the second directory's decisions only)."""
    twice = edited(
        demo,
        lambda d: d["directories"].extend(
            [{"app": "hr", "filter": "account.profile.nope"}, {"app": "hr", "filter": '"CREATE"'}]
        ),
    )
    assert demo.impact.filter_counts(twice) is None
    assert demo.decision_counts(twice) == demo.identity_impact(twice).decision_counts
    unknown = edited(demo, lambda d: d["directories"].append({"app": "nowhere"}))
    assert demo.impact.filter_counts(unknown) is None
    with pytest.raises(InvalidInput, match="nowhere"):
        demo.decision_counts(unknown)


def test_deleted_accounts_are_not_counted_and_cancelling_stops(demo: Services) -> None:
    config = demo.ctx.config()
    before = demo.decision_counts(config)
    assert before is not None
    hr = stored(demo, col(Account.app_id) == "hr", col(Account.status) != "DELETED")
    with demo.db.session() as session, session.begin():
        session.execute(update(Account).where(col(Account.id) == hr[0].id).values(status="DELETED"))
    after = demo.decision_counts(config)
    assert after is not None
    assert sum(after["hr"].values()) == sum(before["hr"].values()) - 1
    with pytest.raises(Stopped):
        demo.decision_counts(config, cancelled=lambda: True)
    with pytest.raises(Stopped):  # also with nothing to count
        demo.decision_counts(
            edited(demo, lambda d: d.update(directories=[])), cancelled=lambda: True
        )
