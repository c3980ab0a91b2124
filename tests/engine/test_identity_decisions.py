"""Identity decisions that must not be silent (issue 12 §6), on the demo organisation through the
same calls the CLI makes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.services import Services
from engine.services.editing import ConfigEdit
from engine.store.models import Account, AttributeValue, Person


def _care(out: str) -> dict[str, Any]:
    """`roster status --json`'s lists by key, each item as its text (the facts beside it are
    checked where they matter)."""
    lists = {}
    for care in json.loads(out)["care"]:
        lists[care["key"]] = {**care, "entries": care["items"]}
        lists[care["key"]]["items"] = [item["text"] for item in care["items"]]
    return lists


def owners(services: Services, email: str) -> dict[str, int | None]:
    with services.db.session() as session:
        rows = session.scalars(select(Account).where(Account.email == email)).all()
        return {f"{a.app_id}:{a.external_id}": a.owner_id for a in rows}


def test_an_account_linked_by_hand_lends_no_merge_keys(demo: Services) -> None:
    # Linking John's IdP account to Ann by hand (a shared or misfiled account) must not make
    # John's address one of Ann's emails: that would make John's other accounts ambiguous and
    # unlink them from him.
    john = demo.user_by_email("john.bjork@example.com")
    before = owners(demo, "john.bjork@example.com")
    idp = next(key for key in before if key.startswith("idp:"))
    demo.set_link(idp, "ann.lee@example.com")
    result = demo.sync()
    assert result.exit_code == 0
    with demo.db.session() as session:
        ann = session.scalars(select(Person).where(Person.email == "ann.lee@example.com")).one()
        assert "john.bjork@example.com" not in ann.emails
    after = owners(demo, "john.bjork@example.com")
    assert after.pop(idp) == ann.id  # the hand-made link holds
    assert all(after[key] == john.id for key in after), after  # John keeps the rest


# --- a person whose HR record vanishes but whom the IdP keeps --------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from console.cli import main

    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def rewrite_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def ad_profile(folder: Path, external_id: str) -> dict[str, Any]:
    data = yaml.safe_load((folder / "r-demo" / "apps" / "ad.yaml").read_text(encoding="utf-8"))
    return next(a["profile"] for a in data["accounts"] if a["id"] == external_id)


def test_a_vanished_hr_record_holds_its_blanks_until_deletes_are_allowed(
    demo: Services, tmp_path: Path
) -> None:
    db = str(tmp_path / "r.db")
    # ad-core writes to everyone with an AD account (the demo's rule spares people HR does not
    # know): without the hold, John's blanks would be pushed to AD in the same run
    code, out, err = cli(
        "config",
        "set",
        "push_rules.ad-core.targeting.cel",
        'subject.status == UserStatus.ENABLED && c1.user.v1.HasApp(subject, "ad")',
        "--db",
        db,
    )
    assert code == 0, out + err
    assert cli("sync", "--db", db)[0] == 0
    assert ad_profile(tmp_path, "john.bjork")["extensionAttribute1"] == "CC-2200"

    rewrite_yaml(
        tmp_path / "r-demo" / "apps" / "hr.yaml",
        lambda d: d.update(accounts=[a for a in d["accounts"] if a["id"] != "E10003"]),
    )
    code, out, _ = cli("sync", "--dry-run", "--json", "--db", db)
    assert code == 0
    plan = json.loads(out)
    held = {h["attribute"]: h for h in plan["held"]}
    assert set(held) == {
        "manager_email",
        "employment_type",
        "employment_status",
        "cost_center",
        "phone",
        "location",
        "country",
    }
    assert held["cost_center"] == {
        "user_id": held["cost_center"]["user_id"],
        "person": "john.bjork@example.com",
        "attribute": "cost_center",
        "value": "CC-2200",
        "accounts": ["hr:E10003"],
    }
    john = [c for c in plan["changes"] if c["object_id"].startswith("john.bjork")]
    assert [c for c in john if c["stage"] in ("attributes", "push")] == []
    attributes = next(s for s in plan["stages"] if s["name"] == "attributes")
    assert attributes["counts"]["held"] == 7
    assert any('cost_center held at "CC-2200"' in p for p in attributes["problems"])

    # the applied run does what its dry run said
    code, out, _ = cli("sync", "--json", "--db", db)
    assert code == 0
    applied = json.loads(out)
    assert applied["changes"] == plan["changes"] and applied["held"] == plan["held"]
    assert ad_profile(tmp_path, "john.bjork")["extensionAttribute1"] == "CC-2200"
    assert demo.explain("john.bjork@example.com", "cost_center").reason.startswith("held:")

    # the person is flagged where an admin looks
    code, out, _ = cli("people", "show", "john.bjork@example.com", "--json", "--db", db)
    assert code == 0
    person = json.loads(out)
    assert person["flags"] == [
        "lost their hr record (hr:E10003); kept by idp",
        "gone from hr (hr:E10003), but still enabled in ad:john.bjork, badge:BDG-00003, "
        "idp:00uRss3gcNUqwTfg8j9C, slack:U08KB38GZHU",
    ]
    assert {a["name"]: a["value"] for a in person["attributes"]}["cost_center"] == "CC-2200"
    code, out, _ = cli("people", "show", "john.bjork@example.com", "--db", db)
    assert "! lost their hr record (hr:E10003); kept by idp" in out
    assert {a["name"]: a["held_from"] for a in person["attributes"]}["cost_center"] == ["hr:E10003"]
    assert "[held: hr:E10003 gone; roster sync --allow-deletes clears it]" in out
    code, out, _ = cli("status", "--json", "--db", db)
    board = json.loads(out)
    assert board["held"] == 7
    (lost,) = [c for c in board["care"] if c["key"] == "lost_primary"]
    assert lost["items"] == [
        {
            "text": "john.bjork@example.com: lost their hr record (hr:E10003); kept by idp",
            "person": "john.bjork@example.com",
            "how": "lost",
            "directory": "hr",
            "records": ["hr:E10003"],
            "kept_by": ["idp"],
        }
    ]
    assert lost["total"] == 1

    # nothing new: the run says the values are still held
    code, out, _ = cli("sync", "--db", db)
    assert code == 0
    assert "7 values still held: sync with --allow-deletes to clear them" in out

    # --allow-deletes releases them: the values are cleared and the blanks pushed
    code, out, _ = cli("sync", "--allow-deletes", "--json", "--db", db)
    assert code == 0
    released = json.loads(out)
    assert released["held"] == []
    cleared = {
        c["field"]
        for c in released["changes"]
        if c["stage"] == "attributes" and c["object_id"] == "john.bjork@example.com"
    }
    assert cleared == set(held)
    assert ad_profile(tmp_path, "john.bjork").get("extensionAttribute1", "") == ""
    code, out, _ = cli("status", "--json", "--db", db)
    assert json.loads(out)["held"] == 0
    code, out, _ = cli("sync", "--json", "--db", db)
    assert json.loads(out)["held"] == [] and json.loads(out)["changes"] == []


def test_a_removal_with_the_account_still_listed_is_not_held(
    demo: Services, tmp_path: Path
) -> None:
    # HR blanks John's cost centre itself: that is a real removal, not a vanished account
    def blank(data: dict[str, Any]) -> None:
        for account in data["accounts"]:
            if account["id"] == "E10003":
                account["profile"].pop("cost_center")

    rewrite_yaml(tmp_path / "r-demo" / "apps" / "hr.yaml", blank)
    result = demo.sync(dry_run=True)
    assert result.held == []
    assert [(c.object_id, c.field, c.new) for c in result.planned if c.stage == "attributes"] == [
        ("john.bjork@example.com", "cost_center", "")
    ]


def test_manager_cycles_of_any_length_each_once_and_bounded() -> None:
    from engine.records import Population, UserRecord
    from engine.services.care import SHOWN, manager_cycles

    def person(i: int, manager: str | None) -> UserRecord:
        return UserRecord(
            id=i,
            email=f"p{i}@x.example",
            attributes={"manager_email": [manager] if manager else []},
        )

    people = [
        person(1, "p2@x.example"),  # 1 -> 2 -> 3 -> 1
        person(2, "p3@x.example"),
        person(3, "p1@x.example"),
        person(4, "p1@x.example"),  # reports into the cycle, is not part of it
        person(5, "p5@x.example"),  # their own manager
        person(6, None),
    ]
    # and many two-person cycles, to see the list bounded
    for i in range(100, 100 + 2 * (SHOWN + 2), 2):
        people += [person(i, f"p{i + 1}@x.example"), person(i + 1, f"p{i}@x.example")]
    cycles = manager_cycles(Population(people))
    assert cycles.total == 2 + SHOWN + 2 and len(cycles.items) == SHOWN
    assert cycles.items[:3] == [
        "p1@x.example → p2@x.example → p3@x.example → p1@x.example",
        "p5@x.example → p5@x.example",
        "p100@x.example → p101@x.example → p100@x.example",
    ]


def test_roster_status_lists_a_manager_cycle(demo: Services, tmp_path: Path) -> None:
    # the CEO's manager in HR becomes someone who reports to her
    def cycle(data: dict[str, Any]) -> None:
        for account in data["accounts"]:
            if account["id"] == "E10001":
                account["profile"]["manager_email"] = "amara.martinez@example.com"

    rewrite_yaml(tmp_path / "r-demo" / "apps" / "hr.yaml", cycle)
    db = str(tmp_path / "r.db")
    assert cli("sync", "--db", db)[0] == 0
    code, out, _ = cli("status", "--db", db)
    assert code == 0
    assert "Manager cycles: 1" in out
    assert (
        "  margaret.okafor@example.com → amara.martinez@example.com → margaret.okafor@example.com"
        in out
    )
    code, out, _ = cli("status", "--json", "--db", db)
    care = _care(out)
    assert care["manager_cycles"]["total"] == 1
    assert care["manager_cycles"]["entries"][0]["people"] == [
        "margaret.okafor@example.com",
        "amara.martinez@example.com",
    ]


def test_roster_status_check_exits_6_when_anything_needs_an_eye(
    demo: Services, tmp_path: Path
) -> None:
    """For a scheduled job that alerts: the demo has leavers still enabled; a small org synced
    has nothing to look at."""
    db = str(tmp_path / "r.db")
    code, out, _ = cli("status", "--check", "--db", db)
    assert code == 6 and "Leavers who can still sign in:" in out, out
    code, out, _ = cli("status", "--check", "--json", "--db", db)
    assert code == 6 and _care(out)["leavers_still_enabled"]["total"] > 0
    assert cli("status", "--db", db)[0] == 0  # without --check, as before
    from tests.engine.org import open_org

    org = open_org(tmp_path / "small")  # a few people, no leaver, no cycle
    assert org.sync().status == "applied"
    small = str(tmp_path / "small" / "roster.db")
    code, out, _ = cli("status", "--check", "--db", small)
    assert code == 0 and "accounts have no owner" in out, out  # a count, not an alarm
    # a failed import is one
    (tmp_path / "small" / "org" / "idp.yaml").write_text("accounts: [unclosed\n")
    assert org.sync().status == "applied-with-failures"
    org.db.dispose()
    code, out, _ = cli("status", "--check", "--db", small)
    assert code == 6 and "last import failed" in out, out
    # a check that could not run is not an all-clear (hostile review): a damaged directory
    import sqlite3
    from contextlib import closing

    (tmp_path / "small" / "org" / "idp.yaml").write_text("accounts: []\n")
    org = open_org(tmp_path / "small")
    assert org.sync().status == "applied"
    org.db.dispose()
    with closing(sqlite3.connect(small)) as connection, connection:
        connection.execute(
            "UPDATE config_object SET body = '[{\"app\": 7}]' WHERE section = 'directories'"
        )
    code, out, _ = cli("status", "--check", "--db", small)
    assert code == 6 and "Could not check people and managers" in out, out
    assert "0 errors" in out  # the import is fine: the alarm is the check that could not run


def test_a_leaver_still_enabled_in_ad_is_listed(demo: Services, tmp_path: Path) -> None:
    # Priya Shah leaves: HR disables her, and so does the IdP; AD and Entra still have her on
    def leave(data: dict[str, Any]) -> None:
        for account in data["accounts"]:
            if "priya.shah@example.com" in (account.get("email"), account.get("username")):
                account["status"] = "DISABLED"
                account["profile"]["employment_status"] = "TERMINATED"

    for app in ("hr", "idp"):
        rewrite_yaml(tmp_path / "r-demo" / "apps" / f"{app}.yaml", leave)
    db = str(tmp_path / "r.db")
    assert cli("sync", "--db", db)[0] == 0
    code, out, _ = cli("status", "--json", "--db", db)
    care = _care(out)
    leavers = care["leavers_still_enabled"]
    expected = (
        "removed, but still enabled in ad:priya.shah, badge:BDG-00019, "
        "entra:priya.shah@example.com, slack:U076ADP4VGE"
    )
    assert f"priya.shah@example.com: {expected}" in leavers["items"]
    code, out, _ = cli("people", "show", "priya.shah@example.com", "--json", "--db", db)
    assert json.loads(out)["flags"] == [expected]


def test_roster_status_all_lists_every_leaver_the_dashboard_counts(demo: Services) -> None:
    """The dashboard said "and 11 more (roster status lists them)", and `roster status`
    listed the same ten, JSON included: the rest could not be read anywhere."""
    db = str(Path(demo.db.sqlite_path))
    _, out, _ = cli("status", "--json", "--db", db)
    leavers = _care(out)["leavers_still_enabled"]
    assert leavers["total"] > len(leavers["items"]) == 10
    _, out, _ = cli("status", "--all", "--json", "--db", db)
    every = _care(out)["leavers_still_enabled"]
    assert len(every["items"]) == every["total"] == leavers["total"]
    assert every["items"][:10] == leavers["items"]
    code, text, _ = cli("status", "--db", db)
    assert code == 0 and "more (roster status --all lists them all)" in text
    code, text, _ = cli("status", "--all", "--db", db)
    assert code == 0 and " more (" not in text
    assert all(item in text for item in every["items"])


# --- a link shows what else it changes before it is made ---------------------------------------


def test_link_dry_run_shows_what_the_sync_then_does(demo: Services, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    idp = next(k for k in owners(demo, "john.bjork@example.com") if k.startswith("idp:"))
    before = owners(demo, "john.bjork@example.com")
    code, out, _ = cli("link", idp, "ann.lee@example.com", "--dry-run", "--json", "--db", db)
    assert code == 0
    impact = json.loads(out)
    assert (impact["dry_run"], impact["before"], impact["after"]) == (
        True,
        "john.bjork@example.com",
        "ann.lee@example.com",
    )
    assert impact["relinked"] == [] and impact["people_removed"] == []  # lends no merge keys
    people = {a["person"] for a in impact["attributes"]}
    assert people == {"john.bjork@example.com", "ann.lee@example.com"}
    assert owners(demo, "john.bjork@example.com") == before  # nothing was changed
    code, out, _ = cli("link", idp, "ann.lee@example.com", "--dry-run", "--db", db)
    assert out.startswith(f"Would link {idp} to ann.lee@example.com (now: john.bjork@example.com")
    assert "  It also changes, at the next sync:\n" in out
    assert "john.bjork@example.com · additional_email: john.bjork@example.com → —" in out

    # made for real, the next sync changes exactly those values
    assert cli("link", idp, "ann.lee@example.com", "--db", db)[0] == 0
    result = demo.sync()
    done = {
        (c.object_id, c.field, json.dumps(c.new)) for c in result.planned if c.stage == "attributes"
    }
    said = {(a["person"], a["attribute"], json.dumps(a["new"])) for a in impact["attributes"]}
    assert done == said


def test_link_dry_run_lists_the_values_of_those_who_read_the_people_it_moves(
    demo: Services, tmp_path: Path
) -> None:
    """An attribute reading the manager's accounts: a link that takes an account from the
    manager changes each report's value. The dry run listed only the two people the account
    moved between, and the sync then changed the reports' values too (review: 24 of 138)."""
    db = str(tmp_path / "r.db")
    reads_manager = (
        'c1.directory.users.v1.GetManagers(subject).exists(m, c1.user.v1.HasApp(m, "slack"))'
        ' ? "yes" : "no"'
    )
    document = {"name": "manager_on_slack", "custom": True, "sources": [{"cel": reads_manager}]}
    demo.config_edit(ConfigEdit("set", "attributes.manager_on_slack", document))
    assert demo.sync().status == "applied"  # computes everyone, keeps who reads whom
    slack = next(k for k in owners(demo, "margaret.okafor@example.com") if k.startswith("slack:"))
    code, out, _ = cli("link", slack, "ann.lee@example.com", "--dry-run", "--json", "--db", db)
    assert code == 0, out
    said = {
        (a["person"], a["attribute"], json.dumps(a["new"])) for a in json.loads(out)["attributes"]
    }
    readers = {p for p, attribute, _ in said if attribute == "manager_on_slack"}
    assert len(readers) == 10  # margaret's reports
    assert all(a["reader"] for a in json.loads(out)["attributes"])  # none is moved itself
    code, out, _ = cli("link", slack, "ann.lee@example.com", "--dry-run", "--db", db)
    assert "· manager_on_slack (reads someone it moves): yes → no" in out
    assert cli("link", slack, "ann.lee@example.com", "--db", db)[0] == 0
    result = demo.sync()
    done = {
        (c.object_id, c.field, json.dumps(c.new)) for c in result.planned if c.stage == "attributes"
    }
    assert done == said


