"""The connector interface (docs/connectors.md): describe, list, update (in batches), create.

A connector is built from an app's settings (as written in the configuration) and the folder the
configuration came from, so relative paths resolve the way the admin wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from engine.errors import ConnectorError
from engine.text import hidden_character

FIELD_TYPES = ("string", "bool", "int", "string_list", "map")


@dataclass(frozen=True)
class SchemaField:
    """One target attribute (push schema) or one account-creation field."""

    key: str
    display_name: str = ""
    type: str = "string"  # one of FIELD_TYPES
    required: bool = False
    description: str = ""
    placeholder: str = ""
    order: int = 0
    default: Any = None
    max_length: int | None = None
    # no two accounts of the app may hold the same value (an account's id, a sign-in name):
    # a check over everyone says who would get a value someone else gets too
    unique: bool = False
    # what the product refuses in a text besides its length: "sam" (an AD logon name), "upn"
    # (a user principal name); see `format_problem`
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "display_name": self.display_name or self.key,
            "type": self.type,
            "required": self.required,
            "description": self.description,
            "placeholder": self.placeholder,
            "order": self.order,
            "default": self.default,
            "max_length": self.max_length,
            "unique": self.unique,
            "format": self.format,
        }


#: What AD refuses in a logon name (sAMAccountName), besides control characters
_SAM_REFUSED = frozenset('"/\\[]:;|=,+*?<>@')
#: What neither directory takes in a user principal name's name
_UPN_REFUSED = frozenset('"(),:;<>[\\]/')
#: What a user principal name's name holds in Entra ID (and what AD takes in one too)
_ENTRA_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.-_!#^~")
#: What a mail nickname holds in Entra ID
_NICKNAME = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~."
)
_DOMAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")


def _listed(chars: Iterable[str]) -> str:
    return " ".join(repr(c) for c in sorted(set(chars)))


def format_problem(fmt: str, value: str) -> str:
    """Why VALUE is no text of the format FMT (SchemaField.format), or "": what Active
    Directory ("sam", "upn") and Entra ID ("entra_upn", "nickname") refuse in a logon name, a
    user principal name or a mail nickname, said before they are asked (a sAMAccountName
    "o'brien,j" or a UPN "mary ann@example.com" was "ok", then refused: second review)."""
    hidden = hidden_character(value)
    if fmt and hidden is not None:
        return f"it holds an invisible or control character ({repr(hidden)})"
    if fmt == "sam":
        bad = [c for c in value if c in _SAM_REFUSED]
        if bad:
            return f"a logon name cannot hold {_listed(bad)} (AD refuses it)"
        if value.endswith("."):
            return "a logon name cannot end with a full stop (AD refuses it)"
        return ""
    if fmt in ("upn", "entra_upn"):
        name, at, domain = value.rpartition("@")
        if not at or not name or not domain or "@" in name:
            return "a user principal name is name@domain, with one @ (e.g. ann.lee@example.com)"
        if any(c.isspace() for c in value):
            return "a user principal name cannot hold spaces"
        if name.startswith(".") or name.endswith(".") or ".." in name:
            return "a user principal name's name cannot begin or end with a full stop, or hold two"
        entra = fmt == "entra_upn"
        if domain[0] == "." or domain[-1] == "." or ".." in domain or (entra and "." not in domain):
            return "a user principal name's domain is like example.com"
        refused = [c for c in name if c in _UPN_REFUSED or (entra and c not in _ENTRA_NAME)]
        refused += [c for c in domain if entra and c not in _DOMAIN]
        if refused:
            where = "Entra ID" if entra else "AD"
            return f"a user principal name cannot hold {_listed(refused)} ({where} refuses it)"
        return ""
    if fmt == "nickname":
        refused = [c for c in value if c not in _NICKNAME]
        if refused:
            return f"a mail nickname cannot hold {_listed(refused)} (Entra ID refuses it)"
        if value.startswith(".") or value.endswith("."):
            return "a mail nickname cannot begin or end with a full stop (Entra ID refuses it)"
        return ""
    return ""


#: The account fields a creation field of the same name sets (a declared schema's `email`)
_ACCOUNT_TEXT_FIELDS = frozenset(
    ("display_name", "given_name", "family_name", "email", "username", "manager")
)


def held_value(account: Any, key: str) -> str:
    """ACCOUNT's own value of the creation field KEY (a ListedAccount or an AccountRecord), as
    a unique field's value is compared with it: the account field of that name, else its
    profile's under KEY (ignoring case); a text or a whole number, stripped; "" for none."""
    if key in _ACCOUNT_TEXT_FIELDS:
        value: Any = getattr(account, key, "")
    else:
        profile = account.profile or {}
        value = profile.get(key)
        if value is None:
            folded = key.casefold()
            value = next((v for k, v in profile.items() if k.casefold() == folded), None)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class Capabilities:
    directory: bool = True  # may be used as a directory (accounts can become people)
    push: bool = False
    custom_push_attributes: bool = False
    provisioning: bool = False

    def as_dict(self) -> dict[str, bool]:
        return {
            "directory": self.directory,
            "push": self.push,
            "custom_push_attributes": self.custom_push_attributes,
            "provisioning": self.provisioning,
        }


