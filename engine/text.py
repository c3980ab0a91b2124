"""Making any string safe to print: the one rule the console and the CLI share.

Data from apps, the configuration or the keyboard may hold characters that a terminal obeys
instead of showing: ESC and therefore every escape sequence (`\\x1b]0;title\\x07` renames the
terminal, `\\x1b[2J` clears it), the other C0 controls, DEL, the C1 controls (`\\x9b` is a
one-byte CSI on some terminals), and the bidirectional overrides and isolates that make text
read differently from what it is (Trojan Source). `printable` shows each of them as a visible
escape (`\\x1b`, `\\u202e`), keeps everything else as it is, and bounds the length, so a
megabyte value costs a few thousand characters of drawing.

Decisions:

- Newline and tab are kept in multi-line text and shown as `\\n` and `\\t` on one line (a table
  cell, a title, a list item). Carriage return and every other C0 control are always shown
  escaped (a bare CR lets a value overwrite what is printed before it).
- Invisible characters that change what a reader sees without showing anything are escaped too:
  the bidi marks and controls, zero-width space, word joiner and the other invisible operators,
  the byte order mark, the line and paragraph separators, soft hyphen, and lone surrogates
  (which the terminal could not even encode). The zero-width joiner and non-joiner are kept:
  emoji sequences and Persian, Indic and other scripts need them.
- A backslash is not doubled: `DOMAIN\\user` stays readable.

Pure Python: no rich, textual or click here.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

#: The most characters a value shows by default; longer ones end with an ellipsis.
LIMIT = 2000
ELLIPSIS = "…"
EMPTY = "—"

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_INVISIBLE = "\u00ad\u180e\u200b\u2028\u2029\u2060\u2061\u2062\u2063\u2064\ufeff"
# C0 except newline and tab, DEL, C1, the characters above, lone surrogates.
_ALWAYS = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}\ud800-\udfff]")
_ONE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}

#: Control characters no name or attribute holds (tab and line breaks are text): the file
#: connector refuses them on import and the push stage refuses to write them to an app.
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int | None) -> str:
    """`text` cut to at most `limit` characters, the last one an ellipsis when cut."""
    if limit is None or len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1] + ELLIPSIS


def printable(text: Any, limit: int | None = LIMIT, *, one_line: bool = False) -> str:
    """`text` with every control, escape and bidi character shown as a visible escape.

    At most `limit` characters come out (None: no bound, for the CLI, which prints values in
    full); with `one_line`, newlines and tabs are escaped too.
    """
    if not isinstance(text, str):
        text = str(text)
    if limit is not None and len(text) > limit:
        text = text[:limit]  # escaping only lengthens: never look at more than we can show
        cut = True
    else:
        cut = False
    pattern = _ONE_LINE if one_line else _ALWAYS
    shown = pattern.sub(_escape, text)
    if cut and limit is not None:
        return shown[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""
    return clip(shown, limit)


#: Characters that show as nothing, or as a blank, that are not spaces: fillers (Hangul, the
#: blank braille pattern), the combining grapheme joiner
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")
#: Format characters a name may hold: the joiners of emoji sequences and of Persian script
_JOINERS = frozenset("\u200c\u200d")


def hidden_character(text: str) -> str | None:
    """The first character of TEXT that one line of it shows escaped (a control character, a
    line break or tab, a bidi or invisible character) or that shows as nothing (a format
    character but a joiner, a filler), or None: what a name may not hold."""
    found = _ONE_LINE.search(text)
    if found:
        return found.group()
    for char in text:
        if char in _BLANK_LOOKALIKES or (
            unicodedata.category(char) == "Cf" and char not in _JOINERS
        ):
            return char
    return None


def one_line(text: Any, limit: int | None = LIMIT) -> str:
    """Whitespace runs (line breaks, indentation) collapsed to one space, then `printable`.

    For expressions and messages shown on one line; a value whose whitespace matters should go
    through `printable(..., one_line=True)` instead, which shows `\\n` and `\\t`.
    """
    if not isinstance(text, str):
        text = str(text)
    if limit is not None and len(text) > 4 * limit:
        text = text[: 4 * limit]  # collapsing never keeps more than the limit anyway
    return printable(" ".join(text.split()), limit, one_line=True)


def value_text(value: Any, empty: str = EMPTY) -> str:
    """A value as an admin reads it (not yet made printable): `empty` for None, "" and empty
    collections, a list joined with ", ", a string as it is, anything else as compact JSON."""
    if value is None or value == "" or value == [] or value == {} or value == ():
        return empty
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def show_value(value: Any, limit: int | None = LIMIT, *, empty: str = EMPTY) -> str:
    """`value_text` made printable on one line and bounded."""
    return printable(value_text(value, empty), limit, one_line=True)


def literal_text(value: Any, width: int | None = None, *, lines: bool = False) -> str:
    """A value as CEL would write it (JSON is close enough), not yet made printable; with
    `lines`, a list or map longer than `width` is indented over several lines."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if lines and width is not None and len(text) > width and isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str, indent=2)
    return text


_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def whole_number(text: str) -> int | None:
    """TEXT as an id or an index when it is one, else None: ASCII digits only, at most 18 of
    them (Python's int() also reads "²", "１０", " 10" and "8_9", and fails past 4,300
    digits: each reached a person or crashed a command, hostile pass)."""
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else None
