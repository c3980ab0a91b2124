"""Issue 12 §2: linking, unlinking, pinning and configuration changes while a sync is applying
are refused with who and since, like a second sync (exit 4); a dry run does not stop them."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlmodel import delete

from console.cli import main
from engine.services import open_services
from engine.store.models import Run, SyncLock
from tests.engine.org import write_org


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert cli("init", "--empty", "--db", str(db))[0] == 0
    assert cli("config", "import", str(config), "--db", str(db))[0] == 0
    assert cli("sync", "--db", str(db))[0] == 0
    return db


def a_sync_runs(db: Path, *, dry_run: bool) -> None:
    """Carol's sync, in another live process on this host (pid 1 is always alive)."""
    services = open_services(db_path=db)
    since = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    with services.db.session() as session:
        session.add(SyncLock(holder="carol", host=socket.gethostname(), pid=1, since=since))
        session.add(
            Run(
                kind="sync",
                dry_run=dry_run,
                started_by="carol",
                started_at=since,
                status="running",
                config_versions={},
            )
        )
        session.commit()


def edits(db: Path, config: Path) -> dict[str, list[str]]:
    return {
        "Linking github:g1": ["link", "github:g1", "ann.lee@example.com"],
        "Unlinking slack:s1": ["unlink", "slack:s1"],
        "Pinning slack:s1": ["pin", "slack:s1"],
        "Unpinning slack:s1": ["pin", "slack:s1", "--off"],
        "Changing directories.hr.filter": ["config", "set", "directories.hr.filter", '"CREATE"'],
        f"Importing {config}": ["config", "import", str(config)],
    }


def test_edits_are_refused_while_a_sync_applies(db: Path) -> None:
    config = db.parent / "org" / "roster.yaml"
    config.write_text(config.read_text().replace("max_percent: 20", "max_percent: 30"))
    a_sync_runs(db, dry_run=False)
    audit_before = cli("audit", "--json", "--db", str(db))[1]
    for what, args in edits(db, config).items():
        code, out, err = cli(*args, "--db", str(db))
        assert code == 4, (what, out, err)
        assert err.startswith(f"Error: {what} is refused: a sync is applying, started by carol")
        assert "since 2025-03-04 05:06:07 UTC" in err and "Nothing was changed" in err
    assert cli("audit", "--json", "--db", str(db))[1] == audit_before


def test_a_dry_run_does_not_stop_edits(db: Path) -> None:
    a_sync_runs(db, dry_run=True)
    code, out, err = cli("link", "github:g1", "ann.lee@example.com", "--db", str(db))
    assert code == 0, out + err
    code, out, err = cli("config", "set", "directories.hr.filter", '"CREATE"', "--db", str(db))
    assert code == 0, out + err


def test_a_stale_lock_does_not_stop_edits(db: Path) -> None:
    services = open_services(db_path=db)
    with services.db.session() as session:  # a process that died mid-sync
        session.add(SyncLock(holder="carol", host=socket.gethostname(), pid=2**22 + 7))
        session.commit()
    code, out, err = cli("pin", "slack:s1", "--db", str(db))
    assert code == 0, out + err


def edit_during_a_sync(db: Path, then_save: bool) -> tuple[Any, list[str]]:
    """`config edit settings` while Carol's sync applies: the admin changes max_objects and
    saves (refused); the sync then ends and the admin saves the reopened file unchanged
    (`then_save`) or quits without saving. The result, and each text the editor showed."""
    a_sync_runs(db, dry_run=False)
    services = open_services(db_path=db)
    shown: list[str] = []

    def launch(file: Path) -> int:
        text = file.read_text()
        shown.append(text)
        if len(shown) == 1:
            file.write_text(text.replace("max_objects: 500", "max_objects: 777"))
            return 0
        with services.db.session() as session, session.begin():  # the sync ends
            session.execute(delete(SyncLock))
            session.execute(delete(Run).where(Run.status == "running"))
        if then_save:
            time.sleep(0.01)
            file.write_text(text)  # saved, unchanged
        return 0

    result = services.edit_in_editor("settings", launch=launch)
    assert len(shown) == 2 and "a sync is applying" in shown[1]
    return result, shown


def test_an_editor_save_refused_by_a_sync_is_saved_again_after_it(db: Path) -> None:
    """The editor reopened with "a sync is applying"; saving the same text again after the
    sync ended abandoned the edit, and the text was gone (team review). It is tried again."""
    result, shown = edit_during_a_sync(db, then_save=True)
    assert "save this file again (unchanged) to save your change" in shown[1]
    assert result is not None and result.applied
    assert result.after == {"deletion_threshold": {"max_objects": 777, "max_percent": 20}}


def test_an_editor_quit_without_saving_after_a_refusal_changes_nothing(db: Path) -> None:
    """The reopened file's header says quitting without saving changes nothing: it must,
    also after a refusal to wait out (hostile review: quitting saved the change)."""
    result, _ = edit_during_a_sync(db, then_save=False)
    assert result is None
    services = open_services(db_path=db)
    assert services.config_get("settings.deletion_threshold.max_objects") == 500
