"""The file connector's YAML store: one document with accounts, entitlements and grants, read
with line numbers for every problem and written back with its comments and order kept."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from engine.connectors.base import Listing
from engine.connectors.file.chunks import split_accounts
from engine.connectors.file.records import (
    TOP_LEVEL_KEYS,
    account_from_item,
    admit_account,
    collect_grants,
    entitlement_from,
    innermost_key,
    kind_of,
    refused_id,
    shown,
    surrogate_in,
    surrogate_problem,
    text_of,
)
from engine.connectors.file.store import Loaded, Problems, read_text
from engine.connectors.fileio import (
    YamlDocument,
    YamlRefused,
    atomic_write,
    leading_comments,
    may_hold_surrogates,
    write_yaml_document,
)
from engine.errors import ConnectorError

# What each top-level list holds, for messages ("account #3").
_ITEM_LABELS = {"accounts": "account", "entitlements": "entitlement", "grants": "grant"}
# An escape libyaml refuses: a surrogate (\uD800-\uDFFF) or a code beyond Unicode.
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


class YamlStore:
    def __init__(self, app_id: str, path: Path) -> None:
        self.app_id = app_id
        self.path = path
        self.document: dict[str, Any] = {}
        self.header = ""
        self.parsed: YamlDocument | None = None

    def load(self) -> Loaded:
        text = read_text(self.app_id, self.path)
        loaded = self._load(text)
        split = split_accounts(text)
        if split is not None and len(split.items) == len(loaded.items):
            digests = split.digests()
            loaded.listing.digests = {
                external_id: digests[position] for external_id, position in loaded.index.items()
            }
        return loaded

    def list_changed(self, known: Mapping[str, str], sidecars: str = "") -> Listing:
        """The file's listing with only the accounts whose text is new (digest -> external id in
        `known`); the others are named in `Listing.unchanged`, never parsed. A file that is not
        in the plain shape, or has any problem, is read whole (the problems then name the
        file's own lines)."""
        text = read_text(self.app_id, self.path)
        split = split_accounts(text)
        if split is None:
            return self.load().listing
        digests = split.digests()
        fresh = [digest not in known for digest in digests]
        unchanged = [known[d] for d, new in zip(digests, fresh, strict=True) if not new]
        if len(set(digests)) != len(digests) or len(set(unchanged)) != len(unchanged):
            return self.load().listing  # a repeated record: the full read reports it
        try:
            loaded = self._load(split.without(fresh), also_listed=set(unchanged))
        except ConnectorError:
            return self.load().listing
        listing = loaded.listing
        new_digests = [d for d, new in zip(digests, fresh, strict=True) if new]
        named = set(unchanged)
        if len(listing.accounts) != len(new_digests) or any(
            a.external_id in named for a in listing.accounts
        ):
            return self.load().listing
        listing.digests = {
            a.external_id: d for a, d in zip(listing.accounts, new_digests, strict=True)
        }
        listing.unchanged = unchanged
        return listing

    def _load(self, text: str, also_listed: set[str] | None = None) -> Loaded:
        """Parse and check `text`; `also_listed`: accounts left out of it (unchanged) that
        grants may still name."""
        problems = Problems(self.path)
        try:
            parsed = YamlDocument(text)
        except YamlRefused as exc:
            problems.add(exc.message, exc.line, exc.hint)
            problems.raise_if_any(self.app_id)
            raise  # unreachable
        except yaml.YAMLError as exc:
            if _bad_escape(problems, text, exc):
                problems.raise_if_any(self.app_id)
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
                f"the file must be a mapping with 'accounts:', not {kind_of(data)}",
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
                f"'accounts' must be a list, not {kind_of(items)}",
                parsed.key_line("accounts"),
                "write one '- id: ...' item per account",
            )
            items = []
        unreadable = _surrogates(data, parsed, problems) if may_hold_surrogates(text) else set()
        listing = Listing()
        index: dict[str, int] = {}
        refused: set[str] = set()
        for position, item in enumerate(items):
            if position in unreadable:
                continue

            def report(name: str, message: str, hint: str, position: int = position) -> None:
                problems.add(
                    f"account #{position + 1}: {message}",
                    parsed.item_line("accounts", position, name),
                    hint,
                )

            listed = account_from_item(item, report)
            if not admit_account(
                listing, index, listed, position, lambda p: parsed.item_line("accounts", p), report
            ):
                refused.add(refused_id(item))
        entitlement_ids = self._entitlements(data, parsed, listing, problems)
        known = {**index, **dict.fromkeys(also_listed, -1)} if also_listed else index
        grants = self._grants(data, parsed, listing, known, entitlement_ids, problems, refused)
        problems.raise_if_any(self.app_id)
        self.document = data
        self.parsed = parsed
        self.header = leading_comments(text)
        return Loaded(items, listing, index, entitlement_ids, grants)

    def line_of(self, loaded: Loaded, position: int) -> int | None:
        return self.parsed.item_line("accounts", position) if self.parsed else None

    def _entitlements(
        self, data: dict[str, Any], parsed: YamlDocument, listing: Listing, problems: Problems
    ) -> set[str]:
        raw = data.get("entitlements") or []
        if not isinstance(raw, list):
            problems.add(
                f"'entitlements' must be a list, not {kind_of(raw)}",
                parsed.key_line("entitlements"),
                "write one '- id: ...' item per entitlement",
            )
            return set()
        seen: set[str] = set()
        for position, item in enumerate(raw):
            line = parsed.item_line("entitlements", position)

            def report_entitlement(
                m: str, h: str, line: int | None = line, n: int = position + 1
            ) -> None:
                problems.add(f"entitlement #{n}: {m}", line, h)

            entitlement = entitlement_from(item, report_entitlement)
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
        problems: Problems,
        refused: set[str],
    ) -> list[dict[str, str]]:
        raw = data.get("grants") or []
        if not isinstance(raw, list):
            problems.add(
                f"'grants' must be a list, not {kind_of(raw)}",
                parsed.key_line("grants"),
                "write one '- {account: ..., entitlement: ...}' item per grant",
            )
            return []
        collect_grants(
            raw,
            listing,
            index,
            entitlements,
            lambda pos, m, h: problems.add(
                f"grant #{pos + 1}: {m}", parsed.item_line("grants", pos), h
            ),
            refused,
        )
        return raw

    def item(self, loaded: Loaded, position: int) -> dict[str, Any]:
        return loaded.items[position]

    def store(self, loaded: Loaded, position: int, item: dict[str, Any]) -> None:
        loaded.items[position] = item

    def append(self, loaded: Loaded, item: dict[str, Any], grants: list[dict[str, str]]) -> None:
        accounts = self.document.get("accounts")
        if not isinstance(accounts, list):
            accounts = self.document["accounts"] = loaded.items
        accounts.append(item)
        if grants:
            existing = self.document.get("grants")
            if not isinstance(existing, list):
                existing = self.document["grants"] = []
            existing.extend(grants)

    def save(self, loaded: Loaded, touched_grants: bool) -> None:
        document = self.document
        if "accounts" not in document or document["accounts"] is None:
            document["accounts"] = loaded.items
        atomic_write(self.path, lambda fh: write_yaml_document(fh, document, self.header))


