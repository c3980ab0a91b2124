"""An incremental sync (only what changed and what depends on it) leaves exactly the store a
sync that reconsiders everyone leaves, on the demo organisation with changes that move merges,
ownership, pushed values and deletions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.services import Services
from engine.store.models import Account, AttributeValue, Change, Person
from engine.sync.by_hand import bump as bump_manual_generation
from tests.conftest import demo_copy


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _save(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _by_id(data: Any) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in data["accounts"]}


def change_the_apps(apps: Path) -> None:
    """A few records change, as the apps would change them between two syncs."""
    hr = _load(apps / "hr.yaml")
    people = _by_id(hr)
    # a pushed value: a new job title flows to the attribute, then to AD and Entra
    people["E10002"]["profile"]["job_title"] = "VP Engineering"
    # a merge key: the person's email changes, so accounts owned by the old address move
    old_email = people["E10003"]["email"]
    people["E10003"]["email"] = "j.bjork@example.com"
    # a deletion: a leaver's HR and IdP records are gone, so the person is removed
    leaver = people["E10004"]["email"]
    hr["accounts"] = [item for item in hr["accounts"] if item["id"] != "E10004"]
    _save(apps / "hr.yaml", hr)

    slack = _load(apps / "slack.yaml")
    members = slack["accounts"]
    # a gone account, and a new one carrying an existing person's address
    gone = members.pop(5)
    slack["grants"] = [g for g in slack.get("grants") or [] if g["account"] != gone["id"]]
    members.append(
        {
            "id": "UNEW0001",
            "display_name": "Amara M",
            "email": "amara.martinez@example.com",
            "username": "amara.m",
            "status": "ENABLED",
            "type": "USER",
            "profile": {"title": "Head of Engineering", "tz": "Europe/London"},
        }
    )
    # an unchanged account that names nobody yet: a new person created below takes it
    members.append(
        {
            "id": "UNEW0002",
            "display_name": "Pat Newhire",
            "email": "pat.newhire@example.com",
            "username": "pat.newhire",
            "status": "ENABLED",
            "type": "USER",
            "profile": {"title": "Engineer", "tz": "Europe/London"},
        }
    )
    _save(apps / "slack.yaml", slack)
    assert gone["id"] not in _by_id(slack)

    github = _load(apps / "github.yaml")
    # an ownership change: a GitHub account now carries another person's address
    first = github["accounts"][0]
    first["email"] = "amara.martinez@example.com"
    first["emails"] = ["amara.martinez@example.com"]
    _save(apps / "github.yaml", github)

    idp = _load(apps / "idp.yaml")
    idp["accounts"] = [item for item in idp["accounts"] if item.get("email") != leaver]
    # a new person from the IdP (a CREATE directory), who owns the Slack account above
    idp["accounts"].append(
        {
            "id": "00unew0001",
            "display_name": "Pat Newhire",
            "given_name": "Pat",
            "family_name": "Newhire",
            "email": "pat.newhire@example.com",
            "username": "pat.newhire@example.com",
            "status": "ENABLED",
            "type": "USER",
            "profile": {"login": "pat.newhire@example.com", "title": "Engineer"},
        }
    )
    _save(apps / "idp.yaml", idp)
    assert old_email  # kept for the reader: the old address is no longer anyone's


def snapshot(services: Services, folder: Path) -> dict[str, Any]:
    """Everything a sync decides: people, accounts and their links, attribute values and their
    sources, the apps' files (pushes and creations write there) and the run's journal."""
    with services.db.session() as session:
        persons = {
            p.id: {
                k: v
                for k, v in p.model_dump().items()
                if k not in ("id", "created_at", "updated_at")
            }
            for p in session.scalars(select(Person))
        }
        accounts = {
            (a.app_id, a.external_id): {
                k: v
                for k, v in a.model_dump().items()
                if k not in ("id", "first_seen", "last_seen")
            }
            for a in session.scalars(select(Account))
        }
        values = {
            (v.user_id, v.attribute): (v.value, v.source, v.last_seen, v.ever_set)
            for v in session.scalars(select(AttributeValue))
        }
        last_run = max(c.run_id for c in session.scalars(select(Change)))
        journal = sorted(
            (c.stage, c.object_type, c.object_id, c.field, repr(c.old), repr(c.new), c.reason)
            for c in session.scalars(select(Change).where(Change.run_id == last_run))
        )
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted((folder / "apps").iterdir())}
    return {
        "persons": persons,
        "accounts": accounts,
        "values": values,
        "files": files,
        "journal": journal,
    }


@contextmanager
def full_copy(demo_template: Path, tmp_path: Path) -> Iterator[Services]:
    """A second copy of the demo, in TMP_PATH/full (see `same_stores`)."""
    folder = tmp_path / "full"
    folder.mkdir()
    full = demo_copy(demo_template, folder)
    try:
        yield full
    finally:
        full.db.dispose()


def everyone_next(services: Services) -> None:
    """The next sync of SERVICES reconsiders everyone (a manual decision forces a full run)."""
    with services.db.session() as session, session.begin():
        bump_manual_generation(session)


def same_stores(demo: Services, full: Services, tmp_path: Path) -> dict[str, Any]:
    """Assert that the demo in TMP_PATH and its `full_copy` hold the same store and files;
    the snapshot of the first."""
    left = snapshot(demo, tmp_path / "r-demo")
    right = snapshot(full, tmp_path / "full" / "r-demo")
    for part in left:
        assert left[part] == right[part], part
    return left


def test_an_incremental_sync_leaves_the_store_a_full_sync_leaves(
    demo: Services, demo_template: Path, tmp_path: Path
) -> None:
    with full_copy(demo_template, tmp_path) as full:
        for folder in (tmp_path, tmp_path / "full"):
            change_the_apps(folder / "r-demo" / "apps")
        everyone_next(full)

        incremental = demo.sync()
        everyone = full.sync()
        assert incremental.status == "applied", incremental.error
        assert everyone.status == "applied", everyone.error
        counts = {s.name: dict(s.counts) for s in incremental.stages}
        assert counts["import"].get("changed") and counts["import"].get("gone")
        assert counts["identify"].get("users_created") and counts["identify"].get("users_removed")

        left = same_stores(demo, full, tmp_path)
        # the changes really happened (the comparison is not between two no-ops)
        titles = {(p["email"], p["attributes"].get("job_title")) for p in left["persons"].values()}
        assert ("amara.martinez@example.com", "VP Engineering") in titles
        assert "VP Engineering" in left["files"]["ad.yaml"]
        slack = left["accounts"][("slack", "UNEW0002")]
        assert slack["owner_id"] is not None

        # and the next sync of each is quiet
        assert demo.sync().changes == []
        assert full.sync().changes == []


def test_an_incremental_push_plan_reports_a_refused_value_every_run_until_it_is_fixed(
    demo: Services, tmp_path: Path
) -> None:
    """The push stage plans only the people whose data changed since the last applied run,
    and those that run left to look at again: a value the target's schema refuses (AD and
    Entra keep 128 characters of a title) is reported by every run, not only by the run that saw it
    change; fixed at the source, it is pushed."""
    apps = tmp_path / "r-demo" / "apps"
    hr = _load(apps / "hr.yaml")
    person = _by_id(hr)["E10002"]
    person["profile"]["job_title"] = "Chief " + "very " * 40 + "important officer"
    _save(apps / "hr.yaml", hr)

    def push_problems() -> tuple[list[str], dict[str, int]]:
        result = demo.sync()
        assert result.status in ("applied", "applied-with-failures"), result.error
        push = next(s for s in result.stages if s.name == "push")
        return [p for p in push.problems if "allows at most 128" in p], dict(push.counts)

    first, _ = push_problems()
    assert len(first) == 2  # AD and Entra each keep 128 characters
    assert all(person["email"] in problem for problem in first)

    # an unrelated change: the next run is incremental, and still says it
    slack = _load(apps / "slack.yaml")
    slack["accounts"][3]["profile"]["title"] = "Changed in Slack"
    _save(apps / "slack.yaml", slack)
    again, counts = push_problems()
    assert again == first
    assert counts.get("people_unchanged", 0) > 50  # the others were not planned again

    person["profile"]["job_title"] = "Chief Important Officer"
    _save(apps / "hr.yaml", hr)
    fixed, _ = push_problems()
    assert fixed == []
    assert "Chief Important Officer" in (apps / "ad.yaml").read_text(encoding="utf-8")


def test_an_app_file_changed_while_a_sync_runs_is_imported_by_the_next(
    demo: Services, tmp_path: Path, monkeypatch: Any
) -> None:
    """An export rewritten by its own job while a sync runs (after that app was imported):
    the run settled with the files as they were at its end, so the next sync said "nothing
    changed" and the new data was never imported. An app the run did not write to counts as
    the run read it."""
    import engine.sync.pipeline as pipeline

    apps = tmp_path / "r-demo" / "apps"
    real = pipeline.run_ownership

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        slack = _load(apps / "slack.yaml")
        slack["accounts"][2]["profile"]["title"] = "Changed during the sync"
        _save(apps / "slack.yaml", slack)
        return real(*args, **kwargs)

    github = _load(apps / "github.yaml")
    github["accounts"][0]["display_name"] = "Someone Else"
    _save(apps / "github.yaml", github)  # so that the run has something to do
    monkeypatch.setattr(pipeline, "run_ownership", meanwhile)
    first = demo.sync()
    assert first.status == "applied", first.error
    monkeypatch.setattr(pipeline, "run_ownership", real)
    after = demo.sync()
    assert any("Changed during the sync" in str(c["new"]) for c in after.changes), after.changes
    assert demo.sync().changes == []  # and then it settles


def test_a_run_whose_cel_cache_holds_one_record_decides_what_an_unbounded_one_does(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A sync bounds the records its CEL engine keeps converted (pipeline.CEL_CACHE_LIMIT):
    at one, every expression converts its records again, and a first sync of the demo (filters,
    merge and custom ownership rules, CEL attributes and push mappings) stores the same."""
    from engine.services import open_services
    from engine.sync import pipeline

    outcomes = []
    for name, limit in (("bounded", 1), ("unbounded", None)):
        monkeypatch.setattr(pipeline, "CEL_CACHE_LIMIT", limit)
        folder = tmp_path / name
        folder.mkdir()
        services = open_services(db_path=folder / "r.db", init="sample")
        try:
            outcomes.append(snapshot(services, folder / "r-demo"))
        finally:
            services.db.dispose()
    bounded, unbounded = outcomes
    for part in unbounded:
        assert bounded[part] == unbounded[part], part


