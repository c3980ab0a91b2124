"""While a sync writes, a SQLite store's write-ahead log is copied into the store's file by a
thread of its own (Database.checkpoints_aside), not by the commits that fill it."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

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
