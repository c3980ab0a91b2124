"""Reading and writing the file connector's YAML and CSV files, and nothing else.

Shared by the connector (write-back) and the sample-data generator, so that a file the generator
wrote and the same file rewritten by a push differ only where the push changed something.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import io
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

import yaml

from engine.connectors.yamlfast import MAX_DEPTH, FastYaml, Unsupported
from engine.text import printable

try:  # libyaml is much faster; fall back to the pure-Python classes when it is missing.
    _Loader: Any = yaml.CSafeLoader
    _BaseDumper: Any = yaml.CSafeDumper
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader
    _BaseDumper = yaml.SafeDumper

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"


class _SafeLoader(_Loader):  # type: ignore[misc]  # PyYAML is untyped: its loader is Any
    """YAML 1.1 guesses that bite identity data are turned off: `NO` (Norway), `on`, `yes` stay
    text, and so do numbers with leading zeros (`0042` is an employee number, not octal 34).
    Only true/false are booleans; only plain decimal numbers are integers."""


_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT)]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_SafeLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_SafeLoader.add_implicit_resolver(
    _INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)


class _Dumper(_BaseDumper):  # type: ignore[misc]  # PyYAML is untyped: its dumper is Any
    """Block style, never anchors (a shared list must be written out each time)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


CHUNK = 1000  # records rendered per write when streaming a long list

# A string is written plain (unquoted) only when it is obviously safe: word characters, spaces
# and a few punctuation marks, starting with a word character (or + and a word character), not
# ending in a space, and not something a YAML 1.1 reader would take for a number, date, boolean
# or null. Everything else is left to PyYAML, which quotes it as needed.
_PLAIN = re.compile(r"^\+?\w[\w .@+\-/(),']*$")
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers


def _is_plain(text: str) -> bool:
    if not _PLAIN.match(text) or text.endswith(" "):
        return False
    for _tag, regexp in _RESOLVERS.get(text[0], ()):
        if regexp.match(text):
            return False
    return True


@functools.lru_cache(maxsize=65536)
def _quoted(text: str) -> str:
    if text.isprintable():
        rendered: str = yaml.dump(text, Dumper=_Dumper, allow_unicode=True, width=2**30)
        return rendered.removesuffix("\n...\n").removesuffix("\n")
    return json.dumps(text)  # escapes line breaks and control characters; valid YAML


_SEEN: dict[str, str] = {}  # rendered form of strings met often (keys, departments, statuses)
_SEEN_MAX = 50_000


def yaml_scalar(value: Any) -> str:
    """One scalar as it appears after `key: ` or `- `."""
    if type(value) is str:
        seen = _SEEN.get(value)
        if seen is not None:
            return seen
        text = value if _is_plain(value) else _quoted(value)
        if len(value) < 40 and len(_SEEN) < _SEEN_MAX:
            _SEEN[value] = text
        return text
    if isinstance(value, str):
        return value if _is_plain(value) else _quoted(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return dump_yaml(value).removesuffix("\n...\n").removesuffix("\n")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return dump_yaml(value).removesuffix("\n...\n").removesuffix("\n")


def _render(value: Any, indent: int, first: str, out: list[str]) -> None:
    """Append the block-style lines of a non-empty mapping or list at `indent`; the first line
    starts with `first` instead of the indentation (used for "- " items)."""
    pad = " " * indent
    lead = first
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = _SEEN.get(key) or yaml_scalar(key)
            if isinstance(item, dict) and item:
                out.append(f"{lead}{key_text}:\n")
                _render(item, indent + 2, " " * (indent + 2), out)
            elif isinstance(item, list | tuple) and item:
                out.append(f"{lead}{key_text}:\n")
                _render(item, indent, pad, out)  # lists under a key are not indented
            else:
                out.append(f"{lead}{key_text}: {yaml_scalar(item)}\n")
            lead = pad
    else:
        for item in value:
            if (isinstance(item, dict | list | tuple)) and item:
                _render(item, indent + 2, f"{lead}- ", out)
            else:
                out.append(f"{lead}- {yaml_scalar(item)}\n")
            lead = pad


def render_yaml(value: Any) -> str:
    """Block-style YAML for plain data (what `dump_yaml` gives, only much faster)."""
    if isinstance(value, dict | list | tuple) and value:
        out: list[str] = []
        _render(value, 0, "", out)
        return "".join(out)
    return dump_yaml(value)


def dump_yaml(value: Any) -> str:
    text: str = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=2**30,
    )
    return text


