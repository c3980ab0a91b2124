"""The file connector's JSON Lines store: one account per line as a JSON object (the same
fields as a YAML account), with `<stem>.entitlements.jsonl` and `<stem>.grants.jsonl` beside
it. The format of large exports: read with orjson, a line at a time, every problem located by
its line; written back with every untouched line kept byte for byte.

A file is handled as bytes: a line is digested, recognised and written back without being
decoded, and orjson parses the lines that are new (refusing any that is not UTF-8, which
`read_text` then locates). Decoding an 80 MB export to text and encoding every line again to
digest it was a third of importing it (issue 11)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from engine.connectors.base import Listing
from engine.connectors.file.chunks import item_digest, line_digests
from engine.connectors.file.records import (
    GRANT_KEYS,
    account_from_item,
    admit_account,
    bytes_are_clean,
    collect_grants,
    entitlement_from,
    kind_of,
    refused_id,
    text_of,
)
from engine.connectors.file.store import (
    LineStyle,
    Loaded,
    Problems,
    read_bytes,
    read_bytes_and_style,
    read_text,
    style_of,
)
from engine.connectors.fileio import atomic_write
from engine.connectors.limits import MAX_VALUE_CHARS
from engine.errors import ConnectorError
from engine.files import ContentDigest, FileRefused, app_file_limit, read_regular_file

HINT = 'each line holds one record as a JSON object: {"id": "...", ...}'


def _objects(
    path: Path, app_id: str, problems: Problems, what: str, data: bytes | None = None
) -> tuple[Iterator[tuple[int, bytes, Any]], bool]:
    """(line number, the line, its value) of every line of `path` (or of its bytes `data`,
    read already) that parses as JSON object, one at a time (a listing never holds every
    parsed record at once), and whether the whole file is free of control characters and
    escapes; the other lines are reported."""
    if data is None:
        data = read_bytes(app_id, path)
    return _parsed_lines(_lines(data), problems, what, (app_id, path)), bytes_are_clean(data)


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """(line number, line) of every line of `data` that is not blank (as text: a line of
    U+3000 or a no-break space is blank too). Lines end at "\n" only (with any "\r" before it
    dropped); only a line starting with a space or a non-ASCII byte is decoded to tell. One
    comprehension, not a loop yielding each line: a push to an 80 MB export splits it twice
    (a tenth of a second each, as a loop)."""
    parts = data.split(b"\n")
    if b"\r" in data:
        parts = [line.rstrip(b"\r") for line in parts]
    maybe = _MAYBE_BLANK
    return [
        (number, line)
        for number, line in enumerate(parts, start=1)
        if line and (line[0] not in maybe or not _blank(line))
    ]


def _blank(line: bytes) -> bool:
    """Whether LINE is blank as text says (U+3000, NBSP, NEL…), not only ASCII."""
    try:
        return line.decode("utf-8").isspace()
    except UnicodeDecodeError:
        return False  # not blank; parsing it locates the bytes


# The first bytes of a line that may be blank: what str.isspace takes among ASCII, and the lead
# bytes of every other character (a JSON line starts with "{" and is never decoded for this).
_MAYBE_BLANK = frozenset(b" \t\x0b\x0c\r\x1c\x1d\x1e\x1f" + bytes(range(0x80, 0x100)))


def _parsed_lines(
    lines: Iterable[tuple[int, bytes]],
    problems: Problems,
    what: str,
    source: tuple[str, Path],
) -> Iterator[tuple[int, bytes, Any]]:
    for number, line in lines:
        value = _parse_line(number, line, problems, what, source)
        if value is not None:
            yield number, line, value


def _kept(data: bytes) -> bytes:
    """orjson's output copied to an object of its own size, for keeping: orjson allocates a
    larger buffer than it fills and the bytes it returns keep all of it (about 4 KB for a short
    line; 35,000 kept grant lines held 130 MB)."""
    return bytes(memoryview(data))


#: `"id": "…"` in a line that does not parse (the JSON string, escapes and all)
_ID_IN_TEXT = re.compile(rb'"id"\s*:\s*("(?:[^"\\\x00-\x1f]|\\.)*")')


def _ids_in(line: bytes) -> list[str]:
    """The ids a line that does not parse shows, as far as they are readable."""
    found = []
    for match in _ID_IN_TEXT.finditer(line[:MAX_ID_SCAN]):
        try:
            found.append(str(orjson.loads(match.group(1))))
        except orjson.JSONDecodeError:
            continue
    return found


#: How much of a broken line is searched for its id
MAX_ID_SCAN = 4096


def _parse_line(
    number: int, line: bytes, problems: Problems, what: str, source: tuple[str, Path]
) -> dict[str, Any] | None:
    """The line's JSON object, or None with the problem recorded. A line that is not UTF-8
    refuses the file as `read_text` does, naming the line and byte (`source`: the app and the
    file)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            read_text(*source)  # raises, locating the first byte that is not UTF-8
        # the decoder counts lines within this one line: its column only ("line 1 column
        # 236" beside "line 15001" read as two places)
        problems.add(f"this is not valid JSON: {exc.msg} at column {exc.colno}", number, HINT)
        problems.unread_ids.update(_ids_in(line))
        return None
    if not isinstance(value, dict):
        problems.add(f"{what} must be a JSON object, not {kind_of(value)}", number, HINT)
        return None
    return value