def test_an_expression_reads_a_value_the_attributes_stage_just_changed(
    demo_template: Path, tmp_path: Path
) -> None:
    """A person read by an expression (their own, or a manager's over their reports) before a
    value of theirs is decided, then changed by the stage, is read afresh afterwards:
    `dept_echo` (their own `department`) is never the value from before the change."""
    services = demo_copy(demo_template, tmp_path)
    try:
        folder = tmp_path / "r-demo"
        path = folder / "roster.yaml"
        config = _load(path)
        config["attributes"][0:0] = [
            {
                "name": "report_departments",
                "custom": True,
                "multi_valued": True,
                "sources": [
                    {"cel": "c1.directory.users.v1.DirectReports(subject).map(r, r.department)"}
                ],
            },
            # read before `department` is decided: the person is converted with the old value
            {"name": "dept_before", "custom": True, "sources": [{"cel": "subject.department"}]},
        ]
        config["attributes"].append(
            {"name": "dept_echo", "custom": True, "sources": [{"cel": "subject.department"}]}
        )
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        assert services.import_config(text, source=str(path), base_dir=folder).applied
        assert services.sync().status == "applied"
        hr = _load(folder / "apps" / "hr.yaml")
        renamed = 0
        for account in hr["accounts"]:
            if account["profile"].get("department") == "Engineering":
                account["profile"]["department"] = "Engineering Two"
                renamed += 1
        _save(folder / "apps" / "hr.yaml", hr)
        assert renamed > 1
        assert services.sync().status == "applied"
        people = [u for u in services.population().users if u.status != "DELETED"]
        moved = [u for u in people if u.attributes.get("department") == "Engineering Two"]
        assert len(moved) > 50
        for user in people:
            assert user.attributes.get("dept_echo") == user.attributes.get("department"), user.email
    finally:
        services.db.dispose()