def test_a_link_s_values_start_from_the_value_shown_now(demo: Services, tmp_path: Path) -> None:
    """An attribute whose configuration changed since the last sync: the link's line starts
    from the value the Users screen shows (the stored one) and says what the next sync would
    give without the link; it started from the latter, beside a screen showing the former
    (newcomer review)."""
    db = str(tmp_path / "r.db")
    idp = next(k for k in owners(demo, "john.bjork@example.com") if k.startswith("idp:"))
    sources = [{"app": "idp", "field": "emails"}, {"cel": '["x@example.com"]'}]
    demo.config_edit(ConfigEdit("set", "attributes.additional_email.sources", sources))
    code, out, _ = cli("link", idp, "ann.lee@example.com", "--dry-run", "--json", "--db", db)
    john = next(
        a
        for a in json.loads(out)["attributes"]
        if (a["person"], a["attribute"]) == ("john.bjork@example.com", "additional_email")
    )
    assert john["stored"] == ["john.bjork@example.com"]
    assert john["old"] == ["john.bjork@example.com", "x@example.com"]
    assert john["new"] == ["x@example.com"]
    code, out, _ = cli("link", idp, "ann.lee@example.com", "--dry-run", "--db", db)
    line = next(x for x in out.splitlines() if "john.bjork@example.com · additional_email" in x)
    assert line.strip() == (
        "john.bjork@example.com · additional_email: john.bjork@example.com → x@example.com "
        "(without the link, the next sync gives john.bjork@example.com, x@example.com)"
    )
    # an unlink's "otherwise" is the account staying linked (it said "without the link":
    # the opposite of the truth, hostile review), an unpin's the account staying pinned
    code, out, _ = cli("unlink", idp, "--dry-run", "--db", db)
    line = next(x for x in out.splitlines() if "john.bjork@example.com · additional_email" in x)
    assert line.strip() == (
        "john.bjork@example.com · additional_email: john.bjork@example.com → x@example.com "
        "(if it stays linked, the next sync gives john.bjork@example.com, x@example.com)"
    )
    assert cli("pin", idp, "--db", db)[0] == 0
    code, out, _ = cli("pin", idp, "--off", "--dry-run", "--db", db)
    assert "if it stays pinned" in out or "Nothing else changes" in out, out


