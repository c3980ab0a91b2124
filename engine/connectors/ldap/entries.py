"""LDAP entries as Roster accounts: the attribute map applied to an entry's raw values.

Values arrive as bytes. Text is UTF-8; an `objectGUID` is 16 bytes shown as AD shows it
(`{…}`-less GUID text); any other value that is not UTF-8 lands in the profile as
`base64:…` (bounded). Secrets and photos are never read (flavours.NEVER_IMPORTED). Every other
attribute goes to the profile under its schema spelling, so push rules compare the values the
directory holds.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.connectors.base import ListedAccount, SchemaField
from engine.connectors.ldap.flavours import BINARY, MULTI_VALUED, NEVER_IMPORTED
from engine.connectors.ldap.settings import LdapSettings
from engine.connectors.limits import value_problem
from engine.errors import ConnectorError
from engine.text import printable

MAX_BINARY_BYTES = 4096  # a binary value larger than this is noted, not copied
DISABLED_WORDS = frozenset({"false", "disabled", "inactive", "locked", "no", "0"})
UAC_ACCOUNTDISABLE = 0x2


@dataclass
class RawEntry:
    """One search result: its DN and its attributes by lower-cased name (name as the server
    spelled it, raw values)."""

    dn: str
    attributes: dict[str, tuple[str, list[bytes]]]
    # AD sends a big multi-valued attribute (a group's members) in ranges: the attributes
    # whose values were cut, with the last index sent (`member;range=0-1499` -> 1499)
    ranged: dict[str, int] = field(default_factory=dict)
    binary: set[str] = field(default_factory=set)  # sent with the ;binary option (lower-cased)

    @classmethod
    def from_response(cls, item: Mapping[str, Any]) -> RawEntry:
        raw = item.get("raw_attributes") or {}
        attributes: dict[str, tuple[str, list[bytes]]] = {}
        ranged: dict[str, int] = {}
        binary: set[str] = set()
        for name, values in raw.items():
            base, *options = str(name).split(";")  # drop options such as ;binary or ;range=
            listed = [v if isinstance(v, bytes) else str(v).encode() for v in values]
            if base.lower() in attributes:
                listed = attributes[base.lower()][1] + listed
            attributes[base.lower()] = (base, listed)
            for option in options:
                if option.lower() == "binary":
                    binary.add(base.lower())
                if option.lower().startswith("range="):
                    end = option.partition("-")[2]
                    if end.isdigit():
                        ranged[base.lower()] = int(end)
        return cls(str(item.get("dn") or ""), attributes, ranged, binary)

    def values(self, name: str) -> list[bytes]:
        found = self.attributes.get(name.lower())
        return found[1] if found else []


def text_of(name: str, value: bytes, binary: bool = False) -> str:
    """One raw value as text: the GUID form for objectGUID, UTF-8, else (or for a BINARY
    attribute, always) `base64:…`."""
    if name.lower() == "objectguid" and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    if not binary:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    if len(value) > MAX_BINARY_BYTES:
        return f"(binary, {len(value)} bytes)"
    return "base64:" + base64.b64encode(value).decode("ascii")


def guid_bytes(text: str) -> bytes | None:
    """An objectGUID's raw bytes from its text form, for a search filter; None if not a GUID."""
    try:
        return uuid.UUID(text).bytes_le
    except ValueError:
        return None


class EntryRefused(ConnectorError):
    """One entry whose values Roster refuses: the listing holds it back (Listing.held)."""

    def __init__(self, message: str, external_id: str) -> None:
        super().__init__(message)
        self.external_id = external_id


