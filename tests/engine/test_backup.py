"""`roster backup` (engine/store/backup.py): a consistent, checked copy of a SQLite store while
it is in use; never overwriting; a damaged store is said to be damaged, not unreadable by you
(day-two review: `cp` during a sync gave torn copies, and the docs had no backup at all)."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from console.cli import main


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def test_a_backup_is_a_checked_copy_that_opens_as_the_store(demo: Any, tmp_path: Path) -> None:
    db = str(demo.db.sqlite_path)
    target = tmp_path / "b.db"
    result = _cli("backup", str(target), "--json", "--db", db)
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    people = len([u for u in demo.population().users if u.status != "DELETED"])
    assert done["path"] == str(target) and done["people"] == people and done["bytes"] > 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # personal data
    assert not list(tmp_path.glob(".b.db.partial-*")) and not (tmp_path / "b.db-wal").exists()
    # one file that opens as the store, with its runs and configuration
    status = _cli("status", "--json", "--db", str(target))
    assert status.exit_code == 0 and json.loads(status.stdout)["people"] == people

    # never over a file
    again = _cli("backup", str(target), "--db", db)
    assert again.exit_code == 1 and "already exists: a backup never overwrites" in again.output


def test_a_backup_taken_while_the_store_is_written_is_whole(demo: Any, tmp_path: Path) -> None:
    """Commits during the copy: it is of one moment (SQLite's online backup, one step), and
    passes SQLite's check."""
    path = demo.db.sqlite_path
    stop = threading.Event()

    def write() -> None:
        with sqlite3.connect(path, timeout=30) as writer:
            n = 0
            while not stop.is_set():
                writer.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)", (f"test:{n}", "x" * 4000)
                )
                writer.commit()
                n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for index in range(3):
            result = _cli("backup", str(tmp_path / f"b{index}.db"), "--db", str(path))
            assert result.exit_code == 0, result.output
    finally:
        stop.set()
        thread.join()
    for index in range(3):
        with sqlite3.connect(tmp_path / f"b{index}.db") as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_damaged_store_is_named_damaged(demo: Any, tmp_path: Path) -> None:
    torn = tmp_path / "torn.db"
    demo.db.dispose()
    torn.write_bytes(demo.db.sqlite_path.read_bytes()[:400_000])  # as a copy cut short
    for args in (("status",), ("sync",), ("backup", str(tmp_path / "b.db"))):
        result = _cli(*args, "--db", str(torn))
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert f"The identity store {torn} is damaged" in result.output, result.output
        assert "Restore it from a backup" in result.output
    assert not (tmp_path / "b.db").exists()
