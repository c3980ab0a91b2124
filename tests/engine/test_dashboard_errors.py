"""What the dashboard counts as an error of the store, and what it does not."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from console.cli import main


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_a_refused_provisioning_dry_run_is_no_error_of_the_store(demo: Any) -> None:
    """A newcomer's `provision ad --user 22 --dry-run` (Mei Tanaka, no email) raised the
    dashboard's Errors card and led its warnings: a dry run for one person changes nothing."""
    db = str(demo.db.sqlite_path)
    mei = next(p for p in demo.population().users if p.display_name == "Mei Tanaka")
    result = _cli("provision", "ad", "--user", str(mei.id), "--dry-run", "--db", db)
    assert result.exit_code != 0
    assert demo.runs(limit=1)[0].kind == "provision"
    board = demo.dashboard()
    assert board.errors == 0 and not any(w.startswith("Run ") for w in board.warnings)


def test_a_failed_sync_stays_an_error_after_a_clean_dry_run(demo: Any) -> None:
    """A dry run planned after a failed sync hid it: `status --check` exited 0 (day-two
    review), and pressing p in the console did the same. The last run that applied decides."""
    db = str(demo.db.sqlite_path)
    too_long = '"' + "x" * 100 + '"'  # AD's department holds 64 characters
    set_mapping = ("config", "set", "push_rules.ad-core.mappings.department")
    assert _cli(*set_mapping, f"{{cel: '{too_long}'}}", "--db", db).exit_code == 0
    failed = _cli("sync", "--db", db)
    assert failed.exit_code == 5, failed.output
    assert _cli(*set_mapping, "{attribute: department}", "--db", db).exit_code == 0
    planned = _cli("sync", "--dry-run", "--json", "--db", db)
    assert planned.exit_code == 0 and '"status": "planned"' in planned.stdout, planned.output

    # an account provisioned by hand since, and its dry runs, do not hide it either
    population = demo.population()
    in_entra = {a.owner_id for a in population.accounts if a.app_id == "entra"}
    person = next(u for u in population.users if u.email and u.id not in in_entra)
    for _ in range(6):  # more than the dashboard's five last runs
        _cli("provision", "entra", "--user", person.email, "--dry-run", "--db", db)
    created = _cli("provision", "entra", "--user", person.email, "--db", db)
    assert created.exit_code == 0, created.output

    check = _cli("status", "--check", "--db", db)
    assert check.exit_code == 6, check.output
    run = demo.runs(limit=20, applied_only=True)[1]
    assert run.kind == "sync" and run.status == "applied-with-failures"
    assert f"Run {run.id} applied-with-failures:" in check.output
    assert demo.dashboard(with_care=False).errors == 1

    # the next sync that applies cleanly clears it
    assert _cli("sync", "--db", db).exit_code == 0
    board = demo.dashboard(with_care=False)
    assert board.errors == 0 and not any(w.startswith("Run ") for w in board.warnings)


def test_a_killed_sync_is_an_error_until_a_sync_finishes_it(demo: Any) -> None:
    """A sync killed every night (kill -9, out of memory) raised only a warning: a cron job's
    `status --check` exited 0 (day-two review)."""
    from engine.store.models import Run

    db = str(demo.db.sqlite_path)
    with demo.db.session() as session:  # as a killed sync leaves it: running, no lock
        session.add(Run(kind="sync", status="running", started_by="cron"))
        session.commit()
    check = _cli("status", "--check", "--db", db)
    assert check.exit_code == 6 and "interrupted: its process ended" in check.output, check.output
    # an error, not a warning only (the demo's care lists alone make --check exit 6)
    assert demo.dashboard(with_care=False).errors == 1
    assert _cli("sync", "--db", db).exit_code == 0
    assert demo.dashboard(with_care=False).errors == 0


def test_a_sync_that_could_not_record_its_end_is_failed_by_the_next(
    demo: Any, monkeypatch: Any
) -> None:
    """A store that could not be written as the run finished (a full disk) left the run
    "running" while the lock was given back: shown "interrupted" for good, no sync ever
    settled it (day-two review). The next sync to take the lock marks it failed, saying so."""
    from engine.errors import StoreError
    from engine.sync import pipeline
    from engine.sync.lock import ENDED_UNRECORDED

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise StoreError("The identity store refused the operation (database or disk is full).")

    db = str(demo.db.sqlite_path)
    # a change, so that the sync runs its stages (an unchanged store ends at once)
    assert (
        _cli(
            "config", "set", "push_rules.ad-core.mappings.title", "{cel: '\"x\"'}", "--db", db
        ).exit_code
        == 0
    )
    monkeypatch.setattr(pipeline, "_finish", full_disk)
    result = _cli("sync", "--db", db)
    assert result.exit_code == 1 and "disk is full" in result.output, result.output
    monkeypatch.undo()
    stuck = demo.runs(limit=1)[0]
    assert stuck.status == "interrupted"  # no process holds the lock: not running
    assert demo.sync().status == "applied"
    run = next(r for r in demo.runs(limit=5) if r.id == stuck.id)
    assert run.status == "failed" and run.error == ENDED_UNRECORDED


def test_a_refused_expect_plan_does_not_hide_a_failed_sync(demo: Any) -> None:
    """`sync --expect-plan` refused as plan-changed applied nothing; taken as the last sync,
    it hid the failed one (hostile pass)."""
    from engine.store.models import Run

    with demo.db.session() as session:
        session.add(Run(kind="sync", status="failed", error="the disk was full"))
        session.add(Run(kind="sync", status="plan-changed", error="the plan changed"))
        session.commit()
    board = demo.dashboard(with_care=False)
    assert board.errors == 1 and any("failed: the disk was full" in w for w in board.warnings)
