"""Person and account rows as records: the columns a read selects, in the records' field order,
and how a row becomes a UserRecord or an AccountRecord.

Free of the database layer: the sync's bulk reads (engine.store.repo, through SQLAlchemy) and
the one-record lookups (engine.store.directory, through SQLAlchemy or straight through the
sqlite3 driver when a command must answer at once) build records here, so both read a row the
same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.errors import DamagedRecord, Stopped
from engine.records import (
    ACCOUNT_DATA_FIELDS,
    ACCOUNT_FIELD_SPECS,
    AccountRecord,
    StoredJson,
    UserRecord,
)
from engine.text import printable

#: The person columns a read selects, in UserRecord's field order.
USER_COLUMNS = (
    "id",
    "email",
    "emails",
    "username",
    "usernames",
    "display_name",
    "given_name",
    "family_name",
    "employee_id",
    "employee_ids",
    "status",
    "type",
    "attributes",
)

#: The account columns a read selects: AccountRecord's fields in its order, its entitlements
#: (from grants) aside.
ACCOUNT_COLUMNS = (
    "id",
    "app_id",
    "external_id",
    *ACCOUNT_DATA_FIELDS,
    "owner_id",
    "link_kind",
    "pinned",
)

_ACCOUNT_ENTITLEMENTS = 3 + len(ACCOUNT_FIELD_SPECS)
_ACCOUNT_JSON_COLUMNS = tuple(
    (3 + i, list if spec.kind == "list" else dict)
    for i, spec in enumerate(ACCOUNT_FIELD_SPECS)
    if spec.kind in ("list", "map")
)
_PROFILE = 3 + ACCOUNT_DATA_FIELDS.index("profile")
# the stored text of an empty list or map: most list columns hold one, and it is read as the
# empty value without decoding (hundreds of thousands of times on a large store)
EMPTY_JSON = frozenset(("[]", "{}", "null"))
_ACCOUNT_FIELDS = [*ACCOUNT_COLUMNS[:_ACCOUNT_ENTITLEMENTS], "entitlements", *ACCOUNT_COLUMNS[-3:]]


def stored_time(value: Any) -> datetime | None:
    """A date-time column as SQLite's driver gives it (the text SQLAlchemy wrote, in UTC
    without an offset) as SQLAlchemy's UTCDateTime reads it: aware, in UTC."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value) if value.__class__ is str else value
    except ValueError:
        raise DamagedRecord(
            f"The identity store holds a date that is not one ({printable(str(value), 60)!r}): "
            "the store was changed outside Roster. Nothing more was done; restore the store "
            "from a backup."
        ) from None
    return when.replace(tzinfo=UTC) if when.utcoffset() is None else when.astimezone(UTC)


if [f.name for f in dataclasses.fields(UserRecord)] != list(USER_COLUMNS) or [
    f.name for f in dataclasses.fields(AccountRecord)
] != _ACCOUNT_FIELDS:  # pragma: no cover - a record field added without its column here
    raise ImportError("engine.store.rows: UserRecord's or AccountRecord's fields changed")


def json_value(value: Any) -> Any:
    """A JSON column's value as the driver gave it: text to decode, or already decoded."""
    return orjson.loads(value) if value.__class__ is str else value


def stored_map(value: Any) -> Any:
    """A map column's value as a record holds it: its text is decoded when first read
    (engine.records._StoredJsonSlot)."""
    if not value or value.__class__ is str and value in EMPTY_JSON:
        return {}
    return StoredJson(value) if value.__class__ is str else value


