"""An incremental sync matches again only what can find someone else: an account whose title
changed keeps its owner without the rules (and without an index of everyone's keys), one whose
email changed is matched again; a custom rule whose people are all keyed as the last run left
them builds no index when none of its accounts changed; a directory account the merge rules
found nobody for is not walked again until it, or someone's keys, change."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.services import Services
from engine.setup import demo_folder_for
from engine.store.models import Account
from engine.store.repo import get_meta, set_meta
from engine.sync import identify, key_memo, ownership
from engine.sync.incremental import FOUND_NOBODY, PUSH_REVISIT
from engine.sync.keys import KeyRule
from tests.engine.test_ownership_key_memo import _owner_of


def _edit_app(folder: Path, app: str, external_id: str, edit: Any) -> None:
    path = folder / "r-demo" / "apps" / f"{app}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    (item,) = [a for a in data["accounts"] if str(a["id"]) == external_id]
    edit(item)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    """(the accounts the ownership rules looked at, the ownership rules whose index of people
    was built), as a sync goes."""
    walked: list[str] = []
    indexed: list[str] = []
    find_owner = ownership._find_owner
    index = KeyRule.index

    def finding(account: Any, *args: Any) -> Any:
        walked.append(f"{account.app_id}:{account.external_id}")
        return find_owner(account, *args)

    def indexing(self: KeyRule, users: Any) -> Any:
        if sys._getframe(1).f_code.co_filename == ownership.__file__:  # not identify's
            indexed.append(self.name)
        return index(self, users)

    monkeypatch.setattr(ownership, "_find_owner", finding)
    monkeypatch.setattr(KeyRule, "index", indexing)
    return walked, indexed


def _sync(services: Services) -> Any:
    result = services.sync()
    assert result.status == "applied", result.error
    return result


def _settle(services: Services, folder: Path) -> None:
    """A sync over a small change, so that the accounts the demo's own sync created (which
    the rules have not seen) are behind us."""
    _edit_app(folder, "github", "143925100", lambda item: item["profile"].update(bio="hi"))
    _sync(services)


def test_a_changed_title_keeps_the_owner_without_the_rules_and_a_changed_email_does_not(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _owner_of(demo, "slack", "U0EGM3MBK94") == "amara.martinez@example.com"
    _settle(demo, tmp_path)
    walked, indexed = _spy(monkeypatch)

    def retitle(item: dict[str, Any]) -> None:
        item["profile"]["title"] = "Head of Everything"

    _edit_app(tmp_path, "slack", "U0EGM3MBK94", retitle)
    result = _sync(demo)
    assert [c["field"] for c in result.changes if c["stage"] == "import"] == ["profile"]
    assert walked == []
    assert indexed == []
    assert _owner_of(demo, "slack", "U0EGM3MBK94") == "amara.martinez@example.com"

    def readdress(item: dict[str, Any]) -> None:
        # Amara's Slack account now carries Margaret's email and username: it is hers
        item["email"] = "margaret.okafor@example.com"
        item["username"] = "margaret.okafor"
        item["display_name"] = "Margaret Okafor"

    _edit_app(tmp_path, "slack", "U0EZQC5FKUJ", lambda item: item.update(status="DISABLED"))
    _edit_app(tmp_path, "slack", "U0EGM3MBK94", readdress)
    _sync(demo)
    assert sorted(walked) == ["slack:U0EGM3MBK94", "slack:U0EZQC5FKUJ"]
    assert _owner_of(demo, "slack", "U0EGM3MBK94") == "margaret.okafor@example.com"


def test_a_push_of_what_no_rule_reads_is_not_walked_by_the_next_sync(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hr = tmp_path / "r-demo" / "apps" / "hr.yaml"
    data = yaml.safe_load(hr.read_text(encoding="utf-8"))
    person = next(a for a in data["accounts"] if a["email"] == "amara.martinez@example.com")
    person["profile"]["job_title"] = "Chief Everything Officer"
    hr.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    result = _sync(demo)
    pushed = {c["object_id"] for c in result.changes if c["stage"] == "push"}
    assert pushed, "the new title is pushed to AD"
    with demo.db.session() as session:
        revisit = json.loads(get_meta(session, PUSH_REVISIT))
    assert {f"{a}:{e}" for a, e in revisit["accounts"]} >= pushed
    assert revisit["rewalk"] == []  # a title: no rule reads it

    walked, _ = _spy(monkeypatch)
    _edit_app(
        tmp_path, "slack", "U0EGM3MBK94", lambda item: item["profile"].update(tz="Asia/Tokyo")
    )
    _sync(demo)
    assert not [key for key in walked if key in pushed and not key.startswith("badge:")]


def test_a_custom_rule_with_no_changed_account_indexes_nobody_and_keeps_its_memo(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with demo.db.session() as session:
        before = key_memo.load(get_meta(session, key_memo.META_KEY))
    (user_scope,) = [scope for scope in before if scope.startswith("user:")]
    _settle(demo, tmp_path)
    walked, indexed = _spy(monkeypatch)
    _edit_app(
        tmp_path, "slack", "U0EGM3MBK94", lambda item: item["profile"].update(tz="Asia/Tokyo")
    )
    _sync(demo)
    assert not [key for key in walked if key.startswith("badge:")]
    assert indexed == []  # no rule needed everyone's keys
    with demo.db.session() as session:
        after = key_memo.load(get_meta(session, key_memo.META_KEY))
    # every person's keys are kept for the next run, though this one did not key them
    assert after[user_scope].keys() == before[user_scope].keys()


def _merged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directory accounts identify's merge rules walk, as a sync goes."""
    walked: list[str] = []
    merge = identify._merge

    def merging(state: Any, account: Any, *args: Any) -> Any:
        walked.append(f"{account.app_id}:{account.external_id}")
        return merge(state, account, *args)

    monkeypatch.setattr(identify, "_merge", merging)
    return walked


