"""Plain records the engine computes with, free of the database and of CEL.

The store loads rows into these; the CEL engine converts them (once each) into CEL values;
the sync stages read and produce them. Keeping them plain lets every part be tested alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import orjson

from engine.errors import DamagedRecord
from engine.text import whole_number

# Status and type vocabularies (docs/architecture.md).
STATUSES = ("ENABLED", "DISABLED", "DELETED")
ACCOUNT_TYPES = ("USER", "SERVICE_ACCOUNT", "SYSTEM_ACCOUNT")

#: How an account came to be linked to its person (`link_kind`, as the store keeps it) -> the
#: one label the console and the CLI show for it ("Linked by"), short enough for the console's
#: column at 80 columns, and what it means. JSON output keeps the stored kind.
LINK_KINDS: dict[str, tuple[str, str]] = {
    "directory-create": ("dir-create", "the person was created from this directory account"),
    "directory-match": ("dir-match", "a directory's merge rule matched it to the person"),
    "ownership-rule": ("ownership", "an app's ownership rule matched it to the person"),
    "provisioned": ("provisioned", "Roster created it in the app for the person"),
    "manual": ("manual", "an admin linked it by hand"),
}
UNLINKED = "unlinked"


def link_label(kind: str | None) -> str:
    """The label of a link kind ("dir-create"); `unlinked` for none, an unknown kind as it is."""
    if not kind:
        return UNLINKED
    return LINK_KINDS[kind][0] if kind in LINK_KINDS else kind


def link_meaning(kind: str | None) -> str:
    """ "dir-create: the person was created from this directory account"."""
    if kind in LINK_KINDS:
        label, meaning = LINK_KINDS[kind]
        return f"{label}: {meaning}"
    return link_label(kind)


# Standard attributes (docs/attributes.md): name -> multi-valued?
STANDARD_ATTRIBUTES: dict[str, bool] = {
    "manager_email": True,
    "directory_status": False,
    "employment_type": False,
    "employment_status": False,
    "department": False,
    "job_title": False,
    "additional_username": True,
    "employee_id": False,
    "additional_email": True,
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One data field of an account, as a connector lists it and the store keeps it.

    kind: "text" (a string), "choice" (a string from `choices`), "list" (strings) or "map"
    (the app's own attributes, `profile`).
    """

    name: str
    kind: str
    choices: tuple[str, ...] = ()

    def blank(self) -> Any:
        """The field's empty value."""
        return [] if self.kind == "list" else {} if self.kind == "map" else ""


# The one definition of an account's data fields, in the order they are written everywhere
# (connector listings, fingerprints, the store, the file connector's records). AccountRecord and
# engine.connectors.base.ListedAccount carry exactly these fields after `external_id`.
ACCOUNT_FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("display_name", "text"),
    FieldSpec("given_name", "text"),
    FieldSpec("family_name", "text"),
    FieldSpec("email", "text"),
    FieldSpec("emails", "list"),
    FieldSpec("username", "text"),
    FieldSpec("usernames", "list"),
    FieldSpec("employee_ids", "list"),
    FieldSpec("status", "choice", STATUSES),
    FieldSpec("type", "choice", ACCOUNT_TYPES),
    FieldSpec("manager", "text"),  # the app's own reference to the manager (id or email)
    FieldSpec("profile", "map"),
)
# Every data field's name: what an import copies and compares, what the store writes.
ACCOUNT_DATA_FIELDS: tuple[str, ...] = tuple(spec.name for spec in ACCOUNT_FIELD_SPECS)
#: A reader's or a change's name for one profile key is "profile:<key>"; a change whose keys
#: cannot be told names this one, and every reader of a profile key names it too.
ANY_PROFILE_KEY = "profile:*"
ACCOUNT_TEXT_FIELDS: tuple[str, ...] = tuple(
    spec.name for spec in ACCOUNT_FIELD_SPECS if spec.kind == "text"
)
ACCOUNT_LIST_FIELDS: tuple[str, ...] = tuple(
    spec.name for spec in ACCOUNT_FIELD_SPECS if spec.kind == "list"
)
# Fields an attribute source names directly (`profile.<key>` reads the profile).
ACCOUNT_SOURCE_FIELDS: tuple[str, ...] = (
    "external_id",
    *(spec.name for spec in ACCOUNT_FIELD_SPECS if spec.kind != "map"),
)


def norm_key(value: object) -> str:
    """The form merge and ownership keys are compared in: trimmed, case-folded."""
    return str(value).strip().casefold() if value is not None else ""


