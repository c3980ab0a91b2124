"""The file connector (DESIGN §9): one YAML or CSV file per app, written back atomically.

Settings (under the app's `settings:` in the configuration):

    path: apps/ad.yaml            # required; relative to the configuration's folder
    format: yaml                  # optional: yaml | csv (default: from the extension)
    flavour: active_directory     # optional: active_directory | entra_id (picks the schemas)
    push_schema: [...]            # optional: declared target attributes (SchemaField shape)
    creation_schema: [...]        # optional: declared account-creation fields
    custom_push_attributes: true  # optional: accept push attributes outside the schema

YAML file:

    accounts:
    - id: ann.lee                 # required, unique
      display_name: Ann Lee
      given_name: Ann
      family_name: Lee
      email: ann.lee@example.com
      emails: [ann.lee+it@example.com]
      username: ann.lee
      usernames: []
      employee_ids: [E10001]
      status: ENABLED             # ENABLED | DISABLED | DELETED (any case)
      type: USER                  # USER | SERVICE_ACCOUNT | SYSTEM_ACCOUNT
      manager: E10000
      profile: {title: Engineer}  # the app's own attributes
    entitlements:
    - {id: grp-eng, name: Engineering, description: ...}
    grants:
    - {account: ann.lee, entitlement: grp-eng}

CSV file: one row per account; columns id, display_name, given_name, family_name, email, emails,
username, usernames, employee_ids, status, type, manager (lists separated by `;`); every other
column is a profile attribute (an empty cell means "no value"). Entitlements and grants live in
`<stem>.entitlements.csv` (id,name,description) and `<stem>.grants.csv` (account,entitlement).

Every operation reads the file afresh. Pushes write the target attribute into `profile` (and the
matching core field, e.g. AD `displayName` also sets `display_name`); creation appends an account.
Writes go through a temporary file and a rename, keep everything else in the file as it was, and
never happen when the file has problems.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.connectors.base import (
    Capabilities,
    ConnectorDescription,
    ConnectorSpec,
    ListedAccount,
    ListedEntitlement,
    ListedGrant,
    Listing,
    SchemaField,
)
from engine.connectors.fileio import (
    YamlDocument,
    atomic_write,
    csv_records,
    file_lock,
    leading_comments,
    write_csv,
    write_yaml_document,
)
from engine.connectors.schemas import (
    ACTIVE_DIRECTORY,
    ENTRA_ID,
    FLAVOUR_SCHEMAS,
    FLAVOURS,
    merge_fields,
    schema_from_settings,
)
from engine.errors import ConnectorError, Problem
from engine.records import (
    ACCOUNT_DATA_FIELDS,
    ACCOUNT_LIST_FIELDS,
    ACCOUNT_TEXT_FIELDS,
    ACCOUNT_TYPES,
    STATUSES,
)

KIND = "file"
FORMATS = ("yaml", "csv")
KNOWN_SETTINGS = (
    "path",
    "format",
    "flavour",
    "push_schema",
    "creation_schema",
    "custom_push_attributes",
)

# Account fields in the order a record is written.
ACCOUNT_KEYS = ("id", *ACCOUNT_DATA_FIELDS)  # "profile" last
STRING_KEYS = ACCOUNT_TEXT_FIELDS
LIST_KEYS = ACCOUNT_LIST_FIELDS
CSV_CORE_COLUMNS = ACCOUNT_KEYS[:-1]
ACCOUNT_FIELDS = ACCOUNT_KEYS[1:]  # what describe() reports (external id aside)
TOP_LEVEL_KEYS = ("accounts", "entitlements", "grants")
ENTITLEMENT_KEYS = ("id", "name", "description")
GRANT_KEYS = ("account", "entitlement")
LIST_SEPARATOR = ";"
MAX_PROBLEMS = 50

# Flavour attributes that also set a core account field when pushed or created.
_MIRRORS: dict[str, dict[str, str]] = {
    ACTIVE_DIRECTORY: {
        "displayname": "display_name",
        "givenname": "given_name",
        "sn": "family_name",
        "mail": "email",
        "employeeid": "employee_ids",
        "manager": "manager",
    },
    ENTRA_ID: {
        "displayname": "display_name",
        "givenname": "given_name",
        "surname": "family_name",
        "userprincipalname": "username",
        "employeeid": "employee_ids",
        "accountenabled": "status",
    },
}
# Creation fields that are instructions, not attributes: never stored in the profile.
_NOT_STORED = {"groups", "enabled", "passwordProfile", "ou"}


# --- settings and description -----------------------------------------------------------------


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
                hint="name the app's YAML or CSV file, e.g. path: apps/hr.yaml",
            )
        )
    else:
        path = Path(raw_path).expanduser()
        if not path.is_absolute():
            path = Path(spec.base_dir) / path
    fmt = settings.get("format")
    if fmt is None and isinstance(raw_path, str):
        suffix = path.suffix.lower()
        fmt = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}.get(suffix)
        if fmt is None and raw_path.strip():
            problems.append(
                Problem(
                    f"cannot tell the format of {raw_path!r} from its extension",
                    f"{where}.format",
                    hint="add format: yaml or format: csv",
                )
            )
    elif fmt is not None and fmt not in FORMATS:
        problems.append(
            Problem(
                f"unknown format {fmt!r}", f"{where}.format", hint="use format: yaml or format: csv"
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
    )
    return FileSettings(app, path, str(fmt or "yaml"), flavour, description)


def describe_file(spec: ConnectorSpec) -> ConnectorDescription:
    """What a file app offers, from its settings alone (the data file is not read)."""
    return parse_settings(spec).description


def _count(problems: list[Problem]) -> str:
    return "1 problem" if len(problems) == 1 else f"{len(problems)} problems"


# --- reading records --------------------------------------------------------------------------


def _text_of(value: Any) -> str | None:
    """A scalar as text (numbers allowed, for ids and usernames typed without quotes)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def _plain(value: Any) -> Any:
    """Profile values as the engine sees them: dates become ISO text; the rest is kept."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _status(value: Any) -> str | None:
    text = _text_of(value)
    if text is None:
        return None
    text = text.upper().removeprefix("USER_STATUS_").removeprefix("STATUS_")
    if not text:
        return "ENABLED"
    return text if text in STATUSES else None


def _type(value: Any) -> str | None:
    text = _text_of(value)
    if text is None:
        return None
    text = text.upper().removeprefix("APP_USER_TYPE_")
    if not text:
        return "USER"
    return text if text in ACCOUNT_TYPES else None


Report = Callable[[str, str, str], None]  # (field or "", message, hint)


def account_from_item(item: Any, report: Report) -> ListedAccount | None:
    """Turn one account record into a ListedAccount, reporting every problem found."""
    if not isinstance(item, dict):
        report(
            "",
            f"an account must be a mapping, not {_kind(item)}",
            "write each account as '- id: ...' followed by its fields",
        )
        return None
    ok = True
    for key in item:
        if key not in ACCOUNT_KEYS:
            report(
                str(key),
                f"unknown account field {key!r}",
                "put the app's own attributes under 'profile:'; account fields are "
                + ", ".join(ACCOUNT_KEYS),
            )
            ok = False
    external_id = _text_of(item.get("id"))
    if not external_id:
        report(
            "id",
            "account has no 'id'" if external_id == "" else "'id' must be text",
            "give every account a unique id",
        )
        ok = False
    values: dict[str, Any] = {}
    for key in STRING_KEYS:
        raw_value = item.get(key)
        if type(raw_value) is str:
            values[key] = raw_value.strip()
            continue
        text = _text_of(raw_value)
        if text is None:
            report(key, f"'{key}' must be text, not {_kind(item.get(key))}", "")
            ok = False
        values[key] = text or ""
    for key in LIST_KEYS:
        raw = item.get(key)
        if raw is None:
            values[key] = []
            continue
        if not isinstance(raw, list):
            report(
                key,
                f"'{key}' must be a list, not {_kind(raw)}",
                f"write {key}: [a, b] or one '- value' per line",
            )
            ok = False
            continue
        texts = [v.strip() if type(v) is str else _text_of(v) for v in raw]
        if None in texts:
            report(key, f"every item of '{key}' must be text", "")
            ok = False
            continue
        values[key] = [t for t in texts if t]
    status = _status(item.get("status"))
    if status is None:
        report(
            "status", f"unknown status {item.get('status')!r}", f"use one of {', '.join(STATUSES)}"
        )
        ok = False
    type_ = _type(item.get("type"))
    if type_ is None:
        report(
            "type",
            f"unknown account type {item.get('type')!r}",
            f"use one of {', '.join(ACCOUNT_TYPES)}",
        )
        ok = False
    profile = item.get("profile")
    if profile is None:
        profile = {}
    elif not isinstance(profile, dict):
        report(
            "profile",
            f"'profile' must be a mapping, not {_kind(profile)}",
            "write the app's attributes as 'key: value' lines under profile:",
        )
        ok = False
    if not ok:
        return None
    email = values["email"]
    emails = values.get("emails", [])
    if email and email not in emails:
        emails = [email, *emails]
    return ListedAccount(
        external_id=external_id or "",
        display_name=values["display_name"],
        given_name=values["given_name"],
        family_name=values["family_name"],
        email=email,
        emails=emails,
        username=values["username"],
        usernames=values.get("usernames", []),
        employee_ids=values.get("employee_ids", []),
        status=status or "ENABLED",
        type=type_ or "USER",
        manager=values["manager"],
        profile={
            (k if type(k) is str else str(k)): (v if type(v) is str else _plain(v))
            for k, v in profile.items()
            if v is not None and v != ""
        },
    )


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", str: "text"}.get(type(value), type(value).__name__)


# --- the two file shapes ----------------------------------------------------------------------


@dataclass
class _Loaded:
    """A parsed, validated file: its records (as editable dicts) and what it lists."""

    items: list[dict[str, Any]]
    listing: Listing
    index: dict[str, int]  # external id -> position in items
    entitlement_ids: set[str]
    grants: list[dict[str, str]]
    lines: list[int] = field(default_factory=list)  # line of each item (CSV: always known)


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[Problem] = []

    def add(self, message: str, line: int | None, hint: str = "") -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(message, str(self.path), line=line, hint=hint))

    def raise_if_any(self, app_id: str) -> None:
        if not self.items:
            return
        first = self.items[0]
        where = f", line {first.line}" if first.line is not None else ""
        hint = f" ({first.hint})" if first.hint else ""
        count = len(self.items)
        more = (
            ""
            if count == 1
            else f" ({count} problems in all)"
            if count < MAX_PROBLEMS
            else f" (at least {count} problems; the first {count} are listed)"
        )
        raise ConnectorError(
            f"App '{app_id}': cannot read {first.path}{where}: {first.message}{hint}.{more} "
            "Fix the file and sync again; nothing was changed.",
            list(self.items),
        )


def _read_text(app_id: str, path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConnectorError(
            f"App '{app_id}': the file {path} does not exist. Check the app's 'path' setting "
            "(relative paths start from the configuration's folder).",
            [Problem("file not found", str(path))],
        ) from None
    except OSError as exc:
        raise ConnectorError(
            f"App '{app_id}': cannot read {path}: {exc.strerror or exc}. Check that the file is "
            "readable by the user running Roster.",
            [Problem(f"cannot read: {exc.strerror or exc}", str(path))],
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConnectorError(
            f"App '{app_id}': {path} is not UTF-8 text (line {line}, byte {exc.start}). "
            "Save it as UTF-8 and sync again.",
            [Problem("not UTF-8", str(path), line=line, hint="save the file as UTF-8")],
        ) from None


class _YamlFile:
    def __init__(self, app_id: str, path: Path) -> None:
        self.app_id = app_id
        self.path = path
        self.document: dict[str, Any] = {}
        self.header = ""
        self.parsed: YamlDocument | None = None

    def load(self) -> _Loaded:
        text = _read_text(self.app_id, self.path)
        problems = _Problems(self.path)
        try:
            parsed = YamlDocument(text)
        except yaml.YAMLError as exc:
            problem_mark = getattr(exc, "problem_mark", None)
            context_mark = getattr(exc, "context_mark", None)
            mark = context_mark or problem_mark  # where the broken construct starts
            line = mark.line + 1 if mark is not None else None
            reason = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            if context and context_mark is not None:
                reason = f"{context}: {reason}"
                if problem_mark is not None and problem_mark.line != context_mark.line:
                    reason += f" (noticed on line {problem_mark.line + 1})"
            problems.add(
                f"this is not valid YAML: {reason}",
                line,
                "check the indentation and quoting around that line",
            )
            problems.raise_if_any(self.app_id)
            raise  # unreachable
        except (ValueError, TypeError, RecursionError) as exc:
            problems.add(
                f"a value cannot be read: {exc}", None, "quote dates and numbers you mean as text"
            )
            problems.raise_if_any(self.app_id)
            raise
        data = parsed.data
        if data is None:
            problems.add(
                "the file is empty", 1, "an app with no accounts says so with 'accounts: []'"
            )
            problems.raise_if_any(self.app_id)
        if not isinstance(data, dict):
            problems.add(
                f"the file must be a mapping with 'accounts:', not {_kind(data)}",
                1,
                "start the file with 'accounts:' and list the accounts under it",
            )
            problems.raise_if_any(self.app_id)
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                problems.add(
                    f"unknown top-level key {key!r}",
                    parsed.key_line(str(key)),
                    f"the file holds {', '.join(TOP_LEVEL_KEYS)}",
                )
        if "accounts" not in data:
            problems.add(
                "the file has no 'accounts:' list",
                1,
                "add 'accounts:' with one '- id: ...' item per account",
            )
        items = data.get("accounts")
        if items is None:
            items = []
        if not isinstance(items, list):
            problems.add(
                f"'accounts' must be a list, not {_kind(items)}",
                parsed.key_line("accounts"),
                "write one '- id: ...' item per account",
            )
            items = []
        listing = Listing()
        index: dict[str, int] = {}
        for position, item in enumerate(items):

            def report(name: str, message: str, hint: str, position: int = position) -> None:
                problems.add(
                    f"account #{position + 1}: {message}",
                    parsed.item_line("accounts", position, name),
                    hint,
                )

            listed = account_from_item(item, report)
            if listed is None:
                continue
            previous = index.get(listed.external_id)
            if previous is not None:
                first = parsed.item_line("accounts", previous)
                report(
                    "id",
                    f"duplicate id {listed.external_id!r} (first used on line {first})",
                    "every account needs its own id",
                )
                continue
            index[listed.external_id] = position
            listing.accounts.append(listed)
        entitlement_ids = self._entitlements(data, parsed, listing, problems)
        grants = self._grants(data, parsed, listing, index, entitlement_ids, problems)
        problems.raise_if_any(self.app_id)
        self.document = data
        self.parsed = parsed
        self.header = leading_comments(text)
        return _Loaded(items, listing, index, entitlement_ids, grants)

    def line_of(self, loaded: _Loaded, position: int) -> int | None:
        return self.parsed.item_line("accounts", position) if self.parsed else None

    def _entitlements(
        self, data: dict[str, Any], parsed: YamlDocument, listing: Listing, problems: _Problems
    ) -> set[str]:
        raw = data.get("entitlements") or []
        if not isinstance(raw, list):
            problems.add(
                f"'entitlements' must be a list, not {_kind(raw)}",
                parsed.key_line("entitlements"),
                "write one '- id: ...' item per entitlement",
            )
            return set()
        seen: set[str] = set()
        for position, item in enumerate(raw):
            line = parsed.item_line("entitlements", position)
            entitlement = _entitlement_from(
                item,
                lambda m, h, line=line, n=position + 1: problems.add(
                    f"entitlement #{n}: {m}", line, h
                ),
            )
            if entitlement is None:
                continue
            if entitlement.external_id in seen:
                problems.add(
                    f"duplicate entitlement id {entitlement.external_id!r}",
                    line,
                    "every entitlement needs its own id",
                )
                continue
            seen.add(entitlement.external_id)
            listing.entitlements.append(entitlement)
        return seen

    def _grants(
        self,
        data: dict[str, Any],
        parsed: YamlDocument,
        listing: Listing,
        index: dict[str, int],
        entitlements: set[str],
        problems: _Problems,
    ) -> list[dict[str, str]]:
        raw = data.get("grants") or []
        if not isinstance(raw, list):
            problems.add(
                f"'grants' must be a list, not {_kind(raw)}",
                parsed.key_line("grants"),
                "write one '- {account: ..., entitlement: ...}' item per grant",
            )
            return []
        _collect_grants(
            raw,
            listing,
            index,
            entitlements,
            lambda pos, m, h: problems.add(
                f"grant #{pos + 1}: {m}", parsed.item_line("grants", pos), h
            ),
        )
        return raw

    def item(self, loaded: _Loaded, position: int) -> dict[str, Any]:
        return loaded.items[position]

    def store(self, loaded: _Loaded, position: int, item: dict[str, Any]) -> None:
        loaded.items[position] = item

    def append(self, loaded: _Loaded, item: dict[str, Any], grants: list[dict[str, str]]) -> None:
        accounts = self.document.get("accounts")
        if not isinstance(accounts, list):
            accounts = self.document["accounts"] = loaded.items
        accounts.append(item)
        if grants:
            existing = self.document.get("grants")
            if not isinstance(existing, list):
                existing = self.document["grants"] = []
            existing.extend(grants)

    def save(self, loaded: _Loaded, touched_grants: bool) -> None:
        document = self.document
        if "accounts" not in document or document["accounts"] is None:
            document["accounts"] = loaded.items
        atomic_write(self.path, lambda fh: write_yaml_document(fh, document, self.header))


def _entitlement_from(item: Any, report: Callable[[str, str], None]) -> ListedEntitlement | None:
    if not isinstance(item, dict):
        report(f"must be a mapping with id, name and description, not {_kind(item)}", "")
        return None
    unknown = [str(k) for k in item if k not in ENTITLEMENT_KEYS]
    if unknown:
        report(f"unknown field(s) {', '.join(unknown)}", "entitlements have id, name, description")
        return None
    external_id = _text_of(item.get("id"))
    name = _text_of(item.get("name"))
    description = _text_of(item.get("description"))
    if not external_id:
        report("entitlement has no 'id'", "give every entitlement a unique id")
        return None
    if name is None or description is None:
        report("'name' and 'description' must be text", "")
        return None
    return ListedEntitlement(external_id, name or external_id, description or "")


def _collect_grants(
    raw: Iterable[Any],
    listing: Listing,
    index: Mapping[str, int],
    entitlements: set[str],
    report: Callable[[int, str, str], None],
) -> None:
    seen: set[tuple[str, str]] = set()
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            report(
                position, f"must be a mapping with account and entitlement, not {_kind(item)}", ""
            )
            continue
        unknown = [str(k) for k in item if k not in GRANT_KEYS]
        if unknown:
            report(
                position,
                f"unknown field(s) {', '.join(unknown)}",
                "a grant has account and entitlement",
            )
            continue
        account = _text_of(item.get("account"))
        entitlement = _text_of(item.get("entitlement"))
        if not account or not entitlement:
            report(position, "a grant needs both 'account' and 'entitlement'", "")
            continue
        if account not in index:
            report(
                position,
                f"no account with id {account!r}",
                "grant entitlements to accounts listed in this app",
            )
            continue
        if entitlement not in entitlements:
            report(
                position,
                f"no entitlement with id {entitlement!r}",
                "list it under entitlements first",
            )
            continue
        if (account, entitlement) in seen:
            continue
        seen.add((account, entitlement))
        listing.grants.append(ListedGrant(account, entitlement))


class _CsvFile:
    """A CSV app: the account file plus optional entitlement and grant sidecars."""

    def __init__(self, app_id: str, path: Path) -> None:
        self.app_id = app_id
        self.path = path
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        self.entitlements_path = path.with_name(f"{stem}.entitlements.csv")
        self.grants_path = path.with_name(f"{stem}.grants.csv")
        self.header: list[str] = []
        self.rows: list[list[str]] = []

    def _table(
        self,
        path: Path,
        required: tuple[str, ...],
        problems: _Problems,
        allowed: tuple[str, ...] | None = None,
    ) -> tuple[list[str], list[tuple[int, list[str]]]]:
        text = _read_text(self.app_id, path)
        records: list[tuple[int, list[str]]] = []
        try:
            for line, values in csv_records(text):
                records.append((line, values))
        except csv.Error as exc:
            line = (records[-1][0] + 1) if records else 1
            problems.add(
                f"this is not valid CSV: {exc}",
                line,
                'check the quotes on that line; a value with a comma needs "double quotes"',
            )
            return [], []
        if not records:
            problems.add(
                "the file is empty",
                1,
                f"the first line names the columns: {','.join(required)},...",
            )
            return [], []
        _, header = records[0]
        header = [h.strip() for h in header]
        seen: set[str] = set()
        for name in header:
            if not name:
                problems.add("a column has no name", 1, "name every column on the first line")
            elif name in seen:
                problems.add(f"the column {name!r} appears twice", 1, "")
            elif allowed is not None and name not in allowed:
                problems.add(f"unknown column {name!r}", 1, f"the columns are {', '.join(allowed)}")
            seen.add(name)
        missing = [c for c in required if c not in seen]
        if missing:
            problems.add(
                f"no {', '.join(repr(m) for m in missing)} column",
                1,
                f"the first line names the columns: {','.join(required)},...",
            )
        body = records[1:]
        for row, (line, values) in enumerate(body, start=1):
            if len(values) != len(header):
                problems.add(
                    f"row {row} has {len(values)} values but the header has {len(header)} columns",
                    line,
                    "quote values that contain commas",
                )
        return header, body

    def load(self) -> _Loaded:
        problems = _Problems(self.path)
        header, body = self._table(self.path, ("id",), problems)
        problems.raise_if_any(self.app_id)
        self.header = header
        self.rows = [values for _, values in body]
        lines = [line for line, _ in body]
        listing = Listing()
        index: dict[str, int] = {}
        items: list[dict[str, Any]] = []
        for position, values in enumerate(self.rows):
            line = lines[position]
            item = self._row_item(values)
            items.append(item)

            def report(
                name: str, message: str, hint: str, line: int = line, row: int = position + 1
            ) -> None:
                problems.add(
                    f"row {row}: {message}"
                    if not name
                    else f"row {row}, column {name!r}: {message}",
                    line,
                    hint,
                )

            listed = account_from_item(item, report)
            if listed is None:
                continue
            previous = index.get(listed.external_id)
            if previous is not None:
                report(
                    "id",
                    f"duplicate id {listed.external_id!r} (first used on line {lines[previous]})",
                    "every account needs its own id",
                )
                continue
            index[listed.external_id] = position
            listing.accounts.append(listed)
        entitlement_ids: set[str] = set()
        grants: list[dict[str, str]] = []
        if self.entitlements_path.exists():
            ent_problems = _Problems(self.entitlements_path)
            ent_header, ent_rows = self._table(
                self.entitlements_path, ("id",), ent_problems, ENTITLEMENT_KEYS
            )
            for row, (line, values) in enumerate(ent_rows, start=1):
                if len(values) != len(ent_header):
                    continue
                entitlement = _entitlement_from(
                    dict(zip(ent_header, values, strict=True)),
                    lambda m, h, line=line, row=row: ent_problems.add(f"row {row}: {m}", line, h),
                )
                if entitlement is None:
                    continue
                if entitlement.external_id in entitlement_ids:
                    ent_problems.add(
                        f"row {row}: duplicate entitlement id {entitlement.external_id!r}", line, ""
                    )
                    continue
                entitlement_ids.add(entitlement.external_id)
                listing.entitlements.append(entitlement)
            problems.items.extend(ent_problems.items)
        if self.grants_path.exists():
            grant_problems = _Problems(self.grants_path)
            grant_header, grant_rows = self._table(
                self.grants_path, GRANT_KEYS, grant_problems, GRANT_KEYS
            )
            kept = [
                (row, line, v)
                for row, (line, v) in enumerate(grant_rows, start=1)
                if len(v) == len(grant_header)
            ]
            rows = [dict(zip(grant_header, v, strict=True)) for _, _, v in kept]
            _collect_grants(
                rows,
                listing,
                index,
                entitlement_ids,
                lambda pos, m, h: grant_problems.add(f"row {kept[pos][0]}: {m}", kept[pos][1], h),
            )
            grants = rows
            problems.items.extend(grant_problems.items)
        problems.raise_if_any(self.app_id)
        return _Loaded(items, listing, index, entitlement_ids, grants, lines)

    def line_of(self, loaded: _Loaded, position: int) -> int | None:
        return loaded.lines[position] if position < len(loaded.lines) else None

    def _row_item(self, values: list[str]) -> dict[str, Any]:
        item: dict[str, Any] = {}
        profile: dict[str, Any] = {}
        for name, value in zip(self.header, values, strict=False):
            if name in LIST_KEYS:
                parts = [p.strip() for p in value.split(LIST_SEPARATOR)]
                item[name] = [p for p in parts if p]
            elif name in CSV_CORE_COLUMNS:
                item[name] = value
            elif value.strip():
                profile[name] = value
        item["profile"] = profile
        return item

    def _cell(self, value: Any, column: str) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return LIST_SEPARATOR.join(self._cell(v, column) for v in value)
        if isinstance(value, dict):
            raise ConnectorError(
                f"App '{self.app_id}': {self.path} is a CSV file and cannot hold the mapping "
                f"given for {column!r}. Map a text value instead."
            )
        return str(value)

    def _row(self, item: dict[str, Any]) -> list[str]:
        profile = item.get("profile") or {}
        for key in list(ACCOUNT_KEYS[:-1]) + list(profile):
            if key not in self.header and (item.get(key) if key in item else profile.get(key)):
                self.header.append(key)
                for row in self.rows:
                    row.append("")
        row = []
        for name in self.header:
            value = item.get(name) if name in CSV_CORE_COLUMNS else profile.get(name)
            row.append(self._cell(value, name))
        return row

    def item(self, loaded: _Loaded, position: int) -> dict[str, Any]:
        return loaded.items[position]

    def store(self, loaded: _Loaded, position: int, item: dict[str, Any]) -> None:
        loaded.items[position] = item
        self.rows[position] = self._row(item)

    def append(self, loaded: _Loaded, item: dict[str, Any], grants: list[dict[str, str]]) -> None:
        loaded.items.append(item)
        self.rows.append(self._row(item))
        loaded.grants.extend(grants)

    def save(self, loaded: _Loaded, touched_grants: bool) -> None:
        header, rows = self.header, self.rows
        atomic_write(self.path, lambda fh: write_csv(fh, header, rows))
        if touched_grants:
            grant_rows = [[g["account"], g["entitlement"]] for g in loaded.grants]
            atomic_write(self.grants_path, lambda fh: write_csv(fh, list(GRANT_KEYS), grant_rows))


# --- writing: value checks --------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
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
    return text, ""


def _set_profile(item: dict[str, Any], key: str, value: Any) -> None:
    profile = item.get("profile")
    if not isinstance(profile, dict):
        profile = {}
        item["profile"] = profile
    existing = next((k for k in profile if isinstance(k, str) and k.lower() == key.lower()), None)
    if _is_empty(value):
        if existing is not None:
            del profile[existing]
        if not profile:
            item.pop("profile", None)
        return
    if existing is not None:
        profile[existing] = value
        return
    keys = [str(k) for k in profile]
    if keys and keys == sorted(keys) and key < keys[-1]:  # keep a sorted profile sorted
        profile[key] = value
        ordered = sorted(profile.items(), key=lambda kv: str(kv[0]))
        profile.clear()
        profile.update(ordered)
    else:
        profile[key] = value


def _set_core(item: dict[str, Any], key: str, value: Any) -> None:
    if key == "status" and isinstance(value, bool):
        value = "ENABLED" if value else "DISABLED"
    elif key in LIST_KEYS:
        value = [] if _is_empty(value) else ([value] if isinstance(value, str) else value)
    if _is_empty(value):
        item.pop(key, None)
        return
    if key in item:
        item[key] = value
        return
    item[key] = value
    order = {k: i for i, k in enumerate(ACCOUNT_KEYS)}
    ordered = sorted(item.items(), key=lambda kv: order.get(kv[0], len(order)))
    item.clear()
    item.update(ordered)


# --- the connector ----------------------------------------------------------------------------


class FileConnector:
    """Connector over one YAML or CSV file (plus CSV sidecars)."""

    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec
        self.settings = parse_settings(spec)
        self.app_id = spec.app_id
        self.path = self.settings.path

    def describe(self) -> ConnectorDescription:
        return self.settings.description

    def _file(self) -> _YamlFile | _CsvFile:
        if self.settings.format == "csv":
            return _CsvFile(self.app_id, self.path)
        return _YamlFile(self.app_id, self.path)

    def list_all(self) -> Listing:
        return self._file().load().listing

    def source_version(self) -> str | None:
        """A digest of the app's files: equal digests mean an import would find nothing new."""
        import hashlib

        digest = hashlib.blake2b(digest_size=16)
        paths = [self.path]
        if self.settings.format == "csv":
            stem = self.path.stem
            paths += [
                self.path.with_name(f"{stem}.entitlements.csv"),
                self.path.with_name(f"{stem}.grants.csv"),
            ]
        for path in paths:
            try:
                digest.update(path.read_bytes())
            except FileNotFoundError:
                digest.update(b"\0missing")
            except OSError:
                return None
        return digest.hexdigest()

    # Push -------------------------------------------------------------------------------------

    def update_account(self, external_id: str, changes: dict[str, Any]) -> None:
        """Write attribute changes to one account; an empty value ("" or None) clears."""
        failures = self.update_accounts({external_id: changes})
        if external_id in failures:
            raise failures[external_id]

    def update_accounts(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        """Push to many accounts with one read and one write of the file.

        Returns the accounts that were refused, each with its reason; the others are written.
        A file that cannot be read raises and nothing is written.
        """
        description = self.describe()
        if not description.capabilities.push:
            raise ConnectorError(
                f"App '{self.app_id}' does not accept pushes: it has no push schema. Give it a "
                "flavour (active_directory, entra_id) or declare push_schema: in its settings."
            )
        failures: dict[str, ConnectorError] = {}
        resolved: dict[str, list[tuple[str, Any]]] = {}
        for external_id, changes in changes_by_account.items():
            try:
                resolved[external_id] = self._resolve_changes(external_id, changes)
            except ConnectorError as exc:
                failures[external_id] = exc
        if not resolved:
            return failures
        with file_lock(self.path):
            store = self._file()
            loaded = store.load()
            written = 0
            for external_id, pairs in resolved.items():
                position = loaded.index.get(external_id)
                if position is None:
                    failures[external_id] = ConnectorError(
                        f"App '{self.app_id}': no account with id {external_id!r} in {self.path}."
                        " It may have been removed since the last sync; sync again."
                    )
                    continue
                item = copy.deepcopy(store.item(loaded, position))
                for key, value in pairs:
                    self._apply(item, key, value)
                try:
                    store.store(loaded, position, item)
                except ConnectorError as exc:
                    failures[external_id] = exc
                    continue
                written += 1
            if written:
                self._save(store, loaded, touched_grants=False)
        return failures

    def _resolve_changes(
        self, external_id: str, changes: Mapping[str, Any]
    ) -> list[tuple[str, Any]]:
        description = self.describe()
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
            if _is_empty(value):
                pairs.append((target, None))
                continue
            coerced, reason = coerce(schema_field, value)
            if reason:
                reasons.append(Problem(f"{target}: {reason}", target))
                continue
            pairs.append((target, coerced))
        if reasons:
            raise ConnectorError(
                f"App '{self.app_id}' refused the push to {external_id!r}: "
                + "; ".join(p.message + (f" ({p.hint})" if p.hint else "") for p in reasons)
                + ". Nothing was written for this account.",
                reasons,
            )
        return pairs

    def _apply(self, item: dict[str, Any], key: str, value: Any) -> None:
        flavour = self.settings.flavour
        if not flavour and key in ACCOUNT_KEYS[1:-1]:
            _set_core(item, key, value)  # a plain app's declared attribute named like a field
            return
        _set_profile(item, key, value)
        mirror = _MIRRORS.get(flavour, {}).get(key.lower())
        if mirror:
            _set_core(item, mirror, value)

    def _save(self, store: _YamlFile | _CsvFile, loaded: _Loaded, touched_grants: bool) -> None:
        try:
            store.save(loaded, touched_grants)
        except OSError as exc:
            raise ConnectorError(
                f"App '{self.app_id}': could not write {self.path}: {exc.strerror or exc}. The "
                "file was left as it was; check the folder's permissions and free space."
            ) from None

    # Provisioning -----------------------------------------------------------------------------

    def create_account(self, fields: dict[str, Any]) -> ListedAccount:
        """Create one account from creation-schema fields; returns it as the app now lists it."""
        description = self.describe()
        if not description.capabilities.provisioning:
            raise ConnectorError(
                f"App '{self.app_id}' cannot create accounts: it has no account-creation schema. "
                "Give it a flavour (active_directory, entra_id) or declare creation_schema: in "
                "its settings."
            )
        values = self._check_creation(fields)
        item, groups = self._new_item(values)
        external_id = str(item["id"])
        with file_lock(self.path):
            store = self._file()
            loaded = store.load()
            self._refuse_clash(store, loaded, item)
            unknown = [g for g in groups if g not in loaded.entitlement_ids]
            if unknown:
                known = ", ".join(sorted(loaded.entitlement_ids)) or "none"
                raise ConnectorError(
                    f"App '{self.app_id}' cannot create {external_id!r}: no group or entitlement "
                    f"{', '.join(repr(g) for g in unknown)} (known: {known}). Nothing was "
                    "created."
                )
            grants = [{"account": external_id, "entitlement": g} for g in dict.fromkeys(groups)]
            store.append(loaded, item, grants)
            self._save(store, loaded, touched_grants=bool(grants))
        problems: list[str] = []
        listed = account_from_item(item, lambda f, m, h: problems.append(m))
        if listed is None:  # pragma: no cover - _new_item only builds valid records
            raise ConnectorError(f"App '{self.app_id}': the new account is invalid: {problems}")
        return listed

    def _check_creation(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        schema = self.describe().creation_schema
        known = {f.key: f for f in schema}
        reasons: list[Problem] = []
        for key in fields:
            if key not in known:
                reasons.append(
                    Problem(
                        f"{key!r} is not a creation field", key, hint=f"fields: {', '.join(known)}"
                    )
                )
        values: dict[str, Any] = {}
        for schema_field in sorted(schema, key=lambda f: f.order):
            value = fields.get(schema_field.key)
            if _is_empty(value):
                value = copy.deepcopy(schema_field.default)
            if _is_empty(value):
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
                f"App '{self.app_id}' cannot create the account: "
                + "; ".join(p.message + (f" ({p.hint})" if p.hint else "") for p in reasons)
                + ". Nothing was created.",
                reasons,
            )
        return values

    def _new_item(self, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        flavour = self.settings.flavour
        groups = [str(g) for g in values.get("groups") or []]
        core: dict[str, Any] = {}
        if flavour == ACTIVE_DIRECTORY:
            sam = values["sAMAccountName"]
            core = {
                "id": sam,
                "display_name": values.get("displayName"),
                "given_name": values.get("givenName"),
                "family_name": values.get("sn"),
                "email": values.get("mail") or values.get("userPrincipalName"),
                "username": sam,
                "employee_ids": [values["employeeID"]] if values.get("employeeID") else None,
                "status": "ENABLED" if values.get("enabled", True) else "DISABLED",
                "manager": values.get("manager"),
            }
            profile = {k: v for k, v in values.items() if k not in _NOT_STORED}
            if values.get("ou"):
                cn = str(values.get("displayName") or sam).replace(",", "\\,")
                profile["distinguishedName"] = f"CN={cn},{values['ou']}"
        elif flavour == ENTRA_ID:
            upn = values["userPrincipalName"]
            core = {
                "id": upn,
                "display_name": values.get("displayName"),
                "given_name": values.get("givenName"),
                "family_name": values.get("surname"),
                "email": upn,
                "username": upn,
                "employee_ids": [values["employeeId"]] if values.get("employeeId") else None,
                "status": "ENABLED" if values.get("accountEnabled", True) else "DISABLED",
            }
            profile = {k: v for k, v in values.items() if k not in _NOT_STORED}
            profile.setdefault("accountEnabled", True)
        else:
            core = {k: values[k] for k in ACCOUNT_KEYS[:-1] if k in values}
            profile = {
                k: v for k, v in values.items() if k not in ACCOUNT_KEYS and k not in _NOT_STORED
            }
            core.setdefault("id", values.get("username") or values.get("email") or "")
            if not core["id"]:
                raise ConnectorError(
                    f"App '{self.app_id}' cannot create the account: its creation schema gives "
                    "no id. Add an 'id', 'username' or 'email' field to creation_schema."
                )
        item: dict[str, Any] = {}
        for key in ACCOUNT_KEYS[:-1]:
            value = core.get(key)
            if not _is_empty(value):
                item[key] = value
        item.setdefault("status", "ENABLED")
        item.setdefault("type", "USER")
        if profile:
            item["profile"] = dict(sorted(profile.items()))
        return item, groups

    def _refuse_clash(
        self, store: _YamlFile | _CsvFile, loaded: _Loaded, item: dict[str, Any]
    ) -> None:
        wanted = {str(item["id"]).casefold(): "id"}
        if item.get("username"):
            wanted.setdefault(str(item["username"]).casefold(), "username")
        for listed in loaded.listing.accounts:
            for existing, what in ((listed.external_id, "id"), (listed.username, "username")):
                if existing and existing.casefold() in wanted:
                    position = loaded.index[listed.external_id]
                    line = store.line_of(loaded, position)
                    where = f" (line {line} of {self.path})" if line else f" (in {self.path})"
                    raise ConnectorError(
                        f"App '{self.app_id}' cannot create {item['id']!r}: an account with "
                        f"{what} {existing!r} already exists{where}. Choose another "
                        f"{self._id_field()} or link the existing account instead.",
                        [Problem(f"{what} {existing!r} already exists", str(self.path), line)],
                    )

    def _id_field(self) -> str:
        return {ACTIVE_DIRECTORY: "sAMAccountName", ENTRA_ID: "userPrincipalName"}.get(
            self.settings.flavour, "id"
        )
