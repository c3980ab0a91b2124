"""The sync pipeline over real files and a real SQLite store."""

from __future__ import annotations

import copy
import datetime as dt
import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.cel import SEMANTICS
from engine.errors import SyncLocked
from engine.services import Services, open_services
from engine.store.models import Account, AttributeValue, Person, Run, SyncLock
from engine.store.repo import set_meta
from engine.sync.incremental import ATTRIBUTE_SEMANTICS
from engine.sync.pipeline import SyncResult, run_sync
from engine.sync.threshold import DeletionKind
from tests.engine.org import CONFIG, HR, IDP, edit, open_org, write_org


def people(services: Services) -> dict[str, Person]:
    with services.db.session() as session:
        return {p.email: p for p in session.execute(select(Person)).scalars()}


def owner_of(services: Services, app: str, external_id: str) -> str | None:
    with services.db.session() as session:
        account = session.execute(
            select(Account).where(Account.app_id == app, Account.external_id == external_id)
        ).scalar_one()
        if account.owner_id is None:
            return None
        return session.get(Person, account.owner_id).email


@pytest.fixture
def org(tmp_path: Path) -> Services:
    return open_org(tmp_path)


def test_first_sync_creates_people_links_accounts_and_fills_attributes(org: Services) -> None:
    result = org.sync()
    assert result.status == "applied", result.error
    everyone = people(org)
    assert set(everyone) == {
        "ann.lee@example.com",
        "bo.chen@example.com",
        "sam.park@example.com",
        "sam.park2@example.com",
        "nina@example.com",
    }
    # the +tag IdP account merged into Ann; the service account with her alias did not
    assert owner_of(org, "idp", "u1") == "ann.lee@example.com"
    assert owner_of(org, "idp", "u2") is None
    # the leaver is ignored by the HR filter
    assert owner_of(org, "hr", "E5") is None
    # MATCH_ONLY enriches an existing person and never creates one
    assert owner_of(org, "feed", "f1") == "bo.chen@example.com"
    assert owner_of(org, "feed", "f2") is None
    # narrow ownership by email; broad by name, but two Sam Parks are never confused
    assert owner_of(org, "slack", "s1") == "ann.lee@example.com"
    assert owner_of(org, "slack", "s2") is None
    assert owner_of(org, "slack", "s3") is None  # a bot using Ann's email is not Ann's
    assert owner_of(org, "github", "g1") == "bo.chen@example.com"
    assert owner_of(org, "github", "g2") is None
    ann = everyone["ann.lee@example.com"]
    assert ann.attributes["department"] == "Engineering"  # HR create 50 beats IdP 40
    assert ann.attributes["job_title"] == "Engineer"
    assert ann.attributes["manager_email"] == ["bo.chen@example.com"]
    assert ann.attributes["slack_handle"] == "ann"
    assert "ann.lee+it@example.com" in ann.emails
    assert everyone["bo.chen@example.com"].attributes["vendor"] == "Acme"
    assert everyone["nina@example.com"].attributes["job_title"] == "Consultant"
    stages = {s.name: s.counts for s in result.stages}
    assert stages["import"]["new"] == 15
    assert stages["identify"]["users_created"] == 5


def test_second_sync_changes_nothing(org: Services) -> None:
    org.sync()
    again = org.sync()
    assert again.status == "applied"
    assert again.changes == []
    # nothing moved since: the run says so without re-reading every record
    assert dict(again.stages[0].counts) == {"apps_unchanged": 5}


def test_dry_run_plans_exactly_what_apply_does(org: Services) -> None:
    plan = org.sync(dry_run=True)
    assert plan.status == "planned"
    assert people(org) == {}  # nothing changed
    applied = org.sync()
    strip = [{k: v for k, v in c.items()} for c in plan.changes]
    assert strip == applied.changes
    _, journal = org.run_changes(plan.run_id)
    assert len(journal) == len(plan.changes) and not any(c.applied for c in journal)


