"""User and account records as CEL values.

A record object is a CEL map whose fields are converted lazily: the first time an expression
reads `subject.department` the value is converted and kept, so a record is converted once,
only as far as the rules touch it, and shared by every rule. Every field answers to its
camelCase name and to its snake_case aliases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from celpy import celtypes

from engine.records import STANDARD_ATTRIBUTES, AccountRecord, UserRecord, live

from .values import (
    EMPTY,
    ProfileMap,
    StatusValue,
    StringType,
    make_string,
    profile_map,
    to_python,
)

if TYPE_CHECKING:
    from engine.records import Directory

Getter = Callable[[Any, "Directory | None"], Any]


def _text(value: Any) -> StringType:
    if value is None:
        return EMPTY
    if value.__class__ is str:
        return make_string(value)
    if isinstance(value, list):
        return make_string(str(value[0])) if value else EMPTY
    return make_string(str(value))


def _strings(*groups: Any) -> celtypes.ListType:
    """Non-empty strings from values and lists of values, in order, without duplicates."""
    seen: dict[str, None] = {}
    for group in groups:
        for item in group if isinstance(group, list | tuple) else [group]:
            if item not in (None, "") and item not in seen:
                seen[str(item)] = None
    return celtypes.ListType(map(make_string, seen))


def _attr(name: str) -> Getter:
    def getter(record: UserRecord, population: Directory | None) -> Any:
        return _text(record.attributes.get(name))

    getter.reads_attribute = name  # type: ignore[attr-defined]  # (see CelRecord.__missing__)
    return getter


def _stored_id(record: UserRecord, population: Directory | None) -> int:
    """A person's id as the store has it, or will once a sync writes the person it created
    (engine.records.Population.stored_id): never the run's own."""
    if record.id < 0:
        stored_id = getattr(population, "stored_id", None)
        if stored_id is not None:
            return int(stored_id(record.id))
    return int(record.id)


def _user_manager_id(record: UserRecord, population: Directory | None) -> Any:
    email = record.manager_email
    if not email or population is None:
        return EMPTY
    found = live(population.users_by_email(email))
    return make_string(str(_stored_id(found[0], population))) if found else EMPTY


_user_manager_id.reads_attribute = "manager_email"  # type: ignore[attr-defined]


def _user_profile(record: UserRecord, population: Directory | None) -> ProfileMap:
    """Everything known about the user: the core fields and every attribute."""
    result = profile_map(record.attributes)
    core = {
        "id": make_string(str(_stored_id(record, population))),
        "email": make_string(record.email),
        "emails": _user_emails(record, population),
        "username": make_string(record.username),
        "usernames": _user_usernames(record, population),
        "displayName": make_string(record.display_name),
        "givenName": make_string(record.given_name),
        "familyName": make_string(record.family_name),
        "employeeId": _user_employee_id(record, population),
        "employeeIds": _user_employee_ids(record, population),
        "status": StatusValue.of(record.status),
        "type": StatusValue.of(record.type),
    }
    result.update(core)
    return result


def _user_attributes(record: UserRecord, population: Directory | None) -> ProfileMap:
    return profile_map({k: v for k, v in record.attributes.items() if k not in STANDARD_ATTRIBUTES})


def _user_emails(record: UserRecord, population: Directory | None) -> Any:
    return _strings(record.email, record.emails, record.attributes.get("additional_email"))


def _user_usernames(record: UserRecord, population: Directory | None) -> Any:
    return _strings(record.username, record.usernames, record.attributes.get("additional_username"))


def _user_employee_id(record: UserRecord, population: Directory | None) -> Any:
    return _text(record.attributes.get("employee_id") or record.employee_id)


def _user_employee_ids(record: UserRecord, population: Directory | None) -> Any:
    return _strings(record.attributes.get("employee_id"), record.employee_id, record.employee_ids)


def _field(name: str, convert: Callable[[Any], Any] = make_string) -> Getter:
    def getter(record: Any, population: Directory | None) -> Any:
        return convert(getattr(record, name))

    return getter


