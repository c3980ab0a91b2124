"""Display helpers: every string from data, the configuration or the keyboard reaches a widget
through here (or through a widget with markup off).

Textual reads plain strings in table cells, `Static`, toasts, border titles, tree labels and list
items as markup, so `R&D [/EMEA]` would crash a table and `[@click=app.quit]` would be a live
link. These helpers return `rich.text.Text`, which is never parsed, built from strings that
`engine.text` made printable (control characters and escape sequences shown as `\\x1b`, bidi
overrides as `\\u202e`, length bounded).

- `plain(text)`: any text, one line unless `lines=True`.
- `value(v)`: a value as an admin reads it (— for empty, lists joined, JSON otherwise).
- `clip(text, width)` / `one_line(text, width)`: shortened to a column; whitespace collapsed.
- `middle(text, width)`: shortened in the middle, so both its start and its end show.
- `label(*parts)`: a Text assembled from (text, style) parts, every part made printable.
- `safe(text)`: the printable `str`, for building a longer string before wrapping it.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text

from engine import text as _text
from engine.text import ELLIPSIS, EMPTY, LIMIT

__all__ = ["EMPTY", "LIMIT", "clip", "label", "middle", "one_line", "plain", "safe", "value"]


def safe(text: Any, limit: int | None = LIMIT, *, lines: bool = False) -> str:
    """`text` as a printable `str` (one line unless `lines`)."""
    return _text.printable(text, limit, one_line=not lines)


def plain(text: Any, style: str = "", *, lines: bool = False, limit: int | None = LIMIT) -> Text:
    """`text` shown literally: never markup, controls visible, bounded."""
    return Text(safe(text, limit, lines=lines), style=style)


def clip(text: Any, width: int, style: str = "") -> Text:
    """`text` on one line in at most `width` characters (an ellipsis when cut)."""
    return Text(_text.printable(text, width, one_line=True), style=style)


def middle(text: Any, width: int, style: str = "") -> Text:
    """`text` on one line in at most `width` cells: when longer, its middle is replaced by an
    ellipsis, so a long value still shows how it starts and how it ends."""
    shown = _text.printable(text, LIMIT, one_line=True)
    if cell_len(shown) <= width:
        return Text(shown, style=style)
    if width <= 1:
        return Text(ELLIPSIS[:width], style=style)
    room = width - 1
    head, tail = "", ""
    for char in shown:  # the start gets the odd cell
        if cell_len(head + char) > (room + 1) // 2:
            break
        head += char
    for char in reversed(shown):
        if cell_len(head) + cell_len(char + tail) > room:
            break
        tail = char + tail
    return Text(head + ELLIPSIS + tail, style=style)


def one_line(text: Any, width: int | None = LIMIT, style: str = "") -> Text:
    """`text` with its line breaks and indentation collapsed (a CEL expression in a cell)."""
    return Text(_text.one_line(text, width), style=style)


def value(
    v: Any, width: int | None = LIMIT, style: str = "", *, empty: str = EMPTY, empty_style: str = ""
) -> Text:
    """A value: `empty` (— by default) for nothing, lists joined, JSON for the rest."""
    shown = _text.show_value(v, width, empty=empty)
    if shown == empty and empty_style:
        return Text(shown, style=empty_style)
    return Text(shown, style=style)


def label(*parts: str | Text | tuple[Any, str]) -> Text:
    """A Text from parts: a `str` or `(text, style)` is made printable, a `Text` is kept (it
    was built by these helpers)."""
    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(safe(part[0]), style=part[1])
        else:
            out.append(safe(part))
    return out


def literal(v: Any, width: int | None = LIMIT, style: str = "", *, lines: bool = False) -> Text:
    """A value written as CEL would (JSON is close enough): strings quoted, lists bracketed.

    On one line it is cut to `width`; with `lines`, a list or map longer than `width` is laid
    out over several lines instead, and only the whole is bounded (by `LIMIT`)."""
    text = _text.literal_text(v, width, lines=lines)
    if lines:
        return Text(_text.printable(text, max(LIMIT, width or 0)), style=style)
    return Text(_text.printable(text, width, one_line=True), style=style)
