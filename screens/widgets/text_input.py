"""Inputs for searches, keys and names: control characters become visible escapes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.command import CommandInput, CommandPalette
from textual.widgets import Input

from engine.text import printable


def _visible(text: str) -> str:
    return text if text.isprintable() else printable(text, None, one_line=True)


class VisibleText(Input):
    """Typing and pasting go through `replace`, and a value set in code (a stored name shown
    for editing) through `validate_value`: an escape sequence or a bidi override is kept as
    its visible text (`\\x1b`, `\\u202e`) and never drawn raw to the terminal, where it could
    clear the screen, retitle the window or reverse what follows."""

    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(_visible(text), start, end)

    def validate_value(self, value: str) -> str:
        return _visible(value)


class TextInput(VisibleText):
    """The console's text field."""


class _CommandInput(CommandInput, VisibleText):
    """The command palette's search field, as Textual's, holding only visible text
    (CommandInput first: Textual's CSS and queries name a widget by its first bases)."""


class SafeCommandPalette(CommandPalette):
    """Textual's command palette, whose search field holds only visible text (a pasted bidi
    override reached the terminal raw: hostile review). Textual's own field is swapped as the
    palette composes, so the palette stays Textual's in every other way."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if type(widget) is CommandInput:
                widget = _CommandInput(placeholder=widget.placeholder, select_on_focus=False)
            yield widget
