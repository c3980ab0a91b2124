"""A small reader of the protobuf text format, enough for the CEL conformance files.

No protobuf dependency: a message becomes a `Message` (field name -> list of values, in file
order); a scalar is a `bytes` (quoted strings: text-format strings are byte strings, with C
escapes), an `int`, a `float`, or a `str` (identifiers such as `true`, `NULL_VALUE`, `INT64`).
"""

from __future__ import annotations

import re
from typing import TypeAlias

Scalar: TypeAlias = bytes | int | float | str
Value: TypeAlias = "Message | Scalar"


class Message(dict[str, list[Value]]):
    """Fields in file order; a field given several times keeps every value."""

    def one(self, name: str, default: Value | None = None) -> Value | None:
        values = self.get(name)
        return values[-1] if values else default

    def message(self, name: str) -> Message | None:
        found = self.one(name)
        return found if isinstance(found, Message) else None

    def text(self, name: str, default: str = "") -> str:
        found = self.one(name)
        if isinstance(found, bytes):
            return found.decode("utf-8")
        return default if found is None else str(found)

    def messages(self, name: str) -> list[Message]:
        return [value for value in self.get(name, []) if isinstance(value, Message)]


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?
       |[-+]?(?:inf|infinity|nan)\b)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*|\[[A-Za-z_][\w.]*(?:/[\w.]+)*\])
  | (?P<punct>[{}<>\[\]:,;])
    """,
    re.VERBOSE | re.IGNORECASE,
)

_SIMPLE_ESCAPES = {
    "a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
    "\\": b"\\", "'": b"'", '"': b'"', "?": b"?",
}  # fmt: skip


def unescape(body: str) -> bytes:
    """The bytes of a text-format string's body (between the quotes)."""
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out += char.encode("utf-8")
            i += 1
            continue
        kind = body[i + 1]
        if kind in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[kind]
            i += 2
        elif kind in "xX":
            match = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])
            assert match, f"bad \\x escape in {body!r}"
            out.append(int(match.group(), 16))
            i += 2 + len(match.group())
        elif kind in "01234567":
            match = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert match
            out.append(int(match.group(), 8) & 0xFF)
            i += 1 + len(match.group())
        elif kind in "uU":
            width = 4 if kind == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode("utf-8", "surrogatepass")
            i += 2 + width
        else:
            raise ValueError(f"unknown escape \\{kind} in {body!r}")
    return bytes(out)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            line = text.count("\n", 0, position) + 1
            raise ValueError(
                f"cannot read the text format at line {line}: {text[position:][:30]!r}"
            )
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
    return tokens


def _number(text: str) -> int | float:
    lowered = text.lower()
    if lowered.lstrip("+-") in ("inf", "infinity", "nan"):
        return float(lowered)
    if lowered.lstrip("+-").startswith("0x"):
        return int(lowered, 16)
    lowered = lowered.rstrip("f")
    if re.fullmatch(r"[-+]?\d+", lowered):
        return int(lowered)
    return float(lowered)


def parse(text: str) -> Message:
    """The top-level message of a text-format document."""
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, str]:
        return tokens[position] if position < len(tokens) else ("end", "")

    def take(expected: str | None = None) -> tuple[str, str]:
        nonlocal position
        token = peek()
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r}, found {token[1]!r} (token {position})")
        position += 1
        return token

    def message(closing: str) -> Message:
        fields = Message()
        while peek()[1] != closing:
            kind, name = take()
            if kind != "ident":
                raise ValueError(f"expected a field name, found {name!r}")
            if peek()[1] == ":":
                take()
            fields.setdefault(name, []).extend(values())
            if peek()[1] in (",", ";"):
                take()
        if closing:
            take(closing)
        return fields

    def values() -> list[Value]:
        if peek()[1] == "[":
            take()
            found: list[Value] = []
            while peek()[1] != "]":
                found.append(single())
                if peek()[1] == ",":
                    take()
            take("]")
            return found
        return [single()]

    def single() -> Value:
        kind, token = take()
        if token in ("{", "<"):
            return message("}" if token == "{" else ">")
        if kind == "string":
            data = unescape(token[1:-1])
            while peek()[0] == "string":  # adjacent strings concatenate
                data += unescape(take()[1][1:-1])
            return data
        if kind == "number":
            return _number(token)
        if kind == "ident":
            if token.lower() in ("inf", "infinity", "nan"):
                return float(token)
            return token
        if token == "-" and peek()[0] == "ident":
            return -float(take()[1])
        raise ValueError(f"unexpected {token!r} in the text format")

    return message("")
