"""`roster backup` (engine/store/backup.py): a consistent, checked copy of a SQLite store while
it is in use; never overwriting; a damaged store is said to be damaged, not unreadable by you
(day-two review: `cp` during a sync gave torn copies, and the docs had no backup at all)."""

from __future__ import annotations

import json
import os
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


def test_a_file_appearing_during_the_backup_is_never_overwritten(
    demo: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """The name was checked first and renamed over last: a file created in between was
    replaced (hostile pass). The copy takes its name by a link, which fails if it exists."""
    from engine.store import backup

    target = tmp_path / "race.db"
    copy = backup._copy

    def copy_then_someone_writes(*args: Any) -> None:
        copy(*args)
        target.write_text("IMPORTANT")

    monkeypatch.setattr(backup, "_copy", copy_then_someone_writes)
    result = _cli("backup", str(target), "--db", str(demo.db.sqlite_path))
    assert result.exit_code == 1 and "appeared while the backup was being written" in result.output
    assert target.read_text() == "IMPORTANT"
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_a_killed_backups_leftovers_are_removed_by_the_next(demo: Any, tmp_path: Path) -> None:
    """A backup killed mid-copy left `.NAME.partial-PID` (a copy of personal data) and its
    journal, which nothing removed (hostile pass)."""
    folder = tmp_path / "backups"
    folder.mkdir()
    dead = 2**22 + 12345  # above Linux's pid_max: no such process
    for suffix in ("", "-journal", "-wal", "-shm"):  # for any backup name
        (folder / f".b.db.partial-{dead}{suffix}").write_bytes(b"personal data")
        (folder / f".mon.db.partial-{dead}{suffix}").write_bytes(b"personal data")
    (folder / f".x.db.partial-{os.getppid()}").write_bytes(b"a live backup's")
    (folder / ".x.db.partial-\u00b2").write_bytes(b"not a pid")  # neither crashes it
    assert _cli("backup", str(folder / "b.db"), "--db", str(demo.db.sqlite_path)).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        f".x.db.partial-{os.getppid()}",
        ".x.db.partial-\u00b2",
        "b.db",
    ]


def test_a_disk_without_hard_links_still_gets_its_backup(
    demo: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """FAT and exFAT (a USB drive) refuse hard links: the backup is copied into a new file."""
    from engine.store import backup

    def no_links(*args: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(backup.os, "link", no_links)
    target = tmp_path / "usb.db"
    result = _cli("backup", str(target), "--db", str(demo.db.sqlite_path))
    assert result.exit_code == 0, result.output
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