class EntryReader:
    """Turns raw entries into ListedAccounts with one app's attribute map."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.map = settings.attribute_map
        self.id_attribute = settings.first("id")
        self.status_attribute = settings.first("status")
        self.manager_attribute = settings.first("manager")
        # profile keys spelled as the push schema spells them, so push compares like with like
        self.spelling = {f.key.lower(): f.key for f in _schema_fields(settings)}
        self.binary = BINARY | settings.binary_attributes

    def requested(self) -> list[str]:
        """What a search asks for: every user attribute, plus the operational ones the map
        names (entryUUID, modifyTimestamp… are not part of `*`)."""
        names = {"*", *self.settings.flavour.operational}
        for attributes in self.map.values():
            names.update(attributes)
        return sorted(names)

    def first_text(self, entry: RawEntry, attributes: Iterable[str]) -> str:
        for name in attributes:
            for value in entry.values(name):
                text = text_of(name, value, name.lower() in self.binary).strip()
                if text:
                    return text
        return ""

    def all_text(self, entry: RawEntry, attributes: Iterable[str], *, smtp: bool) -> list[str]:
        found: list[str] = []
        seen: set[str] = set()
        for name in attributes:
            for value in entry.values(name):
                text = text_of(name, value, name.lower() in self.binary).strip()
                if smtp and name.lower() == "proxyaddresses":
                    # only mail addresses: "SMTP:" is the primary, "smtp:" the others
                    kind, _, address = text.partition(":")
                    if kind.lower() != "smtp" or not address:
                        continue
                    text = address.strip()
                if text and text.casefold() not in seen:
                    seen.add(text.casefold())
                    found.append(text)
        return found

    def status(self, entry: RawEntry) -> str:
        name = self.status_attribute
        if not name:
            return "ENABLED"
        values = entry.values(name)
        if name.lower() == "useraccountcontrol":
            try:
                flags = int(values[0]) if values else 0
            except ValueError:
                flags = 0
            return "DISABLED" if flags & UAC_ACCOUNTDISABLE else "ENABLED"
        if name.lower() == "pwdaccountlockedtime":
            return "DISABLED" if values else "ENABLED"
        text = self.first_text(entry, (name,)).casefold()
        return "DISABLED" if text in DISABLED_WORDS else "ENABLED"

    def account(self, entry: RawEntry) -> ListedAccount:
        external_id = self.first_text(entry, (self.id_attribute,))
        if not external_id:
            raise ConnectorError(
                f"App '{self.settings.app_id}': the entry {entry.dn!r} has no "
                f"{self.id_attribute!r}, the attribute Roster takes its id from. Check "
                "attributes.id in the app's settings (it must be an attribute every account "
                "has and that never changes, e.g. entryUUID or objectGUID); nothing was imported."
            )
        first, every = self.first_text, self.all_text
        m = self.map
        listed = ListedAccount(
            external_id=external_id,
            display_name=first(entry, m.get("display_name", ()))
            or first(entry, ("cn",) if m.get("display_name") else ()),
            given_name=first(entry, m.get("given_name", ())),
            family_name=first(entry, m.get("family_name", ())),
            email=first(entry, m.get("email", ())),
            emails=every(entry, m.get("emails", ()), smtp=True),
            username=first(entry, m.get("username", ())),
            usernames=every(entry, m.get("usernames", ()), smtp=False),
            employee_ids=every(entry, m.get("employee_ids", ()), smtp=False),
            status=self.status(entry),
            manager=first(entry, m.get("manager", ())),
            profile=self.profile(entry),
        )
        self.check(entry, listed)
        return listed

    def check(self, entry: RawEntry, listed: ListedAccount) -> None:
        """Refuse what a file app refuses (engine.connectors.limits): the entry alone
        (EntryRefused), not the directory. One person's self-edited description stopped
        every leaver of the directory from being imported."""
        problem = value_problem(listed)
        if problem:
            raise EntryRefused(
                f"App '{self.settings.app_id}': the entry '{printable(entry.dn, 200)}' "
                f"('{printable(listed.external_id, 80)}'): {problem}. Fix the value in the "
                "directory (or, if the attribute holds bytes rather than text, name it in the "
                "app's settings.binary_attributes); until then its account stays as it was, "
                "and the rest of the directory is imported.",
                listed.external_id,
            )

    def profile(self, entry: RawEntry) -> dict[str, Any]:
        profile: dict[str, Any] = {"dn": entry.dn}
        for lowered, (name, values) in sorted(entry.attributes.items()):
            if lowered in NEVER_IMPORTED or not values:
                continue
            key = self.spelling.get(lowered, name)
            binary = lowered in self.binary or lowered in entry.binary
            texts = [text_of(name, v, binary) for v in values]
            profile[key] = texts if len(texts) > 1 or lowered in MULTI_VALUED else texts[0]
        return profile

    def changed(self, entry: RawEntry) -> str:
        """The entry's change timestamp (GeneralizedTime text), "" when the map has none."""
        return self.first_text(entry, self.map.get("changed", ()))


def _schema_fields(settings: LdapSettings) -> list[SchemaField]:
    description = settings.description
    return [*description.push_schema, *description.creation_schema]


def resolve_managers(accounts: list[ListedAccount], lookup: Mapping[str, str]) -> None:
    """Replace each manager DN by the manager's email where `lookup` (normalised DN -> email)
    knows it; the profile keeps the DN as `manager_dn`. A manager outside the listing that the
    lookup cannot tell stays a DN."""
    for account in accounts:
        dn = account.manager
        if not dn or "=" not in dn:
            continue
        email = lookup.get(normal_dn(dn))
        if email:
            account.manager = email
            account.profile["manager_dn"] = dn
            if "manager" in account.profile:
                account.profile["manager"] = email


def normal_dn(dn: str) -> str:
    """A DN in a form equal DNs share (spaces around separators and case do not matter)."""
    return ",".join(
        "=".join(part.strip() for part in rdn.split("=", 1)) for rdn in dn.split(",")
    ).casefold()
