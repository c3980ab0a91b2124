"""Load YAML and keep where every value came from.

`load_yaml(text)` composes the document with PyYAML's SafeLoader, builds the plain Python data
from the node tree itself and records, for every path such as
``("push_rules", 0, "mappings", 2, "cel")``, the node of the value and the node of its key. That is
what lets a validation problem say ``push_rules[0].mappings[2].cel: line 41, column 9``.

Deliberate differences from ``yaml.safe_load``:

- timestamps stay text (``2024-01-31`` is the string "2024-01-31"), so the data is JSON-able;
- a key given twice in one mapping is a problem, not a silent overwrite;
- more than one document in a file is a problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import Problem
from engine.text import printable

PathPart = str | int
Path = tuple[PathPart, ...]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*\Z")


def format_path(path: Path) -> str:
    """``("push_rules", 0, "cel")`` -> ``push_rules[0].cel``; odd keys are quoted: ``a["x.y"]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENT.match(part):
            text += f".{part}" if text else part
        else:
            escaped = part.replace("\\", "\\\\").replace('"', '\\"')
            text += f'["{escaped}"]'
    return text


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver (dates stay strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Located:
    """The YAML document's data and the nodes every path came from."""

    data: Any
    nodes: dict[Path, Node] = field(default_factory=dict)
    key_nodes: dict[Path, Node] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> tuple[int | None, int | None]:
        """1-based (line, column) of the value at `path` (or of its key, with key=True).

        A path that is not in the document (a missing field) resolves to its nearest ancestor.
        """
        if key and path in self.key_nodes:
            mark = self.key_nodes[path].start_mark
            return mark.line + 1, mark.column + 1
        probe = path
        while True:
            node = self.nodes.get(probe)
            if node is not None:
                mark = node.start_mark
                return mark.line + 1, mark.column + 1
            if not probe:
                return None, None
            probe = probe[:-1]

    def node(self, path: Path) -> Node | None:
        return self.nodes.get(path)


class YamlSyntaxError(Exception):
    """The text is not YAML; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_yaml(text: str) -> Located:
    """Parse `text`; raise YamlSyntaxError with a located Problem when it is not valid YAML."""
    try:
        loader = _Loader(text)  # the reader rejects control characters here, before parsing
    except yaml.reader.ReaderError as exc:
        raise YamlSyntaxError(reader_problem(text, exc)) from None
    too_deep = flow_nesting_problem(text)
    if too_deep is not None:
        loader.dispose()
        raise YamlSyntaxError(too_deep)
    try:
        root = loader.get_single_node()
    except RecursionError:
        raise YamlSyntaxError(_deepest_line_problem(text)) from None
    except yaml.MarkedYAMLError as exc:
        raise YamlSyntaxError(_syntax_problem(exc)) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - reader errors without a mark
        raise YamlSyntaxError(Problem(message=f"not valid YAML: {exc}")) from exc
    finally:
        loader.dispose()
    located = Located(data=None)
    if root is None:
        return located
    builder = _Builder(located)
    try:
        located.data = builder.build(root, ())
    except RecursionError:
        raise YamlSyntaxError(_deepest_line_problem(text)) from None
    return located


# A configuration nests a few levels (apps -> settings -> push_schema -> field); this is far
# more than any needs and far less than what overflows the parser's recursion.
MAX_NESTING = 100
_TOO_DEEP_HINT = "a configuration nests a few levels; look for unclosed or repeated brackets"


def flow_nesting_problem(text: str) -> Problem | None:
    """Where `[` and `{` outside quotes and comments first nest more than MAX_NESTING deep
    (PyYAML would recurse until Python's stack runs out), or None. One pass, no parsing."""
    depth = 0
    quote = ""
    line, column = 1, 0
    previous = "\n"
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        index += 1
        column += 1
        if char == "\n":
            line, column, previous = line + 1, 0, char
            if quote == "#":
                quote = ""
            continue
        if quote:
            if quote == '"' and char == "\\":
                index += 1
                column += 1
            elif char == quote and quote != "#":
                quote = ""
        elif char == "#" and previous in " \t\n":
            quote = "#"
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return Problem(
                    message=f"the document nests lists and mappings more than {MAX_NESTING} "
                    "levels deep",
                    line=line,
                    column=column,
                    hint=_TOO_DEEP_HINT,
                )
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
    return None


def _deepest_line_problem(text: str) -> Problem:
    """The line that nests deepest (indentation and `- ` / `[` / `{` on it), for a document
    whose nesting overflowed the parser."""
    best, best_line = -1, 1
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.lstrip(" ")
        score = len(raw) - len(stripped) + stripped.count("- ") + stripped.count("[")
        score += stripped.count("{")
        if score > best:
            best, best_line = score, number
    return Problem(
        message=f"the document nests lists and mappings too deeply to read (more than "
        f"{MAX_NESTING} levels)",
        line=best_line,
        column=1,
        hint=_TOO_DEEP_HINT,
    )


# The YAML escape for each character a double-quoted string can hold but a file cannot.
_YAML_ESCAPES = {"\x00": "\\0", "\x07": "\\a", "\x08": "\\b", "\x0b": "\\v",
                 "\x0c": "\\f", "\x1b": "\\e"}  # fmt: skip


def yaml_escape(char: str) -> str:
    """How to write `char` inside a double-quoted YAML string (`\\e` for ESC, `\\x7f`, …)."""
    if char in _YAML_ESCAPES:
        return _YAML_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def character_position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of `text[index]`, counting lines as an editor does (at `\\n`)."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def reader_problem(text: str, exc: yaml.reader.ReaderError) -> Problem:
    """The Problem for a character PyYAML's reader refuses (a control character, a NUL, DEL,
    U+FFFE, a lone surrogate): where it is, shown visibly, and how to write it instead."""
    index = exc.position if isinstance(exc.position, int) else -1
    if 0 <= index < len(text):
        char = text[index]
        line, column = character_position(text, index)
    else:  # pragma: no cover - PyYAML always gives the position in a str
        char, line, column = chr(exc.character), 0, 0
    code = ord(char)
    kind = "a control character" if code < 0x20 or 0x7F <= code <= 0x9F else "a character"
    shown = printable(char)
    if shown == char:  # a noncharacter such as U+FFFE, which `printable` leaves as it is
        shown = f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return Problem(
        message=f"the file contains {kind} ({shown}), which YAML does not allow",
        line=line or None,
        column=column or None,
        hint=f'remove it, or write it inside a double-quoted string as "{yaml_escape(char)}"',
    )


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or "syntax error"
    context = f" {exc.context}" if exc.context else ""
    message = f"not valid YAML: {what}{context}".strip()
    hint = "check the indentation and quoting on this line and the line above it"
    if "expected a single document" in str(exc):
        message = "the file holds more than one YAML document; a configuration is one document"
        hint = "remove the extra `---` separator"
    elif "found character '\\t'" in str(exc):
        hint = "YAML does not allow tabs for indentation; use spaces"
    return Problem(
        message=message,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint=hint,
    )


_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
}


class _Builder:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.constructor = _Loader("")
        # Collections already built: an alias (`*name`) shares the anchor's object, as PyYAML
        # does, so alias bombs stay small and recursive documents terminate.
        self.built: dict[int, Any] = {}

    def build(self, node: Node, path: Path) -> Any:
        self.located.nodes.setdefault(path, node)
        if id(node) in self.built:
            return self.built[id(node)]
        if node.tag not in _PLAIN_TAGS:
            mark = node.start_mark
            self.located.problems.append(
                Problem(
                    message="the YAML tag `{}` is not allowed here".format(
                        node.tag.replace("tag:yaml.org,2002:", "!!")
                    ),
                    path=format_path(path),
                    line=mark.line + 1,
                    column=mark.column + 1,
                    hint="YAML tags (`!name`) are not used in a Roster configuration; remove it",
                )
            )
            if isinstance(node, ScalarNode):
                return node.value
        if isinstance(node, MappingNode):
            mapping: dict[Any, Any] = {}
            self.built[id(node)] = mapping
            self._mapping(node, path, mapping)
            return mapping
        if isinstance(node, SequenceNode):
            items: list[Any] = []
            self.built[id(node)] = items
            items.extend(self.build(item, (*path, i)) for i, item in enumerate(node.value))
            return items
        assert isinstance(node, ScalarNode)
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            # ValueError: a number of thousands of digits, past what Python converts
            mark = node.start_mark
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            if isinstance(exc, ValueError) and not isinstance(exc, yaml.YAMLError):
                reason = f"a number of {len(node.value):,} characters is too long to read"
            self.located.problems.append(
                Problem(
                    message=f"cannot read this value: {reason}",
                    hint="YAML tags (`!name`) are not used in a Roster configuration; remove it",
                    path=format_path(path),
                    line=mark.line + 1,
                    column=mark.column + 1,
                )
            )
            return node.value

    def _pairs(self, node: MappingNode) -> list[tuple[Node, Node]]:
        """The mapping's key/value pairs with `<<` merge keys expanded (explicit keys win)."""
        own: list[tuple[Node, Node]] = []
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    if isinstance(source, MappingNode):
                        merged.extend(self._pairs(source))
            else:
                own.append((key_node, value_node))
        own_keys = {k.value for k, _ in own if isinstance(k, ScalarNode)}
        return [p for p in merged if p[0].value not in own_keys] + own

    def _mapping(self, node: MappingNode, path: Path, result: dict[Any, Any]) -> None:
        for key_node, value_node in self._pairs(node):
            if not isinstance(key_node, ScalarNode):
                mark = key_node.start_mark
                self.located.problems.append(
                    Problem(
                        message="a key must be a plain name, not a list or a mapping",
                        path=format_path(path),
                        line=mark.line + 1,
                        column=mark.column + 1,
                    )
                )
                continue
            key = self.constructor.construct_object(key_node, deep=True)
            if key is None:
                key = ""
            if not isinstance(key, str):
                key = str(key_node.value)
            child: Path = (*path, key)
            if key in result:
                mark = key_node.start_mark
                first = self.located.key_nodes[child].start_mark
                self.located.problems.append(
                    Problem(
                        message=f"`{key}` is given twice in this mapping",
                        path=format_path(child),
                        line=mark.line + 1,
                        column=mark.column + 1,
                        hint=f"the first `{key}` is on line {first.line + 1}; keep only one",
                    )
                )
                continue
            self.located.key_nodes[child] = key_node
            result[key] = self.build(value_node, child)


def expression_position(
    text: str,
    node: Node | None,
    line: int | None,
    column: int | None,
    parent_indent: int | None = None,
) -> tuple[int | None, int | None]:
    """Map a 1-based (line, column) inside a scalar's *value* to the file's line and column.

    Plain and quoted scalars: the value is aligned with the source between the node's marks,
    skipping the line folding YAML removed. Block scalars (``|``, ``>``): the content starts on the
    line after the header; literal lines map one to one, folded ones are aligned after removing
    the block's indentation. `parent_indent` (the column of the key, 0-based) is needed only for
    an explicit indentation indicator (``|2``). Without a node the answer is (None, None).
    """
    if node is None or not isinstance(node, ScalarNode):
        return None, None
    start = node.start_mark
    if line is None:
        return start.line + 1, start.column + 1
    value = node.value
    lines = value.split("\n")
    line = max(1, min(line, len(lines)))
    col = max(0, (column or 1) - 1)
    if node.style in ("|", ">"):
        return _block_position(text, node, line, col, parent_indent)
    offset = min(sum(len(part) + 1 for part in lines[: line - 1]) + col, len(value))
    source_start = start.index + (1 if node.style in ("'", '"') else 0)
    source = text[source_start : max(node.end_mark.index, source_start)]
    i = _align(source, value, offset)
    absolute = source_start + i
    before = text[:absolute]
    return before.count("\n") + 1, absolute - (before.rfind("\n") + 1) + 1


def _align(source: str, value: str, offset: int) -> int:
    """The index in `source` of `value[offset]`, where YAML folded or dropped whitespace."""
    i = j = 0
    while j < offset and i < len(source):
        if source[i] == value[j]:
            i += 1
            j += 1
        elif source[i] in " \t\r\n":
            i += 1
        elif value[j] in " \n":
            j += 1
        else:  # an escape sequence or a doubled quote: step both
            i += 1
            j += 1
    # Skip indentation or folded whitespace the value does not have at this point.
    while i < len(source) and source[i] in " \t\r\n" and (j >= len(value) or value[j] != source[i]):
        i += 1
    return i


_HEADER_INDENT = re.compile(r"^[|>][+-]?([1-9])|^[|>]([1-9])")


def _block_position(
    text: str, node: ScalarNode, line: int, col: int, parent_indent: int | None
) -> tuple[int, int]:
    header_line = node.start_mark.line  # 0-based
    file_lines = text.split("\n")
    content = [ln.rstrip("\r") for ln in file_lines[header_line + 1 : node.end_mark.line + 1]]
    value_lines = node.value.split("\n")
    # Indentation: explicit indicator, else the first non-empty content line's.
    header = text[node.start_mark.index : node.start_mark.index + 4]
    match = _HEADER_INDENT.match(header)
    if match:
        base = parent_indent if parent_indent is not None else 0
        indent = base + int(match.group(1) or match.group(2))
    else:
        indent = next((len(ln) - len(ln.lstrip(" ")) for ln in content if ln.strip()), 0)
    if node.style == "|":
        target = min(line - 1, max(len(content) - 1, 0))
        return header_line + 2 + target, indent + col + 1
    stripped = "\n".join(ln[indent:] if len(ln) >= indent else "" for ln in content)
    offset = min(sum(len(part) + 1 for part in value_lines[: line - 1]) + col, len(node.value))
    i = _align(stripped, node.value, offset)
    before = stripped[:i]
    row = before.count("\n")
    return header_line + 2 + row, indent + (i - (before.rfind("\n") + 1)) + 1
