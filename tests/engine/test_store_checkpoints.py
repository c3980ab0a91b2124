"""While a sync writes, a SQLite store's write-ahead log is copied into the store's file by a
thread of its own (Database.checkpoints_aside), not by the commits that fill it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.store import db as store_db
from engine.store.db import AUTOCHECKPOINT_PAGES, Database
from engine.store.location import sqlite_url


def _autocheckpoint(db: Database) -> int:
    with db.session() as session:
        return int(session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def _write(db: Database, rows: int) -> None:
    with db.session() as session, session.begin():
        session.execute(text("CREATE TABLE IF NOT EXISTS filler (x TEXT)"))
        session.execute(text("INSERT INTO filler (x) VALUES (:x)"), [{"x": "x" * 2000}] * rows)


def _grows(path: Path, size: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.stat().st_size > size:
            return True
        time.sleep(0.02)
    return False


def test_the_log_is_copied_by_a_thread_while_the_commits_leave_it(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    db = Database(sqlite_url(path))
    db.migrate()
    try:
        assert _autocheckpoint(db) == AUTOCHECKPOINT_PAGES
        with db.checkpoints_aside():
            assert _autocheckpoint(db) == 0  # the commits leave the log alone
            size = path.stat().st_size
            _write(db, 3000)  # 6 MB: over the 1000 pages a commit would copy itself
            assert _grows(path, size)  # copied meanwhile, by the thread
        assert _autocheckpoint(db) == AUTOCHECKPOINT_PAGES  # as before, once it is closed
        with db.session() as session:
            assert session.execute(text("SELECT count(*) FROM filler")).scalar_one() == 3000
    finally:
        db.dispose()


def test_nothing_is_copied_aside_when_none_is_open(tmp_path: Path) -> None:
    """Outside a sync the commits copy the log themselves, as SQLite does by default."""
    path = tmp_path / "r.db"
    db = Database(sqlite_url(path))
    db.migrate()
    try:
        size = path.stat().st_size
        _write(db, 3000)
        assert path.stat().st_size > size  # the commit itself
    finally:
        db.dispose()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def test_the_log_file_is_emptied_when_the_sync_is_done(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    db = Database(sqlite_url(path))
    db.migrate()
    try:
        with db.checkpoints_aside():
            _write(db, 3000)
            assert _wal(path).stat().st_size > 6_000_000
        assert _wal(path).stat().st_size == 0  # nobody was using it: copied, and emptied
    finally:
        db.dispose()


def test_back_to_back_large_writes_are_copied_by_their_commits_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log starts over only when a write begins after all of it was copied: writes that
    follow each other faster than the thread copies them would grow it by all of them."""
    monkeypatch.setattr(store_db, "ASIDE_LOG_LIMIT", 4_000_000)
    monkeypatch.setattr(store_db, "CHECKPOINT_EVERY", 60.0)  # the thread never catches up
    path = tmp_path / "r.db"
    db = Database(sqlite_url(path))
    db.migrate()
    try:
        with db.checkpoints_aside():
            peak = 0
            for _ in range(10):
                _write(db, 1000)  # 2 MB each
                peak = max(peak, _wal(path).stat().st_size)
            assert _autocheckpoint(db) == AUTOCHECKPOINT_PAGES  # over the limit: as by default
        assert peak < 10_000_000  # not the 20 MB of all ten
    finally:
        db.dispose()


def test_a_thread_that_cannot_open_the_store_leaves_the_commits_copying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.db"
    db = Database(sqlite_url(path))
    db.migrate()

    def refuse(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("too many open files")

    monkeypatch.setattr(store_db, "open_existing", refuse)
    try:
        with db.checkpoints_aside():
            assert _autocheckpoint(db) == AUTOCHECKPOINT_PAGES
    finally:
        db.dispose()
