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
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import String, cast, or_, select
from sqlmodel import Session

from engine.records import AccountRecord, UserRecord, manager_emails, managers_of, norm_key
from engine.store.models import Account, Entitlement, Grant, Person
from engine.store.repo import load_accounts, load_users

_P = Person.__table__.c  # type: ignore[attr-defined]
_A = Account.__table__.c  # type: ignore[attr-defined]
_E = Entitlement.__table__.c  # type: ignore[attr-defined]
_G = Grant.__table__.c  # type: ignore[attr-defined]


#: A key SQL can narrow to: printable ASCII without the characters JSON escapes.
_ASCII_TEXT = re.compile(r"[ -!#-\[\]-~]+")


def _keys_of(values: tuple[Any, ...]) -> set[str]:
    """The keys (norm_key) of a row's text column and JSON list column."""
    keys: set[str] = set()
    for value in values:
        for text in value if isinstance(value, list) else [value]:
            if text:
                keys.add(norm_key(text))
    return keys


class StoreDirectory:
    """A Directory (engine.records) over the store, for lookups of a few records."""

    def __init__(self, session: Callable[[], AbstractContextManager[Session]]) -> None:
        self._session = session
        self._users: dict[int, UserRecord] = {}
        self._accounts: dict[int, AccountRecord] = {}
        self._accounts_of: dict[int, list[AccountRecord]] = {}
        # narrow indexes, built when a lookup first needs one: key -> person ids
        self._by_email: dict[str, list[int]] | None = None
        self._by_name: dict[str, list[int]] | None = None
        self._reports: dict[str, list[int]] | None = None
        self._labels: dict[tuple[str, str], str] | None = None
        self._keys: dict[tuple[str, str | None], set[str]] = {}
        self._dialect_name: str | None = None

    # ---- records, each read once ------------------------------------------------------
    def _people(self, ids: list[int]) -> list[UserRecord]:
        missing = [i for i in dict.fromkeys(ids) if i not in self._users]
        if missing:
            with self._session() as session:
                for user in load_users(session, _P.id.in_(missing)):
                    self._users[user.id] = user
        return [self._users[i] for i in ids if i in self._users]

    def _account_records(self, *where: Any) -> list[AccountRecord]:
        with self._session() as session:
            found = load_accounts(session, *where)
        # an account read before stays the object it was
        return [self._accounts.setdefault(a.id, a) for a in found]

    def _ids(self, statement: Any) -> list[Any]:
        with self._session() as session:
            return list(session.execute(statement).all())

    # ---- Directory ----------------------------------------------------------------------
    def user_by_id(self, user_id: int | str) -> UserRecord | None:
        try:
            wanted = int(user_id)
        except (TypeError, ValueError):
            return None
        found = self._people([wanted])
        return found[0] if found else None

    def users_by_email(self, email: str) -> list[UserRecord]:
        return self._people(self._keyed(email, _P.email, _P.emails, "_by_email"))

    def users_by_name(self, name: str) -> list[UserRecord]:
        return self._people(self._keyed(name, _P.display_name, None, "_by_name"))

    def _keyed(self, wanted: str, column: Any, listed: Any, index_name: str) -> list[int]:
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
        if index is None and _ASCII_TEXT.fullmatch(key):
            pattern = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            texts = [column] if listed is None else [column, cast(listed, String)]
            statement = select(_P.id, column, *([listed] if listed is not None else []))
            statement = statement.where(
                or_(*(t.ilike(pattern, escape="\\") for t in texts), *map(self._unusual, texts))
            )
            rows = self._ids(statement.order_by(_P.id))
            return [row[0] for row in rows if key in _keys_of(row[1:])]
        if index is None:
            index = defaultdict(list)
            extra = [listed] if listed is not None else []
            for row in self._ids(select(_P.id, column, *extra).order_by(_P.id)):
                for found in _keys_of(row[1:]):
                    index[found].append(row[0])
            setattr(self, index_name, index)
        return index.get(key, [])

    def _unusual(self, text: Any) -> Any:
        """Whether `text` holds a character outside printable ASCII."""
        if self._dialect() == "sqlite":
            return text.op("GLOB")("*[^ -~]*")
        return text.op("~")("[^ -~]")

    def _dialect(self) -> str:
        if self._dialect_name is None:
            with self._session() as session:
                self._dialect_name = session.get_bind().dialect.name
        return self._dialect_name

    def accounts_of(self, user_id: int) -> list[AccountRecord]:
        found = self._accounts_of.get(user_id)
        if found is None:
            found = self._accounts_of[user_id] = self._account_records(_A.owner_id == user_id)
        return list(found)

    def account(self, app_id: str, external_id: str) -> AccountRecord | None:
        for known in self._accounts.values():
            if known.app_id == app_id and known.external_id == external_id:
                return known
        found = self._account_records(_A.app_id == app_id, _A.external_id == external_id)
        return found[0] if found else None

    def account_by_id(self, account_id: int) -> AccountRecord | None:
        known = self._accounts.get(account_id)
        if known is not None:
            return known
        found = self._account_records(_A.id == account_id)
        return found[0] if found else None

    def managers_of(self, user: UserRecord) -> list[UserRecord]:
        return managers_of(self, user)

    def direct_reports(self, user: UserRecord) -> list[UserRecord]:
        if self._reports is None:
            index: dict[str, list[int]] = defaultdict(list)
            for person_id, attributes in self._ids(select(_P.id, _P.attributes)):
                for manager in manager_emails(attributes or {}):
                    index[norm_key(manager)].append(person_id)
            self._reports = index
        ids: dict[int, None] = {}
        for email in [user.email, *user.emails]:
            ids.update(dict.fromkeys(self._reports.get(norm_key(email), [])))
        return self._people(list(ids))

    def entitlement_members(self, app_id: str, entitlement_id: str) -> list[UserRecord]:
        owners = (
            select(_A.owner_id)
            .join(Grant.__table__, _G.account_id == _A.id)  # type: ignore[attr-defined]
            .join(Entitlement.__table__, _E.id == _G.entitlement_id)  # type: ignore[attr-defined]
            .where(_A.app_id == app_id, _E.external_id == entitlement_id, _A.owner_id.is_not(None))
            .order_by(_A.id)
        )
        return self._people([row[0] for row in self._ids(owners)])

    def _entitlement_labels(self) -> dict[tuple[str, str], str]:
        if self._labels is None:
            rows = self._ids(select(_E.app_id, _E.external_id, _E.name))
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
            if kind == "account":
                statement = select(_A.profile)
                if app_id is not None:
                    statement = statement.where(_A.app_id == app_id)
            else:
                statement = select(_P.attributes)
            keys = set()
            for (mapping,) in self._ids(statement):
                if mapping:
                    keys.update(mapping)
            self._keys[cache_key] = keys
        return keys

    def app_ids(self) -> set[str]:
        return {row[0] for row in self._ids(select(_A.app_id).distinct())}

    def has_users(self) -> bool:
        return bool(list(self._ids(select(_P.id).limit(1))))