def _surrogates(data: dict[Any, Any], parsed: YamlDocument, problems: Problems) -> set[int]:
    """Report every record holding a surrogate (an escape such as "\\uD800" that makes half a
    UTF-16 pair, which is not text and cannot be stored); returns the accounts' positions."""
    unreadable: set[int] = set()
    for key, value in data.items():
        if not isinstance(value, list):
            found = surrogate_in({key: value})
            if found:
                message, hint = surrogate_problem(*found)
                problems.add(message, parsed.key_line(str(key)), hint)
            continue
        label = _ITEM_LABELS.get(key, f"item of {shown(str(key))!r}")
        for position, item in enumerate(value):
            found = surrogate_in(item)
            if not found:
                continue
            if key == "accounts":
                unreadable.add(position)
            message, hint = surrogate_problem(*found)
            problems.add(
                f"{label} #{position + 1}{_named(item)}: {message}",
                parsed.item_line(str(key), position, innermost_key(found[0])),
                hint,
            )
    return unreadable


def _bad_escape(problems: Problems, text: str, exc: yaml.YAMLError) -> bool:
    """Report libyaml's "invalid Unicode character escape code" as what it is (an escape such as
    "\\uD800" that makes no character: half of a UTF-16 pair, or beyond Unicode); False when
    `exc` is another error."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None or "invalid Unicode character escape" not in str(getattr(exc, "problem", "")):
        return False
    lines = text.split("\n")
    line_text = lines[mark.line] if mark.line < len(lines) else ""
    escapes = [m for m in _ESCAPE.finditer(line_text) if m.start() < mark.column]
    written = escapes[-1].group() if escapes else "a \\u escape"
    code = int(written[2:], 16) if escapes else 0xD800
    what = (
        f"an unpaired surrogate \\u{code:04x} (written {written})"
        if 0xD800 <= code <= 0xDFFF
        else f"the escape {written}, beyond the last Unicode character"
    )
    problems.add(
        f"{_record_at(text, mark.line + 1)}this line holds {what}, which is not text",
        mark.line + 1,
        "fix the export that wrote the file: write the character itself or remove the escape",
    )
    return True


def _named(item: Any) -> str:
    """` (id 'E1')` for a record with an id, else nothing."""
    ident = text_of(item.get("id")) if isinstance(item, dict) else None
    return f" (id {ident!r})" if ident else ""


def _harmless(match: re.Match[str]) -> str:
    code = int(match.group()[2:], 16)
    return "\\ufffd" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group()


def _record_at(text: str, line: int) -> str:
    """`account #3 (id 'E3'): ` for the record that `line` belongs to, or "" when that cannot be
    told. Reads the file again with every escape libyaml refuses made harmless (the lines stay
    where they were), so it is only for the message of a file that failed."""
    try:
        parsed = YamlDocument(_ESCAPE.sub(_harmless, text))
    except (yaml.YAMLError, YamlRefused, ValueError, TypeError, RecursionError):
        return ""
    data = parsed.data
    if not isinstance(data, dict):
        return ""
    owner, owner_line = None, 0
    for key in data:
        key_line = parsed.key_line(str(key)) or 0
        if owner_line <= key_line <= line:
            owner, owner_line = key, key_line
    items = data.get(owner) if owner in _ITEM_LABELS else None
    if not isinstance(items, list):
        return ""
    position = None
    for index in range(len(items)):
        start = parsed.item_line(str(owner), index)
        if start is None or start > line:
            break
        position = index
    if position is None:
        return ""
    return f"{_ITEM_LABELS[str(owner)]} #{position + 1}{_named(items[position])}: "
