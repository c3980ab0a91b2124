"""Push and account-creation schemas of the directory flavours Roster knows (docs/push-rules.md).

A flavour names a real product: its attribute names and limits are that product's, so a push
rule written against the demo works unchanged against a real Active Directory or Entra ID.
Plain apps (no flavour) declare their own schemas in their settings, in the same shape as
`SchemaField`; see `schema_from_settings`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from engine.connectors.base import FIELD_TYPES, Capabilities, SchemaField
from engine.errors import Problem

ACTIVE_DIRECTORY = "active_directory"
ENTRA_ID = "entra_id"
FLAVOURS = (ACTIVE_DIRECTORY, ENTRA_ID)


def schema_fields(rows: Iterable[tuple[Any, ...]]) -> tuple[SchemaField, ...]:
    """Build fields from (key, display name, type, max length, description[, required, default,
    placeholder]) rows, numbering them in order."""
    fields = []
    for order, row in enumerate(rows, start=1):
        key, display, type_, max_length, description, *rest = row
        required = rest[0] if len(rest) > 0 else False
        default = rest[1] if len(rest) > 1 else None
        placeholder = rest[2] if len(rest) > 2 else ""
        fields.append(
            SchemaField(
                key=key,
                display_name=display,
                type=type_,
                required=required,
                description=description,
                placeholder=placeholder,
                order=order,
                default=default,
                max_length=max_length,
            )
        )
    return tuple(fields)


def unique(fields: tuple[SchemaField, ...], *keys: str) -> tuple[SchemaField, ...]:
    """FIELDS with those named KEYS marked unique (SchemaField.unique)."""
    return tuple(replace(f, unique=True) if f.key in keys else f for f in fields)


def ad_distinguished_name(values: Mapping[str, Any]) -> str | None:
    """The distinguished name AD gives a new account of these creation VALUES (CN=displayName
    in its `ou`), which AD takes once; None without an `ou` or a sAMAccountName (not AD's)."""
    sam, ou = values.get("sAMAccountName"), values.get("ou")
    if not sam or not ou:
        return None
    cn = str(values.get("displayName") or sam).replace(",", "\\,")
    return f"CN={cn},{ou}"


def formatted(fields: tuple[SchemaField, ...], **formats: str) -> tuple[SchemaField, ...]:
    """FIELDS with the format of each named (SchemaField.format)."""
    return tuple(replace(f, format=formats[f.key]) if f.key in formats else f for f in fields)


def _extension_attributes() -> list[tuple[Any, ...]]:
    return [
        (
            f"extensionAttribute{n}",
            f"Extension attribute {n}",
            "string",
            1024,
            f"Free custom attribute {n} (Exchange extensionAttribute{n}).",
        )
        for n in range(1, 16)
    ]


# --- Active Directory -------------------------------------------------------------------------

AD_PUSH_SCHEMA = schema_fields(
    [
        ("givenName", "First name", "string", 64, "Given name."),
        ("sn", "Last name", "string", 64, "Surname (sn)."),
        ("displayName", "Display name", "string", 256, "Name shown in address lists."),
        ("mail", "Email", "string", 256, "Primary SMTP address."),
        ("title", "Job title", "string", 128, "Job title."),
        ("department", "Department", "string", 64, "Department."),
        ("employeeID", "Employee ID", "string", 16, "Employee number from HR."),
        ("company", "Company", "string", 64, "Company name."),
        ("c", "Country code", "string", 3, "ISO 3166 country code (two letters, e.g. GB)."),
        ("co", "Country", "string", 128, "Country name."),
        ("l", "City", "string", 128, "City (locality)."),
        ("physicalDeliveryOfficeName", "Office", "string", 128, "Office name."),
        ("telephoneNumber", "Telephone", "string", 64, "Main telephone number."),
        ("mobile", "Mobile", "string", 64, "Mobile telephone number."),
        ("manager", "Manager", "string", 1024, "The manager (email in the demo, DN in AD)."),
        ("description", "Description", "string", 1024, "Free description."),
        *_extension_attributes(),
    ]
)

AD_CREATION_SCHEMA = formatted(
    unique(
        schema_fields(
            [
                (
                    "sAMAccountName",
                    "Logon name",
                    "string",
                    20,
                    "Pre-Windows 2000 logon name; the account's id.",
                    True,
                    None,
                    "ann.lee",
                ),
                (
                    "userPrincipalName",
                    "User principal name",
                    "string",
                    1024,
                    "Logon name in email form.",
                    True,
                    None,
                    "ann.lee@example.com",
                ),
                (
                    "displayName",
                    "Display name",
                    "string",
                    256,
                    "Name shown in address lists.",
                    True,
                    None,
                    "Ann Lee",
                ),
                ("givenName", "First name", "string", 64, "Given name.", False, None, "Ann"),
                ("sn", "Last name", "string", 64, "Surname.", False, None, "Lee"),
                (
                    "mail",
                    "Email",
                    "string",
                    256,
                    "Primary SMTP address.",
                    False,
                    None,
                    "ann.lee@example.com",
                ),
                (
                    "employeeID",
                    "Employee ID",
                    "string",
                    16,
                    "Employee number from HR.",
                    False,
                    None,
                    "E10001",
                ),
                ("title", "Job title", "string", 128, "Job title."),
                ("department", "Department", "string", 64, "Department."),
                ("company", "Company", "string", 64, "Company name."),
                (
                    "manager",
                    "Manager",
                    "string",
                    1024,
                    "The manager (email in the demo, DN in AD).",
                ),
                (
                    "ou",
                    "Organisational unit",
                    "string",
                    1024,
                    "Where the account is created.",
                    False,
                    "OU=Users,DC=example,DC=com",
                ),
                ("enabled", "Enabled", "bool", None, "Create the account enabled.", False, True),
                (
                    "groups",
                    "Groups",
                    "string_list",
                    None,
                    "Groups to add the account to (ids).",
                    False,
                    [],
                ),
            ]
        ),
        "sAMAccountName",
        "userPrincipalName",
    ),
    sAMAccountName="sam",
    userPrincipalName="upn",
)

AD_CAPABILITIES = Capabilities(
    directory=True, push=True, custom_push_attributes=True, provisioning=True
)

# --- Entra ID ---------------------------------------------------------------------------------

ENTRA_PUSH_SCHEMA = schema_fields(
    [
        ("displayName", "Display name", "string", 256, "Name shown in the directory."),
        ("givenName", "First name", "string", 64, "Given name."),
        ("surname", "Last name", "string", 64, "Surname."),
        ("mailNickname", "Mail nickname", "string", 64, "Mail alias (the part before @)."),
        ("userPrincipalName", "User principal name", "string", 113, "Sign-in name."),
        ("jobTitle", "Job title", "string", 128, "Job title."),
        ("department", "Department", "string", 64, "Department."),
        ("employeeId", "Employee ID", "string", 16, "Employee number from HR."),
        ("employeeType", "Employee type", "string", 64, "Employee, Contractor, Intern..."),
        ("companyName", "Company", "string", 64, "Company name."),
        ("country", "Country", "string", 128, "Country or region."),
        (
            "usageLocation",
            "Usage location",
            "string",
            2,
            "Two-letter country code; needed for licences.",
        ),
        ("city", "City", "string", 128, "City."),
        ("officeLocation", "Office", "string", 128, "Office location."),
        ("mobilePhone", "Mobile", "string", 64, "Mobile phone."),
        ("accountEnabled", "Account enabled", "bool", None, "Whether the user can sign in."),
        *_extension_attributes(),
    ]
)

ENTRA_CREATION_SCHEMA = formatted(
    unique(
        schema_fields(
            [
                (
                    "displayName",
                    "Display name",
                    "string",
                    256,
                    "Name shown in the directory.",
                    True,
                    None,
                    "Ann Lee",
                ),
                (
                    "mailNickname",
                    "Mail nickname",
                    "string",
                    64,
                    "Mail alias (the part before @).",
                    True,
                    None,
                    "ann.lee",
                ),
                (
                    "userPrincipalName",
                    "User principal name",
                    "string",
                    113,
                    "Sign-in name; the account's id.",
                    True,
                    None,
                    "ann.lee@example.com",
                ),
                (
                    "accountEnabled",
                    "Account enabled",
                    "bool",
                    None,
                    "Create the account enabled.",
                    False,
                    True,
                ),
                ("givenName", "First name", "string", 64, "Given name.", False, None, "Ann"),
                ("surname", "Last name", "string", 64, "Surname.", False, None, "Lee"),
                ("jobTitle", "Job title", "string", 128, "Job title."),
                ("department", "Department", "string", 64, "Department."),
                (
                    "employeeId",
                    "Employee ID",
                    "string",
                    16,
                    "Employee number from HR.",
                    False,
                    None,
                    "E10001",
                ),
                ("employeeType", "Employee type", "string", 64, "Employee, Contractor, Intern..."),
                (
                    "employeeHireDate",
                    "Hire date",
                    "string",
                    10,
                    "First day (YYYY-MM-DD).",
                    False,
                    None,
                    "2024-09-01",
                ),
                (
                    "usageLocation",
                    "Usage location",
                    "string",
                    2,
                    "Two-letter country code; needed for licences.",
                    False,
                    None,
                    "GB",
                ),
                (
                    "passwordProfile",
                    "Password profile",
                    "map",
                    None,
                    "Initial password settings.",
                    False,
                    {"forceChangePasswordNextSignIn": True},
                ),
                (
                    # Graph's onPremisesExtensionAttributes: extensionAttribute1..15 in one object;
                    # a CEL map sets several at once.
                    "onPremisesExtensionAttributes",
                    "Extension attributes",
                    "map",
                    None,
                    "extensionAttribute1..15 as one map.",
                    False,
                    None,
                    '{"extensionAttribute1": subject.attributes.cost_center}',
                ),
                (
                    "groups",
                    "Groups",
                    "string_list",
                    None,
                    "Groups and licences to assign (ids).",
                    False,
                    [],
                ),
            ]
        ),
        "userPrincipalName",
        "mailNickname",
    ),
    userPrincipalName="entra_upn",
    mailNickname="nickname",
)

ENTRA_CAPABILITIES = Capabilities(
    directory=True, push=True, custom_push_attributes=False, provisioning=True
)

Schema = tuple[SchemaField, ...]
FLAVOUR_SCHEMAS: dict[str, tuple[Schema, Schema, Capabilities]] = {
    ACTIVE_DIRECTORY: (AD_PUSH_SCHEMA, AD_CREATION_SCHEMA, AD_CAPABILITIES),
    ENTRA_ID: (ENTRA_PUSH_SCHEMA, ENTRA_CREATION_SCHEMA, ENTRA_CAPABILITIES),
}

# --- Declared schemas (plain apps) ------------------------------------------------------------

_FIELD_KEYS = (
    "key",
    "display_name",
    "type",
    "required",
    "description",
    "placeholder",
    "order",
    "default",
    "max_length",
    "unique",
)


def schema_from_settings(
    app_id: str, setting: str, value: Any
) -> tuple[tuple[SchemaField, ...], list[Problem]]:
    """Read a `push_schema:` or `creation_schema:` list from an app's settings.

    Returns the fields and every problem found (an empty field list when there are problems).
    """
    problems: list[Problem] = []
    where = f"apps.{app_id}.settings.{setting}"
    if value is None:
        return (), problems
    if not isinstance(value, list):
        problems.append(
            Problem(
                f"must be a list of fields, not {type(value).__name__}",
                where,
                hint="write one '- key: NAME' item per attribute",
            )
        )
        return (), problems
    fields: list[SchemaField] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, dict):
            problems.append(Problem("each field must be a mapping with at least 'key'", here))
            continue
        unknown = sorted(set(item) - set(_FIELD_KEYS))
        if unknown:
            problems.append(
                Problem(
                    f"unknown field setting(s) {', '.join(map(str, unknown))}",
                    here,
                    hint=f"known: {', '.join(_FIELD_KEYS)}",
                )
            )
            continue
        key = item.get("key")
        if not isinstance(key, str) or not key.strip():
            problems.append(
                Problem(
                    "'key' is missing or empty",
                    here,
                    hint="name the target attribute, e.g. key: title",
                )
            )
            continue
        if key.lower() in seen:
            problems.append(Problem(f"field '{key}' is declared twice", here))
            continue
        seen.add(key.lower())
        type_ = item.get("type", "string")
        if type_ not in FIELD_TYPES:
            problems.append(
                Problem(
                    f"field '{key}' has unknown type {type_!r}",
                    here,
                    hint=f"use one of {', '.join(FIELD_TYPES)}",
                )
            )
            continue
        max_length = item.get("max_length")
        if max_length is not None and (
            isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1
        ):
            problems.append(
                Problem(f"field '{key}': max_length must be a positive whole number", here)
            )
            continue
        order = item.get("order", index + 1)
        if isinstance(order, bool) or not isinstance(order, int):
            problems.append(Problem(f"field '{key}': order must be a whole number", here))
            continue
        fields.append(
            SchemaField(
                key=key,
                display_name=str(item.get("display_name") or ""),
                type=type_,
                required=bool(item.get("required", False)),
                description=str(item.get("description") or ""),
                placeholder=str(item.get("placeholder") or ""),
                order=order,
                default=item.get("default"),
                max_length=max_length,
                unique=bool(item.get("unique", False)),
            )
        )
    if problems:
        return (), problems
    return tuple(fields), problems


def merge_fields(
    base: tuple[SchemaField, ...], extra: tuple[SchemaField, ...]
) -> tuple[SchemaField, ...]:
    """A flavour's schema with declared fields added; a declared field replaces one of the same
    key (compared case-insensitively)."""
    if not extra:
        return base
    replaced = {f.key.lower(): f for f in extra}
    merged = [replaced.pop(f.key.lower(), f) for f in base]
    merged.extend(f for f in extra if f.key.lower() in replaced)
    return tuple(merged)
