"""The file connector's YAML store: one document with accounts, entitlements and grants, read
with line numbers for every problem and written back with its comments and order kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.connectors.base import Listing
from engine.connectors.file.records import (
    TOP_LEVEL_KEYS,
    account_from_item,
    collect_grants,
    entitlement_from,
    kind_of,
)
from engine.connectors.file.store import Loaded, Problems, read_text
from engine.connectors.fileio import (
    YamlDocument,
    atomic_write,
    leading_comments,
    write_yaml_document,
)


class YamlStore:
    def __init__(self, app_id: str, path: Path) -> None:
        self.app_id = app_id
        self.path = path
        self.document: dict[str, Any] = {}
        self.header = ""
        self.parsed: YamlDocument | None = None

    def load(self) -> Loaded:
        text = read_text(self.app_id, self.path)
        problems = Problems(self.path)
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