def test_unlink_dry_run_lists_the_accounts_it_hands_back(demo: Services, tmp_path: Path) -> None:
    # Elodie Taylor has no IdP account: her HR record is all that keeps her
    db = str(tmp_path / "r.db")
    code, out, _ = cli("unlink", "hr:E10011", "--dry-run", "--json", "--db", db)
    assert code == 0
    impact = json.loads(out)
    assert impact["people_removed"] == ["elodie.taylor@example.com"]
    assert [(r["account"], r["before"], r["after"]) for r in impact["relinked"]] == [
        ("ad:elodie.taylor", "elodie.taylor@example.com", None),
        ("badge:BDG-00011", "elodie.taylor@example.com", None),
        ("entra:elodie.taylor@example.com", "elodie.taylor@example.com", None),
        ("slack:U02QDRJAP7Z", "elodie.taylor@example.com", None),
    ]
    assert impact["attributes"] == []  # a removed person's values stay as they were
    code, out, _ = cli("unlink", "hr:E10011", "--dry-run", "--db", db)
    assert out.splitlines()[:3] == [
        "Would unlink hr:E10011 from elodie.taylor@example.com (dry run: nothing saved)",
        "  It also changes, at the next sync:",
        "    ad:elodie.taylor: elodie.taylor@example.com → nobody",
    ]
    assert demo.account_by_key("hr:E10011").owner_id is not None


