"""The LDAP connector's settings (under the app's `settings:`), checked without contacting the
server, and what they make the app offer (its ConnectorDescription).

    url: ldaps://dc1.example.com        # ldap:// or ldaps://; port optional (389 / 636)
    start_tls: false                    # upgrade an ldap:// connection with StartTLS
    ca_file: /etc/ssl/corp-ca.pem       # the CA that signed the server's certificate
    bind_dn: CN=roster,OU=Service,DC=example,DC=com
    password_env: AD_BIND_PASSWORD      # or password_file: PATH (readable by its owner only)
    base_dn: OU=People,DC=example,DC=com
    user_filter: (&(objectCategory=person)(objectClass=user))   # default per flavour
    scope: subtree                      # subtree | one | base
    page_size: 500                      # entries per page (RFC 2696 paged results)
    timeout: 30                         # seconds any one request may take, retries included
    retries: 2                          # more attempts for a transient failure
    flavour: active_directory           # active_directory | openldap
    attributes: {username: uid}         # override entries of the flavour's attribute map
    create_ou: OU=New,DC=example,DC=com # where provisioning adds entries (default base_dn)
    group_base_dn: OU=Groups,DC=example,DC=com   # groups as entitlements (none when unset)
    group_filter: (objectClass=group)   # default per flavour
    group_member_attribute: member      # the group attribute that lists its members' DNs
    initial_password_env: AD_INITIAL_PW # AD only, sent only over LDAPS or StartTLS
    delta: true                         # import only what changed since the last import…
    full_import_hours: 24               # …with a full import (deletions) at least this often
    binary_attributes: [msDS-cloudExtensionAttribute1]   # more attributes holding bytes, not text
    push_schema / creation_schema / custom_push_attributes   # as for the file connector
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.connectors.base import ConnectorDescription, ConnectorSpec, SchemaField
from engine.connectors.ldap.flavours import (
    FLAVOUR_BY_NAME,
    LDAP_FLAVOURS,
    MAP_KEYS,
    MAP_LIST_KEYS,
    Flavour,
)
from engine.connectors.schemas import ACTIVE_DIRECTORY, merge_fields, schema_from_settings
from engine.connectors.secrets import secret_references
from engine.errors import ConnectorError, Problem
from engine.records import ACCOUNT_DATA_FIELDS

KIND = "ldap"
SCOPES = ("subtree", "one", "base")
DEFAULT_FILTERS = {
    ACTIVE_DIRECTORY: "(&(objectCategory=person)(objectClass=user))",
    "openldap": "(objectClass=inetOrgPerson)",
}
DEFAULT_GROUP_FILTERS = {
    ACTIVE_DIRECTORY: "(objectClass=group)",
    "openldap": "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
}
KNOWN_SETTINGS = (
    "url",
    "start_tls",
    "ca_file",
    "bind_dn",
    "password_env",
    "password_file",
    "base_dn",
    "user_filter",
    "scope",
    "page_size",
    "timeout",
    "retries",
    "flavour",
    "attributes",
    "create_ou",
    "group_base_dn",
    "group_filter",
    "group_member_attribute",
    "initial_password_env",
    "initial_password_file",
    "delta",
    "full_import_hours",
    "binary_attributes",
    "push_schema",
    "creation_schema",
    "custom_push_attributes",
)
MAX_PAGE_SIZE = 10_000
MAX_TIMEOUT = 3600.0
MAX_RETRIES = 10


@dataclass(frozen=True)
class LdapSettings:
    app_id: str
    url: str
    host: str
    port: int
    use_ssl: bool
    start_tls: bool
    ca_file: Path | None
    bind_dn: str
    base_dn: str
    user_filter: str
    scope: str
    page_size: int
    timeout: float
    retries: int
    flavour: Flavour
    attribute_map: dict[str, tuple[str, ...]]  # account field -> LDAP attributes, in order
    create_ou: str
    group_base_dn: str  # "" when groups are not listed
    group_filter: str
    group_member_attribute: str
    delta: bool
    full_import_hours: float
    binary_attributes: frozenset[str]  # lower-cased, besides flavours.BINARY
    raw: Mapping[str, Any]  # the settings as written: the secrets' references are read from it
    base_dir: Path
    description: ConnectorDescription

    @property
    def encrypted(self) -> bool:
        return self.use_ssl or self.start_tls

    def first(self, key: str) -> str:
        """The first attribute mapped to an account field ("" when unmapped)."""
        return next(iter(self.attribute_map.get(key, ())), "")


def parse_settings(spec: ConnectorSpec) -> LdapSettings:
    """Check an app's LDAP settings without contacting the server; ConnectorError lists every
    problem, each with its path under `apps.<id>.settings`."""
    app = spec.app_id
    settings = spec.settings or {}
    where = f"apps.{app}.settings"
    if not isinstance(settings, Mapping):
        raise ConnectorError(f"App '{app}': settings must be a mapping (url: ..., base_dn: ...).")
    problems: list[Problem] = []

    def problem(key: str, message: str, hint: str = "") -> None:
        problems.append(Problem(message, f"{where}.{key}", hint=hint))

    for key in settings:
        if key not in KNOWN_SETTINGS:
            problem(
                str(key),
                f"unknown setting {key!r}",
                f"the ldap connector knows {', '.join(KNOWN_SETTINGS)}",
            )
    url, host, port, use_ssl = _url(settings.get("url"), problem)
    start_tls = _bool(settings, "start_tls", False, problem)
    if start_tls and use_ssl:
        problem(
            "start_tls",
            "StartTLS is for ldap:// URLs; an ldaps:// URL is encrypted already",
            "remove start_tls or use an ldap:// URL",
        )
    ca_file = _path(settings.get("ca_file"), spec.base_dir, "ca_file", problem)
    bind_dn = _text(
        settings,
        "bind_dn",
        problem,
        required=True,
        example="CN=roster,OU=Service,DC=example,DC=com",
    )
    base_dn = _text(
        settings, "base_dn", problem, required=True, example="OU=People,DC=example,DC=com"
    )
    problems.extend(secret_references(app, settings, "password", required=True))
    problems.extend(secret_references(app, settings, "initial_password", required=False))
    flavour_name = settings.get("flavour")
    flavour = FLAVOUR_BY_NAME.get(flavour_name) if isinstance(flavour_name, str) else None
    if flavour is None:
        problem(
            "flavour",
            f"unknown or missing flavour {flavour_name!r}"
            if flavour_name
            else "'flavour' is missing",
            f"use one of {', '.join(LDAP_FLAVOURS)}",
        )
        flavour = FLAVOUR_BY_NAME["openldap"]
    user_filter = _text(settings, "user_filter", problem) or DEFAULT_FILTERS[flavour.name]
    if not _balanced(user_filter):
        problem(
            "user_filter",
            f"{user_filter!r} is not an LDAP filter",
            "an LDAP filter is one term in matched parentheses, e.g. "
            "(&(objectClass=inetOrgPerson)(uid=*))",
        )
    scope = settings.get("scope", "subtree")
    if scope not in SCOPES:
        problem("scope", f"unknown scope {scope!r}", f"use one of {', '.join(SCOPES)}")
    page_size = _number(settings, "page_size", 500, 1, MAX_PAGE_SIZE, problem, whole=True)
    timeout = _number(settings, "timeout", 30, 1, MAX_TIMEOUT, problem)
    retries = _number(settings, "retries", 2, 0, MAX_RETRIES, problem, whole=True)
    delta = _bool(settings, "delta", True, problem)
    full_hours = _number(settings, "full_import_hours", 24, 0, 24 * 365, problem)
    if settings.get("initial_password_env") or settings.get("initial_password_file"):
        if flavour.name != ACTIVE_DIRECTORY:
            problem(
                "initial_password_env",
                "an initial password is set for Active Directory accounts only",
                "remove it, or use flavour: active_directory",
            )
    attribute_map = _attribute_map(flavour, settings.get("attributes"), problem)
    create_ou = _text(settings, "create_ou", problem) or base_dn
    group_base_dn = _text(settings, "group_base_dn", problem)
    group_filter = _text(settings, "group_filter", problem) or DEFAULT_GROUP_FILTERS[flavour.name]
    if not _balanced(group_filter):
        problem(
            "group_filter",
            f"{group_filter!r} is not an LDAP filter",
            "e.g. (objectClass=groupOfNames)",
        )
    binary = settings.get("binary_attributes") or []
    if not isinstance(binary, list) or not all(
        isinstance(name, str) and _attribute_name(name) for name in binary
    ):
        problem(
            "binary_attributes",
            "binary_attributes must be a list of attribute names",
            "e.g. binary_attributes: [mS-DS-ConsistencyGuid]",
        )
        binary = []
    member_attribute = _text(settings, "group_member_attribute", problem) or "member"
    if not _attribute_name(member_attribute):
        problem("group_member_attribute", f"{member_attribute!r} is not an attribute name")
    push, push_problems = schema_from_settings(app, "push_schema", settings.get("push_schema"))
    create, create_problems = schema_from_settings(
        app, "creation_schema", settings.get("creation_schema")
    )
    problems += push_problems + create_problems
    custom = settings.get("custom_push_attributes")
    if custom is not None and not isinstance(custom, bool):
        problem("custom_push_attributes", "custom_push_attributes must be true or false")
    if problems:
        count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
        raise ConnectorError(
            f"App '{app}': the ldap connector settings have {count}: {problems[0]}", problems
        )
    caps = flavour.capabilities
    if isinstance(custom, bool):
        caps = replace(caps, custom_push_attributes=custom)
    creation = _with_ou_default(merge_fields(flavour.creation_schema, create), create_ou)
    description = ConnectorDescription(
        kind=KIND,
        flavour=flavour.name,
        account_fields=ACCOUNT_DATA_FIELDS,
        capabilities=caps,
        push_schema=merge_fields(flavour.push_schema, push),
        creation_schema=creation,
        files=(("ca_file", str(ca_file)),) if ca_file else (),
    )
    return LdapSettings(
        app_id=app,
        url=url,
        host=host,
        port=port,
        use_ssl=use_ssl,
        start_tls=start_tls,
        ca_file=ca_file,
        bind_dn=bind_dn,
        base_dn=base_dn,
        user_filter=user_filter,
        scope=str(scope),
        page_size=int(page_size),
        timeout=float(timeout),
        retries=int(retries),
        flavour=flavour,
        attribute_map=attribute_map,
        create_ou=create_ou,
        group_base_dn=group_base_dn,
        group_filter=group_filter,
        group_member_attribute=member_attribute,
        delta=delta,
        full_import_hours=float(full_hours),
        binary_attributes=frozenset(name.lower() for name in binary),
        raw=dict(settings),
        base_dir=Path(spec.base_dir),
        description=description,
    )


def describe_ldap(spec: ConnectorSpec) -> ConnectorDescription:
    """What an LDAP app offers, from its settings alone (the server is not contacted)."""
    return parse_settings(spec).description


# --- the pieces -------------------------------------------------------------------------------

Report = Any  # the `problem(key, message, hint="")` callback of parse_settings


def _url(value: Any, problem: Report) -> tuple[str, str, int, bool]:
    example = "ldaps://dc1.example.com or ldap://ldap.example.com:389"
    if not isinstance(value, str) or not value.strip():
        problem("url", "'url' is missing", f"name the server, e.g. {example}")
        return "", "", 0, False
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps"):
        problem("url", f"{value!r} is not an ldap:// or ldaps:// URL", f"e.g. {example}")
        return "", "", 0, False
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        problem("url", f"the port in {value!r} is not a number between 1 and 65535")
        return "", "", 0, False
    if not parts.hostname:
        problem("url", f"{value!r} names no server", f"e.g. {example}")
    if parts.username or parts.password:
        problem(
            "url",
            "the URL holds a user name or password",
            "give the account with bind_dn and the password with password_env",
        )
    if parts.path not in ("", "/") or parts.query:
        problem(
            "url",
            f"{value!r} has a path or query; Roster takes the base DN and filter "
            "from base_dn and user_filter",
            "give only scheme://host[:port]",
        )
    host = parts.hostname or ""
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}:{port}", host, port, scheme == "ldaps"


def _text(
    settings: Mapping[str, Any],
    key: str,
    problem: Report,
    *,
    required: bool = False,
    example: str = "",
) -> str:
    value = settings.get(key)
    if value is None or value == "":
        if required:
            problem(key, f"'{key}' is missing", f"e.g. {key}: {example}" if example else "")
        return ""
    if not isinstance(value, str):
        problem(key, f"'{key}' must be text, not {type(value).__name__}")
        return ""
    if "\x00" in value:
        problem(key, f"'{key}' contains a NUL character")
        return ""
    return value.strip()


def _bool(settings: Mapping[str, Any], key: str, default: bool, problem: Report) -> bool:
    value = settings.get(key, default)
    if not isinstance(value, bool):
        problem(key, f"'{key}' must be true or false, not {value!r}")
        return default
    return value


def _number(
    settings: Mapping[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    problem: Report,
    *,
    whole: bool = False,
) -> float:
    value = settings.get(key, default)
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and (whole and not isinstance(value, int) or not math.isfinite(value)):
        ok = False
    if not ok or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        problem(key, f"'{key}' must be {kind} from {low:g} to {high:g}, not {value!r}")
        return default
    return float(value)


def _path(value: Any, base_dir: Path | str, key: str, problem: Report) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problem(key, f"'{key}' must be a file path")
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def _attribute_map(flavour: Flavour, overrides: Any, problem: Report) -> dict[str, tuple[str, ...]]:
    mapping: dict[str, tuple[str, ...]] = {
        key: (value,) if isinstance(value, str) else tuple(value)
        for key, value in flavour.attribute_map.items()
    }
    if overrides is None:
        return mapping
    if not isinstance(overrides, Mapping):
        problem(
            "attributes",
            "'attributes' must map account fields to LDAP attribute names",
            "e.g. attributes: {username: uid, employee_ids: [employeeNumber]}",
        )
        return mapping
    for key, value in overrides.items():
        here = f"attributes.{key}"
        if key not in MAP_KEYS:
            problem(
                here,
                f"{key!r} is not an account field the map can set",
                f"use one of {', '.join(MAP_KEYS)}",
            )
            continue
        names = [value] if isinstance(value, str) else value
        if value is None or value == "" or value == []:
            if key == "id":
                problem(
                    here,
                    "the id must come from an attribute that never changes",
                    "e.g. entryUUID (OpenLDAP) or objectGUID (Active Directory)",
                )
                continue
            mapping[key] = ()
            continue
        if not isinstance(names, list) or not all(_attribute_name(n) for n in names):
            problem(here, f"{value!r} is not an LDAP attribute name (or a list of them)")
            continue
        if len(names) > 1 and key not in MAP_LIST_KEYS:
            problem(
                here, f"{key!r} takes one attribute; only {', '.join(MAP_LIST_KEYS)} take several"
            )
            continue
        mapping[key] = tuple(names)
    return mapping


def _balanced(text: str) -> bool:
    """Whether a filter is one parenthesised term with its parentheses matched (escaped ones,
    written \\28 and \\29 in a filter, are not parentheses)."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or (depth == 0 and position < len(text) - 1):
            return False
    return depth == 0


def _attribute_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and len(name) <= 128
        and (name[0].isalpha() or name[0].isdigit())
        and all(c.isalnum() or c in "-." for c in name)
    )


def _with_ou_default(schema: tuple[SchemaField, ...], create_ou: str) -> tuple[SchemaField, ...]:
    """The creation schema with `ou` defaulting to where this app creates entries."""
    return tuple(replace(f, default=create_ou) if f.key == "ou" else f for f in schema)
