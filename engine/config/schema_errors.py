"""Turn pydantic's validation errors into problems an admin can act on.

Each error becomes one Issue at the document path it concerns, with a message in YAML terms
("must be a whole number, got the text '500'") and a hint: the key that was probably meant, the
allowed values, or how to write the value.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from engine.config.issues import Issue, suggest
from engine.config.model import RosterConfig
from engine.config.yaml_positions import Path


def schema_issues(model: type[BaseModel], data: Any, prefix: Path = ()) -> list[Issue]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return [_schema_issue(error, prefix) for error in exc.errors()]
    return []


def clean_loc(loc: Iterable[Any]) -> Path:
    return tuple(part for part in loc if part != "[key]" and isinstance(part, str | int))


def _schema_issue(error: Any, prefix: Path) -> Issue:
    path: Path = (*prefix, *clean_loc(error["loc"]))
    kind = error["type"]
    value = error.get("input")
    name = path[-1] if path and isinstance(path[-1], str) else None
    label = f"`{name}`" if name else "this value"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        hint = suggest(str(name), allowed)
        if not hint and allowed:
            hint = "allowed keys here: " + ", ".join(allowed)
        return Issue(path, f"unknown key `{name}`", hint, at_key=True)
    if kind == "missing":
        return Issue(path, f"{label} is required here", _missing_hint(path) or f"add `{name}:`")
    if kind == "literal_error":
        allowed = _literal_values(path)
        shown = ", ".join(str(v) for v in allowed)
        hint = suggest(str(value), [str(v) for v in allowed]) or (
            f"use one of: {shown}" if shown else ""
        )
        if path == ("version",):
            return Issue(path, f"unsupported version {value!r}", "this Roster reads `version: 1`")
        return Issue(path, f"{value!r} is not a valid {name or 'value'}", hint)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(path)
        if low is not None and high is not None:
            message = f"{label} is {value}; it must be between {low} and {high}"
        elif low is not None:
            message = f"{label} is {value}; it must be at least {low}"
        else:
            message = f"{label} is {value}; it must be at most {high}"
        span = f"from {low} to {high}" if low is not None and high is not None else "in range"
        return Issue(path, message, f"use a value {span}")
    expected = {
        "string_type": "text",
        "int_type": "a whole number",
        "int_from_float": "a whole number",
        "int_parsing": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "list_type": "a list",
        "dict_type": "a mapping (key: value lines)",
        "model_type": "a mapping (key: value lines)",
        "model_attributes_type": "a mapping (key: value lines)",
    }.get(kind)
    if expected is not None:
        hint = ""
        if kind == "string_type" and isinstance(value, int | float | bool):
            hint = f"quote it to keep it as text: '{_yaml_scalar(value)}'"
        elif kind == "list_type" and isinstance(value, str | int | float | bool | dict):
            hint = "write each item on its own line starting with `- `"
        elif kind.startswith("bool") and isinstance(value, str):
            hint = "write true or false without quotes"
        elif kind.startswith(("int", "float")) and isinstance(value, str):
            hint = "write the number without quotes"
        elif kind == "list_type":
            hint = "write the items indented below, one per line starting with `- `"
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            allowed = _allowed_keys(path)
            hint = "write `key: value` lines indented below" + (
                f" (keys: {', '.join(allowed)})" if allowed else ""
            )
        elif kind == "string_type":
            hint = "write it as text"
        elif kind.startswith("bool"):
            hint = "write true or false"
        elif kind.startswith(("int", "float")):
            hint = "write a number"
        return Issue(path, f"{label} must be {expected}, got {describe_value(value)}", hint)
    return Issue(
        path,
        f"{label}: {error.get('msg', 'invalid value')}",
        "see the configuration format in engine/config/model.py",
    )


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"`{_yaml_scalar(value)}` (true/false)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _strip_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _annotation_at(path: Path) -> tuple[Any, type[BaseModel] | None, str | None]:
    """The annotation at `path` in RosterConfig, and the model and field name that declare it."""
    annotation: Any = RosterConfig
    owner: type[BaseModel] | None = None
    field_name: str | None = None
    for part in path:
        annotation = _strip_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if not isinstance(part, str) or part not in annotation.model_fields:
                return None, None, None
            owner, field_name = annotation, part
            annotation = annotation.model_fields[part].annotation
            continue
        origin = get_origin(annotation)
        if origin is list and isinstance(part, int):
            annotation = get_args(annotation)[0]
        elif origin is dict:
            annotation = get_args(annotation)[1]
        else:
            return None, None, None
        owner, field_name = None, None
    return _strip_optional(annotation), owner, field_name


def _allowed_keys(path: Path) -> list[str]:
    annotation, _, _ = _annotation_at(path)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _literal_values(path: Path) -> list[Any]:
    annotation, _, _ = _annotation_at(path)
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return []


def _bounds(path: Path) -> tuple[Any, Any]:
    _, owner, field_name = _annotation_at(path)
    low = high = None
    if owner is not None and field_name is not None:
        for meta in owner.model_fields[field_name].metadata:
            low = getattr(meta, "ge", low)
            high = getattr(meta, "le", high)
    return low, high


def _missing_hint(path: Path) -> str:
    hints = {
        "id": "give the app a short slug, e.g. `id: hr`",
        "connector": "name the connector kind, e.g. `connector: file`",
        "app": "name the app by its id, as under `apps:`",
        "name": "give it a name",
        "account": "e.g. `account: {preset: primary_email}`",
        "user": "e.g. `user: {preset: all_emails}`",
        "target": "name the attribute to write in the target app",
        "entitlement": "name the entitlement's id in the app",
    }
    last = path[-1] if path else ""
    return hints.get(str(last), "")
