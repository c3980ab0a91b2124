"""Lists of prose at a terminal: an item wider than the terminal is broken between words, its
further lines indented under it, instead of the terminal cutting it mid-word at the margin (a
newcomer's review: a leaver's line of six accounts read as two unrelated lines). Only where
`echo(..., wrap=True)` asks for it: a value, a diff line or a command to copy must reach the
terminal as it is (a hostile review: a wrapped diff line lost its `+`, a wrapped value its
spaces), and text going to a file or a pipe is never wrapped."""

from __future__ import annotations

import os
import unicodedata
from typing import IO, Any

#: Narrower than this, breaking lines helps nobody: the terminal's own wrapping is kept
NARROWEST = 30
#: How much deeper a line's further lines are indented than the line itself
HANG = "  "


def terminal_columns(stream: IO[Any]) -> int | None:
    """The width of the terminal STREAM writes to, or None if it is not a terminal."""
    try:
        if not stream.isatty():
            return None
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # closed, replaced (a test's), or no size
        return None


def cells(text: str) -> int:
    """The columns TEXT takes on a terminal: a wide character (CJK, most emoji) two, a
    combining mark none."""
    if text.isascii():
        return len(text)
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def wrapped(text: str, width: int) -> str:
    """TEXT with each line wider than WIDTH columns broken at spaces; the further lines of a
    broken line are indented by its own indentation and HANG. A word wider than the width (a
    path, an address) is kept whole; lines that fit are left exactly as they are."""
    if width < NARROWEST:
        return text
    lines = []
    for line in text.split("\n"):
        if cells(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        words = line[len(indent) :].split(" ")
        current = indent + words[0]
        for word in words[1:]:
            if cells(current) + 1 + cells(word) <= width or not current.strip():
                current += " " + word
            else:
                lines.append(current)
                current = indent + HANG + word
        lines.append(current)
    return "\n".join(lines)