def test_a_directory_record_a_merge_rule_could_not_place_is_listed_until_placed(
    demo: Services, tmp_path: Path
) -> None:
    """A second HR record with the same email (a new hire keyed twice, or two Jane Does) is
    no one: the sync said so once, and nothing else did (second review). The status and the
    dashboard list it, with the sync's reason, until it is linked by hand."""

    def hire_twice(data: dict[str, Any]) -> None:
        for number, email in (
            ("E20010", "Jane.Doe@example.com"),
            ("E20011", "jane.doe@example.com"),
        ):
            data["accounts"].append(
                {
                    "id": number,
                    "display_name": "Jane Doe",
                    "email": email,
                    "employee_ids": [number],
                    "status": "ENABLED",
                    "profile": {"employment_status": "ACTIVE", "employment_type": "FULL_TIME"},
                }
            )

    rewrite_yaml(tmp_path / "r-demo" / "apps" / "hr.yaml", hire_twice)
    db = str(tmp_path / "r.db")
    assert cli("sync", "--db", db)[0] == 0
    code, out, _ = cli("status", "--json", "--db", db)
    listed = _care(out)["merge_conflicts"]
    assert listed["total"] == 1 and listed["entries"][0]["account"] == "hr:E20011"
    assert listed["items"][0].startswith(
        "hr:E20011 (jane.doe@example.com): merge rule 'email' finds Jane.Doe@example.com"
    )
    code, text, _ = cli("status", "--db", db)
    assert "Directory records no person stands for: 1" in text
    assert cli("link", "hr:E20011", "Jane.Doe@example.com", "--db", db)[0] == 0
    code, out, _ = cli("status", "--json", "--db", db)
    assert _care(out)["merge_conflicts"]["total"] == 0


