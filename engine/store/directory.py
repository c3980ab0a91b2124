"""The directory lookups of CEL's `c1.*` functions and of previews, answered from the store one
query at a time.

A preview of one expression for one person needs that person, their accounts and whatever
the expression's directory functions ask for: a handful of rows. Loading the population
(every person and account as records, seconds on a large store) for it is what made
`roster preview --user …` slow; `StoreDirectory` reads only what is asked, and remembers what
it read, so a record found twice is the same object (the CEL engine's caches rely on it).

It answers as a Population over the same store would (tests/engine/test_preview_one_record.py
holds them equal); it is read-only and meant for a short life: the services drop it whenever
the store changes (`ServiceContext.invalidate`).

Its queries are plain SQL with named parameters, run by a `Rows`: through SQLAlchemy
(`SessionRows`, any store) or straight through the sqlite3 driver (`SqliteRows`), so that a
one-record preview of a SQLite store needs neither SQLAlchemy nor SQLModel (importing them
costs more than half a second, engine/services/one_record.py).
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from engine.records import AccountRecord, UserRecord, manager_emails, managers_of, norm_key
from engine.store.location import driver_error_text, is_locked, locked_error, refused_error
from engine.store.rows import (
    ACCOUNT_COLUMNS,
    USER_COLUMNS,
    accounts_from_rows,
    json_value,
    users_from_rows,
)
from engine.text import whole_number

#: A key SQL can narrow to: printable ASCII without the characters JSON escapes.
_ASCII_TEXT = re.compile(r"[ -!#-\[\]-~]+")

_USERS = f"SELECT {', '.join(USER_COLUMNS)} FROM person"
_ACCOUNTS = f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM account"
#: how many ids one `IN (...)` lists (SQLite's limit on parameters is far above it)
_IN_CHUNK = 500


class Rows(Protocol):
    """Runs one SELECT with named (`:name`) parameters; its rows as tuples."""

    dialect: str

    def __call__(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]: ...


class SessionRows:
    """Rows through SQLAlchemy sessions (`Database.session`): any dialect."""

    def __init__(self, session: Callable[[], AbstractContextManager[Any]]) -> None:
        self._session = session
        self._dialect: str | None = None

    @property
    def dialect(self) -> str:
        if self._dialect is None:
            with self._session() as session:
                self._dialect = session.get_bind().dialect.name
        return self._dialect

    def __call__(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        from sqlalchemy import text

        with self._session() as session:
            return [tuple(row) for row in session.execute(text(sql), dict(params or {}))]


class SqliteRows:
    """Rows straight from a sqlite3 connection; a driver error becomes the StoreError (or
    StoreLocked) that `Database.session` would raise, naming the store as DISPLAY."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection, display: str, busy_timeout: float) -> None:
        self._connection = connection
        self._display = display
        self._busy_timeout = busy_timeout

    def __call__(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        try:
            return self._connection.execute(sql, dict(params or {})).fetchall()
        except sqlite3.Error as exc:
            if is_locked(exc):
                raise locked_error(self._display, self._busy_timeout) from None
            raise refused_error(self._display, driver_error_text(exc)) from None


def _keys_of(values: tuple[Any, ...]) -> set[str]:
    """The keys (norm_key) of a row's text column and JSON list column."""
    keys: set[str] = set()
    for value in values:
        for text in value if isinstance(value, list) else [value]:
            if text:
                keys.add(norm_key(text))
    return keys


def _in(column: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`column IN (:v0, :v1, …)` with its parameters."""
    names = [f"v{i}" for i in range(len(values))]
    return f"{column} IN ({', '.join(':' + n for n in names)})", dict(
        zip(names, values, strict=True)
    )


class StoreDirectory:
    """A Directory (engine.records) over the store, for lookups of a few records. `rows`:
    how it queries (a `Rows`, or a session factory such as `Database.session`)."""

    def __init__(self, rows: Rows | Callable[[], AbstractContextManager[Any]]) -> None:
        # a session factory (Database.session) is queried through SQLAlchemy
        self._rows: Rows = rows if hasattr(rows, "dialect") else SessionRows(rows)  # type: ignore[assignment]
        self._users: dict[int, UserRecord] = {}
        self._accounts: dict[int, AccountRecord] = {}
        self._accounts_of: dict[int, list[AccountRecord]] = {}
        # narrow indexes, built when a lookup first needs one: key -> person ids
        self._by_email: dict[str, list[int]] | None = None
        self._by_name: dict[str, list[int]] | None = None
        self._reports: dict[str, list[int]] | None = None
        self._labels: dict[tuple[str, str], str] | None = None
        self._keys: dict[tuple[str, str | None], set[str]] = {}

    # ---- records, each read once ------------------------------------------------------
    def _people(self, ids: list[int]) -> list[UserRecord]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._users]
        for start in range(0, len(missing), _IN_CHUNK):
            where, params = _in("id", missing[start : start + _IN_CHUNK])
            for user in users_from_rows(self._rows(f"{_USERS} WHERE {where}", params), True):
                self._users[user.id] = user
        return [self._users[i] for i in ids if i in self._users]

    def _account_records(self, where: str, params: dict[str, Any]) -> list[AccountRecord]:
        grants: dict[int, list[str]] = defaultdict(list)
        granted = self._rows(
            'SELECT g.account_id, e.external_id FROM "grant" g '
            "JOIN entitlement e ON e.id = g.entitlement_id "
            f"WHERE g.account_id IN (SELECT id FROM account WHERE {where})",
            params,
        )
        for account_id, entitlement in granted:
            grants[account_id].append(entitlement)
        rows = self._rows(f"{_ACCOUNTS} WHERE {where} ORDER BY id", params)
        # an account read before stays the object it was
        return [self._accounts.setdefault(a.id, a) for a in accounts_from_rows(rows, grants, True)]

    # ---- Directory ----------------------------------------------------------------------
    def user_by_id(self, user_id: int | str) -> UserRecord | None:
        wanted = user_id if isinstance(user_id, int) else whole_number(str(user_id))
        if wanted is None:
            return None
        if not -(2**63) <= wanted < 2**63:  # no stored id is outside SQL's integers
            return None
        found = self._people([wanted])
        return found[0] if found else None

    def users_by_email(self, email: str) -> list[UserRecord]:
        return self._people(self._keyed(email, "email", "emails", "_by_email"))

    def users_by_name(self, name: str) -> list[UserRecord]:
        return self._people(self._keyed(name, "display_name", None, "_by_name"))

    def _keyed(self, wanted: str, column: str, listed: str | None, index_name: str) -> list[int]:
        """The ids of the people whose `column` (or one of the JSON list `listed`) equals
        `wanted` as keys compare (norm_key: trimmed, case-folded), in id order.

        SQL narrows the rows to a superset, which Python then checks exactly: a row matches
        when its text holds the key's ASCII text case-insensitively, or holds a character
        outside printable ASCII (whose folding SQL does not know). A key that itself holds
        anything else is looked up in an index of every row (built once)."""
        key = norm_key(wanted)
        if not key:
            return []
        index: dict[str, list[int]] | None = getattr(self, index_name)
        selected = f"id, {column}" + (f", {listed}" if listed else "")
        if index is None and _ASCII_TEXT.fullmatch(key):
            pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            texts = [column] if listed is None else [column, f"CAST({listed} AS TEXT)"]
            where = " OR ".join(
                [*(self._holds(t) for t in texts), *(self._unusual(t) for t in texts)]
            )
            rows = self._rows(
                f"SELECT {selected} FROM person WHERE {where} ORDER BY id", {"pattern": pattern}
            )
            return [row[0] for row in self._decoded(rows) if key in _keys_of(row[1:])]
        if index is None:
            index = defaultdict(list)
            for row in self._decoded(self._rows(f"SELECT {selected} FROM person ORDER BY id")):
                for found in _keys_of(row[1:]):
                    index[found].append(row[0])
            setattr(self, index_name, index)
        return index.get(key, [])

    @staticmethod
    def _decoded(rows: list[Any]) -> list[Any]:
        """(id, text[, JSON list]) rows with the list decoded."""
        return [(*row[:2], *(json_value(v) for v in row[2:])) for row in rows]

    def _holds(self, text: str) -> str:
        """Whether `text` holds :pattern, ignoring ASCII case."""
        if self._rows.dialect == "sqlite":
            return f"lower({text}) LIKE :pattern ESCAPE '\\'"
        return f"{text} ILIKE :pattern ESCAPE '\\'"

    def _unusual(self, text: str) -> str:
        """Whether `text` holds a character outside printable ASCII."""
        if self._rows.dialect == "sqlite":
            return f"{text} GLOB '*[^ -~]*'"
        return f"{text} ~ '[^ -~]'"

    def accounts_of(self, user_id: int) -> list[AccountRecord]:
        found = self._accounts_of.get(user_id)
        if found is None:
            found = self._account_records("owner_id = :owner", {"owner": user_id})
            self._accounts_of[user_id] = found
        return list(found)

    def account(self, app_id: str, external_id: str) -> AccountRecord | None:
        for known in self._accounts.values():
            if known.app_id == app_id and known.external_id == external_id:
                return known
        found = self._account_records(
            "app_id = :app AND external_id = :external", {"app": app_id, "external": external_id}
        )
        return found[0] if found else None

    def account_by_id(self, account_id: int) -> AccountRecord | None:
        known = self._accounts.get(account_id)
        if known is not None:
            return known
        found = self._account_records("id = :id", {"id": account_id})
        return found[0] if found else None

    def managers_of(self, user: UserRecord) -> list[UserRecord]:
        return managers_of(self, user)

    def direct_reports(self, user: UserRecord) -> list[UserRecord]:
        if self._reports is None:
            index: dict[str, list[int]] = defaultdict(list)
            for person_id, attributes in self._rows("SELECT id, attributes FROM person"):
                for manager in manager_emails(json_value(attributes) or {}):
                    index[norm_key(manager)].append(person_id)
            self._reports = index
        ids: dict[int, None] = {}
        for email in [user.email, *user.emails]:
            ids.update(dict.fromkeys(self._reports.get(norm_key(email), [])))
        return self._people(list(ids))

    def entitlement_members(self, app_id: str, entitlement_id: str) -> list[UserRecord]:
        owners = self._rows(
            'SELECT a.owner_id FROM account a JOIN "grant" g ON g.account_id = a.id '
            "JOIN entitlement e ON e.id = g.entitlement_id "
            "WHERE a.app_id = :app AND e.external_id = :entitlement "
            "AND a.owner_id IS NOT NULL ORDER BY a.id",
            {"app": app_id, "entitlement": entitlement_id},
        )
        return self._people([row[0] for row in owners])

    def _entitlement_labels(self) -> dict[tuple[str, str], str]:
        if self._labels is None:
            rows = self._rows("SELECT app_id, external_id, name FROM entitlement")
            self._labels = {(app_id, ent): name for app_id, ent, name in rows}
        return self._labels

    def entitlement_label(self, app_id: str, entitlement_id: str) -> str | None:
        return self._entitlement_labels().get((app_id, entitlement_id))

    def entitlement_named(self, app_id: str, label: str) -> str | None:
        wanted = norm_key(label)
        for (app_key, ent_key), name in self._entitlement_labels().items():
            if app_key == app_id and norm_key(name) == wanted:
                return ent_key
        return None

    def profile_keys(self, kind: str, app_id: str | None = None) -> set[str]:
        """Every profile key (accounts) or attribute name (people): one narrow column read,
        no record built."""
        cache_key = (kind, app_id)
        keys = self._keys.get(cache_key)
        if keys is None:
            if kind != "account":
                rows = self._rows("SELECT attributes FROM person")
            elif app_id is None:
                rows = self._rows("SELECT profile FROM account")
            else:
                rows = self._rows(
                    "SELECT profile FROM account WHERE app_id = :app", {"app": app_id}
                )
            keys = set()
            for (mapping,) in rows:
                if mapping:
                    keys.update(json_value(mapping) or ())
            self._keys[cache_key] = keys
        return keys

    def app_ids(self) -> set[str]:
        return {row[0] for row in self._rows("SELECT DISTINCT app_id FROM account")}

    def has_users(self) -> bool:
        return bool(self._rows("SELECT id FROM person LIMIT 1"))
