"""The CLI's text at a terminal: a line wider than the terminal is broken between words, its
further lines indented under it, instead of the terminal cutting it mid-word at the margin (a
newcomer's review: a leaver's line of six accounts read as two unrelated lines). Text going to
a file or a pipe is left as it is: scripts and grep read one record per line."""

from __future__ import annotations

import os
import textwrap
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


def wrapped(text: str, width: int) -> str:
    """TEXT with each line longer than WIDTH broken at spaces; the further lines of a broken
    line are indented by its own indentation and HANG. A word longer than the width (a path,
    an address) is kept whole; short lines, and their spacing, are left exactly as they are."""
    if width < NARROWEST:
        return text
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        body = textwrap.TextWrapper(
            width=width,
            initial_indent=indent,
            subsequent_indent=indent + HANG,
            break_long_words=False,
            break_on_hyphens=False,
            replace_whitespace=False,
            expand_tabs=False,
        ).wrap(line[len(indent) :])
        lines.extend(body or [line])
    return "\n".join(lines)