def test_an_enabled_person_with_a_disabled_account_where_roster_creates_them_is_listed(
    demo: Services, tmp_path: Path
) -> None:
    """A rehire linked to the AD account disabled when they left: enabled in Roster, no new
    account made (they have one), and unable to sign in; nothing said so (second review)."""

    def disable(data: dict[str, Any]) -> None:
        for account in data["accounts"]:
            if account["id"] == "john.bjork":
                account["status"] = "DISABLED"

    db = str(tmp_path / "r.db")
    code, out, _ = cli("status", "--json", "--db", db)
    assert _care(out)["disabled_where_created"]["total"] == 0  # none in the demo
    rewrite_yaml(tmp_path / "r-demo" / "apps" / "ad.yaml", disable)
    assert cli("sync", "--db", db)[0] == 0
    code, out, _ = cli("status", "--json", "--db", db)
    listed = _care(out)["disabled_where_created"]
    assert listed["total"] == 1
    assert listed["entries"][0]["accounts"] == ["ad:john.bjork"]
    assert listed["items"][0] == (
        "john.bjork@example.com: enabled, but disabled in ad:john.bjork (no new account is "
        "made in ad while it has one: enable it there)"
    )


def test_a_leaver_the_idp_keeps_can_still_sign_in_and_is_listed(
    demo: Services, tmp_path: Path
) -> None:
    """HR terminates Priya; Okta still has her active, so she stays a person, ENABLED: she is
    a leaver who can still sign in everywhere, which must show (hostile review H1). A leaver
    whose HR record no person stands for is listed by that record."""

    def leave(data: dict[str, Any]) -> None:
        for account in data["accounts"]:
            if account.get("email") == "priya.shah@example.com":
                account["status"] = "DISABLED"
                account["profile"]["employment_status"] = "TERMINATED"

    rewrite_yaml(tmp_path / "r-demo" / "apps" / "hr.yaml", leave)
    db = str(tmp_path / "r.db")
    assert cli("sync", "--db", db)[0] == 0
    assert demo.user_by_email("priya.shah@example.com").status == "ENABLED"
    expected = (
        "disabled in hr (hr:E10019), but still enabled in ad:priya.shah, badge:BDG-00019, "
        "entra:priya.shah@example.com, idp:00u8KxGbsVdhw4GiosHq, slack:U076ADP4VGE"
    )
    code, out, _ = cli("status", "--json", "--db", db)
    leavers = _care(out)["leavers_still_enabled"]
    assert leavers["items"][0] == f"priya.shah@example.com: {expected}"
    # the demo's HR leavers that never became people, with AD accounts nobody closed
    assert (
        "oliver.grant@example.com (hr:E10018, not a person in Roster): disabled in hr, but "
        "still enabled in ad:oliver.grant, entra:oliver.grant@example.com, slack:U0RP8Q9MSJN"
        in leavers["items"]
    )
    assert leavers["total"] > len(leavers["items"]) == 10
    # and as data, for scripts: who, how they left, and what is still enabled
    priya, *others = leavers["entries"]
    assert priya == {
        "text": f"priya.shah@example.com: {expected}",
        "person": "priya.shah@example.com",
        "state": "record disabled",
        "directory": "hr",
        "records": ["hr:E10019"],
        "still_enabled": expected.split("still enabled in ")[1].split(", "),
    }
    oliver = next(o for o in others if o["records"] == ["hr:E10018"])
    assert (oliver["person"], oliver["email"], oliver["display_name"], oliver["state"]) == (
        None,
        "oliver.grant@example.com",
        "Oliver Grant",
        "record disabled",
    )
    assert oliver["still_enabled"] == [
        "ad:oliver.grant",
        "entra:oliver.grant@example.com",
        "slack:U0RP8Q9MSJN",
    ]
    code, out, _ = cli("status", "--db", db)
    assert f"Leavers who can still sign in: {leavers['total']}" in out
    assert f"  priya.shah@example.com: {expected}" in out
    code, out, _ = cli("people", "show", "priya.shah@example.com", "--json", "--db", db)
    assert json.loads(out)["flags"] == [expected]


def test_a_termination_the_idp_outlives_is_explained_and_listed(
    demo: Services, tmp_path: Path
) -> None:
    """HR marks Priya TERMINATED and leaves her record active (as many HR systems do); the
    demo's HR filter then ignores the record and unlinks it, and Okta, still active, keeps her
    ENABLED. The plan showed the link going with no word of why she stays, and no list named
    her (newcomer review): the unlink now says who keeps her, and she is listed with the
    people who lost their HR record (not as a leaver: a filter may leave records out for other
    reasons, a pre-hire, and she is kept all the same)."""

    def terminate(data: dict[str, Any]) -> None:
        for account in data["accounts"]:
            if account.get("email") == "priya.shah@example.com":
                account["profile"]["employment_status"] = "TERMINATED"

    rewrite_yaml(tmp_path / "r-demo" / "apps" / "hr.yaml", terminate)
    result = demo.sync()
    assert result.exit_code == 0
    assert demo.user_by_email("priya.shah@example.com").status == "ENABLED"
    idp = next(k for k in owners(demo, "priya.shah@example.com") if k.startswith("idp:"))
    (unlink,) = [c for c in result.planned if c.object_id == "hr:E10019" and c.field == "owner"]
    assert unlink.reason == (
        "the directory filter now ignores it; priya.shah@example.com is kept all the same: "
        f"{idp} still creates them (the idp filter says CREATE)"
    )
    db = str(tmp_path / "r.db")
    expected = "left out by the filter of hr (hr:E10019); kept by idp"
    code, out, _ = cli("status", "--all", "--json", "--db", db)
    care = _care(out)
    assert care["lost_primary"]["items"] == [f"priya.shah@example.com: {expected}"]
    assert not any("priya.shah" in item for item in care["leavers_still_enabled"]["items"])
    code, out, _ = cli("people", "show", "priya.shah@example.com", "--json", "--db", db)
    assert json.loads(out)["flags"] == [expected]

    # a disabled HR directory ignores every record: nobody is "left out by its filter"
    code, out, err = cli("config", "disable", "directories.hr", "--db", db)
    assert code == 0, out + err
    assert cli("sync", "--allow-deletes", "--db", db)[0] in (0, 5)
    code, out, _ = cli("status", "--all", "--json", "--db", db)
    items = _care(out)["lost_primary"]["items"]
    assert not any("left out by the filter" in item for item in items), items[:3]


