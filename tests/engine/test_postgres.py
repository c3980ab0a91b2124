"""The identity store on a real PostgreSQL server: migrations, syncs, manual links, previews, the
sync lock and the command line. A throwaway server starts once for this file (tests/pg_server.py)
and every test gets its own empty database on it.

Without PostgreSQL server binaries this fails in CI (CI=true, or ROSTER_REQUIRE_POSTGRES=1 as
.ci/run sets) and is skipped only on a developer's machine.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text

from console.cli import main
from engine.errors import NotFound, SyncLocked
from engine.services import JournalReading, Services, open_services
from engine.store.db import Database
from engine.store.models import Account, AuditEvent, Person, Run
from engine.sync.pipeline import acquire_lock, release_lock
from tests.engine.org import edit, write_org
from tests.pg_server import PostgresServer, postgres_server, unavailable_reason
from tests.prerequisites import missing

EVERYONE = {
    "ann.lee@example.com",
    "bo.chen@example.com",
    "sam.park@example.com",
    "sam.park2@example.com",
    "nina@example.com",
}
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    reason = unavailable_reason()
    if reason:
        missing(reason, required=os.environ.get("ROSTER_REQUIRE_POSTGRES") == "1")
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A new empty database for each test."""
    return pg_server.create_database(f"roster_test_{next(_numbers)}")


@pytest.fixture
def org(pg_url: str, tmp_path: Path) -> Iterator[Services]:
    """The small organisation of tests/engine/org.py, its configuration imported, not synced."""
    config_path = write_org(tmp_path / "org")
    services = open_services(database_url=pg_url, init="empty")
    services.import_config(
        config_path.read_text(), source=str(config_path), base_dir=config_path.parent
    )
    yield services
    services.db.dispose()


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


def sequences_are_ahead(services: Services) -> None:
    """Every SERIAL sequence is at least at its table's max(id): ORM inserts cannot collide."""
    with services.db.engine.connect() as connection:
        for table in (
            "account",
            "person",
            "run",
            "change",
            "audit_event",
            "attribute_value",
            "external_write",
        ):
            top = connection.execute(text(f'SELECT max(id) FROM "{table}"')).scalar()
            if top is None:
                continue
            last = connection.execute(text(f"SELECT last_value FROM {table}_id_seq")).scalar()
            assert last >= top, f"{table}: sequence at {last}, max(id) {top}"


def test_migrations_create_the_schema_on_an_empty_database(pg_url: str) -> None:
    services = open_services(database_url=pg_url, init="empty")
    try:
        assert services.db.exists()
        assert not services.db.is_sqlite
        inspector = inspect(services.db.engine)
        assert {"app", "account", "person", "run", "change", "audit_event", "sync_lock"} <= set(
            inspector.get_table_names()
        )
        columns = {c["name"]: c["type"] for c in inspector.get_columns("person")}
        assert columns["created_at"].timezone  # timestamptz: aware datetimes round-trip
        assert columns["attributes"].__class__.__name__ == "JSON"
        with services.db.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        services.db.migrate()  # a second migration is a no-op
        reopened = open_services(database_url=pg_url)  # an existing store is only migrated
        assert reopened.db.exists()
        empty = reopened.dashboard()
        assert (empty.people, empty.accounts, empty.apps, empty.last_runs) == (0, 0, [], [])
        assert any("No apps are configured" in w for w in empty.warnings)
        reopened.db.dispose()
    finally:
        services.db.dispose()


def _migrate_after(barrier: object, url: str) -> None:
    database = Database(url)
    database.engine.connect().close()
    barrier.wait()  # type: ignore[attr-defined]
    database.migrate()
    database.dispose()


