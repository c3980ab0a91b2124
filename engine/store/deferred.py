"""Accounts whose names, emails, profiles and entitlements are read from the store when first
needed.

A sync loads every account (580,000 at 100,000 people), yet a run in which 1 % of the data
changed reads the names, emails and profiles of a few thousand: those of the changed accounts
and of the people they belong to. What every stage reads of every account is narrow: its keys,
status, type and links (and, beside it, its fingerprint and filter decision). Reading only
those halved reading the table and building the records (issue 11).

The entitlements (the grant table, 573,000 rows at 100,000 people) are deferred on their own:
a run whose apps' grants files did not change reads those of the accounts it walks, and a stage
that reads them all (a grants file changed: the import compares every account's, the writer
writes them) reads the app's grants in one query, not its profiles. Reading everyone's at the
load was half a second of a 1 % sync.

A deferred account is an AccountRecord of a subclass made for one `DeferredAccounts`; the first
read of any other field (by attribute, getattr, `==`, `replace`, `asdict`, copy or pickle)
reads the rest of its row, sets what the run has not set itself, and makes it a plain
AccountRecord. So every reader sees a whole record; only the read's moment differs. A value a
stage set before the read is kept: the row is read from the store, the record is the run's.

Within a sync this is exact: the sync holds the store's lock, and the only writer of these
fields (its own writer) writes them from the records it has read. When one app's deferred
reads pass a share of its accounts (a stage that reads them all), the rest of that app's
accounts are read in one query, so the cost is never much above reading them all at once.

SQLite only (straight through the sqlite3 driver, like engine.store.directory's one-record
reads); other stores load whole records."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from engine.errors import StoreError
from engine.records import (
    ACCOUNT_DATA_FIELDS,
    ACCOUNT_FIELD_SPECS,
    AccountRecord,
    by_deferred_source,
)
from engine.store.location import (
    BUSY_TIMEOUT_SECONDS,
    driver_error_text,
    is_locked,
    locked_error,
    open_existing,
    refused_error,
)
from engine.store.rows import stored_list, stored_map

#: The columns read for every account, in this order; then its fingerprint and filter decision.
EAGER_COLUMNS = ("id", "app_id", "external_id", "status", "type", "owner_id", "link_kind", "pinned")
#: The fields read when first needed.
DEFERRED_FIELDS = tuple(name for name in ACCOUNT_DATA_FIELDS if name not in EAGER_COLUMNS)
_KINDS = {spec.name: spec.kind for spec in ACCOUNT_FIELD_SPECS}
#: Deferred reads in one app after which the rest of its accounts are read at once: a quarter
#: of its accounts, and never fewer than this (a few hundred single reads cost less)
BULK_AFTER = 256
#: An account's entitlements (external ids, as a JSON list), beside its deferred fields
_GRANTED = (
    '(SELECT json_group_array(e.external_id) FROM "grant" g JOIN entitlement e '
    "ON e.id = g.entitlement_id WHERE g.account_id = account.id)"
)
_SELECTED = f"{', '.join(DEFERRED_FIELDS)}, {_GRANTED}"
_ONE = f"SELECT {_SELECTED} FROM account WHERE id = ?"
_APP = f"SELECT id, {_SELECTED} FROM account WHERE app_id = ?"
#: One app's grants alone (the entitlements read without the rest of the accounts)
_APP_GRANTS = (
    'SELECT a.id, e.external_id FROM account a LEFT JOIN "grant" g ON g.account_id = a.id '
    "LEFT JOIN entitlement e ON e.id = g.entitlement_id WHERE a.app_id = ?"
)
#: Whether any account of an app holds a grant
_APP_HOLDS_GRANTS = (
    'SELECT 1 FROM "grant" g JOIN account a ON a.id = g.account_id WHERE a.app_id = ? LIMIT 1'
)
#: The accounts' grants, a row per account still in the store (its entitlement NULL when it
#: holds none): an account removed underneath is told from one without grants
_GRANTS_OF = (
    'SELECT a.id, e.external_id FROM account a LEFT JOIN "grant" g ON g.account_id = a.id '
    "LEFT JOIN entitlement e ON e.id = g.entitlement_id WHERE a.id IN ({marks})"
)
#: Accounts read by one query of `read_whole` (SQLite bounds a statement's parameters)
READ_CHUNK = 500


def _slot(name: str) -> Any:
    """The slot's own descriptor (the profile's is wrapped: engine.records._StoredJsonSlot)."""
    descriptor = AccountRecord.__dict__[name]
    return getattr(descriptor, "_slot", descriptor)


#: (name, slot, kind) of each deferred field, in the order _ONE and _APP select them
_FIELDS = tuple((name, _slot(name), _KINDS[name]) for name in DEFERRED_FIELDS)
_ENTITLEMENTS = _slot("entitlements")


def _is_set(slot: Any, record: AccountRecord) -> bool:
    try:
        slot.__get__(record, AccountRecord)
    except AttributeError:
        return False
    return True


def _granted(text: str | None) -> list[str]:
    """An account's entitlements from `_GRANTED`'s JSON list, in the order the store's read
    gives them (sorted)."""
    return sorted(orjson.loads(text)) if text and text != "[]" else []


class DeferredAccounts:
    """The deferred accounts of one SQLite store at PATH (shown as DISPLAY in errors)."""

    def __init__(self, path: Path, display: str) -> None:
        self._path = path
        self._display = display
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # a console reads records from more than one thread
        self._pending: dict[str, list[AccountRecord]] = {}  # app -> its deferred accounts
        self._misses: dict[str, int] = {}
        self._written: set[int] = set()  # id() of deferred accounts a stage set a field of
        self._grants_pending: dict[str, list[AccountRecord]] = {}  # app -> entitlements unread
        self._grant_misses: dict[str, int] = {}
        # accounts read alone or a few at a time, and apps read at once (for tests and benches)
        self.reads = 0
        self.apps_read: list[str] = []
        # the same of the entitlements read without the rest
        self.grant_reads = 0
        self.grant_apps_read: list[str] = []
        self.cls = _deferred_class(self)

    # ---- building --------------------------------------------------------------------------
    def records(
        self,
        rows: Iterable[Any],
        fingerprints: dict[tuple[str, str], str],
        filter_results: dict[tuple[str, str], str],
        groups: dict[str, dict[tuple[str, str], AccountRecord]] | None = None,
    ) -> list[AccountRecord]:
        """Rows of EAGER_COLUMNS + (fingerprint, filter decision) as deferred accounts; the
        fingerprints and decisions go to their maps, keyed by (app, external id). `groups`
        receives the accounts by app and key (engine.sync.state.AccountTable takes them as
        they are: grouping 580,000 accounts again cost a 1 % sync a fifth of a second)."""
        cls = self.cls
        new = object.__new__
        # a few distinct values repeated on every row: one string each, not one per row
        shared: dict[Any, Any] = {}
        share = shared.setdefault
        by_app: dict[str, dict[tuple[str, str], AccountRecord]] = {} if groups is None else groups
        records: list[AccountRecord] = []
        append = records.append
        # plain attribute stores, not the slots' __set__ called: the interpreter stores into
        # a slot directly (a third of building 580,000 records)
        for account_id, app, external, status, kind, owner, link, pinned, digest, decision in rows:
            app = share(app, app)
            record = new(cls)
            record.id = account_id
            record.app_id = app
            record.external_id = external
            record.status = share(status, status)
            record.type = share(kind, kind)
            record.owner_id = owner
            record.link_kind = share(link, link)
            record.pinned = bool(pinned)
            key = (app, external)
            fingerprints[key] = digest
            if decision:
                filter_results[key] = decision
            group = by_app.get(app)
            if group is None:
                group = by_app[app] = {}
            group[key] = record
            append(record)
        for app, group in by_app.items():
            self._pending.setdefault(app, []).extend(group.values())
            self._grants_pending.setdefault(app, []).extend(group.values())
        return records

    # ---- reading the rest ------------------------------------------------------------------
    def fill(self, record: AccountRecord) -> None:
        """Read RECORD's deferred fields (or, past BULK_AFTER reads in its app, every deferred
        account of the app) and make it a plain AccountRecord."""
        with self._lock:
            if record.__class__ is not self.cls:
                return  # another thread read it meanwhile
            app = record.app_id
            misses = self._misses[app] = self._misses.get(app, 0) + 1
            if misses > max(BULK_AFTER, len(self._pending.get(app, ())) // 4):
                self._fill_app(app)
                if record.__class__ is not self.cls:
                    return
            rows = self._query(_ONE, (record.id,))
            self.reads += 1
            if not rows:
                raise self._gone(record)
            self._set(record, rows[0])

    def _gone(self, record: AccountRecord) -> StoreError:
        return StoreError(
            f"The account {record.app_id}:{record.external_id} (id {record.id}) is no "
            f"longer in the identity store {self._display}: it was removed outside "
            "Roster while a sync was reading it. Nothing more was done; sync again."
        )

    def read_many(self, records: Iterable[AccountRecord]) -> None:
        """Read the deferred fields of those of RECORDS still deferred, READ_CHUNK to a
        query: a stage about to read a few thousand accounts reads them in a few queries, not
        one each (42,000 single reads were a second of a 1 % sync, issue 11). An account no
        longer in the store stays deferred: its own read says so."""
        with self._lock:
            cls = self.cls
            waiting = {r.id: r for r in records if r.__class__ is cls}
            ids = list(waiting)
            for start in range(0, len(ids), READ_CHUNK):
                chunk = ids[start : start + READ_CHUNK]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT id, {_SELECTED} FROM account WHERE id IN ({marks})"
                for row in self._query(sql, tuple(chunk)):
                    record = waiting[row[0]]
                    if record.__class__ is cls:
                        self._set(record, row[1:])
                        self.reads += 1

    def fill_grants(self, record: AccountRecord) -> None:
        """Read RECORD's entitlements alone (or, past BULK_AFTER reads in its app, those of
        every account of the app whose entitlements are unread)."""
        with self._lock:
            if record.__class__ is not self.cls or _is_set(_ENTITLEMENTS, record):
                return  # another thread read it meanwhile
            app = record.app_id
            misses = self._grant_misses[app] = self._grant_misses.get(app, 0) + 1
            if misses > max(BULK_AFTER, len(self._grants_pending.get(app, ())) // 4):
                self._fill_app_grants(app)
                if _is_set(_ENTITLEMENTS, record):
                    return
            rows = self._query(_GRANTS_OF.format(marks="?"), (record.id,))
            self.grant_reads += 1
            if not rows:
                raise self._gone(record)
            _ENTITLEMENTS.__set__(record, sorted(row[1] for row in rows if row[1] is not None))

    def read_grants_many(self, records: Iterable[AccountRecord]) -> None:
        """Read the entitlements of those of RECORDS whose entitlements are unread, READ_CHUNK
        to a query (a person's accounts: one query, not one per account)."""
        with self._lock:
            cls = self.cls
            waiting = {
                r.id: r for r in records if r.__class__ is cls and not _is_set(_ENTITLEMENTS, r)
            }
            per_app: dict[str, int] = {}
            for record in waiting.values():
                per_app[record.app_id] = per_app.get(record.app_id, 0) + 1
            for app, count in per_app.items():  # most of an app: its grants in one query
                if count > max(BULK_AFTER, len(self._grants_pending.get(app, ())) // 4):
                    self._fill_app_grants(app)
            ids = [i for i, r in waiting.items() if not _is_set(_ENTITLEMENTS, r)]
            for start in range(0, len(ids), READ_CHUNK):
                chunk = tuple(ids[start : start + READ_CHUNK])
                held: dict[int, list[str]] = {}
                sql = _GRANTS_OF.format(marks=", ".join("?" * len(chunk)))
                for account_id, entitlement in self._query(sql, chunk):
                    entitlements = held.setdefault(account_id, [])
                    if entitlement is not None:
                        entitlements.append(entitlement)
                # one no longer in the store stays unread: its own read says so
                for account_id, entitlements in held.items():
                    _ENTITLEMENTS.__set__(waiting[account_id], sorted(entitlements))
                self.grant_reads += 1

    def any_granted(self, records: Iterable[AccountRecord]) -> bool:
        """Whether the store holds a grant of any of RECORDS (whose entitlements are unread),
        READ_CHUNK to a query, without reading their entitlements."""
        records = list(records)
        ids = [r.id for r in records]
        with self._lock:
            apps = {r.app_id for r in records}
            if not any(self._query(_APP_HOLDS_GRANTS, (app,)) for app in apps):
                return False  # (an HR export: one query, not one per READ_CHUNK accounts)
            for start in range(0, len(ids), READ_CHUNK):
                chunk = tuple(ids[start : start + READ_CHUNK])
                marks = ", ".join("?" * len(chunk))
                sql = f'SELECT 1 FROM "grant" WHERE account_id IN ({marks}) LIMIT 1'
                if self._query(sql, chunk):
                    return True
        return False

    def _fill_app_grants(self, app: str) -> None:
        waiting = {
            r.id: r
            for r in self._grants_pending.pop(app, ())
            if r.__class__ is self.cls and not _is_set(_ENTITLEMENTS, r)
        }
        if not waiting:
            return
        self.grant_apps_read.append(app)
        held: dict[int, list[str]] = {}
        for account_id, entitlement in self._query(_APP_GRANTS, (app,)):
            if account_id in waiting:
                entitlements = held.setdefault(account_id, [])
                if entitlement is not None:
                    entitlements.append(entitlement)
        # one no longer in the store stays unread: its own read says so
        for account_id, entitlements in held.items():
            _ENTITLEMENTS.__set__(waiting[account_id], sorted(entitlements))

    def _fill_app(self, app: str) -> None:
        waiting = {r.id: r for r in self._pending.pop(app, ()) if r.__class__ is self.cls}
        if not waiting:  # read already (or let go of by close): one at a time from now on
            return
        self.apps_read.append(app)
        for row in self._query(_APP, (app,)):
            record = waiting.get(row[0])
            if record is not None:
                self._set(record, row[1:])

    def _set(self, record: AccountRecord, row: Any) -> None:
        written = id(record) in self._written  # a stage set some of them: those stand
        *row, granted = row
        if not _is_set(_ENTITLEMENTS, record):  # (read already, or set by the run: stands)
            _ENTITLEMENTS.__set__(record, _granted(granted))
        for (name, slot, kind), value in zip(_FIELDS, row, strict=True):
            if written:
                try:
                    slot.__get__(record, AccountRecord)
                    continue
                except AttributeError:
                    pass
            if kind == "text":
                decoded = value if value is not None else ""
            elif kind == "map":
                decoded = stored_map(value)  # decoded on first read
            else:
                decoded = stored_list(value, record, name)
            slot.__set__(record, decoded)
        self._written.discard(id(record))
        record.__class__ = AccountRecord

    def _query(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        connection = self._connect()
        try:
            return connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            if is_locked(exc):
                raise locked_error(self._display, BUSY_TIMEOUT_SECONDS) from None
            raise refused_error(self._display, driver_error_text(exc)) from None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                self._connection = open_existing(
                    self._path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False
                )
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(
                    f"The identity store {self._display} could not be opened again to read "
                    f"accounts ({exc}). Nothing more was done; check the store and sync again."
                ) from None
        return self._connection

    def close(self) -> None:
        """Close the connection (a later read opens it again, one account at a time) and let
        go of the accounts: the class's methods hold this object, so while it held them every
        account of the run outlived the run until a full garbage collection."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._pending = {}
            self._misses = {}
            self._written = set()
            self._grants_pending = {}
            self._grant_misses = {}


def read_whole(records: Iterable[AccountRecord]) -> None:
    """Read now, in a few queries, whatever of RECORDS is still deferred (any mix of plain
    and deferred accounts, of one run's store): for a stage that is about to read them all."""
    for source, deferred in by_deferred_source(records).items():
        source.read_many(deferred)


def any_entitlements(records: Iterable[AccountRecord]) -> bool:
    """Whether any of RECORDS holds an entitlement: a stage asking this of an app's every
    account reads no one's entitlements (an app without grants asked it of all of them at
    every import)."""
    unread: dict[DeferredAccounts, list[AccountRecord]] = {}
    for record in records:
        source = getattr(record.__class__, "_deferred_source", None)
        if source is not None and not _is_set(_ENTITLEMENTS, record):
            unread.setdefault(source, []).append(record)
        elif record.entitlements:
            return True
    return any(source.any_granted(group) for source, group in unread.items())


class _DeferredGrants:
    """The entitlements of one DeferredAccounts' class: read alone when first read (the rest
    of the account is not); setting them marks them as the run's."""

    __slots__ = ("_source",)

    def __init__(self, source: DeferredAccounts) -> None:
        self._source = source

    def __get__(self, record: Any, owner: Any = None) -> Any:
        if record is None:
            return self
        try:
            return _ENTITLEMENTS.__get__(record, owner)
        except AttributeError:  # not read yet
            self._source.fill_grants(record)
            return _ENTITLEMENTS.__get__(record, AccountRecord)

    def __set__(self, record: Any, value: Any) -> None:
        with self._source._lock:  # not while another thread reads them
            _ENTITLEMENTS.__set__(record, value)


class _DeferredField:
    """A deferred field of one DeferredAccounts' class: its first read reads the rest of the
    account; setting it marks the value as the run's. A descriptor per field, not
    `__getattr__`: a class with `__getattr__` makes every attribute read of its instances
    slower (no fast path for slots), and whole-store passes read the narrow fields of every
    account many times a run."""

    __slots__ = ("_field", "_source")

    def __init__(self, name: str, source: DeferredAccounts) -> None:
        self._field = AccountRecord.__dict__[name]  # its slot (the profile's _StoredJsonSlot)
        self._source = source

    def __get__(self, record: Any, owner: Any = None) -> Any:
        if record is None:
            return self
        try:
            return self._field.__get__(record, owner)
        except AttributeError:  # not read yet
            self._source.fill(record)
            return self._field.__get__(record, AccountRecord)

    def __set__(self, record: Any, value: Any) -> None:
        with self._source._lock:  # not while another thread reads the rest of it
            self._source._written.add(id(record))
            self._field.__set__(record, value)


def _deferred_class(source: DeferredAccounts) -> type[AccountRecord]:
    """AccountRecord with the same slots, whose first read of a deferred field reads it."""

    def __eq__(self: AccountRecord, other: object) -> bool:
        source.fill(self)
        return self == other  # a plain record's comparison now

    def __reduce_ex__(self: AccountRecord, protocol: Any) -> Any:  # copy, deepcopy, pickle
        source.fill(self)
        return self.__reduce_ex__(protocol)

    return type(
        "AccountRecord",
        (AccountRecord,),
        {
            "__slots__": (),  # the same layout: a read turns it into a plain AccountRecord
            "__module__": __name__,
            "__qualname__": "AccountRecord",  # its repr is a plain one's
            # orjson writes a dataclass only when the type itself names its fields
            "__dataclass_fields__": AccountRecord.__dataclass_fields__,
            "__eq__": __eq__,
            "__reduce_ex__": __reduce_ex__,
            "_deferred_source": source,
            **{name: _DeferredField(name, source) for name in DEFERRED_FIELDS},
            "entitlements": _DeferredGrants(source),
        },
    )