@dataclass(slots=True)
class AccountRecord:
    """An identity inside one app."""

    id: int
    app_id: str
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
    manager: str = ""  # the app's own reference to the manager (external id or email)
    profile: dict[str, Any] = field(default_factory=dict)
    entitlements: list[str] = field(default_factory=list)  # entitlement external ids
    owner_id: int | None = None
    link_kind: str | None = None
    pinned: bool = False


def by_deferred_source(accounts: Iterable[AccountRecord]) -> dict[Any, list[AccountRecord]]:
    """Those of ACCOUNTS whose fields a sync reads when first needed (engine.store.deferred:
    a SQLite store's), by the source that reads them; plain records are left out."""
    sources: dict[Any, list[AccountRecord]] = {}
    for account in accounts:
        source = getattr(account.__class__, "_deferred_source", None)
        if source is not None:
            sources.setdefault(source, []).append(account)
    return sources


def read_entitlements(accounts: Iterable[AccountRecord]) -> None:
    """Read now, in a few queries, the entitlements of those of ACCOUNTS a sync has not read
    yet, for a pass about to read them all."""
    for source, deferred in by_deferred_source(accounts).items():
        source.read_grants_many(deferred)


def account_order(account: AccountRecord) -> tuple[bool, str, str]:
    """The order in which a person's accounts of one app are read when one must be chosen
    (`accounts.ad`, an attribute's direct source): enabled first, then by app and id. The
    order they were loaded or imported in differs between runs (hostile review: a person with
    two GitHub accounts got one or the other's username, run to run)."""
    return (account.status.upper() != "ENABLED", account.app_id, account.external_id)


class StoredJson:
    """A JSON column's value as the store holds it: text, not decoded yet (`_StoredJsonSlot`)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def json_text(value: Any) -> str:
    """A value as the store writes a JSON column (engine.store.db writes with it): the text a
    `StoredJson` of a record Roster wrote holds."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class _StoredJsonSlot:
    """AccountRecord.profile and UserRecord.attributes: the mapping, decoded from the store's
    JSON text on first read.

    A sync loads every account and person (580,000 and 100,000 at 100,000 people) but reads
    the profiles and attributes of the few whose data changed; decoding them all was most of
    loading the store, and most of its memory. The store's reader (engine.store.rows) puts a
    `StoredJson` in the slot; the first read, by any means (attribute, getattr, dataclasses'
    __eq__, replace and asdict, orjson), decodes it and keeps the value. Every reader sees the
    decoded value; only the slot itself (`stored`) ever gives the text."""

    __slots__ = ("_slot", "_whose")

    def __init__(self, slot: Any, whose: Any) -> None:
        self._slot = slot
        self._whose = whose  # record -> what the error names ("profile of account …")

    def __get__(self, record: Any, owner: Any = None) -> Any:
        if record is None:
            return self
        value = self._slot.__get__(record, owner)
        if value.__class__ is StoredJson:
            try:
                value = orjson.loads(value.text) or {}
            except orjson.JSONDecodeError as exc:
                raise DamagedRecord(
                    f"The identity store's {self._whose(record)} cannot be read as JSON "
                    f"({exc}): the store was changed outside Roster. Nothing more was done; "
                    "restore the store from a backup."
                ) from None
            # two threads reading an unread record at once both decode it; either result
            # is kept (equal mappings: nothing holds on to the other)
            self._slot.__set__(record, value)
        return value

    def __set__(self, record: Any, value: Any) -> None:
        self._slot.__set__(record, value)

    def stored(self, record: Any) -> Any:
        """What the slot holds: the decoded value, or the `StoredJson` not read yet."""
        return self._slot.__get__(record, type(record))


AccountRecord.profile = _StoredJsonSlot(  # type: ignore[assignment,misc]
    AccountRecord.__dict__["profile"],
    lambda a: f"profile of account {a.app_id}:{a.external_id} (id {a.id})",
)


@dataclass(slots=True)
class UserRecord:
    """A person. `attributes` holds every standard and custom attribute by name."""

    id: int
    email: str = ""
    emails: list[str] = field(default_factory=list)
    username: str = ""
    usernames: list[str] = field(default_factory=list)
    display_name: str = ""
    given_name: str = ""
    family_name: str = ""
    employee_id: str = ""
    employee_ids: list[str] = field(default_factory=list)
    status: str = "ENABLED"
    type: str = "USER"
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def manager_email(self) -> str:
        value = self.attributes.get("manager_email") or []
        if isinstance(value, list):
            return value[0] if value else ""
        return str(value)