def _edit_feed(folder: Path, external_id: str, column: str, value: str) -> None:
    """Set one cell of the contractor feed (hr_feed.csv)."""
    path = folder / "r-demo" / "apps" / "hr_feed.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    (row,) = [r for r in rows if r[0] == external_id]
    row[header.index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])


VICTOR = "hr_feed:CW-0030"  # a contractor the feed lists and no directory creates


def test_an_account_the_rules_found_nobody_for_is_walked_again_only_when_something_moved(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settle(demo, tmp_path)
    unmerged = _unmerged(demo, tmp_path)
    walked = _merged(monkeypatch)
    quiet = _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert walked == []
    assert quiet.stages[1].counts["unmerged"] == unmerged  # counted as the rules count it

    _edit_feed(tmp_path, "CW-0030", "job_title", "Chief Contractor")  # no rule reads it
    _sync(demo)
    assert walked == []
    assert _owner_of(demo, "hr_feed", "CW-0030") is None

    # HR gives Margaret the contractor's email: the feed's account is hers in the same sync
    hr = tmp_path / "r-demo" / "apps" / "hr.yaml"
    data = yaml.safe_load(hr.read_text(encoding="utf-8"))
    data["accounts"][0]["email"] = "victor.hale@globex.example"
    hr.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    _sync(demo)
    assert VICTOR in walked
    assert _owner_of(demo, "hr_feed", "CW-0030") == "victor.hale@globex.example"
    # a run that changed someone keeps what it found nobody for, each walked against the
    # people as it left them: the next sync walks nobody again (it walked them all)
    with demo.db.session() as session:
        kept = json.loads(get_meta(session, FOUND_NOBODY))["accounts"]
    assert ["hr_feed", "CW-0030"] not in kept and len(kept) == unmerged - 1
    walked.clear()
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Europe/Paris")
    assert walked == []


def test_an_account_whose_key_changed_is_walked_again(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settle(demo, tmp_path)
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    walked = _merged(monkeypatch)
    _edit_feed(tmp_path, "CW-0030", "email", "margaret.okafor@example.com")
    _sync(demo)
    assert walked == [VICTOR]
    assert _owner_of(demo, "hr_feed", "CW-0030") == "margaret.okafor@example.com"


def test_a_change_outside_the_directories_refreshes_nobody_s_core_fields(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settle(demo, tmp_path)
    refreshed: list[str] = []
    apply_core = identify._apply_core

    def refreshing(user: Any, accounts: Any) -> Any:
        refreshed.append(user.email)
        return apply_core(user, accounts)

    monkeypatch.setattr(identify, "_apply_core", refreshing)
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")  # Amara's Slack account
    assert refreshed == []
    _edit_app(tmp_path, "hr", "E10001", lambda item: item.update(display_name="Maggie Okafor"))
    result = _sync(demo)
    assert set(refreshed) == {"margaret.okafor@example.com"}  # after each directory
    assert [(c["field"], c["new"]) for c in result.changes if c["stage"] == "identify"] == [
        ("display_name", "Maggie Okafor")
    ]


def _set_badge_types(folder: Path, types: dict[str, str]) -> None:
    """Give the badge export a `type` column (USER unless TYPES says otherwise)."""
    path = folder / "r-demo" / "apps" / "badge.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    if "type" not in header:
        header.append("type")
        rows = [[*row, "USER"] for row in rows]
    for row in rows:
        row[header.index("type")] = types.get(row[0], row[header.index("type")])
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])


def test_a_badge_that_became_a_service_account_loses_its_owner_and_back(
    demo: Services, tmp_path: Path
) -> None:
    # the custom rules read the badge number and the email, not the type: the walk does
    # (a service account is only linked by hand; hostile review)
    _set_badge_types(tmp_path, {})
    _sync(demo)
    _settle(demo, tmp_path)
    assert _owner_of(demo, "badge", "BDG-00001") == "margaret.okafor@example.com"
    _set_badge_types(tmp_path, {"BDG-00001": "SERVICE_ACCOUNT"})
    _sync(demo)
    assert _owner_of(demo, "badge", "BDG-00001") is None
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    _set_badge_types(tmp_path, {"BDG-00001": "USER"})
    _sync(demo)
    assert _owner_of(demo, "badge", "BDG-00001") == "margaret.okafor@example.com"


IVAN = ("idp", "00u1dqdYHMcKoXDTFuof")  # a leaver's disabled IdP account: nobody's


def test_an_account_a_rule_keys_by_a_profile_key_is_walked_again_when_that_key_changes(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the IdP's merge rules: all emails, then `account.profile.login.trim().lowerAscii()`
    _settle(demo, tmp_path)
    assert list(IVAN) in _note(demo)["accounts"]
    walked = _merged(monkeypatch)
    _edit_app(tmp_path, *IVAN, lambda item: item["profile"].update(title="Former Specialist"))
    _sync(demo)
    assert walked == []  # no rule reads the title
    _edit_app(
        tmp_path, *IVAN, lambda item: item["profile"].update(login="Olga.Williams@example.com ")
    )
    _sync(demo)
    # walked first; linking it gives Olga an address, so the second walk follows (as it should)
    assert walked[0] == ":".join(IVAN)
    assert _owner_of(demo, *IVAN) == "olga.williams@example.com"  # she has no IdP account


@pytest.mark.parametrize("stored", ["not json", "7", '[["hr_feed"]]'])
def test_an_unreadable_note_walks_everyone(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: str
) -> None:
    _settle(demo, tmp_path)
    with demo.db.session() as session, session.begin():
        set_meta(session, FOUND_NOBODY, stored)
    walked = _merged(monkeypatch)
    result = _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert VICTOR in walked
    assert result.stages[1].counts["unmerged"] == _unmerged(demo, tmp_path)


def _sync_after(services: Services, folder: Path, slack_id: str, tz: str) -> Any:
    """A sync after a change no rule reads (a Slack time zone)."""
    _edit_app(folder, "slack", slack_id, lambda item: item["profile"].update(tz=tz))
    return _sync(services)


def _unmerged(services: Services, folder: Path) -> int:
    """How many accounts the merge rules find nobody for when they walk every one."""
    with services.db.session() as session, session.begin():
        set_meta(session, FOUND_NOBODY, "")
    result = _sync_after(services, folder, "U0EGM3MBK94", f"Etc/GMT+{len(folder.name) % 9}")
    return int(result.stages[1].counts["unmerged"])


def _note(services: Services) -> dict[str, Any]:
    with services.db.session() as session:
        text = get_meta(session, FOUND_NOBODY)
    return json.loads(text) if text else {}


def test_a_configuration_change_walks_everyone_the_rules_found_nobody_for(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a raised CEL budget can make a rule that failed find someone: what the rules found
    # stands on the configuration (and the CEL semantics, and Roster's version) it was found by
    _settle(demo, tmp_path)
    assert ["hr_feed", "CW-0030"] in _note(demo)["accounts"]
    path = tmp_path / "r-demo" / "roster.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.setdefault("settings", {}).setdefault("cel", {})["max_cost"] = 123_456
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert demo.import_config(text, source=str(path), base_dir=tmp_path / "r-demo").applied
    walked = _merged(monkeypatch)
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert VICTOR in walked


def test_a_merge_rule_failing_for_an_account_is_reported_by_every_sync(
    demo: Services, tmp_path: Path
) -> None:
    _edit_app(tmp_path, "idp", "00u1dqdYHMcKoXDTFuof", lambda item: item["profile"].update(login=7))
    for tz in ("Asia/Tokyo", "Europe/Paris", "America/Lima"):
        result = _sync_after(demo, tmp_path, "U0EGM3MBK94", tz)
        problems = [p for p in result.stages[1].problems if "00u1dqdYHMcKoXDTFuof" in p]
        assert problems and "merge rule 'login' failed" in problems[0], tz
    assert ["idp", "00u1dqdYHMcKoXDTFuof"] not in _note(demo)["accounts"]


def test_a_run_that_kept_no_note_but_changed_the_store_makes_the_next_walk_everyone(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another Roster (an older one, on another admin's machine) syncs the same store: it keeps
    # no note, and may have given someone the key an account was waiting for
    from engine.sync import pipeline

    _settle(demo, tmp_path)
    before = _note(demo)
    with monkeypatch.context() as older:
        older.setattr(pipeline, "save_found_nobody", lambda *args: None)
        _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert _note(demo) == before
    walked = _merged(monkeypatch)
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Europe/Paris")
    assert VICTOR in walked
    # a sync that changed nothing does not end the note: the one after it walks nobody again
    walked.clear()
    assert demo.sync().changes == []
    _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert walked == []


def test_a_run_the_threshold_blocked_does_not_hide_a_killed_run_before_it(demo: Services) -> None:
    # the killed run may have committed links without their attributes; the blocked run
    # after it applied nothing: the next run must still reconsider everyone
    from engine.store.models import Run
    from engine.store.repo import config_versions
    from engine.sync.incremental import why_everyone

    with demo.db.session() as session, session.begin():
        session.add(Run(status="running"))  # killed: it never said how it ended
        session.add(Run(status="blocked-by-threshold"))
    with demo.db.session() as session:
        versions = config_versions(session)
        newest = max(r.id for r in session.scalars(select(Run)))
        assert "ended running" in why_everyone(session, newest + 1, versions)


def test_an_account_found_nobody_for_before_a_later_directory_gave_someone_its_key_is_linked(
    demo: Services, tmp_path: Path
) -> None:
    # the contractor feed (the last directory) lists Olga under her employee id with Ivan
    # Allen's old address: Olga takes it as one of her emails after the IdP was walked, and
    # the IdP's disabled account for that address is hers in the same sync, which settles
    assert _owner_of(demo, "idp", "00u1dqdYHMcKoXDTFuof") is None
    feed = tmp_path / "r-demo" / "apps" / "hr_feed.csv"
    with feed.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(
            ["CW-0099", "ivan.allen@example.com", "E10070", "Olga Williams"] + [""] * 5
        )
    result = _sync(demo)
    assert _owner_of(demo, "hr_feed", "CW-0099") == "olga.williams@example.com"
    assert _owner_of(demo, "idp", "00u1dqdYHMcKoXDTFuof") == "olga.williams@example.com"
    counts = result.stages[1].counts
    assert counts["filter_create"] + counts["filter_match_only"] == sum(
        counts.get(name, 0)
        for name in (
            "already_linked", "pinned", "merged", "users_created", "unmerged", "ambiguous",
            "conflicts",
        )
    )  # fmt: skip
    assert result.settled
    assert not [c for c in _full_sync(demo).changes if c["stage"] in ("identify", "ownership")]


def _full_sync(services: Services) -> Any:
    from engine.sync.by_hand import bump as bump_manual_generation

    with services.db.session() as session, session.begin():
        bump_manual_generation(session)
    return _sync(services)


def test_what_a_second_walk_links_is_followed_until_nothing_more_is(
    demo: Services, tmp_path: Path
) -> None:
    # the IdP creates Pat after HR was walked; HR's vendor record (MATCH_ONLY) with Pat's
    # address and a second one is his on the walk again, which gives him the second address;
    # the feed's record with only that one is his too, in the same sync (review)
    apps = tmp_path / "r-demo" / "apps"
    for app, item in (
        (
            "idp",
            {"id": "00uPAT", "display_name": "Pat New", "email": "pat.new@example.com",
             "username": "pat.new@example.com", "status": "ENABLED", "type": "USER",
             "profile": {"login": "pat.new@example.com"}},
        ),
        (
            "hr",
            {"id": "V901", "display_name": "Pat New", "email": "pat.new@example.com",
             "emails": ["pat.new@example.com", "pat.alt@example.com"], "status": "ENABLED",
             "type": "USER",
             "profile": {"employment_status": "ACTIVE", "employment_type": "VENDOR"}},
        ),
    ):  # fmt: skip
        path = apps / f"{app}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["accounts"].append(item)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with (apps / "hr_feed.csv").open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(
            ["CW-0100", "pat.alt@example.com", "", "Pat New"] + [""] * 5
        )
    result = _sync(demo)
    assert _owner_of(demo, "hr", "V901") == "pat.new@example.com"
    assert _owner_of(demo, "hr_feed", "CW-0100") == "pat.new@example.com"
    assert result.settled
    assert not [c for c in _full_sync(demo).changes if c["stage"] in ("identify", "ownership")]


def test_a_sync_that_created_people_keeps_what_it_found_nobody_for(
    demo: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's first sync created everyone: what its rules found nobody for was walked
    against them all (again, for the accounts walked before someone was created), so the next
    sync walks none of it. Not kept, the next sync after any hire walked every such account
    again, with an index of everyone's keys: half a second at 100,000 people."""
    first = demo.runs(limit=20)[-1]
    note = _note(demo)
    assert note["run"] == first.id and note["accounts"]
    walked = _merged(monkeypatch)
    quiet = _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert walked == []
    assert quiet.stages[1].counts["unmerged"] == len(note["accounts"])
    # and a sync that walks every one of them finds nobody for the same accounts
    assert _unmerged(demo, tmp_path) == len(note["accounts"])
    assert sorted(map(tuple, _note(demo)["accounts"])) == sorted(map(tuple, note["accounts"]))


def test_an_account_found_nobody_for_before_its_walk_created_someone_is_walked_again(
    demo: Services, tmp_path: Path
) -> None:
    """A disabled IdP account (MATCH_ONLY) walked before an enabled one with its address
    created that person: walked again in the same run, it is a conflict (two accounts of
    one directory), as every later run finds; kept as found nobody for, the next run would
    have counted it unmerged without a word."""
    path = tmp_path / "r-demo" / "apps" / "idp.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for external_id, status in (
        ("00uAAAAAAAAAAAAAAAAA", "DISABLED"),
        ("00uZZZZZZZZZZZZZZZZZ", "ENABLED"),
    ):
        data["accounts"].append(
            {"id": external_id, "display_name": "Nadia New", "email": "nadia.new@example.com",
             "username": "nadia.new@example.com", "status": status, "type": "USER"}
        )  # fmt: skip
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    hired = _sync(demo)
    assert _owner_of(demo, "idp", "00uZZZZZZZZZZZZZZZZZ") == "nadia.new@example.com"
    assert _owner_of(demo, "idp", "00uAAAAAAAAAAAAAAAAA") is None
    conflict = "idp:00uAAAAAAAAAAAAAAAAA: not merged"
    assert any(p.startswith(conflict) for p in hired.stages[1].problems), hired.stages[1].problems
    assert ["idp", "00uAAAAAAAAAAAAAAAAA"] not in _note(demo)["accounts"]
    again = _sync_after(demo, tmp_path, "U0EGM3MBK94", "Asia/Tokyo")
    assert any(p.startswith(conflict) for p in again.stages[1].problems)


def _stored_decision(services: Services, app: str, external_id: str) -> str | None:
    """The filter decision the store holds for the account."""
    with services.db.session() as session:
        return session.execute(
            select(Account.filter_result).where(
                Account.app_id == app, Account.external_id == external_id
            )
        ).scalar_one()


def test_a_filter_reading_entitlements_decides_again_when_only_a_grant_changed(
    demo: Services,
) -> None:
    """A grant revoked in the app is an imported change of the account its filter reads."""
    document = yaml.safe_load(demo.export_config())
    document["directories"].append(
        {
            "app": "entra",
            "filter": '"grp-executive" in account.entitlements ? "MATCH_ONLY" : "IGNORE"',
        }
    )
    demo.import_config(
        yaml.safe_dump(document, sort_keys=False),
        source="edited.yaml",
        base_dir=demo_folder_for(demo.db),
    )
    assert demo.sync(allow_deletes=True).status == "applied"
    key = "margaret.okafor@example.com"
    assert _stored_decision(demo, "entra", key) == "MATCH_ONLY"
    path = demo_folder_for(demo.db) / "apps" / "entra.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["grants"] = [
        g
        for g in data["grants"]
        if not (g["account"] == key and g["entitlement"] == "grp-executive")
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert demo.sync(allow_deletes=True).status == "applied"
    assert _stored_decision(demo, "entra", key) == "IGNORE"
    counts = demo.identity_impact(demo.ctx.config()).decision_counts
    assert counts == demo.decision_counts(demo.ctx.config())


def test_a_failing_filter_is_reported_by_every_sync_until_it_is_fixed(demo: Services) -> None:
    """A failing filter leaves the account's old decision in the store; an incremental run
    decides it again instead of taking that decision (it reported nothing: hostile review)."""
    folder = demo_folder_for(demo.db)

    def save_hr_filter(text: str) -> None:
        document = yaml.safe_load(demo.export_config())
        (hr,) = [d for d in document["directories"] if d["app"] == "hr"]
        hr["filter"] = text
        demo.import_config(
            yaml.safe_dump(document, sort_keys=False), source="e.yaml", base_dir=folder
        )

    def identify_counts(result: Any) -> dict[str, int]:
        assert result.status in ("applied", "planned"), result.error
        return dict(next(s for s in result.stages if s.name == "identify").counts)

    (saved,) = [d for d in demo.ctx.config().directories if d.app == "hr"]
    assert saved.filter
    save_hr_filter('account.profile.employment_type == "INTERN" ? account.profile.nope : "CREATE"')
    failing = identify_counts(demo.sync(allow_deletes=True))["filter_errors"]
    assert failing > 0
    # an unrelated change: the run is incremental, the interns' accounts unchanged
    _edit_app(folder.parent, "github", "143925100", lambda item: item["profile"].update(bio="x"))
    assert identify_counts(demo.sync(dry_run=True))["filter_errors"] == failing
    # no data changed since: not "nothing changed", which would report nothing
    again = demo.sync()
    assert identify_counts(again)["filter_errors"] == failing and not again.settled
    _edit_app(folder.parent, "github", "143925100", lambda item: item["profile"].update(bio="y"))
    assert identify_counts(demo.sync())["filter_errors"] == failing
    save_hr_filter(saved.filter)  # fixed
    assert identify_counts(demo.sync(allow_deletes=True)).get("filter_errors", 0) == 0
    _edit_app(folder.parent, "github", "143925100", lambda item: item["profile"].update(bio="z"))
    assert identify_counts(demo.sync()).get("filter_errors", 0) == 0


@pytest.mark.parametrize("edit_settings", [False, True])
def test_a_push_to_a_directory_app_is_decided_again_by_the_next_sync(
    demo: Services, edit_settings: bool
) -> None:
    """A push writes to a directory's accounts after the run's identify decided them: the run
    does not settle, and the next decides them again (its filter reads what was pushed), also
    when a configuration change has that run plan every push (review)."""
    folder = demo_folder_for(demo.db)
    document = yaml.safe_load(demo.export_config())
    document["directories"].append(
        {"app": "ad", "filter": 'account.profile.title == "Chief Boss" ? "IGNORE" : "MATCH_ONLY"'}
    )
    demo.import_config(yaml.safe_dump(document, sort_keys=False), source="e.yaml", base_dir=folder)
    assert demo.sync(allow_deletes=True).status == "applied"

    def decision() -> str | None:
        return _stored_decision(demo, "ad", "margaret.okafor")

    assert decision() == "MATCH_ONLY"
    _edit_app(
        folder.parent, "hr", "E10001", lambda item: item["profile"].update(job_title="Chief Boss")
    )
    pushed = demo.sync(allow_deletes=True)
    assert pushed.status == "applied" and not pushed.settled
    identify = next(s for s in pushed.stages if s.name == "identify")
    assert any("decides them again" in note for note in identify.notes)
    assert decision() == "MATCH_ONLY"  # decided before the push wrote the title
    if edit_settings:
        document = yaml.safe_load(demo.export_config())
        document["settings"]["deletion_threshold"]["max_objects"] += 1
        demo.import_config(
            yaml.safe_dump(document, sort_keys=False), source="e.yaml", base_dir=folder
        )
    after = demo.sync(allow_deletes=True)  # no data changed since: the push's write is news
    assert after.status == "applied"
    assert decision() == "IGNORE"
    config = demo.ctx.config()
    assert demo.decision_counts(config) == demo.identity_impact(config).decision_counts
    assert demo.sync(allow_deletes=True).stages[0].notes[0].startswith("nothing changed")


def test_a_damaged_date_in_the_store_is_a_damaged_record() -> None:
    """Read straight from the driver, as SQLAlchemy would have read it, or said plainly."""
    from datetime import UTC, datetime

    from engine.errors import DamagedRecord
    from engine.store.rows import stored_time

    assert stored_time("2026-12-06 06:21:39.857483") == datetime(
        2026, 12, 6, 6, 21, 39, 857483, tzinfo=UTC
    )
    assert stored_time(None) is None
    with pytest.raises(DamagedRecord, match="not one"):
        stored_time("garbage\x1b[31m")
