"""What the file connector's two stores (YAML, CSV) share: the loaded file, its problems, and
reading the file's text; `FileStore` is the interface the connector writes through."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from engine.connectors.base import Listing
from engine.connectors.file.records import shown
from engine.errors import ConnectorError, Problem
from engine.files import FileRefused, app_file_limit, read_regular_file

MAX_PROBLEMS = 50
#: How many problems an error's message lists (all of them stay in its `problems`).
SHOWN_PROBLEMS = 5


@dataclass
class Loaded:
    """A parsed, validated file: its records (as editable dicts) and what it lists."""

    items: list[dict[str, Any]]
    listing: Listing
    index: dict[str, int]  # external id -> position in items
    entitlement_ids: set[str]
    grants: list[dict[str, str]]
    lines: list[int] = field(default_factory=list)  # line of each item (CSV: always known)


class Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[Problem] = []
        # the ids of records that could not be read at all (a JSON line that does not parse),
        # as far as their text shows them: a grant naming one is not a problem of its own
        self.unread_ids: set[str] = set()

    def add(self, message: str, line: int | None, hint: str = "") -> None:
        """Record a problem; text from the file that is not text (a surrogate) shows escaped."""
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(shown(message), str(self.path), line=line, hint=shown(hint)))

    def raise_if_any(self, app_id: str) -> None:
        if not self.items:
            return
        first = self.items[0]
        count = len(self.items)
        more = (
            ""
            if count == 1
            else f" ({count} problems in all)"
            if count < MAX_PROBLEMS
            else f" (at least {count} problems)"
        )
        others = [f"\n  also {_located(p, first.path)}" for p in self.items[1:SHOWN_PROBLEMS]]
        if count > SHOWN_PROBLEMS:
            others.append(f"\n  … and {count - SHOWN_PROBLEMS} more of the same kind or others")
        raise ConnectorError(
            f"App '{app_id}': cannot read {first.path}{_where(first)}: {first.message}"
            f"{_hint(first)}.{more} Fix the file and sync again; until then its accounts stay "
            "as they were." + "".join(others),
            list(self.items),
        )


def _where(problem: Problem) -> str:
    return f", line {problem.line}" if problem.line is not None else ""


def _hint(problem: Problem) -> str:
    return f" ({problem.hint})" if problem.hint else ""


def _located(problem: Problem, first_path: str) -> str:
    """One more problem, on one line: its file when not the first one's, its line, its text."""
    if problem.path != first_path:
        place = f"{problem.path}{_where(problem)}"
    else:
        place = _where(problem).removeprefix(", ") or problem.path
    return f"{place}: {problem.message}{_hint(problem)}"


_BOM = b"\xef\xbb\xbf"


def read_bytes(app_id: str, path: Path) -> bytes:
    """The file's bytes, without a UTF-8 byte order mark: for a reader that decodes only the
    parts it needs (JSON Lines; orjson refuses any line that is not UTF-8, and `read_text`
    then names the line and byte)."""
    return read_bytes_and_style(app_id, path)[0]


def read_bytes_and_style(app_id: str, path: Path) -> tuple[bytes, LineStyle]:
    """`read_bytes`, and how the file writes its lines, for a writer that keeps it."""
    data = _read(app_id, path)
    style = _style(data)
    return data[len(style.bom) :], style


def style_of(path: Path) -> LineStyle:
    """How the file at PATH writes its lines, from its start: for a writer that replaces a
    file it has not read whole (a grants file rewritten after a creation). A file that is
    not there, or cannot be read, takes the plain style."""
    try:
        with path.open("rb") as handle:
            return _style(handle.read(65_536))
    except OSError:
        return LineStyle()


def _style(data: bytes) -> LineStyle:
    bom = _BOM if data.startswith(_BOM) else b""
    end = data.find(b"\n")
    if end < 0 and b"\r" in data:  # an old Mac tool's export: CR alone ends its lines
        return LineStyle(bom, b"\r")
    crlf = end > 0 and data[end - 1] == 0x0D  # the first line's end says the file's
    return LineStyle(bom, b"\r\n" if crlf else b"\n")


class LineStyle(NamedTuple):
    """A text file's byte order mark (b"" for none) and line end, as it was read: a Windows
    tool's export stays a Windows export when Roster writes it back."""

    bom: bytes = b""
    newline: bytes = b"\n"


def read_text(app_id: str, path: Path) -> str:
    data = _read(app_id, path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConnectorError(
            f"App '{app_id}': {path} is not UTF-8 text (line {line}, byte {exc.start}). "
            "Save it as UTF-8 and sync again.",
            [Problem("not UTF-8", str(path), line=line, hint="save the file as UTF-8")],
        ) from None


def _read(app_id: str, path: Path) -> bytes:
    try:
        return read_regular_file(path, app_file_limit(), "ROSTER_MAX_APP_FILE_MB")
    except FileRefused as exc:
        raise ConnectorError(
            f"App '{app_id}': cannot read {path}: {exc.reason}; {exc.hint}. Nothing was changed.",
            [Problem(f"cannot read: {exc.reason}", str(path), line=1, hint=exc.hint)],
        ) from None
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


class FileStore(Protocol):
    """One app's file(s) in one format. `load` reads and validates afresh; the edits change the
    loaded copy; `save` writes it back atomically."""

    def load(self) -> Loaded: ...

    def list_changed(self, known: Mapping[str, str], sidecars: str = "") -> Listing: ...

    def line_of(self, loaded: Loaded, position: int) -> int | None: ...

    def item(self, loaded: Loaded, position: int) -> dict[str, Any]: ...

    def store(self, loaded: Loaded, position: int, item: dict[str, Any]) -> None: ...

    def append(
        self, loaded: Loaded, item: dict[str, Any], grants: list[dict[str, str]]
    ) -> None: ...

    def save(self, loaded: Loaded, touched_grants: bool) -> None: ...