def write_yaml_document(fh: IO[str], document: dict[str, Any], header: str = "") -> None:
    """Write a top-level mapping, streaming long lists in chunks."""
    fh.write(header)
    for key, value in document.items():
        if isinstance(value, list):
            write_yaml_list(fh, key, value)
        else:
            fh.write(render_yaml({key: value}))


def write_yaml_list(fh: IO[str], key: str, items: Iterable[Any]) -> int:
    """Write `key:` and its list items a chunk at a time (an empty list as `key: []`).

    Takes any iterable, so a generator of records streams straight to disk. Returns the count.
    """
    key_text = yaml_scalar(key)
    count = 0
    chunk: list[Any] = []
    for item in items:
        if not count and not chunk:
            fh.write(f"{key_text}:\n")
        chunk.append(item)
        if len(chunk) >= CHUNK:
            fh.write(render_yaml(chunk))
            count += len(chunk)
            chunk = []
    if chunk:
        fh.write(render_yaml(chunk))
        count += len(chunk)
    elif not count:
        fh.write(f"{key_text}: []\n")
    return count


#: The deepest nesting of lists and mappings an app file may have, the document itself counting
#: as one (an account's profile sits at level four).
MAX_YAML_DEPTH = MAX_DEPTH
#: How many values aliases may add to a file beyond the ones it spells out: at least this many,
#: and as many as the file spells out when that is more.
ALIAS_ALLOWANCE = 100_000


class YamlRefused(Exception):
    """Valid YAML that an app file may not be: nested too deep, a value that contains itself, or
    aliases that multiply the file (the "billion laughs": a few hundred bytes that expand to
    millions of values). Carries the message, the 1-based line and a hint."""

    def __init__(self, message: str, line: int | None, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_nodes(root: yaml.Node) -> None:
    """Refuse a node tree that nests lists and mappings deeper than MAX_YAML_DEPTH, holds a value
    inside itself, or whose aliases expand it far beyond what the file spells out. Walks each
    node once (an alias is a second reference to the same node), without recursion; raises
    YamlRefused. Depths count lists and mappings only, as the fast reader does."""
    # node -> (values once aliases expand, lists and mappings nested in it, itself included)
    done: dict[int, tuple[int, int]] = {}
    active: set[int] = set()  # nodes whose children are being walked
    shared: dict[int, yaml.Node] = {}  # nodes reached more than once: the aliased ones
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, finished = stack.pop()
        key = id(node)
        if finished:
            active.discard(key)
            size, height = 1, int(not isinstance(node, yaml.ScalarNode))
            for child in _children(node):
                child_size, child_height = done[id(child)]
                size += child_size
                height = max(height, child_height + 1)
            done[key] = (size, height)
            continue
        known = done.get(key)
        if known is not None:
            shared[key] = node
            if depth + known[1] - 1 > MAX_YAML_DEPTH:
                raise YamlRefused(
                    f"an alias nests the value anchored here more than {MAX_YAML_DEPTH} lists or "
                    "mappings deep",
                    _line(node),
                    "write the values out in full, with less nesting",
                )
            continue
        if key in active:
            raise YamlRefused(
                "an alias refers to a value that contains it, so the value would hold itself "
                "without end",
                _line(node),
                "write the values out in full instead of using the alias",
            )
        if depth > MAX_YAML_DEPTH and not isinstance(node, yaml.ScalarNode):
            raise YamlRefused(
                f"values are nested more than {MAX_YAML_DEPTH} lists or mappings deep",
                _line(node),
                "flatten the value: an app file holds accounts with simple attributes",
            )
        if isinstance(node, yaml.MappingNode):
            _refuse_repeated_keys(node)
        active.add(key)
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in reversed(_children(node)))
    total = done[id(root)][0]
    spelled_out = len(done)
    if total - spelled_out > max(spelled_out, ALIAS_ALLOWANCE):
        biggest = max(shared.values(), key=lambda n: done[id(n)][0])
        raise YamlRefused(
            f"aliases expand this file to {total:,} values although it spells out only "
            f"{spelled_out:,} (the value anchored here alone holds {done[id(biggest)][0]:,})",
            _line(biggest),
            "write the values out in full; aliases may repeat a value, not multiply the file",
        )


