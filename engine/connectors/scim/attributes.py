"""SCIM User attributes as Roster sees them (RFC 7643 §4.1 and the enterprise extension §4.3):
one flat name per attribute (`givenName`, `department`), its SCIM path (`name.givenName`,
`urn:…:enterprise:2.0:User:department`), the push and creation schemas built from them, and a
User resource turned into a ListedAccount.

Flat names keep configuration paths simple (`apps.saas.provisioning.fields.givenName`) and are
the account's profile keys, so a push rule compares against what the import stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.connectors.base import Capabilities, ListedAccount, SchemaField

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
WORK_EMAIL_PATH = 'emails[type eq "work"].value'


@dataclass(frozen=True)
class Attribute:
    key: str  # Roster's flat name: the push target, the creation field, the profile key
    path: str  # the SCIM path a PATCH names
    display: str
    type: str = "string"
    max_length: int | None = None
    description: str = ""
    placeholder: str = ""


def _core(key: str, display: str, description: str, **kw: Any) -> Attribute:
    return Attribute(key, kw.pop("path", key), display, description=description, **kw)


def _enterprise(key: str, display: str, description: str, **kw: Any) -> Attribute:
    return Attribute(key, f"{ENTERPRISE}:{key}", display, description=description, **kw)


ATTRIBUTES: tuple[Attribute, ...] = (
    _core("userName", "User name", "Unique sign-in name.", placeholder="ann.lee@example.com"),
    _core("displayName", "Display name", "Name shown to people.", placeholder="Ann Lee"),
    _core("givenName", "First name", "name.givenName.", path="name.givenName", placeholder="Ann"),
    _core("familyName", "Last name", "name.familyName.", path="name.familyName", placeholder="Lee"),
    _core(
        "email",
        "Work email",
        "The work address (emails of type work).",
        path=WORK_EMAIL_PATH,
        placeholder="ann.lee@example.com",
    ),
    _core("nickName", "Nickname", "Casual name."),
    _core("title", "Job title", "Job title."),
    _core("userType", "User type", "Employee, Contractor, Intern..."),
    _core("preferredLanguage", "Preferred language", "e.g. en-GB.", placeholder="en-GB"),
    _core("locale", "Locale", "e.g. en-GB.", placeholder="en-GB"),
    _core("timezone", "Time zone", "IANA name, e.g. Europe/London.", placeholder="Europe/London"),
    _core("profileUrl", "Profile URL", "Link to the person's profile."),
    _core("externalId", "External id", "The provisioning client's id for the user."),
    _core("active", "Active", "Whether the user can sign in.", type="bool"),
    _enterprise("employeeNumber", "Employee number", "From HR.", placeholder="E10001"),
    _enterprise("department", "Department", "Department."),
    _enterprise("costCenter", "Cost centre", "Cost centre."),
    _enterprise("organization", "Organisation", "Organisation."),
    _enterprise("division", "Division", "Division."),
    Attribute(
        "manager",
        f"{ENTERPRISE}:manager",
        "Manager",
        description="The manager's SCIM id (the value of manager).",
    ),
)
BY_KEY: dict[str, Attribute] = {a.key: a for a in ATTRIBUTES}

# an attribute path before a SCIM filter operator (RFC 7644 3.4.2.2) or a value filter's
# bracket: `userType eq "x"`, `name.familyName sw "L"`, `urn:…:User:department pr`,
# `emails[type eq "work"]`
_COMPARED = re.compile(
    r"([A-Za-z][\w$-]*(?::[\w.$-]+)*(?:\.[A-Za-z][\w$-]*)?)"
    r"(?:\s+(?:eq|ne|co|sw|ew|gt|lt|ge|le|pr)\b|\[)",
    re.IGNORECASE,
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"\[[^\]]*\]")
_CORE_PREFIX = "urn:ietf:params:scim:schemas:core:2.0:user:"


def _plain(path: str) -> str:
    """A SCIM path as a filter may write it, reduced to compare: no value filter, no core
    schema URN, no `.value` of a multi-valued or complex attribute, any case."""
    folded = _BRACKETS.sub("", path).casefold().removeprefix(_CORE_PREFIX)
    return folded.removesuffix(".value")


def filter_fields(text: str) -> tuple[str, ...]:
    """The creation fields a SCIM filter reads, in order, by Roster's flat names; an attribute
    with no creation field as the filter writes it (Roster cannot set it when it creates)."""
    found: list[str] = []
    # a compared value is no attribute ("a eq b"), nor what a value filter compares inside
    # its brackets (emails[type eq "work"] reads emails)
    text = _STRINGS.sub('""', text)
    while True:  # the innermost brackets first: what precedes them is read, not their inside
        names = [m.group(1) for m in _COMPARED.finditer(text) if text[m.end() - 1] == "["]
        found_here = _BRACKETS.sub("", text)
        if found_here == text:
            break
        for name in names:
            _add(found, name)
        text = found_here
    for match in _COMPARED.finditer(text):
        _add(found, match.group(1))
    return tuple(found)


def _add(found: list[str], path: str) -> None:
    plain = _plain(path)
    attribute = next((a for a in ATTRIBUTES if plain in (a.key.casefold(), _plain(a.path))), None)
    name = attribute.key if attribute is not None else path
    if name not in found:
        found.append(name)


def _fields(keys: tuple[str, ...], required: tuple[str, ...] = ()) -> tuple[SchemaField, ...]:
    return tuple(
        SchemaField(
            key=a.key,
            display_name=a.display,
            type=a.type,
            required=a.key in required,
            description=a.description,
            placeholder=a.placeholder,
            order=order,
            default=True if a.key == "active" and required else None,
            max_length=a.max_length,
        )
        for order, a in enumerate((BY_KEY[k] for k in keys), start=1)
    )


PUSH_SCHEMA = _fields(tuple(BY_KEY))
CREATION_SCHEMA = (
    *_fields(tuple(BY_KEY), required=("userName",)),
    SchemaField(
        key="groups",
        display_name="Groups",
        type="string_list",
        description="SCIM ids of the Groups to add the new user to.",
        order=len(BY_KEY) + 1,
        default=[],
    ),
)
CAPABILITIES = Capabilities(
    directory=True, push=True, custom_push_attributes=False, provisioning=True
)
# Creation fields that are instructions to the connector, not User attributes.
NOT_ATTRIBUTES = ("groups",)


# --- reading ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _emails(user: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(the work or primary address, every address) of a User."""
    items = [e for e in user.get("emails") or [] if isinstance(e, Mapping) and e.get("value")]
    ranked = sorted(items, key=lambda e: (e.get("type") != "work", e.get("primary") is not True))
    values = [_text(e.get("value")) for e in items]
    return (_text(ranked[0].get("value")) if ranked else ""), values


