"""String and bytes literals as the CEL specification reads them.

Escapes: `\\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\" \\` \\?`, `\\x` or `\\X` with two hex digits,
`\\u` with four, `\\U` with eight (strings only), and three octal digits `\\000`–`\\377`. A raw
literal (`r"..."`) keeps its backslashes; a triple-quoted one keeps its line breaks. In bytes,
`\\x` and octal escapes are single bytes and other characters are UTF-8. Any other escape is
an error at the literal (a `SchemaError`), never a silently different value.
"""

from __future__ import annotations

import re

import lark

from .checker import SchemaError

_SIMPLE = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?",
}  # fmt: skip
_ESCAPE = re.compile(r"\\(?:([abfnrtv\\'\"`?])|[xX]([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})"
                     r"|U([0-9a-fA-F]{8})|([0-3][0-7]{2})|([\s\S]?))")  # fmt: skip


def _body(text: str) -> tuple[str, bool]:
    """The text between the quotes, and whether the literal is raw."""
    raw = text[:1] in ("r", "R")
    if raw:
        text = text[1:]
    quote = 3 if text[:3] in ('"""', "'''") else 1
    return text[quote:-quote], raw


def _fail(token: lark.Token, message: str, hint: str = "") -> SchemaError:
    return SchemaError(message, token.line, token.column, hint)


_HINT = r"escapes are \n \t \r \\ \" \' \` \? \xHH \uHHHH \UHHHHHHHH \ooo; a backslash is \\"


def string_value(token: lark.Token) -> str:
    """The value of a STRING_LIT or MLSTRING_LIT token."""
    body, raw = _body(str(token.value))
    if raw or "\\" not in body:
        return body

    def expand(match: re.Match[str]) -> str:
        simple, hex2, hex4, hex8, octal, other = match.groups()
        if simple is not None:
            return _SIMPLE[simple]
        if hex2 is not None:
            return chr(int(hex2, 16))
        if octal is not None:
            return chr(int(octal, 8))
        if hex4 is not None or hex8 is not None:
            code = int(hex4 or hex8, 16)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise _fail(token, f"invalid character escape `{match.group()}` in a string")
            return chr(code)
        raise _fail(token, f"unknown escape `\\{other}` in a string", _HINT)

    return _ESCAPE.sub(expand, body)


def bytes_value(token: lark.Token) -> bytes:
    """The value of a BYTES_LIT token (`b"..."`, `b'''...'''`, `br"..."`)."""
    body, raw = _body(str(token.value)[1:])
    if raw or "\\" not in body:
        return body.encode("utf-8")
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(body):
        out += body[position : match.start()].encode("utf-8")
        position = match.end()
        simple, hex2, hex4, hex8, octal, other = match.groups()
        if simple is not None:
            out += _SIMPLE[simple].encode("ascii")
        elif hex2 is not None:
            out.append(int(hex2, 16))
        elif octal is not None:
            out.append(int(octal, 8))
        elif hex4 is not None or hex8 is not None:
            raise _fail(token, r"`\u` and `\U` escapes are not allowed in bytes", r"use `\xHH`")
        else:
            raise _fail(token, f"unknown escape `\\{other}` in bytes", _HINT)
    out += body[position:].encode("utf-8")
    return bytes(out)
