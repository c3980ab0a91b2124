"""`roster preview` for one record (or none, in the `cel` context) of a SQLite store, without
the database layer.

Importing SQLAlchemy, SQLModel and the store's models takes longer than the whole answer
should (README.md: a one-record preview in 0.6 s; measured by bench/startup.py). A current
SQLite store is read here straight through the sqlite3 driver: the record and whatever the
expression's directory functions ask for (engine.store.directory, the same queries the
services run through SQLAlchemy), and the CEL budgets of its settings. Anything unusual — a
store to create or migrate, `settings.cel` the configuration model would refuse — is left to
the services (`open_services`), which know how to do it and how to say what is wrong.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import orjson

from engine.cel import CONTEXTS, NO_RECORD, CelEngine, CelLimits
from engine.config.defaults import MAX_SECONDS, MAX_STORED_INT, MIN_MAX_COST
from engine.preview import OnePreview, preview_one
from engine.records import AccountRecord, UserRecord
from engine.roles import ROLES, current_actor
from engine.services.records import account_by_key, user_by_email
from engine.store.directory import SqliteRows, StoreDirectory
from engine.store.location import (
    BUSY_TIMEOUT_SECONDS,
    head_revision,
    is_locked,
    locked_error,
    open_existing,
    sqlite_url,
)


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
    opened: Callable[[], None] | None = None,
) -> OneRecordPreview | None:
    """TEXT in CONTEXT for the person with USER_EMAIL, the account ACCOUNT_KEY (APP:ID), or no
    record; None when the store at PATH is not one to read this way (missing, at another
    schema revision, unreadable, unusual settings). `opened` is called once the store is found
    to be one (before the record is looked up: the services say their warnings first too).
    NotFound when the record is not there; StoreError / StoreLocked when the store fails."""
    display = sqlite_url(path)
    try:
        connection = open_existing(path, timeout=BUSY_TIMEOUT_SECONDS)
    except (sqlite3.Error, ValueError, OSError):
        return None
    with closing(connection):
        try:
            stored = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            if {row[0] for row in stored} != {head_revision()}:
                return None
            limits = _limits(connection)
            # someone with no role reads nothing: the services say so (or make a store nobody
            # holds a role in its first user's), engine.roles
            held = connection.execute(
                "SELECT role FROM role_grant WHERE os_user = ?", (current_actor(),)
            ).fetchone()
            if held is None or held[0] not in ROLES:
                return None
        except sqlite3.Error as exc:
            if is_locked(exc):  # the services would wait as long again, and say the same
                raise locked_error(display, BUSY_TIMEOUT_SECONDS) from None
            return None
        if limits is None:
            return None
        if opened is not None:
            opened()
        directory = StoreDirectory(SqliteRows(connection, display, BUSY_TIMEOUT_SECONDS))
        record: UserRecord | AccountRecord | None = None
        if CONTEXTS[context].subject_kind != NO_RECORD:
            if account_key:
                record = account_by_key(directory, account_key)
            elif user_email:
                record = user_by_email(directory, user_email)
        result = preview_one(CelEngine(directory, limits=limits), context, text, record)
        return OneRecordPreview(result, record)


def _limits(connection: sqlite3.Connection) -> CelLimits | None:
    """settings.cel as stored, when it is what the configuration model accepts (the stored
    configuration was validated when saved); None otherwise, for the services to handle."""
    row = connection.execute("SELECT body FROM config_object WHERE section = 'settings'").fetchone()
    try:
        settings: Any = orjson.loads(row[0]) if row and row[0] is not None else {}
    except orjson.JSONDecodeError:
        return None
    if not isinstance(settings, dict):
        return None
    cel = settings.get("cel")
    if cel is None:
        return CelLimits.of()
    if not isinstance(cel, dict) or not set(cel) <= {f.name for f in fields(CelLimits)}:
        return None
    limits = replace(CelLimits.of(), **cel)
    seconds = (limits.max_seconds_per_preview, limits.max_seconds_per_stage)
    if type(limits.max_cost) is not int or not MIN_MAX_COST <= limits.max_cost <= MAX_STORED_INT:
        return None
    if not all(
        type(value) in (int, float) and math.isfinite(value) and 0 < value <= MAX_SECONDS
        for value in seconds
    ):
        return None
    return replace(
        limits, max_seconds_per_preview=float(seconds[0]), max_seconds_per_stage=float(seconds[1])
    )
