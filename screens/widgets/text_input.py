"""An Input for searches and keys: pasted control characters become visible escapes."""

from __future__ import annotations

from textual.widgets import Input

from engine.text import printable


class TextInput(Input):
    """Typing and pasting go through `replace`: an escape sequence pasted into a search field
    is kept as its visible text (`\\x1b`) and never drawn raw to the terminal."""

    def replace(self, text: str, start: int, end: int) -> None:
        if not text.isprintable():
            text = printable(text, None, one_line=True)
        super().replace(text, start, end)