UserRecord.attributes = _StoredJsonSlot(  # type: ignore[assignment,misc]
    UserRecord.__dict__["attributes"],
    lambda u: f"attributes of person {u.email or u.display_name or '?'} (id {u.id})",
)


def manager_emails(attributes: dict[str, Any]) -> list[str]:
    """The emails a person's `manager_email` attribute names (one or several)."""
    managers = attributes.get("manager_email") or []
    return [m for m in (managers if isinstance(managers, list) else [managers]) if m]


def live(users: Iterable[UserRecord | None]) -> list[UserRecord]:
    """The people who are someone now: a person removed (DELETED, kept for the record) is
    nobody's manager or report and matches no lookup, as in a store that never knew them (a
    lookup finding them gave a synced store other values than a new one built from the same
    files; hostile review). CEL's lookups of other people take only these."""
    return [u for u in users if u is not None and u.status != "DELETED"]


def managers_of(directory: Directory, user: UserRecord) -> list[UserRecord]:
    """The people `user`'s manager_email names, as DIRECTORY finds them by email."""
    found: list[UserRecord] = []
    for manager in manager_emails(user.attributes):
        found.extend(directory.users_by_email(manager))
    return found


class Directory(Protocol):
    """The lookups CEL's `c1.*` functions and previews make: answered by a loaded Population
    (a sync, a preview over everyone) or, one query at a time, by the store
    (engine.store.directory: a preview of one record must not load everyone first)."""

    def user_by_id(self, user_id: int | str) -> UserRecord | None: ...
    def users_by_email(self, email: str) -> list[UserRecord]: ...
    def users_by_name(self, name: str) -> list[UserRecord]: ...
    def accounts_of(self, user_id: int) -> list[AccountRecord]: ...
    def account(self, app_id: str, external_id: str) -> AccountRecord | None: ...
    def account_by_id(self, account_id: int) -> AccountRecord | None: ...
    def managers_of(self, user: UserRecord) -> list[UserRecord]: ...
    def direct_reports(self, user: UserRecord) -> list[UserRecord]: ...
    def entitlement_members(self, app_id: str, entitlement_id: str) -> list[UserRecord]: ...
    def entitlement_label(self, app_id: str, entitlement_id: str) -> str | None: ...
    def entitlement_named(self, app_id: str, label: str) -> str | None: ...
    def profile_keys(self, kind: str, app_id: str | None = None) -> set[str]: ...
    def app_ids(self) -> set[str]: ...
    def has_users(self) -> bool: ...


