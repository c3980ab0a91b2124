"""A fast reader for the plain block-style YAML that app files are written in.

PyYAML needs about forty seconds for a 100,000-person HR file (most of it building node
objects); this reader does the same file in a few seconds. It understands only what app files
use: block mappings and lists (lists under a key may or may not be indented), plain, single- and
double-quoted one-line scalars, `[]`, `{}`, simple one-line flow lists and mappings, and
full-line comments. Anything else (anchors, tags, block scalars, multi-line scalars, tabs,
trailing comments, odd indentation, duplicate keys, nesting deeper than MAX_DEPTH) makes it give
up with `Unsupported`, and the caller reads the file with PyYAML instead, which also produces the
error message when the file is not valid YAML. Scalars resolve exactly as the connector's PyYAML
loader resolves them, but for one thing: a double-quoted scalar is decoded as JSON, so an escape
of a lone surrogate ("\\uD800", which libyaml refuses) gives a string holding it, and a
surrogate pair gives its character; the YAML store reports the first as a problem.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from typing import Any

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_BAD_FIRST = set("?:,[]{}#&*!|>%@`'\"")
_ODD_BREAKS = ("\t", "\r", "\x85", "\u2028", "\u2029", "\ufeff")
#: The deepest nesting of block mappings and lists this reader follows; deeper documents are
#: left to PyYAML, whose caller refuses them with the line (see fileio.MAX_YAML_DEPTH).
MAX_DEPTH = 64


class Unsupported(Exception):
    """The text uses YAML this reader does not handle; read it with PyYAML."""


class FastYaml:
    def __init__(self, text: str, resolvers: dict[str, list[tuple[str, re.Pattern[str]]]]):
        if any(mark in text for mark in _ODD_BREAKS):
            text = text.replace("\r\n", "\n")
            if any(mark in text for mark in _ODD_BREAKS):
                raise Unsupported
        self.resolvers = resolvers
        # Anything starting with one of these needs a careful look; the rest is plain text.
        self.special = set(resolvers) | _BAD_FIRST | {"-", " "}
        self.keys: dict[str, Any] = {}
        if text.startswith(("---", "...")) or "\n---" in text or "\n..." in text:
            raise Unsupported
        raw = text.split("\n")
        stripped = [line.lstrip(" ") for line in raw]
        keep = [n for n, content in enumerate(stripped) if content and content[0] != "#"]
        #: 1-based line number, indentation and text of each line that holds content
        self.numbers: list[int] = [n + 1 for n in keep]
        self.indents: list[int] = [len(raw[n]) - len(stripped[n]) for n in keep]
        self.contents: list[str] = [stripped[n].rstrip(" ") for n in keep]
        self.count = len(self.contents)
        self.item_lines: dict[str, list[int]] = {}  # top-level key -> line of each list item

    # Structure ---------------------------------------------------------------------------------

    def parse(self) -> Any:
        if not self.count:
            return None
        if self.indents[0] != 0:
            raise Unsupported
        value, end = self._block(0, 0, 1, top=True)
        if end != self.count:
            raise Unsupported
        return value

    def _is_item(self, i: int) -> bool:
        content = self.contents[i]
        return content == "-" or content.startswith("- ")

    def _block(self, i: int, indent: int, depth: int, top: bool = False) -> tuple[Any, int]:
        if self._is_item(i):
            return self._sequence(i, indent, depth, None)
        return self._mapping(i, indent, depth, top)

    def _mapping(
        self, i: int, indent: int, depth: int, top: bool = False
    ) -> tuple[dict[Any, Any], int]:
        if depth > MAX_DEPTH:
            raise Unsupported
        result: dict[Any, Any] = {}
        indents, contents, count = self.indents, self.contents, self.count
        keys, special = self.keys, self.special
        while i < count and indents[i] == indent:
            content = contents[i]
            if content[0] == "-" and (content == "-" or content[1] == " "):
                break
            key_text, sep, rest = content.partition(": ")
            if not sep:
                if content[-1] != ":":
                    raise Unsupported
                key_text = content[:-1]
            key = keys.get(key_text)
            if key is None:
                key = keys[key_text] = self._plain(key_text.rstrip(" "), key=True)
            if key in result:
                raise Unsupported
            i += 1
            if rest:
                if rest[0] in special or " #" in rest or ": " in rest or rest[-1] == ":":
                    result[key] = self._scalar(rest.lstrip(" "))
                else:
                    result[key] = rest
            elif i < count and indents[i] >= indent and self._is_item(i):
                lines: list[int] | None = [] if top and isinstance(key, str) else None
                result[key], i = self._sequence(i, indents[i], depth + 1, lines)
                if lines is not None:
                    self.item_lines[key] = lines
            elif i < count and indents[i] > indent:
                result[key], i = self._mapping(i, indents[i], depth + 1)
            else:
                result[key] = None
        if i < count and indents[i] > indent:
            raise Unsupported
        return result, i

    def _sequence(
        self, i: int, indent: int, depth: int, lines: list[int] | None
    ) -> tuple[list[Any], int]:
        if depth > MAX_DEPTH:
            raise Unsupported
        result: list[Any] = []
        indents, contents, count = self.indents, self.contents, self.count
        while i < count and indents[i] == indent and self._is_item(i):
            if lines is not None:
                lines.append(self.numbers[i])
            content = contents[i]
            if content == "-":
                i += 1
                if i < count and indents[i] > indent:
                    value, i = self._block(i, indents[i], depth + 1)
                else:
                    value = None
                result.append(value)
                continue
            rest = content[2:]
            inner = rest.lstrip(" ")
            column = indent + len(content) - len(inner)
            if inner.startswith("- ") or inner == "-" or ": " in inner or inner.endswith(":"):
                if inner[0] in "'\"" or inner[0] in "[{":
                    raise Unsupported
                # The item is a block starting on this line: re-read the line at its column.
                indents[i], contents[i] = column, inner
                value, i = self._block(i, column, depth + 1)
                result.append(value)
                continue
            result.append(self._scalar(inner))
            i += 1
        if i < count and indents[i] > indent:
            raise Unsupported
        return result, i

    # Scalars -----------------------------------------------------------------------------------

    def _scalar(self, text: str) -> Any:
        first = text[0]
        if first == "'":
            if len(text) < 2 or text[-1] != "'":
                raise Unsupported
            inner = text[1:-1]
            if "'" in inner.replace("''", ""):
                raise Unsupported
            return inner.replace("''", "'")
        if first == '"':
            if len(text) < 2 or text[-1] != '"':
                raise Unsupported
            try:
                value = json.loads(text)
            except ValueError:
                raise Unsupported from None
            if not isinstance(value, str):
                raise Unsupported
            return value
        if first == "[":
            if text == "[]":
                return []
            if text[-1] != "]" or any(c in text[1:-1] for c in "[]{}'\"#:"):
                raise Unsupported
            return [self._plain(part.strip()) for part in text[1:-1].split(",")]
        if first == "{":
            if text == "{}":
                return {}
            if text[-1] != "}" or any(c in text[1:-1] for c in "[]{}'\"#"):
                raise Unsupported
            mapping: dict[Any, Any] = {}
            for part in text[1:-1].split(","):
                key, sep, value = part.partition(": ")
                if not sep or ":" in value:
                    raise Unsupported
                mapping[self._plain(key.strip(), key=True)] = self._plain(value.strip())
            return mapping
        return self._plain(text)

    def _plain(self, text: str, key: bool = False) -> Any:
        if not text:
            if key:
                raise Unsupported
            return None
        first = text[0]
        if first in _BAD_FIRST or (first == "-" and (len(text) == 1 or text[1] == " ")):
            raise Unsupported
        if " #" in text or text.endswith(":") or ": " in text:
            raise Unsupported
        for tag, regexp in self.resolvers.get(first, ()):
            if regexp.match(text):
                if tag == _NULL:
                    return None
                if tag == _BOOL:
                    return text.lower() == "true"
                if tag == _INT:
                    return int(text)
                if tag == _TIMESTAMP and _DATE.match(text):
                    try:
                        return dt.date.fromisoformat(text)
                    except ValueError:
                        raise Unsupported from None
                raise Unsupported  # floats, full timestamps, merge keys, '='
        return text

    def field_line(self, item_line: int, next_item_line: int | None, name: str) -> int | None:
        """The line of `name:` inside the list item that starts on `item_line`."""
        prefixes = (f"{name}:", f"- {name}:")
        for index in range(bisect.bisect_left(self.numbers, item_line), self.count):
            number = self.numbers[index]
            if next_item_line is not None and number >= next_item_line:
                break
            if self.contents[index].startswith(prefixes):
                return number
        return None