@dataclass(frozen=True)
class ConnectorDescription:
    """What a connector says about its app: fields it lists, what it can write, what it needs."""

    kind: str  # connector type: "file", "ldap", "scim"
    flavour: str = ""  # "active_directory", "entra_id", "" ... picks the schemas below
    account_fields: tuple[str, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    push_schema: tuple[SchemaField, ...] = ()
    creation_schema: tuple[SchemaField, ...] = ()
    # Local files the connector reads: (setting, absolute path as resolved from the settings and
    # the configuration's folder). Validation warns when one is missing; an import shows the
    # ones a new folder re-points.
    files: tuple[tuple[str, str], ...] = ()
    # The filter that decides which accounts an import lists (a SCIM `filter`), and the
    # creation fields it reads: an account Roster creates without them set to match is not
    # listed by the next import, which marks it DELETED (validation warns)
    listing_filter: str = ""
    filter_fields: tuple[str, ...] = ()

    def push_field(self, key: str) -> SchemaField | None:
        return next((f for f in self.push_schema if f.key.lower() == key.lower()), None)

    def creation_field(self, key: str) -> SchemaField | None:
        return next((f for f in self.creation_schema if f.key == key), None)


@dataclass
class ListedAccount:
    """An account as a connector lists it, before the store gives it an id.

    Its fields after `external_id` are engine.records.ACCOUNT_FIELD_SPECS, in that order (a test
    holds them equal); code that copies or compares them iterates ACCOUNT_DATA_FIELDS.
    """

    external_id: str
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    email: str = ""
    emails: list[str] = field(default_factory=list)
    username: str = ""
    usernames: list[str] = field(default_factory=list)
    employee_ids: list[str] = field(default_factory=list)
    status: str = "ENABLED"
    type: str = "USER"
    manager: str = ""
    profile: dict[str, Any] = field(default_factory=dict)


@dataclass
class ListedEntitlement:
    external_id: str
    name: str = ""
    description: str = ""


@dataclass
class ListedGrant:
    account_external_id: str
    entitlement_external_id: str


@dataclass
class Listing:
    accounts: list[ListedAccount] = field(default_factory=list)
    entitlements: list[ListedEntitlement] = field(default_factory=list)
    grants: list[ListedGrant] = field(default_factory=list)
    # False for a delta: only accounts changed since a cursor, so an account it does not list
    # is unchanged, not gone, and it carries no grants.
    complete: bool = True
    # Where the next delta import starts (the connector's own text, e.g. a server timestamp);
    # the sync stores it per app and hands it to `list_changes`. "" when the app has none.
    cursor: str = ""
    # The connector's own digest of each listed account's record (external id -> digest), when
    # it has one: the account's fingerprint (engine.connectors.fingerprint.fingerprint_in).
    digests: dict[str, str] = field(default_factory=dict)
    # From `list_changed`: the accounts recognised by their digest as unchanged, listed by
    # external id only (they are in the app, exactly as last imported).
    unchanged: list[str] = field(default_factory=list)
    # From `list_changed`: a digest of the files the entitlements and grants come from ("" when
    # it has none), and whether they are those of the import the caller named (`sidecars=`),
    # in which case `grants` is left empty: the grants the store holds stand.
    sidecars: str = ""
    grants_unchanged: bool = False
    # Accounts the app lists but could not give (a directory entry with a value Roster
    # refuses), external id -> why: they are still there, so their stored accounts stay as
    # they were, and the import reports them; the rest of the listing is imported.
    held: dict[str, str] = field(default_factory=dict)


class Connector(Protocol):
    """What every connector does. Failures raise engine.errors.ConnectorError with a message
    that names the app, the file or server, and what to do.

    A connector that can list only what changed may also offer `list_changes(cursor: str) ->
    Listing`: the importer calls it with the cursor of the app's last import (`Listing.cursor`)
    instead of `list_all`, and the connector decides when a complete listing is due.

    A connector that can tell an unchanged record by its digest before building it may offer
    `list_changed(known: Mapping[str, str], accounts_only: bool = False, sidecars: str = "")
    -> Listing` (known: digest -> external id, from the last import's `Listing.digests`): a
    complete listing whose `accounts` are only the records it does not recognise, the others
    named in `unchanged`; `accounts_only` (a read-back after a push) may leave out entitlements
    and grants; `sidecars` (the last merged import's `Listing.sidecars`) lets it leave out
    grants it knows unchanged (`Listing.grants_unchanged`)."""

    def describe(self) -> ConnectorDescription: ...

    def list_all(self) -> Listing: ...

    def source_version(self) -> str | None:
        """A cheap digest of the app's data, or None when the connector cannot tell without
        listing everything. Equal digests let a sync skip an app that has not changed."""
        ...

    def probe(self, limit: int = 5) -> Listing:
        """Connect, authenticate and read up to `limit` accounts, for `roster app test`: an
        admin checks an app's settings before the first sync. Raises ConnectorError."""
        ...

    def update_accounts(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        """Write attribute changes to many accounts (external id -> target attribute -> value;
        an empty value, "" or None, clears). Returns the accounts the app refused, each with
        its reason; the others are written. Raises ConnectorError when nothing could be written
        (the app cannot be read or reached)."""
        ...

    def create_account(self, fields: dict[str, Any]) -> ListedAccount:
        """Create one account from creation-schema fields; returns it as the app now lists it."""
        ...

    def create_accounts(
        self, many: Sequence[Mapping[str, Any]]
    ) -> list[ListedAccount | ConnectorError]:
        """Create many accounts (a sync's provisioning stage creates them a batch per app):
        each account's outcome in its place, the account as the app now lists it or the
        ConnectorError saying why it was refused; the others are created. Raises
        ConnectorError when none could be (the app cannot be read or reached)."""
        ...


@dataclass(frozen=True)
class ConnectorSpec:
    """How an app's connector is configured: its type, its settings, where the config lives."""

    app_id: str
    kind: str
    settings: dict[str, Any]
    base_dir: Path