def _refuse_repeated_keys(node: yaml.MappingNode) -> None:
    """A key given twice in one mapping (`display_name:` twice in one account): PyYAML keeps
    the last and drops the other without a word (hostile review). The configuration's reader
    refuses it too."""
    seen: set[str] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode):
            if key.value in seen:
                raise YamlRefused(
                    f"`{printable(key.value, 60, one_line=True)}` is given twice in this mapping",
                    _line(key),
                    "keep one of them: only one value can be read",
                )
            seen.add(key.value)


def load_yaml_text(text: str) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML document with PyYAML; returns the data and the node tree (for lines).

    Raises yaml.YAMLError (or ValueError for impossible dates and the like), and YamlRefused for
    a document too deep or with aliases that expand it without bound: those are refused before
    any value is built.
    """
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            check_nodes(node)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


_SURROGATE_ESCAPE = re.compile(r"\\(?:u[dD][89a-fA-F]|U0000[dD][89a-fA-F])")


def may_hold_surrogates(text: str) -> bool:
    """Whether parsing `text` can give a string holding a surrogate (which is not text).

    The text itself holds none (app files are decoded as strict UTF-8, which refuses them), so
    only an escape can make one: `\\uD800` to `\\uDFFF` in a double-quoted scalar, which the fast
    reader decodes as JSON does (a lone one stays a surrogate) and libyaml refuses.
    """
    return _SURROGATE_ESCAPE.search(text) is not None


class YamlDocument:
    """A parsed YAML file and where things are in it (1-based line numbers)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.root: yaml.Node | None = None
        self.fast: FastYaml | None = None
        try:
            self.fast = FastYaml(text, _SafeLoader.yaml_implicit_resolvers)
            self.data: Any = self.fast.parse()
        except Unsupported:
            self.fast = None
            self.data, self.root = load_yaml_text(text)  # raises on invalid YAML

    def key_line(self, key: str) -> int | None:
        """The line of a top-level key."""
        if self.fast is not None:
            return self.fast.field_line(1, None, key)
        pair = _node_pair(self.root, key)
        return int(pair[0].start_mark.line) + 1 if pair else None

    def item_line(self, key: str, index: int, field: str = "") -> int | None:
        """The line of item `index` of the top-level list `key` (or of its `field:`)."""
        if self.fast is not None:
            lines = self.fast.item_lines.get(key)
            if lines is None or index >= len(lines):
                return self.key_line(key)
            if not field:
                return lines[index]
            following = lines[index + 1] if index + 1 < len(lines) else None
            return self.fast.field_line(lines[index], following, field) or lines[index]
        pair = _node_pair(self.root, key)
        if pair is None:
            return None
        items = pair[1]
        if not isinstance(items, yaml.SequenceNode) or index >= len(items.value):
            return int(pair[0].start_mark.line) + 1
        node = items.value[index]
        found = _node_pair(node, field) or _nested_pair(node, field) if field else None
        return int((found[0] if found else node).start_mark.line) + 1


