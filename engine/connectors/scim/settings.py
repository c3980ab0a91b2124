"""The SCIM connector's settings (under the app's `settings:`), checked without contacting the
server or reading the token, and what they make the app offer (its ConnectorDescription)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from engine.connectors.base import ConnectorDescription, ConnectorSpec
from engine.connectors.file.records import ACCOUNT_FIELDS
from engine.connectors.scim.attributes import (
    CAPABILITIES,
    CREATION_SCHEMA,
    PUSH_SCHEMA,
    filter_fields,
)
from engine.connectors.secrets import secret_references
from engine.errors import ConnectorError, Problem

KIND = "scim"
KNOWN_SETTINGS = (
    "base_url",
    "token_env",
    "token_file",
    "timeout",
    "page_size",
    "filter",
    "resource_type",
    "groups",
    "ca_file",
)
DEFAULT_TIMEOUT = 30.0
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
RESOURCE_TYPES = ("User",)


@dataclass(frozen=True)
class ScimSettings:
    app_id: str
    base_url: str
    timeout: float
    page_size: int
    filter: str
    groups: bool
    ca_file: Path | None
    token_ref: str  # where the token comes from, for messages: "token_env SCIM_TOKEN"
    settings: Mapping[str, object]
    base_dir: Path
    description: ConnectorDescription


def parse_settings(spec: ConnectorSpec) -> ScimSettings:
    """Check an app's SCIM settings; raises ConnectorError listing every problem."""
    app = spec.app_id
    settings = spec.settings or {}
    where = f"apps.{app}.settings"
    if not isinstance(settings, Mapping):
        raise ConnectorError(f"App '{app}': settings must be a mapping (base_url: ..., ...).")
    problems: list[Problem] = [
        Problem(
            f"unknown setting {key!r}",
            f"{where}.{key}",
            hint=f"the scim connector knows {', '.join(KNOWN_SETTINGS)}",
        )
        for key in settings
        if key not in KNOWN_SETTINGS
    ]
    base_url = settings.get("base_url")
    if not isinstance(base_url, str) or not base_url.strip():
        problems.append(
            Problem(
                "'base_url' is missing",
                f"{where}.base_url",
                hint="the SCIM endpoint, e.g. base_url: https://app.example.com/scim/v2",
            )
        )
        base_url = ""
    else:
        problems += _url_problems(base_url.strip(), f"{where}.base_url")
    problems += secret_references(app, settings, "token", required=True)
    timeout = _number(settings, "timeout", DEFAULT_TIMEOUT, where, problems, 0.1, 3600)
    page_size = int(
        _number(
            settings, "page_size", DEFAULT_PAGE_SIZE, where, problems, 1, MAX_PAGE_SIZE, whole=True
        )
    )
    filter_ = settings.get("filter") or ""
    if not isinstance(filter_, str):
        problems.append(
            Problem(
                "filter must be a SCIM filter (text)",
                f"{where}.filter",
                hint="e.g. filter: 'userType eq \"Employee\"'",
            )
        )
        filter_ = ""
    resource_type = settings.get("resource_type", "User")
    if resource_type not in RESOURCE_TYPES:
        problems.append(
            Problem(
                f"resource type {resource_type!r} is not supported",
                f"{where}.resource_type",
                hint="Roster reads User resources (Group memberships become entitlements); "
                "leave resource_type out or write User",
            )
        )
    groups = settings.get("groups", True)
    if not isinstance(groups, bool):
        problems.append(
            Problem(
                "groups must be true or false",
                f"{where}.groups",
                hint="false when the server has no /Groups endpoint",
            )
        )
        groups = True
    ca_file: Path | None = None
    raw_ca = settings.get("ca_file")
    if raw_ca is not None:
        if not isinstance(raw_ca, str) or not raw_ca.strip():
            problems.append(Problem("ca_file must be a path", f"{where}.ca_file"))
        else:
            ca_file = Path(raw_ca).expanduser()
            if not ca_file.is_absolute():
                ca_file = Path(spec.base_dir) / ca_file
    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise ConnectorError(
            f"App '{app}': the scim connector settings have {count}: {problems[0]}", problems
        )
    token_ref = (
        f"token_env {settings['token_env']}"
        if settings.get("token_env") is not None
        else f"token_file {settings.get('token_file')}"
    )
    description = ConnectorDescription(
        kind=KIND,
        account_fields=ACCOUNT_FIELDS,
        capabilities=CAPABILITIES,
        push_schema=PUSH_SCHEMA,
        creation_schema=CREATION_SCHEMA,
        files=(("ca_file", str(ca_file)),) if ca_file else (),
        listing_filter=filter_.strip(),
        filter_fields=filter_fields(filter_),
    )
    return ScimSettings(
        app_id=app,
        base_url=base_url.strip().rstrip("/"),
        timeout=timeout,
        page_size=page_size,
        filter=filter_.strip(),
        groups=groups,
        ca_file=ca_file,
        token_ref=token_ref,
        settings=settings,
        base_dir=Path(spec.base_dir),
        description=description,
    )


def describe_scim(spec: ConnectorSpec) -> ConnectorDescription:
    """What a SCIM app offers, from its settings alone (the server is not contacted)."""
    return parse_settings(spec).description


def _url_problems(url: str, where: str) -> list[Problem]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Problem(
                f"base_url {url!r} is not an http:// or https:// URL",
                where,
                hint="the SCIM endpoint, e.g. https://app.example.com/scim/v2",
            )
        ]
    if parts.username or parts.password:
        # the secrets check reports it first, without the value; this keeps it refused here too
        return [Problem("base_url must not hold a user name or password", where)]
    if parts.query or parts.fragment:
        return [
            Problem(
                "base_url must not have a query (?…) or fragment (#…)",
                where,
                hint="give the token with token_env or token_file, never in the URL",
            )
        ]
    return []


def _number(
    settings: Mapping[str, object],
    key: str,
    default: float,
    where: str,
    problems: list[Problem],
    low: float,
    high: float,
    whole: bool = False,
) -> float:
    value = settings.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and whole and not isinstance(value, int):
        ok = False
    if not ok or not low <= float(value) <= high:  # type: ignore[arg-type]
        kind = "a whole number" if whole else "a number of seconds"
        problems.append(Problem(f"{key} must be {kind} from {low:g} to {high:g}", f"{where}.{key}"))
        return default
    return float(value)  # type: ignore[arg-type]