def stored_list(value: Any, account: AccountRecord | tuple[Any, ...], name: str) -> Any:
    """A list column's value as a record holds it; text that is not JSON (edited by hand) is a
    DamagedRecord naming ACCOUNT (a record, or its row: id, app, external id first)."""
    if not value or value.__class__ is str and value in EMPTY_JSON:
        return []
    if value.__class__ is not str:
        return value
    try:
        return orjson.loads(value) or []
    except orjson.JSONDecodeError as exc:
        if isinstance(account, AccountRecord):
            account_id, app_id, external_id = account.id, account.app_id, account.external_id
        else:
            account_id, app_id, external_id = account[:3]
        raise DamagedRecord(
            f"The identity store's {name} of account {app_id}:{external_id} (id {account_id}) "
            f"cannot be read as JSON ({exc}): the store was changed outside Roster. Nothing "
            "more was done; restore the store from a backup."
        ) from None


def same(value: Any) -> Any:
    return value


def checked(rows: Iterable[Any], stop: Callable[[], bool] | None) -> Iterable[Any]:
    """ROWS, asking `stop` before the first and every 16,384th: `Stopped` when it says so."""
    if stop is None:
        return rows
    return _stoppable(rows, stop)


def _stoppable(rows: Iterable[Any], stop: Callable[[], bool]) -> Iterator[Any]:
    for count, row in enumerate(rows):
        if not count & 0x3FFF and stop():
            raise Stopped()
        yield row


def users_from_rows(
    rows: Iterable[Any], text: bool, stop: Callable[[], bool] | None = None
) -> list[UserRecord]:
    """Rows of USER_COLUMNS as records; `text`: the JSON columns may still be text."""
    decode = _json_list if text else _list
    attributes = stored_map if text else _map
    record = UserRecord  # positional: a sync builds 100,000 at every run
    return [
        record(
            r[0],
            r[1],
            decode(r[2]),
            r[3],
            decode(r[4]),
            r[5],
            r[6],
            r[7],
            r[8],
            decode(r[9]),
            r[10],
            r[11],
            attributes(r[12]),
        )
        for r in checked(rows, stop)
    ]


def _json_list(value: Any) -> Any:
    """A list column's value: most people's are empty ("[]")."""
    if value is None or value == "[]":
        return []
    return (orjson.loads(value) if value.__class__ is str else value) or []


def _list(value: Any) -> Any:
    return value or []


def _map(value: Any) -> Any:
    return value or {}


def accounts_from_rows(
    rows: Iterable[Any],
    grants: dict[int, list[str]],
    text: bool,
    stop: Callable[[], bool] | None = None,
    fingerprints: dict[tuple[str, str], str] | None = None,
    filter_results: dict[tuple[str, str], str] | None = None,
) -> list[AccountRecord]:
    """Rows of ACCOUNT_COLUMNS as records with their entitlements (`grants`: account id ->
    entitlement ids). `text`: the JSON columns may still be text. `fingerprints` and
    `filter_results` (given together): each row ends with the account's fingerprint and filter
    decision, which are put there, keyed by (app, external id)."""
    sidecar = fingerprints is not None and filter_results is not None
    digests = fingerprints if fingerprints is not None else {}
    decisions = filter_results if filter_results is not None else {}
    # the columns are in the record's field order (entitlements aside): built positionally
    records = []
    for r in checked(rows, stop):
        values = list(r)
        if sidecar:
            decision = values.pop()
            key = (values[1], values[2])
            digests[key] = values.pop()
            if decision:
                decisions[key] = decision
        for position, blank in _ACCOUNT_JSON_COLUMNS:
            value = values[position]
            # list and map columns may hold NULL (or JSON null): they read as empty
            if not value or value.__class__ is str and value in EMPTY_JSON:
                values[position] = blank()
            elif text:
                # a profile's text is decoded when it is first read (engine.records._StoredJsonSlot)
                is_text = value.__class__ is str
                if position == _PROFILE and is_text:
                    values[position] = StoredJson(value)
                else:
                    values[position] = stored_list(value, r, ACCOUNT_COLUMNS[position])
        values[-1] = bool(values[-1])
        values.insert(_ACCOUNT_ENTITLEMENTS, sorted(grants.get(r[0], ())))
        records.append(AccountRecord(*values))
    return records
