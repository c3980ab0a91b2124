"""The set-based writer stores exactly what SQLAlchemy's own processing stores: a date/time
column's formatted value is reused for the same object in the next row (issue 11: a stage
writes one `now` into every row), never for a different one."""

from __future__ import annotations

import datetime
import sqlite3
from contextlib import closing
from pathlib import Path

from engine.store.db import Database
from engine.store.models import Run
from engine.sync.writer import insert_rows

UTC = datetime.UTC
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))


def test_rows_sharing_a_time_store_what_the_orm_stores(tmp_path: Path) -> None:
    now = datetime.datetime(2026, 12, 3, 5, 33, 12, 123456, tzinfo=UTC)
    times = [
        now,
        now,  # the same object again: the formatted value is reused
        now.replace(microsecond=0),
        datetime.datetime(2026, 12, 3, 7, 33, 12, 123456, tzinfo=PLUS_TWO),  # == now, other zone
        now,
        None,
    ]
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.migrate()
    table = Run.__table__  # type: ignore[attr-defined]
    with db.session() as session, session.begin():
        insert_rows(
            session,
            table,
            ("kind", "started_by", "started_at", "ended_at", "status"),
            [("sync", f"[bold]{i}\x00", at or now, at, "applied") for i, at in enumerate(times)],
        )
    with db.session() as session, session.begin():  # the same rows through the ORM
        for i, at in enumerate(times):
            session.add(
                Run(kind="orm", started_by=f"[bold]{i}\x00", started_at=at or now, ended_at=at)
            )
    with closing(sqlite3.connect(tmp_path / "w.db")) as raw:
        rows = raw.execute("SELECT kind, started_at, ended_at FROM run ORDER BY id").fetchall()
    ours = [r[1:] for r in rows if r[0] == "sync"]
    orm = [r[1:] for r in rows if r[0] == "orm"]
    assert len(ours) == len(times) and ours == orm
    assert ours[0] == ours[1] == ours[3] and ours[2] != ours[0] and ours[5][1] is None
