"""Values made to fit a connector's declared schemas, shared by every connector (file, LDAP,
SCIM): a pushed value coerced to its target attribute's type, a whole push checked against the
push schema, and an account-creation request checked against the creation schema.

Nothing here reads or writes an app; a connector calls these before it writes, and refuses with
the reasons they give (each names the attribute and what was expected).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from engine.connectors.base import ConnectorDescription, SchemaField, format_problem
from engine.errors import ConnectorError, Problem


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def coerce(schema_field: SchemaField | None, value: Any) -> tuple[Any, str]:
    """A value made to fit a schema field: (value, "") or (None, reason)."""
    type_ = schema_field.type if schema_field is not None else "string"
    if schema_field is None and isinstance(value, bool | list | dict | int):
        return value, ""  # custom attribute: keep what the rule computed
    if type_ == "bool":
        if isinstance(value, bool):
            return value, ""
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true", ""
        return None, f"expected true or false, got {value!r}"
    if type_ == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value, ""
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip()), ""
        return None, f"expected a whole number, got {value!r}"
    if type_ == "string_list":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            return None, f"expected a list of text values, got {value!r}"
        too_long = [
            v
            for v in items
            if schema_field and schema_field.max_length and len(v) > schema_field.max_length
        ]
        if too_long:
            return None, (
                f"{too_long[0]!r} is {len(too_long[0])} characters long; at most "
                f"{schema_field.max_length if schema_field else 0} are allowed"
            )
        return list(items), ""
    if type_ == "map":
        if isinstance(value, dict):
            return value, ""
        return None, f"expected a mapping, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"expected text, got {value!r}"
    text = value if isinstance(value, str) else str(value)
    if schema_field is not None and schema_field.max_length and len(text) > schema_field.max_length:
        return None, (f"{len(text)} characters long; at most {schema_field.max_length} are allowed")
    problem = format_problem(schema_field.format, text) if schema_field is not None else ""
    return (None, problem) if problem else (text, "")


def _reasons_text(reasons: list[Problem]) -> str:
    return "; ".join(p.message + (f" ({p.hint})" if p.hint else "") for p in reasons)


def resolve_push(
    app_id: str,
    description: ConnectorDescription,
    external_id: str,
    changes: Mapping[str, Any],
) -> list[tuple[str, Any]]:
    """One account's push checked against the push schema: (target attribute as the schema
    spells it, coerced value or None to clear) pairs. Raises ConnectorError naming every
    refused attribute; then nothing is to be written for this account."""
    custom = description.capabilities.custom_push_attributes
    pairs: list[tuple[str, Any]] = []
    reasons: list[Problem] = []
    for key, value in changes.items():
        schema_field = description.push_field(key)
        if schema_field is None and not custom:
            known = ", ".join(f.key for f in description.push_schema)
            reasons.append(
                Problem(
                    f"{key!r} is not an attribute this app accepts",
                    key,
                    hint=f"known attributes: {known}",
                )
            )
            continue
        target = schema_field.key if schema_field is not None else key
        if is_empty(value):
            pairs.append((target, None))
            continue
        coerced, reason = coerce(schema_field, value)
        if reason:
            reasons.append(Problem(f"{target}: {reason}", target))
            continue
        pairs.append((target, coerced))
    if reasons:
        raise ConnectorError(
            f"App '{app_id}' refused the push to {external_id!r}: "
            + _reasons_text(reasons)
            + ". Nothing was written for this account.",
            reasons,
        )
    return pairs


def check_creation(
    app_id: str, schema: tuple[SchemaField, ...], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """An account-creation request checked against the creation schema: every field known,
    defaults filled in, required fields present, values coerced. Raises ConnectorError naming
    every problem; then nothing is to be created."""
    known = {f.key: f for f in schema}
    reasons: list[Problem] = []
    for key in fields:
        if key not in known:
            reasons.append(
                Problem(f"{key!r} is not a creation field", key, hint=f"fields: {', '.join(known)}")
            )
    values: dict[str, Any] = {}
    for schema_field in sorted(schema, key=lambda f: f.order):
        value = fields.get(schema_field.key)
        if is_empty(value):
            value = copy.deepcopy(schema_field.default)
        if is_empty(value):
            if schema_field.required:
                reasons.append(Problem(f"{schema_field.key} is required", schema_field.key))
            continue
        coerced, reason = coerce(schema_field, value)
        if reason:
            reasons.append(Problem(f"{schema_field.key}: {reason}", schema_field.key))
            continue
        values[schema_field.key] = coerced
    if reasons:
        raise ConnectorError(
            f"App '{app_id}' cannot create the account: "
            + _reasons_text(reasons)
            + ". Nothing was created.",
            reasons,
        )
    return values
