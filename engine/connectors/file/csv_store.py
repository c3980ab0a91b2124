"""The file connector's CSV store: one row per account (lists separated by `;`, every other
column a profile attribute), with `<stem>.entitlements.csv` and `<stem>.grants.csv` beside it."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from engine.connectors.base import Listing
from engine.connectors.file.chunks import item_digest
from engine.connectors.file.records import (
    ACCOUNT_KEYS,
    CSV_CORE_COLUMNS,
    ENTITLEMENT_KEYS,
    GRANT_KEYS,
    LIST_KEYS,
    LIST_SEPARATOR,
    account_from_item,
    admit_account,
    collect_grants,
    entitlement_from,
    refused_id,
    text_is_clean,
)
from engine.connectors.file.store import Loaded, Problems, read_text, style_of
from engine.connectors.fileio import atomic_write, csv_records, csv_records_fast, write_csv
from engine.connectors.limits import MAX_VALUE_CHARS
from engine.errors import ConnectorError


class CsvStore:
    """A CSV app: the account file plus optional entitlement and grant sidecars."""

    def __init__(self, app_id: str, path: Path, sidecars: bool = True) -> None:
        """`sidecars=False`: the accounts alone, without their entitlements and grants (what a
        read-back after a push needs)."""
        self.app_id = app_id
        self.path = path
        self.sidecars = sidecars
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        self.entitlements_path = path.with_name(f"{stem}.entitlements.csv")
        self.grants_path = path.with_name(f"{stem}.grants.csv")
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.clean = False  # the last file read holds no control character

    def _table(
        self,
        path: Path,
        required: tuple[str, ...],
        problems: Problems,
        allowed: tuple[str, ...] | None = None,
    ) -> tuple[list[str], list[tuple[int, list[str]]]]:
        text = read_text(self.app_id, path)
        self.clean = text_is_clean(text, escapes=False)  # CSV has no escapes
        records: list[tuple[int, list[str]]] = csv_records_fast(text) or []
        try:
            if not records:
                for line, values in csv_records(text):
                    records.append((line, values))
        except csv.Error as exc:
            line = (records[-1][0] + 1) if records else 1
            if "field larger than field limit" in str(exc):  # the csv module's own limit
                problems.add(
                    f"a value is longer than {MAX_VALUE_CHARS:,} characters; at most "
                    f"{MAX_VALUE_CHARS:,} are read",
                    line,
                    "fix the export that wrote it; a field of an account is short text",
                )
            else:
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

    def list_changed(self, known: Mapping[str, str], sidecars: str = "") -> Listing:
        """The file's listing with only the accounts whose row is new (digest -> external id
        in `known`, from the last listing's `digests`); the others are named in
        `Listing.unchanged`, never built or checked. A file with any problem, or a row
        repeated, is read whole (the problems then name every row)."""
        try:
            listing = self.load(known).listing
        except ConnectorError:
            return self.load().listing
        unchanged = set(listing.unchanged)
        if len(unchanged) != len(listing.unchanged) or any(
            a.external_id in unchanged for a in listing.accounts
        ):
            return self.load().listing  # an id used twice: the full read reports it
        return listing

    def load(self, known: Mapping[str, str] | None = None) -> Loaded:
        """Read and check the file; with `known` (see `list_changed`) the rows whose digest
        it holds are only named, and `items` holds the other rows only (not for writing)."""
        problems = Problems(self.path)
        header, body = self._table(self.path, ("id",), problems)
        problems.raise_if_any(self.app_id)
        # a record of a file with no control character, whose column names and values are
        # all short, holds nothing the records must refuse: it is not walked again
        clean = self.clean and max(map(len, header), default=0) <= MAX_VALUE_CHARS
        shared: dict[str, str] = {}
        self.header = header
        self.rows = [values for _, values in body]
        lines = [line for line, _ in body]
        listing = Listing()
        index: dict[str, int] = {}
        items: list[dict[str, Any]] = []
        unchanged: list[str] = []
        refused: set[str] = set()
        # the header is part of a row's meaning: a renamed column changes every row. A row's
        # digest is of `[header, values]` as JSON, its header's part made once (one list and a
        # decode and encode per row were a tenth of listing 100,000 rows)
        head = b"[" + orjson.dumps(header) + b","
        for position, values in enumerate(self.rows):
            line = lines[position]
            digest = item_digest(head + orjson.dumps(values) + b"]")
            if known is not None and digest in known:
                unchanged.append(known[digest])
                continue
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

            checked = clean and max(map(len, values), default=0) <= MAX_VALUE_CHARS
            listed = account_from_item(item, report, checked=checked, shared=shared)
            if admit_account(listing, index, listed, position, lines.__getitem__, report):
                assert listed is not None  # admitted
                listing.digests[listed.external_id] = digest
            else:
                refused.add(refused_id(item))
        listing.unchanged = unchanged
        entitlement_ids: set[str] = set()
        grants: list[dict[str, str]] = []
        if self.sidecars and self.entitlements_path.exists():
            ent_problems = Problems(self.entitlements_path)
            ent_header, ent_rows = self._table(
                self.entitlements_path, ("id",), ent_problems, ENTITLEMENT_KEYS
            )
            for row, (line, values) in enumerate(ent_rows, start=1):
                if len(values) != len(ent_header):
                    continue

                def report_entitlement(m: str, h: str, line: int = line, row: int = row) -> None:
                    ent_problems.add(f"row {row}: {m}", line, h)

                entitlement = entitlement_from(
                    dict(zip(ent_header, values, strict=True)), report_entitlement
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
        if self.sidecars and self.grants_path.exists():
            grant_problems = Problems(self.grants_path)
            grant_header, grant_rows = self._table(
                self.grants_path, GRANT_KEYS, grant_problems, GRANT_KEYS
            )
            kept = [
                (row, line, v)
                for row, (line, v) in enumerate(grant_rows, start=1)
                if len(v) == len(grant_header)
            ]
            rows = [dict(zip(grant_header, v, strict=True)) for _, _, v in kept]
            collect_grants(
                rows,
                listing,
                {**index, **dict.fromkeys(unchanged, -1)} if unchanged else index,
                entitlement_ids,
                lambda pos, m, h: grant_problems.add(f"row {kept[pos][0]}: {m}", kept[pos][1], h),
                refused,
            )
            grants = rows
            problems.items.extend(grant_problems.items)
        problems.raise_if_any(self.app_id)
        return Loaded(items, listing, index, entitlement_ids, grants, lines)

    def line_of(self, loaded: Loaded, position: int) -> int | None:
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

    def item(self, loaded: Loaded, position: int) -> dict[str, Any]:
        return loaded.items[position]

    def store(self, loaded: Loaded, position: int, item: dict[str, Any]) -> None:
        loaded.items[position] = item
        self.rows[position] = self._row(item)

    def append(self, loaded: Loaded, item: dict[str, Any], grants: list[dict[str, str]]) -> None:
        loaded.items.append(item)
        self.rows.append(self._row(item))
        loaded.grants.extend(grants)

    def save(self, loaded: Loaded, touched_grants: bool) -> None:
        # each file keeps its BOM and line ends: a Windows tool's export stays one
        header, rows = self.header, self.rows
        _write_styled(self.path, header, rows)
        if touched_grants:
            grant_rows = [[g["account"], g["entitlement"]] for g in loaded.grants]
            _write_styled(self.grants_path, list(GRANT_KEYS), grant_rows)


def _write_styled(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """HEADER and ROWS over the file at PATH, in the style it is written in now."""
    style = style_of(path)
    bom, newline = style.bom.decode("utf-8"), style.newline.decode("ascii")

    def write(fh: Any) -> None:
        fh.write(bom)
        write_csv(fh, header, rows, newline)

    atomic_write(path, write)