def test_a_person_an_hr_filter_never_took_is_not_flagged(demo: Services, tmp_path: Path) -> None:
    """Only a record the filter leaves out, unlinked and carrying the person's keys, flags a
    person: the demo's people the IdP alone creates are not flagged."""
    db = str(tmp_path / "r.db")
    code, out, _ = cli("status", "--all", "--json", "--db", db)
    items = _care(out)["lost_primary"]["items"]
    assert not any("left out by the filter" in item for item in items), items


def test_explain_agrees_with_a_value_its_vanished_source_no_longer_holds(
    demo: Services, tmp_path: Path
) -> None:
    """John's HR record vanishes; department (authority mode) keeps "Product" because HR's
    delete score (50) is below its update score (60). `explain` said HR's "" "won: set the
    current value" (hostile review M9): no candidate may win with a value that is not it."""
    rewrite_yaml(
        tmp_path / "r-demo" / "apps" / "hr.yaml",
        lambda data: data.update(accounts=[a for a in data["accounts"] if a["id"] != "E10003"]),
    )
    db = str(tmp_path / "r.db")
    assert cli("sync", "--db", db)[0] == 0
    for _ in range(2):  # the run that saw the removal, and every later look
        code, out, _ = cli("explain", "john.bjork@example.com", "department", "--json", "--db", db)
        assert code == 0
        why = json.loads(out)
        assert why["value"] == "Product"
        won = [c for c in why["candidates"] if c["outcome"] == "won"]
        assert all(c["value"] == why["value"] for c in won), won
        hr = next(c for c in why["candidates"] if c["source"] == "hr:profile.department")
        assert hr["value"] == "" and "holds none now" in hr["reason"]
        assert "delete score 50 < 60" in hr["reason"]
        assert cli("sync", "--db", db)[0] == 0


def test_a_link_preview_lists_the_pushes_it_causes(demo: Services, tmp_path: Path) -> None:
    """Linking John's HR record to Ann gives her John's department and title, which the push
    rules then write to her AD and Entra accounts: the preview says so before anything is
    saved (hostile review M5)."""
    db = str(tmp_path / "r.db")
    code, out, _ = cli(
        "link", "hr:E10003", "ann.lee@example.com", "--dry-run", "--json", "--db", db
    )
    assert code == 0
    pushes = {(p["account"], p["target"]): (p["old"], p["new"]) for p in json.loads(out)["pushes"]}
    assert pushes[("ad:ann.lee", "title")] == ("IT Operations Manager", "Head of Product")
    assert pushes[("ad:ann.lee", "department")] == ("IT", "Product")
    assert pushes[("entra:ann.lee@example.com", "jobTitle")] == (
        "IT Operations Manager",
        "Head of Product",
    )
    assert not any(account.startswith("ad:john") for account, _ in pushes)  # not targeted then
    code, out, _ = cli("link", "hr:E10003", "ann.lee@example.com", "--dry-run", "--db", db)
    assert (
        "    push ad:ann.lee (ann.lee@example.com) · title: IT Operations Manager → Head of Product"
        in out
    )
    assert owners(demo, "ann.lee@example.com") == owners(demo, "ann.lee@example.com")
    assert (
        demo.account_by_key("hr:E10003").owner_id == demo.user_by_email("john.bjork@example.com").id
    )  # nothing was saved


# --- the identify stage's counters add up ------------------------------------------------------


def test_the_identify_counters_add_up_to_the_filters_decisions(demo: Services) -> None:
    """`filter create 543 · users created 281` used to leave the rest unsaid: every account a
    filter creates from or matches is counted once by what became of it."""
    hr = next(key for key in owners(demo, "ann.lee@example.com") if key.startswith("hr:"))
    demo.pin(hr)
    result = demo.sync()
    assert result.exit_code == 0
    counts = next(stage for stage in result.stages if stage.name == "identify").counts
    decided = counts.get("filter_create", 0) + counts.get("filter_match_only", 0)
    outcomes = ("already_linked", "pinned", "merged", "users_created", "unmerged", "ambiguous",
                "conflicts")  # fmt: skip
    assert decided > 0 and counts["pinned"] == 1 and counts["already_linked"] > 0
    assert decided == sum(counts.get(name, 0) for name in outcomes), counts


def test_ownership_counts_the_links_it_made_beside_its_totals(demo: Services) -> None:
    """`owned` is every owned account after the run; `linked` is this run's new links."""
    first, _ = demo.run_changes(min(run.id for run in demo.runs()))
    ownership = first.counts["ownership"]
    assert 0 < ownership["linked"] <= ownership["owned"]
    again = demo.sync()
    counts = next(stage for stage in again.stages if stage.name == "ownership").counts
    assert "linked" not in counts  # nothing new to link


def test_a_search_folds_every_case_not_only_ascii(demo: Services) -> None:
    """SQLite's own lower() and LIKE fold only ASCII: `élodie` did not find `Élodie`."""
    for search in ("élodie", "ÉLODIE"):
        names = {p.display_name for p in demo.find_people(search)}
        assert "Élodie Taylor" in names, (search, names)
    assert {p.display_name for p in demo.find_people("WEISS")} >= {"William Weiß"}
    accounts = demo.find_records("account", "ÉLODIE TAYLOR", limit=20)
    assert accounts and all("Élodie" in ref.label or "elodie" in ref.label for ref in accounts)
    assert demo.find_people("o_k") == []  # `_` is a character, not a wildcard