def _node_pair(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node, value_node
    return None


def _nested_pair(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The first `key:` anywhere inside `node` (a profile attribute inside an account)."""
    queue, seen = [node], {id(node)}
    for current in queue:
        found = _node_pair(current, key)
        if found:
            return found
        for child in _children(current):
            if id(child) not in seen:
                seen.add(id(child))
                queue.append(child)
    return None


def leading_comments(text: str) -> str:
    """The comment lines (and blank lines between them) a file starts with, kept on rewrite."""
    kept: list[str] = []
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start : end + 1]
        stripped = line.strip()
        if not (stripped.startswith("#") or (not stripped and kept)):
            break
        kept.append(line if line.endswith("\n") else line + "\n")
        if end < 0:
            break
        start = end + 1
    while kept and not kept[-1].strip():
        kept.pop()
    return "".join(kept)


def write_csv(
    fh: IO[str], header: Sequence[str], rows: Iterable[Sequence[str]], newline: str = "\n"
) -> None:
    writer = csv.writer(fh, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)


def csv_records_fast(text: str) -> list[tuple[int, list[str]]] | None:
    """`csv_records(text)` as a list, without the csv module for the lines that hold no quote
    (a comma splits them exactly as it would; the csv module was most of listing a 100,000-row
    export, issue 11); None when the csv module must read the text: a record may span lines (a
    line with an odd number of quotes), a carriage return stands alone, or a quoted line is not
    valid CSV (csv_records then says where)."""
    if "\r" in text:
        if text.count("\r") != text.count("\r\n"):
            return None
        text = text.replace("\r\n", "\n")
    limit = csv.field_size_limit()
    records: list[tuple[int, list[str]]] = []
    append = records.append
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        if '"' in line or "\0" in line or len(line) > limit:
            if line.count('"') & 1:
                return None
            try:
                values = next(csv.reader((line,), strict=True), [])
            except csv.Error:
                return None
            if not values or values == [""]:
                continue
            append((number, values))
        else:
            append((number, line.split(",")))
    return records


def csv_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, values) for every non-blank record; raises csv.Error."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    for values in reader:
        start, line = line, reader.line_num + 1
        if not values or values == [""]:
            continue
        yield start, values


# --- atomic replacement -----------------------------------------------------------------------

NEW_FILE_MODE = 0o644  # mkstemp makes 0600; a new app file should be readable like any other
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write cycles on one file within this process."""
    key = os.path.normcase(os.path.abspath(path))
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:
        yield


class FileChanged(Exception):
    """The file was written by another program between its read and Roster's write of it."""


#: The files a read-modify-write guards, keyed by absolute path: the file as it was read
_GUARDED: ContextVar[dict[str, tuple[int, ...] | None] | None] = ContextVar(
    "guarded_files", default=None
)


def file_identity(path: Path) -> tuple[int, ...] | None:
    """What tells this file apart from any other write of it (None: it cannot be seen)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _written_identity(path: str) -> tuple[int, ...] | None:
    """What a write of the file changes: its identity without the change time, which a
    chmod or a new link moves too (a chmod loop made every push give up: hostile pass)."""
    identity = file_identity(Path(path))
    return None if identity is None else identity[:4]


@contextlib.contextmanager
def unchanged_since_read(*paths: Path) -> Iterator[None]:
    """Enter before reading PATHS (a file and its sidecars) to rewrite them: each
    `atomic_write` inside the block then checks, just before it replaces a file, that none of
    them was written by another program since the block began, and raises FileChanged
    (writing nothing) if one was. A push over an 80 MB export takes seconds between the read
    and the write: another program's accounts added then were lost for good, the run
    "applied" (day-two review); and its grants, written beside (hostile pass)."""
    guarded = dict(_GUARDED.get() or {})
    for path in paths:
        real = os.path.realpath(path)
        guarded[real] = _written_identity(real)
    token = _GUARDED.set(guarded)
    try:
        yield
    finally:
        _GUARDED.reset(token)


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


#: What mkstemp adds between the prefix and the suffix: eight of these characters.
_TEMPORARY_MIDDLE = re.compile(r"[a-z0-9_]{8}")


def remove_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files an interrupted `atomic_write` of PATH left beside it (a
    process killed between writing and renaming). Only our own: `.NAME.XXXXXXXX.tmp`, the
    exact shape atomic_write gives them; nothing else in the folder is touched. Call it only
    while no write of PATH can be under way (the sync lock is held). Returns what it removed."""
    path = Path(os.path.realpath(path))  # where atomic_write writes (a symlink's target)
    prefix, removed = _temporary_prefix(path), list[Path]()
    try:
        names = os.listdir(path.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        if not _TEMPORARY_MIDDLE.fullmatch(name[len(prefix) : -len(".tmp")]):
            continue
        candidate = path.parent / name
        with contextlib.suppress(OSError):
            if candidate.is_file() and not candidate.is_symlink():
                candidate.unlink()
                removed.append(candidate)
    return removed


def atomic_write(path: Path, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Write through a temporary file in the same folder, fsync it, then rename over `path`.

    Readers see either the old file or the new one, never half of one. OSError propagates and
    leaves the original untouched; a process killed in between leaves the temporary file,
    which the next sync removes (`remove_temporaries`). `binary`: `write` writes bytes.
    """
    # a file reached through a symlink is written where the link points: replacing the link
    # itself made it a file of its own, and the original never saw a push (hostile pass)
    path = Path(os.path.realpath(path))
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        ) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = NEW_FILE_MODE
        with contextlib.suppress(OSError):
            os.chmod(tmp, mode)
        guarded = _GUARDED.get()
        if guarded:
            if str(path) not in guarded:
                # a symlink repointed since the read: the file read is not the one this
                # would replace (an older copy was written over the new file: hostile pass)
                raise FileChanged(path)
            # every file of the block, not only this one: the accounts' file is written
            # before its grants, and must not be if the grants changed meanwhile
            for name, identity in guarded.items():
                if _written_identity(name) != identity:
                    raise FileChanged(Path(name))
        os.replace(tmp, path)
        if guarded is not None and str(path) in guarded:
            guarded[str(path)] = _written_identity(str(path))  # the block's own write
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