def _someone_edits(apps: Path, name: str, new_id: str, room: str) -> None:
    """Another program (the app itself) edits app file NAME: one account gains a room (a
    value no push writes) and an account it made on its own appears."""
    data = _load(apps / name)
    data["accounts"][0]["profile"]["roomNumber"] = room
    made = copy.deepcopy(data["accounts"][1])
    made.update(id=new_id, email=f"{new_id.split('@')[0]}@elsewhere.example", username=new_id)
    made["employee_ids"] = []
    data["accounts"].append(made)
    _save(apps / name, data)


@pytest.mark.parametrize("written", ["ad", "entra"])
def test_an_app_edited_between_the_import_and_a_write_to_it_is_imported_by_the_next_sync(
    demo: Services, tmp_path: Path, monkeypatch: Any, written: str
) -> None:
    """The run writes to an app (a push to AD; an account created in Entra) after someone
    else changed it since the import. The write keeps their change in the file, but the run
    must not record the file as imported: the next sync reads it, finds the new account and
    the changed one, and then settles."""
    import engine.sync.pipeline as pipeline

    apps = tmp_path / "r-demo" / "apps"
    hr = _load(apps / "hr.yaml")
    if written == "ad":  # a new title for someone: pushed to AD
        hr["accounts"][5]["profile"]["job_title"] = "Principal Cartographer"
    else:  # a new hire with an approved request: an Entra account is created
        hire = copy.deepcopy(hr["accounts"][5])
        hire.update(id="E99001", display_name="Noor Vance", given_name="Noor")
        hire.update(family_name="Vance", email="noor.vance@example.com", employee_ids=["E99001"])
        hr["accounts"].append(hire)
        requests = _load(apps / "access_requests.yaml")
        requests["requests"].append(
            {
                "id": "REQ-9001",
                "user_email": "noor.vance@example.com",
                "app": "entra",
                "entitlement": "lic-e5",
                "status": "APPROVED",
                "requested_at": "2026-12-01",
                "reason": "new hire",
            }
        )
        _save(apps / "access_requests.yaml", requests)
    _save(apps / "hr.yaml", hr)
    new_id = "made.by.the.app" if written == "ad" else "made.by.the.app@example.com"
    real = pipeline.run_ownership

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        _someone_edits(apps, f"{written}.yaml", new_id, "Edited in the app")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "run_ownership", meanwhile)
    first = demo.sync()
    assert first.status == "applied", first.error
    stage = "push" if written == "ad" else "provision"
    assert any(c["stage"] == stage and c["object_id"].startswith(written) for c in first.changes)
    monkeypatch.setattr(pipeline, "run_ownership", real)
    after = demo.sync()
    assert f"{written}:{new_id}" in {c["object_id"] for c in after.changes}, after.changes
    with demo.db.session() as session:
        rooms = [
            a.profile.get("roomNumber")
            for a in session.scalars(select(Account).where(Account.app_id == written))
        ]
    assert "Edited in the app" in rooms
    assert demo.sync().changes == []  # and then it settles