class JsonlStore:
    def __init__(self, app_id: str, path: Path, keep: bool = True, sidecars: bool = True) -> None:
        """`keep`: keep the records for writing back (a listing alone does not need them);
        `sidecars=False`: the accounts alone, without their entitlements and grants (what a
        read-back after a push needs)."""
        self.app_id = app_id
        self.path = path
        self.keep = keep
        self.sidecars = sidecars
        stem = path.name[: -len(path.suffix)] if path.suffix else path.name
        self.entitlements_path = path.with_name(f"{stem}.entitlements.jsonl")
        self.grants_path = path.with_name(f"{stem}.grants.jsonl")
        self.raw: list[bytes] = []  # each item's line, as read or as an edit wrote it
        # each raw line's digest, when known (load_for_push computed it, no edit changed it)
        self.digests: list[str | None] = []
        self.style = LineStyle()  # the file's BOM and line end, as read: `save` keeps them

    def load(self) -> Loaded:
        problems = Problems(self.path)
        data, self.style = read_bytes_and_style(self.app_id, self.path)
        records, clean = _objects(self.path, self.app_id, problems, "an account", data)
        return self._load(records, clean, problems)

    def sidecar_digest(self) -> str:
        """A digest of the entitlements and grants files as they are ("" when there are none,
        or one cannot be read: then nothing is taken as unchanged)."""
        digest = ContentDigest()
        found = False
        for path in (self.entitlements_path, self.grants_path):
            try:
                digest.update(read_regular_file(path, app_file_limit(), "ROSTER_MAX_APP_FILE_MB"))
                found = True
            except FileNotFoundError:
                digest.update(b"\0missing")
            except (OSError, FileRefused):
                return ""  # the listing says why
        return digest.hexdigest() if found else ""

    def list_changed(self, known: Mapping[str, str], sidecars: str = "") -> Listing:
        """The file's listing with only the accounts whose line is new (digest -> external id
        in `known`, from the last listing's `digests`); the others are named in
        `Listing.unchanged`, never parsed. A file with any problem, or a line repeated, is read
        whole (the problems then name every line).

        `sidecars`: the `Listing.sidecars` digest of the last import the store took in whole.
        When the sidecars are those and every known account is still listed, the grants file
        (the largest of an export) is not parsed again: `Listing.grants_unchanged`, and the
        store keeps the grants it has."""
        seen = self.sidecar_digest() if self.sidecars else ""
        same_grants = bool(seen) and seen == sidecars
        listing = self._list_changed(known, grants=not same_grants)
        if same_grants and not set(known.values()) <= set(listing.unchanged) | {
            a.external_id for a in listing.accounts
        }:
            # an account is gone: grants that name it must be found and reported
            listing = self._list_changed(known, grants=True)
            same_grants = False
        listing.sidecars = seen
        listing.grants_unchanged = same_grants
        return listing

    def _list_changed(self, known: Mapping[str, str], grants: bool) -> Listing:
        numbered = list(_lines(read_bytes(self.app_id, self.path)))
        digests = line_digests(line for _, line in numbered)
        return self._listed(numbered, digests, known, grants)

    def list_written(
        self, lines: list[bytes], digests: list[str | None], known: Mapping[str, str]
    ) -> Listing:
        """`list_changed(known)` without the sidecars, of the file as `save` just wrote it
        (its LINES, and their DIGESTS where known): the read-back after a push, without
        reading and digesting the whole export again. The caller makes sure the file is
        still the one written (engine.connectors.file.connector)."""
        numbered = list(enumerate(lines, start=1))
        known_digests = [
            digest if digest is not None else item_digest(line)
            for line, digest in zip(lines, digests, strict=True)
        ]
        return self._listed(numbered, known_digests, known, grants=True)

    def _listed(
        self,
        numbered: list[tuple[int, bytes]],
        digests: list[str],
        known: Mapping[str, str],
        grants: bool,
    ) -> Listing:
        fresh = [digest not in known for digest in digests]
        unchanged = [known[d] for d, new in zip(digests, fresh, strict=True) if not new]
        if len(set(digests)) != len(digests) or len(set(unchanged)) != len(unchanged):
            return self.load().listing  # a repeated record: the full read reports it
        problems = Problems(self.path)
        wanted = [pair for pair, new in zip(numbered, fresh, strict=True) if new]
        try:
            loaded = self._load(
                _parsed_lines(wanted, problems, "an account", (self.app_id, self.path)),
                # only the lines parsed give values: the others' cleanliness does not matter
                all(bytes_are_clean(line) for _, line in wanted),
                problems,
                also_listed=set(unchanged),
                grants=grants,
            )
        except ConnectorError:
            return self.load().listing
        listing = loaded.listing
        if len(listing.accounts) != len(wanted) or set(unchanged) & set(loaded.index):
            return self.load().listing
        listing.unchanged = unchanged
        return listing

    def _load(
        self,
        records: Iterable[tuple[int, bytes, Any]],
        clean: bool,
        problems: Problems,
        also_listed: set[str] | None = None,
        grants: bool = True,
    ) -> Loaded:
        """Check the parsed account RECORDS and read the sidecars; `also_listed`: accounts
        left out of RECORDS (unchanged) that grants may still name; `grants=False`: the
        entitlements without the grants (known unchanged, see `list_changed`)."""
        listing = Listing()
        index: dict[str, int] = {}
        items: list[dict[str, Any]] = []
        lines: list[int] = []
        shared: dict[str, str] = {}
        refused: set[str] = set()
        keep = self.keep
        for number, line, item in records:
            position = len(lines)

            def report(name: str, message: str, hint: str, number: int = number) -> None:
                field = f", field {name!r}" if name else ""
                problems.add(f"account on line {number}{field}: {message}", number, hint)

            # a line no longer than the longest value, from a file with no control character
            # and no escape, cannot hold a value the records must refuse (its bytes are at
            # least as many as its characters)
            checked = clean and len(line) <= MAX_VALUE_CHARS
            listed = account_from_item(item, report, checked=checked, shared=shared)
            if not admit_account(listing, index, listed, position, lines.__getitem__, report):
                refused.add(refused_id(item))
                continue
            assert listed is not None  # admitted
            listing.digests[listed.external_id] = item_digest(line)
            lines.append(number)
            if keep:
                items.append(item)
                self.raw.append(line)
        entitlement_ids = self._entitlements(listing, problems)
        rows_of_grants: list[dict[str, str]] = []
        if self.sidecars and grants and self.grants_path.exists():
            found = Problems(self.grants_path)
            parsed, _ = _objects(self.grants_path, self.app_id, found, "a grant")
            rows = list(parsed)
            rows_of_grants = [row for _, _, row in rows]
            known = {**index, **dict.fromkeys(also_listed, -1)} if also_listed else index
            collect_grants(
                rows_of_grants,
                listing,
                known,
                entitlement_ids,
                lambda pos, m, h: found.add(f"grant on line {rows[pos][0]}: {m}", rows[pos][0], h),
                refused | problems.unread_ids,
            )
            problems.items.extend(found.items)
        problems.raise_if_any(self.app_id)
        return Loaded(items, listing, index, entitlement_ids, rows_of_grants, lines)

    def _entitlements(self, listing: Listing, problems: Problems) -> set[str]:
        """The entitlements sidecar's entitlements, into LISTING; returns their ids (its
        problems go to PROBLEMS)."""
        entitlement_ids: set[str] = set()
        if not (self.sidecars and self.entitlements_path.exists()):
            return entitlement_ids
        found = Problems(self.entitlements_path)
        entitlements, _ = _objects(self.entitlements_path, self.app_id, found, "an entitlement")
        for number, _line, row in entitlements:

            def report_entitlement(m: str, h: str, number: int = number) -> None:
                found.add(f"entitlement on line {number}: {m}", number, h)

            entitlement = entitlement_from(row, report_entitlement)
            if entitlement is None:
                continue
            if entitlement.external_id in entitlement_ids:
                report_entitlement(
                    f"duplicate entitlement id {entitlement.external_id!r}",
                    "every entitlement needs its own id",
                )
                continue
            entitlement_ids.add(entitlement.external_id)
            listing.entitlements.append(entitlement)
        problems.items.extend(found.items)
        return entitlement_ids

    def load_for_push(self, known: Mapping[str, str] | None = None) -> Loaded:
        """The file's lines, each account indexed by its id, for writing pushed values to a
        few of them. A line that is not a JSON object refuses the write, as a full read
        would, naming it; the fields of the lines not pushed to are not checked again (the
        import did, and they are written back byte for byte), a pushed one is as it is
        stored: a push to 1 % of a large export no longer validates all of it.

        `known` (digest -> external id, as the last import listed the file): a line with a
        known digest is the very text the import parsed, so its id is known and it is parsed
        only when a push writes to it (parsing an 80 MB export took a second)."""
        problems = Problems(self.path)
        data, self.style = read_bytes_and_style(self.app_id, self.path)
        numbered = list(_lines(data))
        self.raw = [line for _, line in numbered]
        count = len(self.raw)
        recognised = known or {}
        # a pass per step over every line, not a loop doing each step per line: a push to
        # 1 % of an 80 MB export spends its time here (issue 11)
        ids: list[str | None] = [None] * count
        self.digests = [None] * count
        if recognised:
            self.digests[:] = line_digests(self.raw)
            ids[:] = map(recognised.get, self.digests)  # type: ignore[arg-type]
        # the unparsed lines' items are None until `item` parses them
        items: list[dict[str, Any] | None] = [None] * count
        source = (self.app_id, self.path)
        for position in [p for p, external_id in enumerate(ids) if external_id is None]:
            number, line = numbered[position]
            item = _parse_line(number, line, problems, "an account", source)
            if item is not None:
                items[position] = item
                ids[position] = text_of(item.get("id"))  # as the import reads it: "7" for 7
        problems.raise_if_any(self.app_id)  # a line that is not an object refuses the write
        # external id -> its first line's position (a repeated id is the import's to report)
        index = dict(zip(reversed(ids), range(count - 1, -1, -1), strict=True))
        index.pop(None, None)
        index.pop("", None)
        lines = [number for number, _ in numbered]
        return Loaded(items, Listing(), index, set(), [], lines)  # type: ignore[arg-type]

    def line_of(self, loaded: Loaded, position: int) -> int | None:
        return loaded.lines[position] if position < len(loaded.lines) else None

    def item(self, loaded: Loaded, position: int) -> dict[str, Any]:
        item = loaded.items[position]
        if item is None:  # recognised by its digest (load_for_push): parsed now
            item = loaded.items[position] = orjson.loads(self.raw[position])
        return item

    def store(self, loaded: Loaded, position: int, item: dict[str, Any]) -> None:
        line = self._line(item)  # an account the file cannot hold is refused alone
        loaded.items[position] = item
        self.raw[position] = line
        if position < len(self.digests):
            self.digests[position] = None

    def append(self, loaded: Loaded, item: dict[str, Any], grants: list[dict[str, str]]) -> None:
        self.raw.append(self._line(item))
        loaded.items.append(item)
        loaded.grants.extend(grants)

    def _line(self, item: dict[str, Any]) -> bytes:
        try:
            return _kept(orjson.dumps(item))
        except TypeError as exc:
            raise ConnectorError(
                f"App '{self.app_id}': {self.path} cannot hold a value of the account "
                f"{item.get('id')!r}: {exc}. Map a text, number, list or mapping instead."
            ) from None

    def save(self, loaded: Loaded, touched_grants: bool) -> None:
        lines, (bom, newline) = self.raw, self.style

        def write(fh: Any) -> None:
            fh.write(bom)
            # joined a few thousand lines at a time: one bytes object per line (line +
            # newline) cost a 1 % sync a twentieth of a second over an 80 MB export
            for start in range(0, len(lines), 4096):
                fh.write(newline.join(lines[start : start + 4096]))
                fh.write(newline)

        atomic_write(self.path, write, binary=True)
        if touched_grants:
            grants = loaded.grants
            # the grants file keeps its own BOM and line ends, as the accounts' file does
            grants_bom, grants_newline = style_of(self.grants_path)

            def write_grants(fh: Any) -> None:
                fh.write(grants_bom)
                fh.writelines(
                    orjson.dumps({key: g[key] for key in GRANT_KEYS}) + grants_newline
                    for g in grants
                )

            atomic_write(self.grants_path, write_grants, binary=True)