def test_consoles_opening_a_new_store_at_once_migrate_it_once(pg_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    processes = [context.Process(target=_migrate_after, args=(barrier, pg_url)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    database = Database(pg_url)
    assert database.exists()
    database.dispose()


def test_first_sync_then_a_second_sync_changes_nothing(org: Services) -> None:
    result = org.sync()
    assert result.status == "applied", result.error
    everyone = people(org)
    assert set(everyone) == EVERYONE
    assert owner_of(org, "idp", "u1") == "ann.lee@example.com"
    assert owner_of(org, "idp", "u2") is None
    assert owner_of(org, "hr", "E5") is None
    assert owner_of(org, "feed", "f1") == "bo.chen@example.com"
    assert owner_of(org, "feed", "f2") is None
    assert owner_of(org, "slack", "s1") == "ann.lee@example.com"
    assert owner_of(org, "slack", "s2") is None
    assert owner_of(org, "slack", "s3") is None
    assert owner_of(org, "github", "g1") == "bo.chen@example.com"
    assert owner_of(org, "github", "g2") is None
    ann = everyone["ann.lee@example.com"]
    assert ann.attributes["department"] == "Engineering"
    assert ann.attributes["job_title"] == "Engineer"
    assert ann.attributes["manager_email"] == ["bo.chen@example.com"]
    assert ann.attributes["slack_handle"] == "ann"
    assert "ann.lee+it@example.com" in ann.emails
    assert ann.created_at.tzinfo is not None
    assert everyone["bo.chen@example.com"].attributes["vendor"] == "Acme"
    assert everyone["nina@example.com"].attributes["job_title"] == "Consultant"
    stages = {s.name: s.counts for s in result.stages}
    assert stages["import"]["new"] == 15
    assert stages["identify"]["users_created"] == 5
    sequences_are_ahead(org)

    again = org.sync()
    assert again.status == "applied"
    assert again.changes == []
    assert dict(again.stages[0].counts) == {"apps_unchanged": 5}
    assert [r.status for r in org.runs()] == ["applied", "applied"]
    # counted by hand from tests/engine/org.py and the owners asserted above: 5 people; 15
    # accounts (hr 5, idp 3, feed 2, slack 3, github 2); unowned outside the directories:
    # slack s2 and s3, github g2; unmerged (a MATCH_ONLY directory row nobody owns): feed f2
    dashboard = org.dashboard()
    counts = (
        dashboard.people,
        dashboard.accounts,
        dashboard.unowned,
        dashboard.unmerged,
        dashboard.errors,
    )
    assert counts == (5, 15, 3, 1, 0)
    assert {(a.id, a.accounts, a.is_directory) for a in dashboard.apps} == {
        ("hr", 5, True),
        ("idp", 3, True),
        ("feed", 2, True),
        ("slack", 3, False),
        ("github", 2, False),
    }
    assert [r.status for r in dashboard.last_runs] == ["applied", "applied"]
    # ilike search, case-insensitive on PostgreSQL too
    assert [r.label for r in org.find_records("user", "ANN.LEE")] == [
        "Ann Lee <ann.lee@example.com>"
    ]
    assert {r.detail for r in org.find_records("account", "SLACK")} == {
        "slack:s1",
        "slack:s2",
        "slack:s3",
    }


def test_a_change_in_a_file_flows(org: Services, tmp_path: Path) -> None:
    org.sync()

    def hr_moves_ann(data: dict) -> None:
        data["accounts"][0]["profile"]["department"] = "Research"

    def idp_adds_someone(data: dict) -> None:
        data["accounts"].append(
            {"id": "u4", "display_name": "New Hire", "email": "new.hire@example.com"}
        )

    edit(tmp_path / "org", "hr", hr_moves_ann)
    edit(tmp_path / "org", "idp", idp_adds_someone)
    result = org.sync()
    assert result.status == "applied", result.error
    everyone = people(org)
    assert everyone["ann.lee@example.com"].attributes["department"] == "Research"
    assert [c["new"] for c in result.changes if c["field"] == "department"] == ["Research"]
    assert set(everyone) == EVERYONE | {"new.hire@example.com"}  # explicit ids on a 2nd sync
    assert owner_of(org, "idp", "u4") == "new.hire@example.com"
    explained = org.explain("ann.lee@example.com", "DEPARTMENT")
    assert explained.candidates
    sequences_are_ahead(org)
    assert org.sync().changes == []


def test_the_dry_run_plans_exactly_what_the_apply_does(org: Services) -> None:
    plan = org.sync(dry_run=True)
    assert plan.status == "planned"
    assert people(org) == {}
    applied = org.sync()
    assert applied.status == "applied", applied.error
    assert plan.changes == applied.changes
    _, journal = org.run_changes(plan.run_id)
    assert len(journal) == len(plan.changes) and not any(c.applied for c in journal)
    _, journal = org.run_changes(applied.run_id)
    assert len(journal) == len(applied.changes) and all(c.applied for c in journal)
    # the console reads a run's journal a page at a time: counted and paged on PostgreSQL too
    _, stages = org.journal_stages(plan.run_id)
    assert sum(s.changes for s in stages) == len(journal) and not any(s.applied for s in stages)
    _, stages = org.journal_stages(applied.run_id)
    assert sum(s.applied for s in stages) == len(journal)
    paged = []
    for stage in stages:
        reading = JournalReading(stage)
        while not reading.done:
            page = org.journal_objects(applied.run_id, reading, 3)
            paged += [change for found in page for change in found.changes]
        assert len(reading.shown) == stage.objects and reading.changes == stage.changes
    assert sorted(paged, key=repr) == sorted(journal, key=repr)


def test_a_reviewed_plan_is_applied(org: Services) -> None:
    """`--expect-plan` and the console's confirmation: the plan is looked up among the dry
    runs (bounded by a 64-bit number, PostgreSQL's 32-bit ids refused it: "integer out of
    range", and no plan could be applied; a newcomer review)."""
    plan = org.sync(dry_run=True)
    applied = org.sync(expect_plan=plan.plan, plan_run=plan.run_id)
    assert applied.status == "applied", applied.error
    assert applied.plan_run == plan.run_id
    with pytest.raises(NotFound, match="There is no run 3000000000"):
        org.run_summary(3_000_000_000)  # past a 32-bit id: no run, not a failing store


def test_manual_links_after_syncs_use_the_sequences(org: Services) -> None:
    org.sync()
    org.sync()
    # ORM inserts without ids after the writer's explicit-id inserts: audit events, then a run
    org.set_link("slack:s1", None)
    org.set_link("github:g2", "sam.park2@example.com")
    with org.db.session() as session:
        events = session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars().all()
        assert [e.action for e in events if e.object_kind == "account"] == ["unlink", "link"]
        assert all(e.at.tzinfo is not None for e in events)
        runs_before = session.scalar(select(func.count()).select_from(Run))
    result = org.sync()
    assert result.status == "applied", result.error
    assert [(c["object_id"], c["field"]) for c in result.changes] == [
        ("ann.lee@example.com", "slack_handle")
    ]
    assert owner_of(org, "slack", "s1") is None
    assert owner_of(org, "github", "g2") == "sam.park2@example.com"
    with org.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == runs_before + 1
        # a person added by hand (no id) after the writer's inserts gets a fresh id
        extra = Person(email="hand.made@example.com", display_name="Hand Made")
        session.add(extra)
        session.commit()
        assert extra.id is not None and extra.id > 5
    sequences_are_ahead(org)
    org.pin("slack:s1", pinned=False)
    org.sync()
    assert owner_of(org, "slack", "s1") == "ann.lee@example.com"


def test_a_preview_over_all_users(org: Services) -> None:
    org.sync()
    preview = org.preview_all("push_condition", 'subject.department == "Engineering"')
    assert preview.ok and preview.errors == 0
    assert preview.count == 5
    assert preview.summary == {"selected": 2, "not_selected": 3}


def test_the_sync_lock_refuses_a_second_sync(org: Services) -> None:
    acquire_lock(org.db, "carol")  # this (living) process holds the lock
    try:
        with pytest.raises(SyncLocked, match="carol"):
            org.sync()
        assert org.preview_all("push_condition", "true").ok  # previews never wait for a sync
    finally:
        release_lock(org.db)
    assert org.sync().status == "applied"


def test_the_cli_syncs_a_postgres_store(pg_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    config = write_org(tmp_path / "org")
    result = runner.invoke(main, ["init", "--empty", "--database-url", pg_url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--database-url", pg_url, "config", "import", str(config)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["--database-url", pg_url, "sync", "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "applied" and data["changes_total"] > 0
    result = runner.invoke(main, ["--database-url", pg_url, "sync", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["changes"] == []


def test_writes_to_the_apps_are_recorded_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """A sync killed after writing to AD is recovered as on SQLite; creations leave intents
    settled as sent (explicit ids: the sequence follows)."""
    from tests.engine.test_kill_recovery import kill_at, write_kill_org

    config_path = write_kill_org(tmp_path / "org")
    services = open_services(database_url=pg_url, init="empty")
    try:
        services.import_config(
            config_path.read_text(), source=str(config_path), base_dir=config_path.parent
        )
        kill_at(services, "push written, not recorded")
        result = services.sync()
        assert result.status == "applied", result.error
        killed = result.run_id - 1
        assert [(w.account, w.outcome) for w in services.external_writes(killed)] == [
            ("ad:alee", "found applied"),
            ("ad:bchen", "found applied"),
        ]
        assert [
            (w.kind, w.account, w.outcome) for w in services.external_writes(result.run_id)
        ] == [("create", "entra:sam.park@example.com", "sent")]
        services.provision("entra", "sam.park2@example.com")
        sequences_are_ahead(services)
        assert services.sync().changes == []
    finally:
        services.db.dispose()


def test_a_one_record_preview_reads_postgres_per_query(org: Services) -> None:
    """The store's directory (engine/store/directory.py) on PostgreSQL: its SQL narrowing
    (ILIKE, the JSON list cast to text, the non-ASCII regex) finds people as the population
    does, and nobody is loaded for it."""
    from engine.store.directory import StoreDirectory
    from engine.store.repo import load_population

    org.sync()
    fresh = open_services(database_url=org.db.url)
    try:
        ann = fresh.user_by_email("ANN.LEE@example.com ")
        result = fresh.preview_one("attribute_source", "subject.email", ann)
        assert result.ok and result.value == "ann.lee@example.com"
        assert fresh.ctx._population is None
        with org.db.session() as session:
            population = load_population(session)
        store = StoreDirectory(org.db.session)
        for user in population.users:
            for email in [user.email, *user.emails]:
                assert store.users_by_email(email) == population.users_by_email(email)
            assert store.users_by_name(user.display_name) == population.users_by_name(
                user.display_name
            )
        assert store.profile_keys("account") == population.profile_keys("account")
    finally:
        fresh.db.dispose()


def test_two_admins_saving_at_once_both_keep_their_change(
    org: Services, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.engine.org import saves_at_once

    other = open_services(database_url=pg_url)
    try:
        saves_at_once(org, other, monkeypatch)
    finally:
        other.db.dispose()


def test_backup_of_a_postgresql_store_names_pg_dump(pg_url: str, tmp_path: Path) -> None:
    open_services(database_url=pg_url, init="empty").db.dispose()
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "b.db"), "--database-url", pg_url])
    assert result.exit_code == 1, result.output
    assert "backed up with PostgreSQL's own tools: `pg_dump -Fc DATABASE" in result.output
    assert not (tmp_path / "b.db").exists()