# canonical name -> (getter, aliases)
USER_FIELDS: dict[str, tuple[Getter, tuple[str, ...]]] = {
    "id": (lambda r, p: make_string(str(_stored_id(r, p))), ("user_id", "userId")),
    "email": (_field("email"), ()),
    "emails": (_user_emails, ()),
    "username": (_field("username"), ("user_name", "userName")),
    "usernames": (_user_usernames, ("user_names",)),
    "displayName": (_field("display_name"), ("display_name", "name")),
    "givenName": (_field("given_name"), ("given_name", "first_name", "firstName")),
    "familyName": (_field("family_name"), ("family_name", "last_name", "lastName")),
    "department": (_attr("department"), ()),
    "jobTitle": (_attr("job_title"), ("job_title", "title")),
    "employmentType": (_attr("employment_type"), ("employment_type",)),
    "employmentStatus": (_attr("employment_status"), ("employment_status",)),
    "employeeId": (_user_employee_id, ("employee_id",)),
    "employeeIds": (_user_employee_ids, ("employee_ids",)),
    "directoryStatus": (_attr("directory_status"), ("directory_status",)),
    "status": (lambda r, p: StatusValue.of(r.status), ("user_status", "userStatus")),
    "type": (lambda r, p: StatusValue.of(r.type), ("user_type", "userType")),
    "manager": (lambda r, p: _text(r.manager_email), ("manager_email", "managerEmail")),
    "managerId": (_user_manager_id, ("manager_id",)),
    "profile": (_user_profile, ()),
    "attributes": (_user_attributes, ()),
}


def empty_user_fields(
    names: AbstractSet[str], record: UserRecord, population: Directory | None
) -> list[str]:
    """Of the person's fields an expression names (`Program.names`), those empty for RECORD,
    by their canonical names: why a field that needs a value got none ("their email is
    empty"). The profile and attributes maps are not fields in that sense: left out."""
    empty = []
    for canonical, (getter, aliases) in USER_FIELDS.items():
        if canonical in ("profile", "attributes") or names.isdisjoint((canonical, *aliases)):
            continue
        value = to_python(getter(record, population))
        if value is None or value == "" or value == []:
            empty.append(canonical)
    return empty


# The attributes a field shows among other data (the rest show one: `reads_attribute`).
_FIELDS_SHOWING = {
    "manager": ("manager_email",),
    "employeeId": ("employee_id",),
    "employeeIds": ("employee_id",),
    "emails": ("additional_email",),
    "usernames": ("additional_username",),
}


def names_of_attribute(attribute: str) -> frozenset[str]:
    """The names by which CEL reads a person's ATTRIBUTE: its own (`subject.attributes.NAME`,
    `subject.profile.NAME`) and those of the fields that show it (`jobTitle`, `managerId`)."""
    names = {attribute}
    for canonical, (getter, aliases) in USER_FIELDS.items():
        shown = _FIELDS_SHOWING.get(canonical, (getattr(getter, "reads_attribute", None),))
        if attribute in shown:
            names.update((canonical, *aliases))
    return frozenset(names)


ACCOUNT_FIELDS: dict[str, tuple[Getter, tuple[str, ...]]] = {
    "id": (lambda r, p: make_string(str(r.id)), ("account_id", "accountId")),
    "appId": (_field("app_id"), ("app_id",)),
    "externalId": (_field("external_id"), ("external_id",)),
    "displayName": (_field("display_name"), ("display_name", "name")),
    "givenName": (_field("given_name"), ("given_name", "first_name", "firstName")),
    "familyName": (_field("family_name"), ("family_name", "last_name", "lastName")),
    "email": (_field("email"), ()),
    "emails": (lambda r, p: _strings(r.email, r.emails), ()),
    "username": (_field("username"), ("user_name", "userName")),
    "usernames": (lambda r, p: _strings(r.username, r.usernames), ("user_names",)),
    "employeeIds": (lambda r, p: _strings(r.employee_ids), ("employee_ids",)),
    "status": (lambda r, p: StatusValue.of(r.status), ("user_status", "userStatus")),
    "type": (lambda r, p: StatusValue.of(r.type), ("app_user_type", "appUserType", "user_type")),
    "profile": (lambda r, p: profile_map(r.profile), ()),
    "entitlements": (lambda r, p: _strings(r.entitlements), ("entitlement_ids",)),
    "manager": (_field("manager"), ()),
}


#: The AccountRecord fields each of CEL's account fields reads (engine.cel.checker's
#: `account_reads`)
ACCOUNT_FIELD_SOURCES: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "appId": ("app_id",),
    "externalId": ("external_id",),
    "displayName": ("display_name",),
    "givenName": ("given_name",),
    "familyName": ("family_name",),
    "email": ("email",),
    "emails": ("email", "emails"),
    "username": ("username",),
    "usernames": ("username", "usernames"),
    "employeeIds": ("employee_ids",),
    "status": ("status",),
    "type": ("type",),
    "profile": (),  # its keys, or the whole profile (the checker tells)
    "entitlements": ("entitlements",),
    "manager": ("manager",),
}
assert ACCOUNT_FIELD_SOURCES.keys() == ACCOUNT_FIELDS.keys()