class Population:
    """Every user and account, indexed for the lookups CEL functions and previews need.

    Built once per preview or sync from the store (or from lists in tests); read-only after.
    """

    def __init__(
        self,
        users: Iterable[UserRecord] = (),
        accounts: Iterable[AccountRecord] = (),
        entitlement_names: dict[tuple[str, str], str] | None = None,
        by_owner: dict[int, list[AccountRecord]] | None = None,
        first_new_id: int | None = None,
    ) -> None:
        """`by_owner`: ACCOUNTS grouped by owner in their order, when the caller has it.
        `first_new_id`: in a sync, the id the store will give the first person the run
        created (they hold the run's own ids, -1, -2, … until written: `stored_id`)."""
        self.users: list[UserRecord] = list(users)
        self.first_new_id = first_new_id
        self.accounts: list[AccountRecord] = list(accounts)
        self.entitlement_names = entitlement_names or {}
        if by_owner is not None:
            self.__dict__["_accounts_of"] = by_owner  # the cached_property's own slot

    # The indexes are built when a lookup first needs one: a stage whose expressions never
    # ask the directory (no c1.* function, no `subject.accounts`) never pays for them, and a
    # sync builds a population after each stage that changes who is who.
    @cached_property
    def _by_id(self) -> dict[int, UserRecord]:
        return {u.id: u for u in self.users}

    @cached_property
    def _by_account_id(self) -> dict[int, AccountRecord]:
        return {a.id: a for a in self.accounts}

    @cached_property
    def _people_keys(self) -> tuple[dict[str, list[UserRecord]], dict[str, list[UserRecord]]]:
        by_email: dict[str, list[UserRecord]] = defaultdict(list)
        by_name: dict[str, list[UserRecord]] = defaultdict(list)
        for user in self.users:
            for email in {norm_key(e) for e in [user.email, *user.emails] if e}:
                by_email[email].append(user)
            if user.display_name:
                by_name[norm_key(user.display_name)].append(user)
        return by_email, by_name

    @cached_property
    def _accounts_of(self) -> dict[int, list[AccountRecord]]:
        owned: dict[int, list[AccountRecord]] = defaultdict(list)
        for account in self.accounts:
            if account.owner_id is not None:
                owned[account.owner_id].append(account)
        return owned

    @cached_property
    def _account_by_key(self) -> dict[tuple[str, str], AccountRecord]:
        return {(a.app_id, a.external_id): a for a in self.accounts}

    @cached_property
    def _members(self) -> dict[tuple[str, str], list[UserRecord]]:
        members: dict[tuple[str, str], list[UserRecord]] = defaultdict(list)
        by_id = self._by_id
        read_entitlements(self.accounts)  # a sync's: an app's in one query, not one each
        for account in self.accounts:
            owner = by_id.get(account.owner_id) if account.owner_id is not None else None
            if owner is not None:
                for ent in account.entitlements:
                    members[(account.app_id, ent)].append(owner)
        return members

    @cached_property
    def _reports(self) -> dict[str, list[UserRecord]]:
        reports: dict[str, list[UserRecord]] = defaultdict(list)
        for user in self.users:
            for manager in manager_emails(user.attributes):
                reports[norm_key(manager)].append(user)
        return reports

    # Lookups used by CEL's c1.* functions and by previews.
    def user_by_id(self, user_id: int | str) -> UserRecord | None:
        wanted = user_id if isinstance(user_id, int) else whole_number(str(user_id))
        if wanted is None:
            return None
        first = self.first_new_id
        if first is not None and wanted >= first:  # a new person, by the id they will have
            wanted = first - wanted - 1
        elif first is not None and wanted < 0:  # the run's own ids are not for CEL
            return None
        return self._by_id.get(wanted)

    def stored_id(self, user_id: int) -> int:
        """The id USER_ID has, or will have once the sync writes them: what CEL shows."""
        first = self.first_new_id
        return first - user_id - 1 if first is not None and user_id < 0 else user_id

    def users_by_email(self, email: str) -> list[UserRecord]:
        return list(self._people_keys[0].get(norm_key(email), ()))

    def users_by_name(self, name: str) -> list[UserRecord]:
        return list(self._people_keys[1].get(norm_key(name), ()))

    def accounts_of(self, user_id: int) -> list[AccountRecord]:
        return list(self._accounts_of.get(user_id, ()))

    def account(self, app_id: str, external_id: str) -> AccountRecord | None:
        return self._account_by_key.get((app_id, external_id))

    def managers_of(self, user: UserRecord) -> list[UserRecord]:
        return managers_of(self, user)

    def direct_reports(self, user: UserRecord) -> list[UserRecord]:
        seen: dict[int, UserRecord] = {}
        for email in [user.email, *user.emails]:
            for report in self._reports.get(norm_key(email), ()):
                seen.setdefault(report.id, report)
        return list(seen.values())

    def account_by_id(self, account_id: int) -> AccountRecord | None:
        return self._by_account_id.get(account_id)

    def entitlement_members(self, app_id: str, entitlement_id: str) -> list[UserRecord]:
        return list(self._members.get((app_id, entitlement_id), ()))

    def entitlement_label(self, app_id: str, entitlement_id: str) -> str | None:
        return self.entitlement_names.get((app_id, entitlement_id))

    def entitlement_named(self, app_id: str, label: str) -> str | None:
        """The id of the app's entitlement whose name is `label` (compared as keys are)."""
        wanted = norm_key(label)
        for (app_key, ent_key), name in self.entitlement_names.items():
            if app_key == app_id and norm_key(name) == wanted:
                return ent_key
        return None

    def app_ids(self) -> set[str]:
        """The apps any account is in."""
        return {a.app_id for a in self.accounts}

    def has_users(self) -> bool:
        return bool(self.users)

    def profile_keys(self, kind: str, app_id: str | None = None) -> set[str]:
        """Every profile key (kind="account") or attribute name (kind="user") any record has;
        with `app_id`, the profile keys of that app's accounts only."""
        keys: set[str] = set()
        if kind == "account":
            for account in self.accounts:
                if app_id is None or account.app_id == app_id:
                    keys.update(account.profile)
        else:
            for user in self.users:
                keys.update(user.attributes)
        return keys


def record_label(record: UserRecord | AccountRecord) -> str:
    """How a record is named in previews and messages: `app:external_id (name)`, an email."""
    if isinstance(record, AccountRecord):
        name = record.display_name or record.email or record.username
        return f"{record.app_id}:{record.external_id}" + (f" ({name})" if name else "")
    return record.email or record.display_name or f"user {record.id}"
