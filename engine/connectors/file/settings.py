"""The file connector's settings (under the app's `settings:`), checked without touching the
data file, and what they make the app offer (its ConnectorDescription)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.connectors.base import Capabilities, ConnectorDescription, ConnectorSpec
from engine.connectors.file.records import ACCOUNT_FIELDS
from engine.connectors.schemas import FLAVOUR_SCHEMAS, FLAVOURS, merge_fields, schema_from_settings
from engine.errors import ConnectorError, Problem

KIND = "file"
FORMATS = ("yaml", "csv", "jsonl")
KNOWN_SETTINGS = (
    "path",
    "format",
    "flavour",
    "push_schema",
    "creation_schema",
    "custom_push_attributes",
)


@dataclass(frozen=True)
class FileSettings:
    app_id: str
    path: Path
    format: str
    flavour: str
    description: ConnectorDescription


def parse_settings(spec: ConnectorSpec) -> FileSettings:
    """Check an app's file-connector settings without touching the data file."""
    app = spec.app_id
    settings = spec.settings or {}
    where = f"apps.{app}.settings"
    problems: list[Problem] = []
    if not isinstance(settings, Mapping):
        raise ConnectorError(f"App '{app}': settings must be a mapping (path: ..., format: ...).")
    for key in settings:
        if key not in KNOWN_SETTINGS:
            problems.append(
                Problem(
                    f"unknown setting {key!r}",
                    f"{where}.{key}",
                    hint=f"the file connector knows {', '.join(KNOWN_SETTINGS)}",
                )
            )
    raw_path = settings.get("path")
    path = Path()
    if not isinstance(raw_path, str) or not raw_path.strip():
        problems.append(
            Problem(
                "'path' is missing",
                f"{where}.path",
                hint="name the app's YAML, CSV or JSON Lines file, e.g. path: apps/hr.yaml",
            )
        )
    else:
        path = Path(raw_path).expanduser()
        if not path.is_absolute():
            path = Path(spec.base_dir) / path
    fmt = settings.get("format")
    if fmt is None and isinstance(raw_path, str):
        suffix = path.suffix.lower()
        fmt = {
            ".yaml": "yaml",
            ".yml": "yaml",
            ".csv": "csv",
            ".jsonl": "jsonl",
            ".ndjson": "jsonl",
        }.get(suffix)
        if fmt is None and raw_path.strip():
            problems.append(
                Problem(
                    f"cannot tell the format of {raw_path!r} from its extension",
                    f"{where}.format",
                    hint="add format: yaml, format: csv or format: jsonl",
                )
            )
    elif fmt is not None and fmt not in FORMATS:
        problems.append(
            Problem(
                f"unknown format {fmt!r}",
                f"{where}.format",
                hint="use format: yaml, format: csv or format: jsonl",
            )
        )
    flavour = settings.get("flavour") or ""
    if flavour and flavour not in FLAVOURS:
        problems.append(
            Problem(
                f"unknown flavour {flavour!r}",
                f"{where}.flavour",
                hint=f"use one of {', '.join(FLAVOURS)}, or leave it out",
            )
        )
        flavour = ""
    push, push_problems = schema_from_settings(app, "push_schema", settings.get("push_schema"))
    create, create_problems = schema_from_settings(
        app, "creation_schema", settings.get("creation_schema")
    )
    problems += push_problems + create_problems
    custom = settings.get("custom_push_attributes")
    if custom is not None and not isinstance(custom, bool):
        problems.append(
            Problem(
                "custom_push_attributes must be true or false", f"{where}.custom_push_attributes"
            )
        )
    if problems:
        raise ConnectorError(
            f"App '{app}': the file connector settings have {_count(problems)}: {problems[0]}",
            problems,
        )
    if flavour:
        base_push, base_create, caps = FLAVOUR_SCHEMAS[flavour]
        push = merge_fields(base_push, push)
        create = merge_fields(base_create, create)
        if custom is not None:
            caps = Capabilities(caps.directory, caps.push, custom, caps.provisioning)
    else:
        caps = Capabilities(
            directory=True,
            push=bool(push),
            custom_push_attributes=bool(push) and bool(custom),
            provisioning=bool(create),
        )
    description = ConnectorDescription(
        kind=KIND,
        flavour=flavour,
        account_fields=ACCOUNT_FIELDS,
        capabilities=caps,
        push_schema=push,
        creation_schema=create,
        # as the system opens it: `..` after a symlinked folder leads from where it points
        files=(("path", os.path.realpath(path)),),
    )
    return FileSettings(app, path, str(fmt or "yaml"), flavour, description)


def describe_file(spec: ConnectorSpec) -> ConnectorDescription:
    """What a file app offers, from its settings alone (the data file is not read)."""
    return parse_settings(spec).description


def _count(problems: list[Problem]) -> str:
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
