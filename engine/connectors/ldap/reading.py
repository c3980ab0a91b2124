"""Reading the directory: the paged search (RFC 2696) every listing uses, the delta filter on the
flavour's change timestamp, and the lookups of single entries (by id, by DN, by email).

A delta import lists the entries whose change timestamp is at or after the cursor's mark (the
newest timestamp the last import saw, on the server's own clock, so a skewed client clock
cannot lose a change); at least every `full_import_hours` the listing is complete, which is
when entries that are gone are noticed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars

from engine.connectors.base import ListedAccount, Listing
from engine.connectors.ldap.connection import (
    NO_SUCH_OBJECT,
    SIZE_LIMIT_EXCEEDED,
    SUCCESS,
    LdapClient,
)
from engine.connectors.ldap.entries import (
    EntryReader,
    EntryRefused,
    RawEntry,
    guid_bytes,
    normal_dn,
    resolve_managers,
)
from engine.connectors.ldap.settings import LdapSettings
from engine.errors import ConnectorError
from engine.text import printable

PAGED_RESULTS = "1.2.840.113556.1.4.319"
SCOPES = {"subtree": ldap3.SUBTREE, "one": ldap3.LEVEL, "base": ldap3.BASE}
LOOKUP_CHUNK = 50  # ids per OR-filter when finding the entries a push writes to
MAX_MANAGER_LOOKUPS = 2000  # managers outside a listing looked up one by one, at most


#: Id attributes the directory itself keeps unique (a delta need not look for a second entry)
UNIQUE_IDS = frozenset({"entryuuid", "objectguid"})


class Reader:
    def __init__(self, settings: LdapSettings, client: LdapClient) -> None:
        self.settings = settings
        self.client = client
        self.entries = EntryReader(settings)

    # --- searching -----------------------------------------------------------------------------

    def search(
        self,
        search_filter: str,
        *,
        base: str | None = None,
        scope: str | None = None,
        attributes: list[str] | None = None,
        limit: int = 0,
    ) -> Iterator[RawEntry]:
        """Every entry the search finds, page by page; `limit` stops after that many."""
        base = base if base is not None else self.settings.base_dn
        chosen = SCOPES[scope or self.settings.scope]
        wanted = attributes if attributes is not None else self.entries.requested()
        page = min(self.settings.page_size, limit) if limit else self.settings.page_size
        cookie: Any = None
        found = 0
        while True:
            responses: list[dict[str, Any]] = []

            def call(
                connection: Any, cookie: Any = cookie, responses: list[Any] = responses
            ) -> bool:
                ok: bool = connection.search(
                    base,
                    search_filter,
                    search_scope=chosen,
                    attributes=wanted,
                    paged_size=int(page),
                    paged_cookie=cookie,
                )
                responses[:] = list(connection.response or [])
                return ok

            result = self.client.run(f"searching {base!r}", call, retry=cookie is None)
            code = int(result.get("result", -1))
            for item in responses:
                if item.get("type") == "searchResEntry":
                    yield RawEntry.from_response(item)
                    found += 1
                    if limit and found >= limit:
                        return
            if code == NO_SUCH_OBJECT:
                raise ConnectorError(
                    f"{self.client.where()}: the base DN {base!r} does not exist (LDAP result "
                    f"{code}). Check base_dn in the app's settings."
                )
            if code == SIZE_LIMIT_EXCEEDED and limit:
                return
            if code != SUCCESS:
                raise self.client.result_error(f"the search under {base!r}", result)
            control = (result.get("controls") or {}).get(PAGED_RESULTS) or {}
            cookie = (control.get("value") or {}).get("cookie")
            if not cookie:
                return

    # --- listings ----------------------------------------------------------------------------

    def accounts(
        self, search_filter: str, limit: int = 0
    ) -> tuple[list[ListedAccount], str, dict[str, str]]:
        """The accounts a filter finds, managers resolved, the newest change timestamp, and
        the entries held back (id -> why: their values are refused)."""
        accounts: list[ListedAccount] = []
        newest = ""
        held: dict[str, str] = {}
        seen: dict[str, str] = {}  # id -> the DN that has it
        for entry in self.search(search_filter, limit=limit):
            account: ListedAccount | None
            try:
                account = self.entries.account(entry)
                external_id = account.external_id
            except EntryRefused as refused:
                account, external_id = None, refused.external_id
                held[external_id] = refused.message
            first = seen.setdefault(external_id, entry.dn)
            if first != entry.dn:  # two entries would be one account, the last one winning
                raise self._same_id(external_id, first, entry.dn)
            if account is not None:
                accounts.append(account)
            changed = _timestamp(self.entries.changed(entry))
            newest = max(newest, changed)
        self.resolve_managers(accounts)
        return accounts, newest, held

    def _refuse_shared_ids(self, accounts: list[ListedAccount]) -> None:
        """A delta lists only the changed entries: one that shares its id with an unchanged
        entry elsewhere under base_dn would take over that entry's account (hostile review).
        Each changed id is looked up (a few queries); ids the directory keeps unique are not."""
        id_attribute = self.settings.first("id")
        if id_attribute.lower() in UNIQUE_IDS or not accounts:
            return
        listed = {a.external_id: str(a.profile.get("dn", "")) for a in accounts}
        for external_id, found in self._entries_with_ids(list(listed), self.settings.user_filter):
            dn = listed.get(external_id)
            if dn is not None and normal_dn(found) != normal_dn(dn):
                raise self._same_id(external_id, dn, found)

    def _same_id(self, external_id: str, first: str, second: str) -> ConnectorError:
        attribute = self.settings.first("id")
        return ConnectorError(
            f"App '{self.settings.app_id}': the entries '{printable(first, 200)}' and "
            f"'{printable(second, 200)}' have the same id '{printable(external_id, 80)}' "
            f"(their {attribute}), and Roster keeps one account per id. Map id to an "
            "attribute no two entries share (settings.attributes, e.g. id: entryUUID), or "
            "narrow base_dn or user_filter; nothing of this app was imported, its accounts "
            "stay as they were."
        )

    def resolve_managers(self, accounts: list[ListedAccount]) -> None:
        lookup = {normal_dn(str(a.profile.get("dn", ""))): a.email for a in accounts if a.email}
        outside = {
            normal_dn(a.manager): a.manager
            for a in accounts
            if a.manager and "=" in a.manager and normal_dn(a.manager) not in lookup
        }
        mail = self.settings.first("email") or "mail"
        for key, dn in list(outside.items())[:MAX_MANAGER_LOOKUPS]:
            entry = self.one(dn, [mail])
            email = self.entries.first_text(entry, (mail,)) if entry else ""
            if email:
                lookup[key] = email
        resolve_managers(accounts, lookup)

    def one(self, dn: str, attributes: list[str]) -> RawEntry | None:
        """The entry at `dn`, or None when there is none."""
        try:
            return next(
                self.search(
                    "(objectClass=*)", base=dn, scope="base", attributes=attributes, limit=1
                ),
                None,
            )
        except ConnectorError:
            return None

    def full(self) -> Listing:
        from engine.connectors.ldap.groups import Groups  # groups.py builds on this module

        accounts, newest, held = self.accounts(self.settings.user_filter)
        entitlements, grants = Groups(self).listing(accounts)
        return Listing(
            accounts=accounts,
            entitlements=entitlements,
            grants=grants,
            cursor=self.cursor(_now(), newest),
            held=held,
        )

    def changes(self, cursor: str) -> Listing:
        """Only what changed since `cursor`, or a complete listing when one is due."""
        state = self.read_cursor(cursor)
        if state is None:
            return self.full()
        full_at, mark = state
        age_hours = (_now() - full_at).total_seconds() / 3600
        if not mark or age_hours >= self.settings.full_import_hours:
            return self.full()
        changed = self.settings.first("changed")
        written = mark + (".0Z" if changed.lower() == "whenchanged" else "Z")
        search_filter = f"(&{self.settings.user_filter}({changed}>={written}))"
        accounts, newest, held = self.accounts(search_filter)
        self._refuse_shared_ids(accounts)
        return Listing(
            accounts=accounts,
            complete=False,
            cursor=self.cursor(full_at, max(mark, newest)),
            held=held,
        )

    # --- the cursor --------------------------------------------------------------------------

    def scope_digest(self) -> str:
        """What a delta's meaning depends on: a cursor from other settings is not used."""
        s = self.settings
        text = json.dumps(
            [s.url, s.base_dn, s.user_filter, s.scope, s.attribute_map], sort_keys=True
        )
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    def cursor(self, full_at: dt.datetime, mark: str) -> str:
        if not self.settings.delta or not self.settings.first("changed"):
            return ""
        return json.dumps(
            {"full_at": full_at.isoformat(), "mark": mark, "scope": self.scope_digest()},
            sort_keys=True,
        )

    def read_cursor(self, cursor: str) -> tuple[dt.datetime, str] | None:
        if not self.settings.delta or not self.settings.first("changed"):
            return None
        try:
            data = json.loads(cursor)
            full_at = dt.datetime.fromisoformat(data["full_at"])
            mark = str(data["mark"])
        except (ValueError, KeyError, TypeError):
            return None
        if data.get("scope") != self.scope_digest() or (mark and not mark.isdigit()):
            return None
        return full_at, mark

    # --- finding entries to write -------------------------------------------------------------

    def dns_of(self, external_ids: list[str]) -> dict[str, str]:
        """The DN of each account id the directory still has (id -> DN)."""
        return dict(self._entries_with_ids(external_ids))

    def _entries_with_ids(
        self, external_ids: list[str], within: str = ""
    ) -> Iterator[tuple[str, str]]:
        """(id, DN) of every entry under base_dn with one of EXTERNAL_IDS (and matching the
        filter WITHIN, when given), LOOKUP_CHUNK ids to a search."""
        id_attribute = self.settings.first("id")
        for start in range(0, len(external_ids), LOOKUP_CHUNK):
            chunk = external_ids[start : start + LOOKUP_CHUNK]
            terms = f"(|{''.join(f'({id_attribute}={self.id_value(i)})' for i in chunk)})"
            search_filter = f"(&{within}{terms})" if within else terms
            for entry in self.search(search_filter, attributes=[id_attribute]):
                external_id = self.entries.first_text(entry, (id_attribute,))
                if external_id:
                    yield external_id, entry.dn

    def id_value(self, external_id: str) -> str:
        if self.settings.first("id").lower() == "objectguid":
            raw = guid_bytes(external_id)
            if raw is not None:
                return escape_filter_chars(raw)  # type: ignore[no-any-return]
        return escape_filter_chars(external_id)  # type: ignore[no-any-return]

    def dn_by_email(self, email: str) -> str | None:
        mail = self.settings.first("email") or "mail"
        term = escape_filter_chars(email)
        entry = next(self.search(f"({mail}={term})", attributes=[mail], limit=1), None)
        return entry.dn if entry else None


def _timestamp(text: str) -> str:
    """A GeneralizedTime's first 14 digits (YYYYMMDDHHMMSS), comparable as text; "" if none."""
    digits = text[:14]
    return digits if len(digits) == 14 and digits.isdigit() else ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