def profile_of(user: Mapping[str, Any]) -> dict[str, Any]:
    """A User's attributes under their flat names, only those it has."""
    name = user.get("name") if isinstance(user.get("name"), Mapping) else {}
    enterprise = user.get(ENTERPRISE) if isinstance(user.get(ENTERPRISE), Mapping) else {}
    assert isinstance(name, Mapping) and isinstance(enterprise, Mapping)
    manager = enterprise.get("manager")
    values: dict[str, Any] = {
        "givenName": name.get("givenName"),
        "familyName": name.get("familyName"),
        "email": _emails(user)[0] or None,
        "manager": manager.get("value") if isinstance(manager, Mapping) else None,
    }
    for attribute in ATTRIBUTES:
        if attribute.key in values:
            continue
        source = enterprise if attribute.path.startswith(ENTERPRISE) else user
        values[attribute.key] = source.get(attribute.key)
    if isinstance(manager, Mapping) and manager.get("displayName"):
        values["managerDisplayName"] = manager.get("displayName")
    return {k: v for k, v in values.items() if v is not None and v != ""}


def account_from_user(user: Mapping[str, Any]) -> ListedAccount:
    """A SCIM User (as JSON) as Roster lists an account."""
    profile = profile_of(user)
    name = user.get("name") if isinstance(user.get("name"), Mapping) else {}
    assert isinstance(name, Mapping)
    email, emails = _emails(user)
    return ListedAccount(
        external_id=_text(user.get("id")),
        display_name=_text(user.get("displayName") or name.get("formatted")),
        given_name=_text(name.get("givenName")),
        family_name=_text(name.get("familyName")),
        email=email,
        emails=[e for e in emails if e != email],
        username=_text(user.get("userName")),
        employee_ids=[_text(profile["employeeNumber"])] if "employeeNumber" in profile else [],
        # RFC 7643 §4.1.1: a User without `active` is not said to be disabled
        status="DISABLED" if user.get("active") is False else "ENABLED",
        manager=_text(profile.get("manager")),
        profile=profile,
    )


# --- writing ---------------------------------------------------------------------------------


def patch_operation(key: str, value: Any) -> dict[str, Any]:
    """One PATCH operation setting (or, for None, removing) a flat attribute."""
    attribute = BY_KEY[key]
    if value is None:
        return {"op": "remove", "path": attribute.path}
    if key == "manager":
        value = {"value": value}
    return {"op": "replace", "path": attribute.path, "value": value}


def add_work_email(value: str) -> dict[str, Any]:
    """The operation that gives a user without a work address one (RFC 7644 §3.5.2.3: replacing
    through a filter that matches nothing is a `noTarget` error)."""
    return {"op": "add", "path": "emails", "value": [{"value": value, "type": "work"}]}


def user_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """A new User (as JSON) from checked creation values."""
    body: dict[str, Any] = {"schemas": [USER_SCHEMA]}
    name: dict[str, Any] = {}
    enterprise: dict[str, Any] = {}
    for key, value in values.items():
        if key in NOT_ATTRIBUTES:
            continue
        attribute = BY_KEY[key]
        if key in ("givenName", "familyName"):
            name[key] = value
        elif key == "email":
            body["emails"] = [{"value": value, "type": "work", "primary": True}]
        elif key == "manager":
            enterprise["manager"] = {"value": value}
        elif attribute.path.startswith(ENTERPRISE):
            enterprise[key] = value
        else:
            body[key] = value
    if name:
        body["name"] = name
    if enterprise:
        body["schemas"].append(ENTERPRISE)
        body[ENTERPRISE] = enterprise
    return body