def test_a_store_whose_app_versions_were_digested_another_way_reads_its_apps_once(
    demo: Services,
) -> None:
    """Upgrading Roster may change how an app's files are digested (BLAKE2 became SHA-256,
    engine.files.ContentDigest). The file stamps keep an untouched file's older digest; here
    they do not vouch for it either (as after the files were touched, unchanged): every stored
    version differs from what this Roster computes. The next sync must read the apps again
    and find nothing to change, and the one after it must know at once that nothing changed."""
    from engine.store.models import Meta
    from engine.store.repo import set_meta

    with demo.db.session() as session, session.begin():
        stored = {
            row.key: row.value
            for row in session.scalars(select(Meta))
            if row.key.startswith(("source_version:", "source_stamp:", "last_sync_signature"))
        }
        assert any(key.startswith("source_version:") for key in stored)
        for key, value in stored.items():
            # a digest of the same length, as the older Roster stored it (the signature
            # is a digest of the versions)
            stamp, _, version = value.rpartition("|")
            older = "b" * len(version)
            set_meta(session, key, f"{stamp}|{older}" if stamp else older)

    upgraded = demo.sync()
    assert upgraded.status == "applied", upgraded.error
    assert upgraded.changes == []
    assert upgraded.stages[0].counts.get("unchanged", 0) > 0  # it read the apps again
    settled = demo.sync()
    assert settled.changes == []
    assert any("nothing changed" in note for note in settled.stages[0].notes)
