"""An Input for searches, keys and names: control characters become visible escapes."""

from __future__ import annotations

from textual.widgets import Input

from engine.text import printable


def _visible(text: str) -> str:
    return text if text.isprintable() else printable(text, None, one_line=True)


class TextInput(Input):
    """Typing and pasting go through `replace`, and a value set in code (a stored name shown
    for editing) through `validate_value`: an escape sequence is kept as its visible text
    (`\\x1b`) and never drawn raw to the terminal, where it could clear the screen or retitle
    the window."""

    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(_visible(text), start, end)

    def validate_value(self, value: str) -> str:
        return _visible(value)