def test_a_change_in_hr_flows_and_a_lower_authority_change_is_rejected(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    services.sync()
    folder = tmp_path / "org"

    def idp_moves_ann(data: dict) -> None:
        data["accounts"][0]["profile"]["department"] = "Marketing"

    edit(folder, "idp", idp_moves_ann)
    result = services.sync()
    assert people(services)["ann.lee@example.com"].attributes["department"] == "Engineering"
    assert not [c for c in result.changes if c["field"] == "department"]
    explained = services.explain("ann.lee@example.com", "department")
    idp = next(c for c in explained.candidates if c.source.startswith("idp"))
    assert idp.outcome == "lost" and "45 < 60" in idp.reason

    def hr_moves_ann(data: dict) -> None:
        data["accounts"][0]["profile"]["department"] = "Research"

    edit(folder, "hr", hr_moves_ann)
    result = services.sync()
    assert people(services)["ann.lee@example.com"].attributes["department"] == "Research"
    assert [c["new"] for c in result.changes if c["field"] == "department"] == ["Research"]


def test_ambiguous_merge_reports_a_conflict_instead_of_a_duplicate(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    services.sync()

    def add_ambiguous(data: dict) -> None:
        data["accounts"].append(
            {
                "id": "u9",
                "display_name": "Sam P",
                "email": "sam.park@example.com",
                "emails": ["sam.park2@example.com"],
            }
        )

    edit(tmp_path / "org", "idp", add_ambiguous)
    result = services.sync()
    identify = next(s for s in result.stages if s.name == "identify")
    assert identify.counts["conflicts"] == 1
    # whom it found: the admin links it to one of them by hand
    (problem,) = [p for p in identify.problems if "idp:u9" in p]
    assert "ambiguous" in problem and "(sam.park@example.com, sam.park2@example.com)" in problem
    assert len(people(services)) == 5
    assert owner_of(services, "idp", "u9") is None

    def conflicts(result: SyncResult) -> list[str]:
        return [c["reason"] for c in result.changes if c["field"] == "conflict"]

    def now_ann(data: dict) -> None:  # two people still, but two others
        data["accounts"][-1]["emails"] = ["ann.lee@example.com"]

    # two people found again, but not the same two: another conflict, journalled again (it
    # was not: the reason counted them only)
    edit(tmp_path / "org", "idp", now_ann)
    (reason,) = conflicts(services.sync())
    assert "(ann.lee@example.com, sam.park@example.com)" in reason

    # two people created by the run that finds the conflict: named in the order of the ids
    # they get, so the next run, finding them stored, names them alike and journals nothing
    def two_new(data: dict) -> None:
        for n in (1, 2):
            data["accounts"].append(
                {"id": f"N{n}", "display_name": f"New {n}", "email": f"p{n}@example.com"}
            )

    def both_of_them(data: dict) -> None:
        data["accounts"].append(
            {"id": "u10", "display_name": "P", "emails": ["p1@example.com", "p2@example.com"]}
        )

    edit(tmp_path / "org", "hr", two_new)
    edit(tmp_path / "org", "idp", both_of_them)
    (reason,) = [r for r in conflicts(services.sync()) if "p1@" in r]
    assert "(p1@example.com, p2@example.com)" in reason
    edit(tmp_path / "org", "slack", lambda data: data["accounts"][1].update(username="x"))
    assert conflicts(services.sync()) == []


def test_removed_directory_accounts_remove_people_and_the_threshold_blocks(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    services.sync()

    def everyone_leaves(data: dict) -> None:
        data["accounts"] = data["accounts"][:1]

    edit(tmp_path / "org", "hr", everyone_leaves)
    edit(tmp_path / "org", "idp", everyone_leaves)
    blocked = services.sync()
    assert blocked.status == "blocked-by-threshold" and blocked.exit_code == 3
    removed_people = {
        person
        for d, ids in blocked.removals.items()
        if d.kind is DeletionKind.USERS
        for person in ids
    }
    assert len(removed_people) == 4  # Bo, both Sam Parks and Nina; Ann keeps her accounts
    assert "4 users (limit 1)" in blocked.error
    assert any(cause.startswith("users: ") for cause in blocked.deletions)
    assert all(p.status != "DELETED" for p in people(services).values())  # nothing applied

    applied = services.sync(allow_deletes=True)
    assert applied.status == "applied"
    statuses = {e: p.status for e, p in people(services).items()}
    assert statuses["ann.lee@example.com"] == "ENABLED"
    assert statuses["bo.chen@example.com"] == "DELETED"  # kept, not erased
    with services.db.session() as session:
        gone = session.execute(select(Account).where(Account.external_id == "E2")).scalar_one()
        assert gone.status == "DELETED"


def test_a_second_sync_is_refused_while_one_runs(org: Services) -> None:
    with org.db.session() as session:
        session.add(SyncLock(holder="carol", host=os.uname().nodename, pid=1))
        session.commit()
    with pytest.raises(SyncLocked, match="carol"):
        org.sync()
    # previews never wait for a sync
    assert org.preview_all("push_condition", "true").ok


def test_a_failing_connector_loses_nothing(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    services.sync()
    (tmp_path / "org" / "idp.yaml").write_text("accounts: [ {id: broken\n")
    result = services.sync()
    assert result.status == "applied-with-failures" and result.exit_code == 5
    imported = next(s for s in result.stages if s.name == "import")
    assert imported.counts["apps_failed"] == 1
    assert any(p.startswith("idp:") for p in imported.problems)
    assert owner_of(services, "idp", "u1") == "ann.lee@example.com"
    assert "nina@example.com" in people(services)
    assert people(services)["nina@example.com"].status == "ENABLED"
    dashboard = services.dashboard()
    assert dashboard.errors == 1  # the failed import of idp; the run itself applied
    (warning,) = [w for w in dashboard.warnings if "last import failed" in w]
    assert warning.startswith("IdP: last import failed:")


def _sync_and_die_after_import(db_url: str) -> None:
    from engine.store.db import Database

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "attributes" and done == 3 and os.environ.get("_ROSTER_APPLYING"):
            os.kill(os.getpid(), signal.SIGKILL)
        if stage == "done":
            os.environ["_ROSTER_APPLYING"] = "1"

    run_sync(Database(db_url), progress=progress)


def test_a_process_killed_in_the_middle_of_an_applied_sync(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    process = multiprocessing.get_context("spawn").Process(
        target=_sync_and_die_after_import, args=(services.db.url,)
    )
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    with services.db.session() as session:
        # the accounts and their people were committed (one transaction), attributes not
        assert session.execute(select(Account)).first() is not None
        stored = session.scalars(select(Person)).all()
        assert stored and session.execute(select(AttributeValue)).first() is None
        # and no person holds an attribute whose source is not written
        assert all(not person.attributes for person in stored)
        run = session.execute(select(Run)).scalar_one()
        assert run.status == "running"
    # the next sync clears the dead process's lock and finishes the job
    result = open_services(db_path=tmp_path / "roster.db").sync()
    assert result.status == "applied", result.error
    assert len(people(services)) == 5
    assert services.sync().changes == []


def _sync_and_die_between_two_batches(db_url: str) -> None:
    """Write identities two people a batch and die after the first batch of people."""
    from engine.store.db import Database
    from engine.sync import writer

    writer.BATCH = 2
    batches: list[str] = []

    def on_batch(sql: str) -> None:
        if sql.startswith("INSERT INTO person"):
            batches.append(sql)
            if len(batches) == 2:  # the first batch of people is written, the second not
                os.kill(os.getpid(), signal.SIGKILL)

    writer.on_batch = on_batch
    run_sync(Database(db_url))


def test_a_process_killed_inside_a_batched_write_is_finished_by_the_next_sync(
    tmp_path: Path,
) -> None:
    services = open_org(tmp_path)
    process = multiprocessing.get_context("spawn").Process(
        target=_sync_and_die_between_two_batches, args=(services.db.url,)
    )
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    with services.db.session() as session:
        # the transaction of accounts and people died with its first batch written: none of
        # it is
        assert session.execute(select(Person)).first() is None
        assert session.execute(select(Account)).first() is None
        assert session.execute(select(Run)).scalar_one().status == "running"
    result = open_services(db_path=tmp_path / "roster.db").sync()
    assert result.status == "applied", result.error
    assert len(people(services)) == 5
    assert owner_of(services, "idp", "u1") == "ann.lee@example.com"
    assert services.sync().changes == []


def test_sync_json_shape(org: Services) -> None:
    data = json.loads(json.dumps(org.sync(dry_run=True).as_dict(), default=str))
    assert {"run_id", "status", "dry_run", "stages", "changes"} <= set(data)
    assert [s["name"] for s in data["stages"]] == [
        "import",
        "identify",
        "ownership",
        "attributes",
        "push",
        "provision",
    ]
    assert IDP["accounts"][0]["id"] in json.dumps(data["changes"])


def test_manual_links_are_pinned_and_survive_syncs(org: Services) -> None:
    org.sync()
    org.set_link("slack:s1", None)  # unlinked and pinned: the email rule must not relink it
    org.set_link("github:g2", "sam.park2@example.com")
    # the only consequence is Ann losing the handle her Slack account gave her
    assert [(c["object_id"], c["field"]) for c in org.sync().changes] == [
        ("ann.lee@example.com", "slack_handle")
    ]
    assert org.sync().changes == []
    assert owner_of(org, "slack", "s1") is None
    assert owner_of(org, "github", "g2") == "sam.park2@example.com"
    org.pin("slack:s1", pinned=False)  # released: the rules decide again
    org.sync()
    assert owner_of(org, "slack", "s1") == "ann.lee@example.com"


def test_changing_an_attribute_definition_reconsiders_everyone(tmp_path: Path) -> None:
    import copy

    import yaml

    from tests.engine.org import CONFIG

    services = open_org(tmp_path)
    services.sync()
    config = copy.deepcopy(CONFIG)
    job_title = next(a for a in config["attributes"] if a["name"] == "job_title")
    job_title["sources"].reverse()  # the IdP's title now comes first
    path = tmp_path / "org" / "roster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    services.import_config(path.read_text(), source=str(path), base_dir=path.parent)
    result = services.sync()
    assert [(c["object_id"], c["new"]) for c in result.changes if c["field"] == "job_title"] == [
        ("ann.lee@example.com", "Senior Engineer")
    ]
    assert services.sync().changes == []


def test_a_removed_person_stays_removed_and_keeps_their_name(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    services.sync()

    def bo_leaves(data: dict) -> None:
        data["accounts"] = [a for a in data["accounts"] if a["id"] != "E2"]

    edit(tmp_path / "org", "hr", bo_leaves)
    services.sync(allow_deletes=True)
    bo = people(services)["bo.chen@example.com"]
    assert bo.status == "DELETED" and bo.display_name == "Bo Chen"

    def ann_moves(data: dict) -> None:
        data["accounts"][0]["profile"]["job_title"] = "Staff Engineer"

    edit(tmp_path / "org", "hr", ann_moves)
    result = services.sync()
    assert {c["object_id"] for c in result.changes} <= {"hr:E1", "ann.lee@example.com"}
    assert not result.deletions


def test_an_interrupted_apply_is_redone_even_if_the_data_returns(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    services.sync()
    folder = tmp_path / "org"
    original = (folder / "hr.yaml").read_text()

    def sam_leaves(data: dict) -> None:
        data["accounts"] = [a for a in data["accounts"] if a["id"] != "E4"]

    edit(folder, "hr", sam_leaves)
    seen: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append(stage)

    def cancel_after_import() -> bool:
        # planned everything ("done"), wrote the accounts and people, now asked before the
        # attributes (a cancel within that first transaction leaves the store as it was)
        return "done" in seen and seen[-1] == "attributes"

    stopped = services.sync(progress=progress, cancelled=cancel_after_import, allow_deletes=True)
    assert stopped.status == "cancelled"
    (folder / "hr.yaml").write_text(original)  # the app is back as it was
    result = services.sync()
    assert result.status == "applied" and result.changes  # not "nothing changed"
    with services.db.session() as session:
        sam = session.execute(select(Account).where(Account.external_id == "E4")).scalar_one()
        assert sam.status == "ENABLED"


def test_progress_says_when_the_store_is_read_before_the_first_stage(org: Services) -> None:
    """Seconds at 100,000 people, with every stage still pending: the console showed nothing
    under way (newcomer review)."""
    seen: list[str] = []
    assert org.sync(progress=lambda stage, done, total: seen.append(stage)).status == "applied"
    assert seen[:2] == ["load", "import"]


def test_cancelling_while_planning_applies_nothing(org: Services) -> None:
    seen: list[str] = []
    result = org.sync(
        progress=lambda stage, done, total: seen.append(stage),
        cancelled=lambda: "ownership" in seen,
    )
    assert result.status == "cancelled"
    assert people(org) == {}
    assert org.runs()[0].status == "cancelled"


def test_a_directory_filter_that_reads_the_clock_is_decided_again_on_unchanged_data(
    tmp_path: Path,
) -> None:
    """A starter whose start date is in the future is only matched; once the clock passes the
    start date, the next sync creates them, although no file and no configuration changed."""
    config = copy.deepcopy(CONFIG)
    config["directories"][0]["filter"] = (
        'account.profile.employment_status == "TERMINATED" ? "IGNORE" : '
        "has(account.profile.start_date) && timestamp(account.profile.start_date) > now() ? "
        '"MATCH_ONLY" : "CREATE"'
    )
    starter = {
        "id": "E6",
        "display_name": "Pia New",
        "email": "pia.new@example.com",
        "employee_ids": ["E6"],
        "profile": {"employment_status": "ACTIVE", "start_date": "2030-01-01T00:00:00Z"},
    }
    write_org(tmp_path / "org", config, hr={"accounts": [*HR["accounts"], starter]})
    services = open_services(db_path=tmp_path / "roster.db", init="empty")
    config_path = tmp_path / "org" / "roster.yaml"
    services.import_config(
        config_path.read_text(), source=str(config_path), base_dir=config_path.parent
    )
    moment = [dt.datetime(2029, 12, 31, 12, 0, tzinfo=dt.UTC)]

    def clock() -> dt.datetime:
        return moment[0]

    first = run_sync(services.db, clock=clock)
    assert first.status == "applied", first.error
    assert "pia.new@example.com" not in people(services)
    assert owner_of(services, "hr", "E6") is None

    same_day = run_sync(services.db, clock=clock)  # same data, same time: nothing to do
    assert same_day.status == "applied", same_day.error
    assert same_day.planned == []
    assert "pia.new@example.com" not in people(services)

    moment[0] = dt.datetime(2030, 1, 2, 9, 0, tzinfo=dt.UTC)  # past the start date
    started = run_sync(services.db, clock=clock)
    assert started.status == "applied", started.error
    identify = next(s for s in started.stages if s.name == "identify")
    assert identify.counts["users_created"] == 1
    assert owner_of(services, "hr", "E6") == "pia.new@example.com"
    assert people(services)["pia.new@example.com"].display_name == "Pia New"
    with services.db.session() as session:
        decision = session.execute(
            select(Account.filter_result).where(Account.app_id == "hr", Account.external_id == "E6")
        ).scalar_one()
    assert decision == "CREATE"


def test_a_configuration_without_the_clock_settles(tmp_path: Path) -> None:
    """The counterpart: with no expression reading the clock or other people, a sync on
    unchanged data is answered at once from the last settled run."""
    services = open_org(tmp_path)
    first = run_sync(services.db)
    assert first.status == "applied", first.error
    second = run_sync(services.db)
    assert second.status == "applied"
    imported = next(s for s in second.stages if s.name == "import")
    assert any(
        note.startswith(f"nothing changed since run {first.run_id}") for note in imported.notes
    )


def test_a_roster_whose_cel_gives_other_results_reconsiders_everyone(tmp_path: Path) -> None:
    """The runs record the CEL semantics they evaluated with (engine.cel.SEMANTICS): after an
    upgrade that changes what expressions give (1 / 2.0 was 0, it is an error now), the first
    sync is not "nothing changed" and recomputes every person's attributes, so no value of the
    old meaning stays in the store."""
    services = open_org(tmp_path)
    first = run_sync(services.db)
    assert first.status == "applied", first.error
    with services.db.session() as session:
        run = session.get(Run, first.run_id)
        assert run is not None
        assert all(f"+cel{SEMANTICS}" in v for v in run.config_versions.values())
        assert run.config_versions["attributes"].endswith(f"+a{ATTRIBUTE_SEMANTICS}")
        # as a Roster of the older meaning recorded them: its versions, and so its signature
        run.config_versions = {k: v.split("+")[0] for k, v in run.config_versions.items()}
        session.add(run)
        set_meta(session, "last_sync_signature", "the signature of the older meaning")
        session.commit()
    second = run_sync(services.db)
    assert second.status == "applied", second.error
    imported = next(s for s in second.stages if s.name == "import")
    assert not any(note.startswith("nothing changed since") for note in imported.notes)
    attributes = next(s for s in second.stages if s.name == "attributes")
    assert attributes.counts["users_considered"] == len(people(services))
    assert attributes.notes[0] == (
        "computed everyone: this version of Roster computes attributes differently from the "
        f"one that applied run {first.run_id} (an upgrade): every plan computes everyone "
        "until a sync applies"
    )
    third = run_sync(services.db)  # and then it settles again
    imported = next(s for s in third.stages if s.name == "import")
    assert any(note.startswith("nothing changed since") for note in imported.notes)


def _with_attribute(name: str, cel: str) -> dict:
    config = copy.deepcopy(CONFIG)
    config["attributes"].append({"name": name, "custom": True, "sources": [{"cel": cel}]})
    return config


def test_an_attribute_that_reads_the_clock_is_recomputed_for_people_whose_data_did_not_change(
    tmp_path: Path,
) -> None:
    services = open_org(
        tmp_path,
        _with_attribute("phase", 'now() >= timestamp("2030-01-01T00:00:00Z") ? "live" : "pilot"'),
    )
    moment = [dt.datetime(2029, 12, 31, tzinfo=dt.UTC)]
    assert run_sync(services.db, clock=lambda: moment[0]).status == "applied"
    assert {p.attributes["phase"] for p in people(services).values()} == {"pilot"}
    moment[0] = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    later = run_sync(services.db, clock=lambda: moment[0])
    assert later.status == "applied", later.error
    assert {p.attributes["phase"] for p in people(services).values()} == {"live"}
    assert next(s for s in later.stages if s.name == "import").counts.get("changed", 0) == 0


def test_an_attribute_that_reads_other_people_follows_their_change(tmp_path: Path) -> None:
    """Ann's attribute reads Bo's name through the directory: when only Bo's record changes,
    Ann (untouched) is recomputed too."""
    services = open_org(
        tmp_path,
        _with_attribute(
            "director", 'c1.directory.users.v1.FindByEmail("bo.chen@example.com").displayName'
        ),
    )
    assert services.sync().status == "applied"
    assert people(services)["ann.lee@example.com"].attributes["director"] == "Bo Chen"

    def rename_bo(data: dict) -> None:
        data["accounts"][1]["display_name"] = "Bo Chen-Li"

    edit(tmp_path / "org", "hr", rename_bo)
    # the first sync after the change renames Bo; Ann's attribute reads the people as the
    # identify stage left them, so it follows in the same run
    result = services.sync()
    assert result.status == "applied", result.error
    assert people(services)["bo.chen@example.com"].display_name == "Bo Chen-Li"
    assert people(services)["ann.lee@example.com"].attributes["director"] == "Bo Chen-Li"


def _nothing_changed(result: SyncResult) -> bool:
    imported = next(s for s in result.stages if s.name == "import")
    return any(note.startswith("nothing changed since") for note in imported.notes)


def _until_settled(services: Services, most: int = 4) -> list[SyncResult]:
    """Syncs on the same data until one is answered at once ("nothing changed")."""
    runs: list[SyncResult] = []
    while not runs or not _nothing_changed(runs[-1]):
        assert len(runs) < most, [r.changes for r in runs]
        runs.append(services.sync())
        assert runs[-1].status == "applied", runs[-1].error
    return runs


def test_an_attribute_that_reads_other_people_settles_once_a_run_changes_nothing(
    tmp_path: Path,
) -> None:
    """Everyone's attribute reads Bo's department. When Bo's department changes, the stage
    computes Bo (his HR record changed), then the four who read his department
    (engine/sync/reads.py, pipeline._catch_up), and the run settles the store: a sync on
    the same data is answered at once. Such a configuration used to recompute everyone on
    every sync, for ever, then every sync until nothing moved."""
    services = open_org(
        tmp_path,
        _with_attribute(
            "bos_department",
            'c1.directory.users.v1.FindByEmail("bo.chen@example.com").department',
        ),
    )
    first = [services.sync(), *_until_settled(services)]
    # everyone is new in the first, and read as the store has them once written: it settles
    assert [bool(r.changes) for r in first] == [True, False]
    assert people(services)["ann.lee@example.com"].attributes["bos_department"] == "Engineering"

    def move_bo(data: dict) -> None:
        data["accounts"][1]["profile"]["department"] = "Research"

    edit(tmp_path / "org", "hr", move_bo)
    planned = services.sync(dry_run=True)
    assert next(s for s in planned.stages if s.name == "attributes").notes == [
        "4 people computed as well (ann.lee@example.com, nina@example.com, sam.park2@example.com "
        "and 1 more): they read someone whose values this run set",
        "bos_department reads other people: nothing they read would move",
    ]
    moved = _until_settled(services)
    assert people(services)["bo.chen@example.com"].attributes["department"] == "Research"
    assert {p.attributes["bos_department"] for p in people(services).values()} == {"Research"}
    # one run: Bo, then (once his department moved) his four readers; then nothing changed
    assert [bool(r.changes) for r in moved] == [True, False]
    considered = next(s for s in moved[0].stages if s.name == "attributes").counts
    assert considered["users_considered"] == 5
    # one change per value
    assert sorted(c["object_id"] for c in moved[0].changes if c["field"] == "bos_department") == [
        "ann.lee@example.com",
        "bo.chen@example.com",
        "nina@example.com",
        "sam.park2@example.com",
        "sam.park@example.com",
    ]
    assert moved[0].changes == [c for c in planned.changes]
    # what a script reads: settled by the run that moved nothing more
    assert [r.settled for r in moved] == [True, True] and planned.as_dict()["settled"] is None
    notes = next(s for s in moved[0].stages if s.name == "attributes").notes
    assert notes[-1] == (
        "bos_department reads other people: nothing they read moved, so the next sync on the "
        "same data ends at once"
    )
    # the runs keep their notes (`roster runs N`, the console's history)
    assert services.run_changes(moved[0].run_id)[0].notes == {"attributes": notes}
    assert (
        services.run_changes(moved[-1].run_id)[0]
        .notes["import"][0]
        .startswith(f"nothing changed since run {moved[0].run_id}")
    )


def test_a_person_this_run_created_is_read_with_the_id_the_store_gives_them(
    tmp_path: Path,
) -> None:
    """A new person holds the run's own id until written; CEL is shown the id the store will
    give them, and finds them by it: Ann's manager's id, read when both are new, is Bo's
    stored id from the first sync on, and the run settles (it used to store the run's own id,
    which a push could have sent, and leave Ann to the next sync)."""
    config = _with_attribute("manager_id", "subject.managerId")
    config["attributes"].append(
        {
            "name": "manager_name",
            "custom": True,
            "sources": [{"cel": "c1.directory.users.v1.GetByID(subject.managerId).displayName"}],
        }
    )
    services = open_org(tmp_path, config)
    first = services.sync()
    assert first.settled
    bo = people(services)["bo.chen@example.com"]
    ann = services.explain("ann.lee@example.com", "manager_id")
    assert (ann.value, ann.has_pending) == (str(bo.id), False)
    assert people(services)["ann.lee@example.com"].attributes["manager_name"] == bo.display_name
    created = next(
        c
        for c in first.changes
        if c["object_id"] == "ann.lee@example.com" and c["stage"] == "attributes"
    )
    assert created["new"]["manager_id"] == str(bo.id)  # the plan showed it too


def test_the_dashboard_counts_the_small_organisation(org: Services) -> None:
    before = org.dashboard()
    assert (before.people, before.accounts, before.unowned, before.last_runs) == (0, 0, 0, [])
    assert [(a.id, a.accounts) for a in before.apps] == [
        ("hr", 0),
        ("idp", 0),
        ("feed", 0),
        ("github", 0),
        ("slack", 0),
    ]
    assert org.sync().status == "applied"
    # by hand from tests/engine/org.py: HR's five minus the terminated Lea Ver, plus Nina who
    # only the IdP knows; 15 rows (hr 5, idp 3, feed 2, slack 3, github 2); nobody owns slack's
    # ghost and deploybot (a service account) nor github's g2 (two Sam Parks); feed's f2 is a
    # MATCH_ONLY row that matches nobody
    dashboard = org.dashboard()
    counts = (
        dashboard.people,
        dashboard.accounts,
        dashboard.unowned,
        dashboard.unmerged,
        dashboard.errors,
    )
    assert counts == (5, 15, 3, 1, 0)
    assert {a.id: a.accounts for a in dashboard.apps} == {
        "hr": 5,
        "idp": 3,
        "feed": 2,
        "slack": 3,
        "github": 2,
    }
    assert dashboard.warnings == ["3 accounts have no owner."]


def test_a_second_record_of_one_directory_is_a_conflict_not_a_merge(tmp_path: Path) -> None:
    # A second HR record with a new employee id reuses Ann's email: it is another record, not
    # Ann seen twice; merging it would give Ann a second employee id and drop its own data.
    services = open_org(tmp_path)
    services.sync()

    def add_second_ann(data: dict) -> None:
        data["accounts"].append(
            {
                "id": "E9",
                "display_name": "Ann Lee",
                "email": "ann.lee@example.com",
                "employee_ids": ["E9"],
                "profile": {"department": "Legal", "employment_status": "ACTIVE"},
            }
        )

    edit(tmp_path / "org", "hr", add_second_ann)
    result = services.sync()
    identify = next(s for s in result.stages if s.name == "identify")
    assert identify.counts["conflicts"] == 1
    assert any("hr:E9" in p and "never merged" in p for p in identify.problems)
    assert owner_of(services, "hr", "E9") is None
    ann = services.user_by_email("ann.lee@example.com")
    assert "E9" not in ann.employee_ids
    assert ann.attributes.get("department") == "Engineering"


def test_a_standing_conflict_is_journalled_once_and_reported_every_run(tmp_path: Path) -> None:
    # The second HR record stays unlinked, so every sync that runs identify walks it again and
    # finds the same conflict (hostile review: AD as a directory journalled `ad:svc-backup`'s
    # conflict in every sync). It is reported by each of them, but it is a change only once.
    services = open_org(tmp_path)
    services.sync()

    def add_second_ann(data: dict) -> None:
        data["accounts"].append(
            {"id": "E9", "display_name": "Ann Lee", "email": "ann.lee@example.com"}
        )

    def conflicts(result: SyncResult) -> list[str]:
        return [c["object_id"] for c in result.changes if c["field"] == "conflict"]

    edit(tmp_path / "org", "hr", add_second_ann)
    assert conflicts(services.sync()) == ["hr:E9"]
    for name in ("ghost1", "ghost2"):  # an unrelated app's data changes: identify runs again

        def rename(data: dict, name: str = name) -> None:
            data["accounts"][1]["username"] = name

        edit(tmp_path / "org", "slack", rename)
        result = services.sync()
        identify = next(s for s in result.stages if s.name == "identify")
        assert result.status == "applied" and result.changes  # not "nothing changed"
        assert identify.counts["conflicts"] == 1
        assert any("hr:E9" in p and "never merged" in p for p in identify.problems)
        assert conflicts(result) == []
    assert owner_of(services, "hr", "E9") is None
    # gone and back: a conflict again, journalled again
    edit(tmp_path / "org", "hr", lambda data: data["accounts"].pop())
    assert conflicts(services.sync()) == []
    edit(tmp_path / "org", "hr", add_second_ann)
    assert conflicts(services.sync()) == ["hr:E9"]


def test_an_account_gone_from_its_app_is_one_change_its_grants_with_it(tmp_path: Path) -> None:
    """Slack stops listing s1, which held `admins`: the plan has one change for it (its
    deletion), not a deletion and a change of its entitlements (the confirmation read "1
    account changed · 1 account deleted" for one account; newcomer review). Its grants are
    gone from the store all the same."""
    org = open_org(tmp_path)
    assert org.sync().status == "applied"

    def drop_s1(slack: dict) -> None:
        slack["accounts"] = [a for a in slack["accounts"] if a["id"] != "s1"]
        slack["grants"] = []

    edit(tmp_path / "org", "slack", drop_s1)
    plan = org.sync(dry_run=True)
    about_s1 = [c for c in plan.changes if c["object_id"] == "slack:s1" and c["stage"] == "import"]
    assert [(c["field"], c["new"]) for c in about_s1] == [("status", "DELETED")], about_s1
    applied = org.sync(allow_deletes=True)
    assert applied.status == "applied" and applied.changes == plan.changes
    s1 = next(a for a in org.population().accounts if a.external_id == "s1")
    assert s1.status == "DELETED" and s1.entitlements == []


def test_a_sync_says_why_it_computed_everyone(tmp_path: Path) -> None:
    """A changed attribute configuration (or a manual decision) makes a sync compute every
    person's attributes; its attributes stage says which, so an admin is not left wondering
    why 'users considered' counts everyone when no app changed (newcomer review)."""
    services = open_org(tmp_path)
    first = services.sync()
    assert next(s for s in first.stages if s.name == "attributes").notes == []  # all new
    config_path = write_org(tmp_path / "org", _with_attribute("motto", '"same for everyone"'))
    services.import_config(
        config_path.read_text(), source=str(config_path), base_dir=config_path.parent
    )
    again = services.sync()
    attributes = next(s for s in again.stages if s.name == "attributes")
    assert attributes.notes == [
        f"computed everyone: the attributes' configuration changed since run {first.run_id}"
    ]
    assert attributes.counts["users_considered"] == len(people(services))
    quiet = services.sync()
    assert next(s for s in quiet.stages if s.name == "attributes").notes == []


def test_a_run_that_cannot_settle_does_not_promise_it(tmp_path: Path) -> None:
    """With an attribute that also reads the clock, the store never settles: the run that
    changed nothing must not say the next sync ends at once (hostile review)."""
    config = _with_attribute(
        "bos_department", 'c1.directory.users.v1.FindByEmail("bo.chen@example.com").department'
    )
    config["attributes"].append(
        {"name": "year", "custom": True, "sources": [{"cel": "string(now().getFullYear())"}]}
    )
    services = open_org(tmp_path, config)
    runs = [services.sync() for _ in range(4)]
    assert not any(_nothing_changed(r) or r.settled for r in runs)
    assert runs[-1].changes == []
    assert next(s for s in runs[-1].stages if s.name == "attributes").notes == [
        "an expression reads the clock (now()): its value can change with no new data, so no "
        "sync settles the store",
        "bos_department reads other people: nothing they read moved",
    ]
    planned = services.sync(dry_run=True)
    assert next(s for s in planned.stages if s.name == "attributes").notes == [
        "bos_department reads other people: nothing they read would move"
    ]


def test_a_removed_person_is_nobodys_manager(tmp_path: Path) -> None:
    """Bo leaves HR and is removed: CEL's lookups of other people no longer find him, so Ann's
    manager's department is empty in the synced store, as in a store built anew from the same
    files (a DELETED person kept for the record was still found; hostile review)."""
    manager_department = 'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("")'
    config = _with_attribute("manager_department", manager_department)
    services = open_org(tmp_path, config)
    _until_settled(services)
    assert people(services)["ann.lee@example.com"].attributes["manager_department"] == (
        "Engineering"
    )

    def remove_bo(data: dict) -> None:
        data["accounts"] = [a for a in data["accounts"] if a["id"] != "E2"]

    edit(tmp_path / "org", "hr", remove_bo)
    for _ in range(3):
        assert services.sync(allow_deletes=True).status == "applied"
    assert people(services)["bo.chen@example.com"].status == "DELETED"
    synced = people(services)["ann.lee@example.com"].attributes["manager_department"]

    anew = open_org(tmp_path / "anew", config)
    for name in ("hr", "idp", "feed", "slack", "github"):
        (tmp_path / "anew" / "org" / f"{name}.yaml").write_text(
            (tmp_path / "org" / f"{name}.yaml").read_text()
        )
    _until_settled(anew)
    assert synced == people(anew)["ann.lee@example.com"].attributes["manager_department"] == ""
