"""`roster preview` for one record (or none, in the `cel` context) of a SQLite store, without
the database layer.

Importing SQLAlchemy, SQLModel and the store's models takes longer than the whole answer
should (DESIGN §13: a one-record preview in 0.6 s; measured by bench/startup.py). A current
SQLite store is read here straight through the sqlite3 driver: the record and whatever the
expression's directory functions ask for (engine.store.directory, the same queries the
services run through SQLAlchemy), and the CEL budgets of its settings. Anything unusual — a
store to create or migrate, settings that are not plain numbers — is left to the services
(`open_services`), which know how to do it and how to say what is wrong.
"""

from __future__ import annotations

import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.cel import CONTEXTS, NO_RECORD, CelEngine, CelLimits
from engine.preview import OnePreview, preview_one
from engine.records import AccountRecord, UserRecord
from engine.services.records import account_by_key, user_by_email
from engine.store.directory import SqliteRows, StoreDirectory
from engine.store.location import BUSY_TIMEOUT_SECONDS, head_revision

#: settings.cel's fields, in CelLimits' order
_LIMITS = ("max_cost", "max_seconds_per_preview", "max_seconds_per_stage")


@dataclass
class OneRecordPreview:
    result: OnePreview
    record: UserRecord | AccountRecord | None


def preview_sqlite(
    path: Path,
    context: str,
    text: str,
    user_email: str | None = None,
    account_key: str | None = None,
) -> OneRecordPreview | None:
    """TEXT in CONTEXT for the person with USER_EMAIL, the account ACCOUNT_KEY (APP:ID), or no
    record; None when the store at PATH is not one to read this way (missing, at another
    schema revision, unreadable, unusual settings). NotFound when the record is not there."""
    try:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS
        )
    except (sqlite3.Error, ValueError, OSError):
        return None
    with closing(connection):
        try:
            stored = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            if {row[0] for row in stored} != {head_revision()}:
                return None
            limits = _limits(connection)
        except (sqlite3.Error, orjson.JSONDecodeError):
            return None
        if limits is None:
            return None
        directory = StoreDirectory(SqliteRows(connection))
        record: UserRecord | AccountRecord | None = None
        if CONTEXTS[context].subject_kind != NO_RECORD:
            if account_key:
                record = account_by_key(directory, account_key)
            elif user_email:
                record = user_by_email(directory, user_email)
        result = preview_one(CelEngine(directory, limits=limits), context, text, record)
        return OneRecordPreview(result, record)


def _limits(connection: sqlite3.Connection) -> CelLimits | None:
    """settings.cel as stored (validated when it was saved); None when it is not plain
    numbers, for the services to report."""
    row = connection.execute("SELECT body FROM config_object WHERE section = 'settings'").fetchone()
    settings: Any = orjson.loads(row[0]) if row and row[0] is not None else {}
    if not isinstance(settings, dict):
        return None
    cel = settings.get("cel") or {}
    if not isinstance(cel, dict):
        return None
    defaults = CelLimits.of()
    values = [cel.get(name, getattr(defaults, name)) for name in _LIMITS]
    if not all(
        type(value) in (int, float) and math.isfinite(value) and value > 0 for value in values
    ):
        return None
    return CelLimits(int(values[0]), float(values[1]), float(values[2]))