#: The names by which CEL reads an account's id (a new account's is the run's own until written).
ACCOUNT_ID_NAMES = frozenset(("id", *ACCOUNT_FIELDS["id"][1]))


def _getters(fields: dict[str, tuple[Getter, tuple[str, ...]]]) -> dict[str, Getter]:
    table: dict[str, Getter] = {}
    for name, (getter, aliases) in fields.items():
        table[name] = getter
        for alias in aliases:
            table[alias] = getter
    return table


# Which names of an object lead to a map with open keys, a status, another object.
FIELD_KINDS: dict[str, dict[str, str]] = {
    "user": {
        "profile": "profile:user",
        "attributes": "attributes",
        "status": "status",
        "type": "status",
    },
    "account": {"profile": "profile:account", "status": "status", "type": "status"},
}


class CelRecord(celtypes.MapType):
    """Base of user and account objects: a CEL map filled on first access per field."""

    kind = ""
    _getters: dict[str, Getter] = {}
    _canonical: tuple[str, ...] = ()

    def __init__(self, record: Any, population: Directory | None) -> None:
        self._record = record
        self._population = population

    def __missing__(self, key: Any) -> Any:
        getter = self._getters.get(key)
        if getter is None:
            raise KeyError(key)
        value = getter(self._record, self._population)
        dict.__setitem__(self, key, value)
        # a sync that notes what its expressions read of other people is told each field
        # (engine/sync/reads.py): the getter's `reads_attribute` names the one value it reads
        watch = getattr(self._population, "note_field", None)
        if watch is not None:
            watch(self._record, getter)
        return value

    # The transpiled code reads fields with `.get(name)`: straight to dict lookup in C.
    get = dict.__getitem__  # type: ignore[assignment]
    if TYPE_CHECKING:  # keyed by field name (a str), as celtypes.MapType declares it

        def __getitem__(self, key: Any) -> Any: ...
    else:
        __getitem__ = dict.__getitem__

    @property
    def record(self) -> Any:
        return self._record

    def fields(self) -> dict[str, Any]:
        return {name: self[name] for name in self._canonical}

    def plain(self) -> dict[str, Any]:
        return {name: to_python(value) for name, value in self.fields().items()}

    def __contains__(self, key: object) -> bool:
        return key in self._getters

    def __iter__(self) -> Iterator[Any]:
        return iter(self._canonical)

    def __len__(self) -> int:
        return len(self._canonical)

    def keys(self) -> Any:
        return self.fields().keys()

    def items(self) -> Any:
        return self.fields().items()

    def values(self) -> Any:
        return self.fields().values()

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, CelRecord):
            return self.kind == other.kind and self._record.id == other._record.id
        if isinstance(other, dict):
            return celtypes.MapType.__eq__(celtypes.MapType(self.fields()), other)
        if other is None:
            return False
        raise TypeError("no such overload")

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{self.kind} {self._record.id}>"


class UserObject(CelRecord):
    kind = "user"
    _getters = _getters(USER_FIELDS)
    _canonical = tuple(USER_FIELDS)


class AccountObject(CelRecord):
    kind = "account"
    _getters = _getters(ACCOUNT_FIELDS)
    _canonical = tuple(ACCOUNT_FIELDS)


def field_names(kind: str, *, aliases: bool = True) -> list[str]:
    """Fields of "user" / "account" objects, camelCase first, then (`aliases`) the other
    names each is also read by (snake_case, other apps' words)."""
    fields = USER_FIELDS if kind == "user" else ACCOUNT_FIELDS if kind == "account" else {}
    names = list(fields)
    for _getter, also in fields.values() if aliases else ():
        names.extend(alias for alias in also if alias not in names)
    return names


def field_table(kind: str) -> dict[str, Getter]:
    return UserObject._getters if kind == "user" else AccountObject._getters


def canonical_field(kind: str, name: str) -> str:
    fields = USER_FIELDS if kind == "user" else ACCOUNT_FIELDS
    for canonical, (_getter, aliases) in fields.items():
        if name == canonical or name in aliases:
            return canonical
    return name


__all__ = [
    "AccountObject",
    "AccountRecord",
    "CelRecord",
    "UserObject",
    "UserRecord",
    "field_names",
]