def test_an_attribute_keeps_when_it_was_set_while_another_of_the_person_changes(
    demo: Services, tmp_path: Path
) -> None:
    """`Set:` said when anything of the person was last written: every attribute row of a
    person is written again when one changes; each keeps its own time and run."""
    before = {
        name: demo.explain("ann.lee@example.com", name) for name in ("department", "job_title")
    }

    def move(data: dict[str, Any]) -> None:
        ann = next(a for a in data["accounts"] if a.get("email") == "ann.lee@example.com")
        ann["profile"]["department"] = "Finance"

    rewrite_yaml(tmp_path / "r-demo" / "apps" / "hr.yaml", move)
    result = demo.sync()
    assert result.exit_code == 0
    after = {
        name: demo.explain("ann.lee@example.com", name) for name in ("department", "job_title")
    }
    assert after["department"].value == "Finance"
    assert after["department"].set_at > before["department"].set_at
    assert after["job_title"].set_at == before["job_title"].set_at
    with demo.db.session() as session:
        runs = dict(
            session.execute(
                select(AttributeValue.attribute, AttributeValue.run_id).where(
                    AttributeValue.user_id == demo.user_by_email("ann.lee@example.com").id
                )
            ).all()
        )
    assert runs["department"] == result.run_id and runs["job_title"] < result.run_id


def test_unlink_dry_run_says_which_identity_fields_it_clears(
    demo: Services, tmp_path: Path
) -> None:
    """Unlinking a person's HR record takes its employee id from them: the preview said
    nothing of it, though the next sync clears employee_id and employee_ids (hostile review).
    What it says is what the sync then does."""
    population = demo.population()
    apps_of: dict[int, set[str]] = {}
    for account in population.accounts:
        if account.owner_id is not None:
            apps_of.setdefault(account.owner_id, set()).add(account.app_id)
    hr = next(
        a
        for a in population.accounts
        if a.app_id == "hr" and a.owner_id and "idp" in apps_of[a.owner_id] and a.employee_ids
    )
    key = f"hr:{hr.external_id}"
    db = str(tmp_path / "r.db")
    code, out, _ = cli("unlink", key, "--dry-run", "--json", "--db", db)
    assert code == 0, out
    impact = json.loads(out)
    said = {(a["attribute"], json.dumps(a["new"])) for a in impact["identity"]}
    assert ("employee_ids", "[]") in said, said
    # the person's employee_id field, though an attribute has the same name
    assert ("employee_id", '""') in said, said
    code, out, _ = cli("unlink", key, "--dry-run", "--db", db)
    assert f"employee_ids: {hr.employee_ids[0]} → —" in out, out
    assert cli("unlink", key, "--db", db)[0] == 0
    done = {
        (c.field, json.dumps(c.new))
        for c in demo.sync().planned
        if c.stage == "identify" and c.object_type == "user"
    }
    assert {("employee_ids", "[]"), ("employee_id", '""')} <= done, done


def _linked_hr(population: Any, order: Callable[[Any], Any]) -> list[Any]:
    """The demo's HR records that have a person, in ORDER."""
    return sorted(
        (a for a in population.accounts if a.app_id == "hr" and a.owner_id is not None), key=order
    )


def test_the_hr_record_a_link_preview_says_is_read_is_the_one_the_sync_reads(
    demo: Services, tmp_path: Path
) -> None:
    population = demo.population()
    older, newer = _linked_hr(population, lambda a: a.id)[:2]
    other = next(u for u in population.users if u.id == older.owner_id)
    db = str(tmp_path / "r.db")
    # the newer record moves to the person who holds the older one
    code, out, _ = cli(
        "link", f"hr:{newer.external_id}", other.email, "--dry-run", "--json", "--db", db
    )
    assert json.loads(out)["same_app_read"] == f"hr:{older.external_id}", out
    assert cli("link", f"hr:{newer.external_id}", other.email, "--db", db)[0] == 0
    assert demo.sync().status == "applied"
    values = {a.name: a.value for a in demo.user_detail(other.id).attributes}
    assert values["job_title"] == older.profile["job_title"] != newer.profile["job_title"]


def test_linking_a_second_hr_record_to_someone_says_they_then_have_two(
    demo: Services, tmp_path: Path
) -> None:
    """Linking one person's HR record to another listed what the first lost, not that the
    second then holds two HR records, which no merge rule would ever make (newcomer review).
    The preview names both; an account of an app the person has none of says nothing of it."""
    population = demo.population()
    mine, theirs = _linked_hr(population, lambda a: a.external_id)[:2]
    other = next(u for u in population.users if u.id == theirs.owner_id)
    db = str(tmp_path / "r.db")
    key = f"hr:{mine.external_id}"
    code, out, _ = cli("link", key, other.email, "--dry-run", "--json", "--db", db)
    assert code == 0, out
    assert json.loads(out)["same_app"] == [f"hr:{theirs.external_id}"]
    code, out, _ = cli("link", key, other.email, "--dry-run", "--db", db)
    assert f"then has 2 hr accounts: {key} and hr:{theirs.external_id}" in out, out
    # and the person it is taken from is left with none
    first = next(u for u in population.users if u.id == mine.owner_id)
    assert f"{first.email} then has no hr account" in out, out

    # and says which of the two the attributes then read, as the sync does
    code, out, _ = cli("link", key, other.email, "--dry-run", "--json", "--db", db)
    read = json.loads(out)["same_app_read"]
    assert read == f"hr:{min((mine, theirs), key=lambda a: a.id).external_id}", out
    code, out, _ = cli("link", key, other.email, "--dry-run", "--db", db)
    assert f"its hr attributes are read from {read}" in out, out

    # linking an account to the person who has it only pins it: the link stays as made (a
    # directory record made "manual" stopped lending them its employee id, newcomer review)
    owner = next(u for u in population.users if u.id == mine.owner_id)
    code, out, _ = cli("link", key, owner.email, "--dry-run", "--json", "--db", db)
    impact = json.loads(out)
    assert code == 0 and impact["same_app"] == [] and impact["identity"] == [], out
    assert impact["attributes"] == [] and impact["pushes"] == [], out
    kind = mine.link_kind
    assert cli("link", key, owner.email, "--db", db)[0] == 0
    with demo.db.session() as session:
        row = session.scalars(
            select(Account).where(Account.app_id == "hr", Account.external_id == mine.external_id)
        ).one()
        assert (row.owner_id, row.link_kind, row.pinned) == (owner.id, kind, True)
    assert not [c for c in demo.sync().planned if c.object_id == owner.email]


