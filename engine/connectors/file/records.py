"""Account, entitlement and grant records as the file connector's two formats hold them (a
mapping per record), turned into Listed* values with every problem reported, plus the account
field list in the order a record is written."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from engine.connectors.base import ListedAccount, ListedEntitlement, ListedGrant, Listing
from engine.connectors.limits import MAX_VALUE_CHARS
from engine.records import (
    ACCOUNT_DATA_FIELDS,
    ACCOUNT_LIST_FIELDS,
    ACCOUNT_TEXT_FIELDS,
    ACCOUNT_TYPES,
    STATUSES,
)
from engine.text import CONTROL_CHARACTER

# Account fields in the order a record is written.
ACCOUNT_KEYS = ("id", *ACCOUNT_DATA_FIELDS)  # "profile" last
STRING_KEYS = ACCOUNT_TEXT_FIELDS
LIST_KEYS = ACCOUNT_LIST_FIELDS
_ACCOUNT_KEY_SET = frozenset(ACCOUNT_KEYS)
CSV_CORE_COLUMNS = ACCOUNT_KEYS[:-1]
ACCOUNT_FIELDS = ACCOUNT_KEYS[1:]  # what describe() reports (external id aside)
TOP_LEVEL_KEYS = ("accounts", "entitlements", "grants")
ENTITLEMENT_KEYS = ("id", "name", "description")
GRANT_KEYS = ("account", "entitlement")
LIST_SEPARATOR = ";"
#: The deepest a profile value may nest lists and mappings (a scalar is level 0).
MAX_PROFILE_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
# Control characters other than tab, line feed and carriage return: never part of a name or an
# attribute (a NUL ends strings in many targets; an escape sequence redraws a terminal).
_CONTROL = CONTROL_CHARACTER


def shown(text: str) -> str:
    """`text` safe to put in a message: a surrogate shows as its escape (`\\ud800`)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def surrogate_in(value: Any) -> tuple[tuple[str, ...], bool, str] | None:
    """The first key or text inside `value` that holds a surrogate code point, or None.

    A surrogate is half of a UTF-16 pair: not a character, so not text that can be stored or
    shown. Returns (the keys and `[n]` list positions leading to it, whether it is in a key,
    the surrogate). Walks without recursion.
    """
    stack: list[tuple[Any, tuple[str, ...], bool]] = [(value, (), False)]
    search = _SURROGATE.search
    while stack:
        current, path, is_key = stack.pop()
        if isinstance(current, str):
            found = search(current)
            if found:
                return path, is_key, found.group()
        elif isinstance(current, dict):
            for key, item in reversed(current.items()):
                stack.append((item, (*path, str(key)), False))
                stack.append((key, (*path, str(key)), True))
        elif isinstance(current, list):
            stack.extend(
                (item, (*path, f"[{n}]"), False) for n, item in reversed(list(enumerate(current)))
            )
    return None


def bad_text_in(value: Any) -> tuple[tuple[str, ...], str, str] | None:
    """The first key or text inside `value` that is too long or holds a control character:
    (the keys leading to it, the message, the hint), or None. Walks without recursion."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            if len(current) > MAX_VALUE_CHARS:
                return (
                    path,
                    f"the value of '{_dotted(path)}' is longer than {MAX_VALUE_CHARS:,} "
                    f"characters; at most {MAX_VALUE_CHARS:,} are read",
                    "fix the export that wrote it; a field of an account is short text",
                )
            if not current.isprintable():
                found = _CONTROL.search(current)
                if found is not None:
                    return (
                        path,
                        f"the value of '{_dotted(path)}' holds the control character "
                        f"\\x{ord(found.group()):02x}",
                        "remove it: control characters are not part of names or attributes",
                    )
        elif isinstance(current, dict):
            for key, item in reversed(current.items()):
                stack.append((item, (*path, str(key))))
                stack.append((key, (*path, str(key))))
        elif isinstance(current, list):
            stack.extend(
                (item, (*path, f"[{n}]")) for n, item in reversed(list(enumerate(current)))
            )
    return None


def text_is_clean(text: str, escapes: bool = True) -> bool:
    """True when `text` holds no control character and, in a format with `escapes` (JSON),
    no escape that could make one (no backslash at all): then no value read from it holds
    one either. False only means each record must be checked (`bad_text_in`)."""
    if escapes and "\\" in text:
        return False
    # The control characters `_CONTROL` matches are ASCII, so each is one byte of UTF-8 that no
    # other character's bytes contain: deleting every other byte leaves nothing from a clean
    # text. A slice at a time, so a large export is never held twice; 2.5x the regex's speed
    # on an 80 MB export.
    for start in range(0, len(text), _SLICE):
        data = text[start : start + _SLICE].encode("utf-8", "surrogatepass")
        if data.translate(None, _NOT_CONTROL):
            return False
    return True


def bytes_are_clean(data: bytes) -> bool:
    """`text_is_clean` for the UTF-8 bytes of a JSON text, without decoding them (a slice at
    a time: `translate` first allocates as much as it is given)."""
    if b"\\" in data:
        return False
    return not any(
        data[start : start + _SLICE].translate(None, _NOT_CONTROL)
        for start in range(0, len(data), _SLICE)
    )


_SLICE = 1 << 22
_NOT_CONTROL = bytes(byte for byte in range(256) if byte >= 0x80 or not _CONTROL.match(chr(byte)))


def _dotted(path: tuple[str, ...]) -> str:
    text = "".join(p if p.startswith("[") else f".{p}" for p in path).removeprefix(".")
    return shown(text[:80])


def innermost_key(path: tuple[str, ...]) -> str:
    """The last key of a `surrogate_in` path (list positions skipped), for finding its line."""
    return next((part for part in reversed(path) if not part.startswith("[")), "")


def surrogate_problem(path: tuple[str, ...], is_key: bool, surrogate: str) -> tuple[str, str]:
    """(message, hint) for what `surrogate_in` found."""
    escape = f"\\u{ord(surrogate):04x}"
    where = shown("".join(p if p.startswith("[") else f".{p}" for p in path).removeprefix("."))
    what = f"the key '{where}'" if is_key else f"the value of '{where}'" if where else "the value"
    return (
        f"{what} contains an unpaired surrogate {escape}, which is not text",
        "fix the export that wrote the file: a surrogate is half of a UTF-16 pair, not a "
        "character; write the character itself or remove the escape",
    )


def nesting(value: Any, limit: int) -> int:
    """How deep `value` nests lists and mappings (a scalar: 0), counting no further than
    `limit` + 1. Walks without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth) for child in children)
    return deepest


def text_of(value: Any) -> str | None:
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


def rounded(value: Any) -> bool:
    """Whether VALUE is a whole number too large for 64 bits, as a JSON reader gives one it
    could not hold exactly (orjson reads 123456789012345678901 as 1.2345678901234568e+20):
    kept, it would be another number than the file's (hostile review)."""
    return type(value) is float and value.is_integer() and not -(2**63) <= value < 2**64


def _too_large(name: str) -> tuple[str, str, str]:
    return (
        name,
        f"{name!r} holds a number too large to be read exactly (more than 64 bits)",
        "write it in quotes, as text",
    )