def test_a_decision_on_a_link_that_changed_meanwhile_is_refused(demo: Services) -> None:
    """Another admin unlinked the account while the console showed it as Paul's: Pin said
    "Pin it to Paul" of a link that was gone (hostile review). A decision names the owner it
    saw and is refused, with nothing written, when that changed."""
    from engine.errors import InvalidInput

    account = next(a for a in demo.population().accounts if a.app_id == "slack" and a.owner_id)
    key, seen = f"slack:{account.external_id}", account.owner_id
    demo.set_link(key, None)  # the other admin
    audited = len(demo.audit(None, 1000))
    for decide in (
        lambda: demo.pin(key, True, seen_owner=seen),
        lambda: demo.set_link(key, None, seen_owner=seen),
    ):
        with pytest.raises(InvalidInput, match="no longer linked as it was shown"):
            decide()
    assert len(demo.audit(None, 1000)) == audited
    assert demo.account_by_key(key).owner_id is None
    # as seen, it goes through
    demo.pin(key, False, seen_owner=None)
    assert not demo.account_by_key(key).pinned


def test_status_says_where_the_store_and_the_app_files_are(demo: Services, tmp_path: Path) -> None:
    """A newcomer found neither the store nor the demo's app files from the CLI."""
    db = str(tmp_path / "r.db")
    code, out, _ = cli("status", "--json", "--db", db)
    data = json.loads(out)
    assert code == 0 and data["store"] == db
    assert data["config_folder"] and (Path(data["config_folder"]) / "apps" / "hr.yaml").exists()
    code, out, _ = cli("status", "--db", db)
    assert f"  store: {db}" in out.splitlines()
    assert f"  relative paths (the app files) from: {data['config_folder']}" in out


def test_unpin_dry_run_says_whom_the_rules_give_the_account_to(
    demo: Services, tmp_path: Path
) -> None:
    """Unpinning said only "the rules may keep this link, link it to someone else, or unlink
    it" (newcomer review): the dry run and the console say which, as the next sync does."""
    population = demo.population()
    slack = next(a for a in population.accounts if a.app_id == "slack" and a.owner_id)
    rules_owner = population.user_by_id(slack.owner_id)
    other = next(u for u in population.users if u.id != slack.owner_id and u.status == "ENABLED")
    key, db = f"slack:{slack.external_id}", str(tmp_path / "r.db")
    assert cli("link", key, other.email, "--db", db)[0] == 0  # by hand, pinned
    code, out, _ = cli("pin", key, "--off", "--dry-run", "--json", "--db", db)
    impact = json.loads(out)
    assert code == 0 and impact["before"] == other.email and impact["after"] == rules_owner.email
    code, out, _ = cli("pin", key, "--off", "--dry-run", "--db", db)
    assert f"the rules give it to {rules_owner.email}." in out, out
    demo.invalidate()
    assert demo.account_by_key(key).pinned  # nothing saved
    assert cli("pin", key, "--dry-run", "--db", db)[0] == 1  # only with --off
    assert json.loads(cli("pin", key, "--off", "--dry-run", "--json", "--db", db)[1])["pinned"]
    assert cli("pin", key, "--off", "--db", db)[0] == 0
    demo.invalidate()
    demo.sync()
    assert demo.account_by_key(key).owner_id == rules_owner.id
    # an account that is not pinned: nothing to unpin, and the dry run says so
    code, out, _ = cli("pin", key, "--off", "--dry-run", "--db", db)
    assert code == 0 and out.startswith(f"{key} is not pinned: the rules decide its owner"), out
    assert (
        json.loads(cli("pin", key, "--off", "--dry-run", "--json", "--db", db)[1])["pinned"]
        is False
    )


def test_a_link_made_unpinned_that_the_rules_undo_says_so(demo: Services, tmp_path: Path) -> None:
    """`link --no-pin --dry-run` said only "Would link …", and the sync then gave the account
    back to whom the rules find; once made, "now" named nobody (the next sync's owner, not the
    store's) and `unlink --dry-run` said "from nobody" (newcomer review)."""
    population = demo.population()
    slack = next(a for a in population.accounts if a.app_id == "slack" and a.owner_id)
    rules_owner = population.user_by_id(slack.owner_id)
    other = next(u for u in population.users if u.id != slack.owner_id and u.status == "ENABLED")
    key, db = f"slack:{slack.external_id}", str(tmp_path / "r.db")
    code, out, _ = cli("link", key, other.email, "--no-pin", "--dry-run", "--json", "--db", db)
    impact = json.loads(out)
    assert code == 0 and (impact["lasts"], impact["rules_after"]) == (False, rules_owner.email)
    code, out, _ = cli("link", key, other.email, "--no-pin", "--dry-run", "--db", db)
    assert f"the next sync's rules give {key} to {rules_owner.email}" in out, out
    assert "Nothing else changes" not in out
    # pinned, it lasts
    impact = json.loads(cli("link", key, other.email, "--dry-run", "--json", "--db", db)[1])
    assert (impact["lasts"], impact["rules_after"]) == (True, None)
    # made unpinned: "now" is the store's link, until the sync undoes it
    assert cli("link", key, other.email, "--no-pin", "--db", db)[0] == 0
    code, out, _ = cli("unlink", key, "--dry-run", "--db", db)
    assert out.startswith(f"Would unlink {key} from {other.email}"), out
    demo.invalidate()
    demo.sync()
    assert demo.account_by_key(key).owner_id == rules_owner.id