def plain(value: Any) -> Any:
    """Profile values as the engine sees them: dates become ISO text; the rest is kept."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# each status and type as one object, not one per account
_STATUS = {status: status for status in STATUSES}
_TYPE = {kind: kind for kind in ACCOUNT_TYPES}


def _text(text: str, shared: dict[str, str] | None) -> str:
    return text if shared is None else shared.setdefault(text, text)


def _status(value: Any) -> str | None:
    text = text_of(value)
    if text is None:
        return None
    text = text.upper().removeprefix("USER_STATUS_").removeprefix("STATUS_")
    if not text:
        return "ENABLED"
    return _STATUS.get(text)


def _type(value: Any) -> str | None:
    text = text_of(value)
    if text is None:
        return None
    text = text.upper().removeprefix("APP_USER_TYPE_")
    if not text:
        return "USER"
    return _TYPE.get(text)


Report = Callable[[str, str, str], None]  # (field or "", message, hint)


def account_from_item(
    item: Any, report: Report, checked: bool = False, shared: dict[str, str] | None = None
) -> ListedAccount | None:
    """Turn one account record into a ListedAccount, reporting every problem found.

    `checked`: the caller has made sure that no text of the record is longer than
    MAX_VALUE_CHARS or holds a control character (`text_is_clean` on the text it was read
    from), so the record is not walked for them again. `shared`: one text -> itself map for
    every record of a file, so that equal texts (a company, a department, a status) are one
    object in memory, not one per account."""
    if not isinstance(item, dict):
        report(
            "",
            f"an account must be a mapping, not {kind_of(item)}",
            "write each account as '- id: ...' followed by its fields",
        )
        return None
    ok = True
    bad = None if checked else bad_text_in(item)
    if bad is not None:
        path, message, hint = bad
        report(path[0] if path else "", message, hint)
        return None
    for key in item:
        if key not in _ACCOUNT_KEY_SET:
            report(
                str(key),
                f"unknown account field {key!r}",
                "put the app's own attributes under 'profile:'; account fields are "
                + ", ".join(ACCOUNT_KEYS),
            )
            ok = False
    if rounded(item.get("id")):
        report(*_too_large("id"))
        return None
    external_id = text_of(item.get("id"))
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
            values[key] = _text(raw_value.strip(), shared)
            continue
        text = text_of(raw_value)
        if text is None:
            report(key, f"'{key}' must be text, not {kind_of(item.get(key))}", "")
            ok = False
        elif rounded(raw_value):
            report(*_too_large(key))
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
                f"'{key}' must be a list, not {kind_of(raw)}",
                f"write {key}: [a, b] or one '- value' per line",
            )
            ok = False
            continue
        texts = [v.strip() if type(v) is str else text_of(v) for v in raw]
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
            f"'profile' must be a mapping, not {kind_of(profile)}",
            "write the app's attributes as 'key: value' lines under profile:",
        )
        ok = False
    else:
        for key, value in profile.items():
            if rounded(value):
                report(*_too_large(shown(str(key))))
                ok = False
            if isinstance(value, dict | list) and nesting(value, MAX_PROFILE_DEPTH) > (
                MAX_PROFILE_DEPTH
            ):
                name = shown(str(key))
                report(
                    name,
                    f"the profile value {name!r} nests lists or mappings more than "
                    f"{MAX_PROFILE_DEPTH} levels deep",
                    "flatten the value: a profile attribute is text, a number, or a short "
                    "list or mapping",
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
            _text(k if type(k) is str else str(k), shared): (
                _text(v, shared) if type(v) is str else plain(v)
            )
            for k, v in profile.items()
            if v is not None and v != ""
        },
    )


def kind_of(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "text"}
    return kinds.get(type(value), type(value).__name__)


def entitlement_from(item: Any, report: Callable[[str, str], None]) -> ListedEntitlement | None:
    if not isinstance(item, dict):
        report(f"must be a mapping with id, name and description, not {kind_of(item)}", "")
        return None
    unknown = [str(k) for k in item if k not in ENTITLEMENT_KEYS]
    if unknown:
        report(f"unknown field(s) {', '.join(unknown)}", "entitlements have id, name, description")
        return None
    external_id = text_of(item.get("id"))
    name = text_of(item.get("name"))
    description = text_of(item.get("description"))
    if not external_id:
        report("entitlement has no 'id'", "give every entitlement a unique id")
        return None
    if name is None or description is None:
        report("'name' and 'description' must be text", "")
        return None
    return ListedEntitlement(external_id, name or external_id, description or "")


def refused_id(item: Any) -> str:
    """The id of an account record that was refused ("" when it has none to name)."""
    return (text_of(item.get("id")) or "") if isinstance(item, dict) else ""


def admit_account(
    listing: Listing,
    index: dict[str, int],
    listed: ListedAccount | None,
    position: int,
    first_line: Callable[[int], int | None],
    report: Report,
) -> bool:
    """Add a record's account to the listing unless it is invalid (None) or its id is taken,
    which is reported with the line of the first use; whether it was added."""
    if listed is None:
        return False
    previous = index.get(listed.external_id)
    if previous is not None:
        report(
            "id",
            f"duplicate id {listed.external_id!r} (first used on line {first_line(previous)})",
            "every account needs its own id",
        )
        return False
    index[listed.external_id] = position
    listing.accounts.append(listed)
    return True


def collect_grants(
    raw: Iterable[Any],
    listing: Listing,
    index: Mapping[str, int],
    entitlements: set[str],
    report: Callable[[int, str, str], None],
    refused: Container[str] = frozenset(),
) -> None:
    """`refused`: the ids of the accounts refused with a problem of their own: a grant of
    theirs is not reported again as naming no account (one bad account read as four
    problems; hostile review)."""
    seen: set[tuple[str, str]] = set()
    for position, item in enumerate(raw):
        if not isinstance(item, dict):
            report(
                position, f"must be a mapping with account and entitlement, not {kind_of(item)}", ""
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
        account = text_of(item.get("account"))
        entitlement = text_of(item.get("entitlement"))
        if not account or not entitlement:
            report(position, "a grant needs both 'account' and 'entitlement'", "")
            continue
        if account not in index:
            if account in refused:
                continue  # its account's own problem is reported
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
