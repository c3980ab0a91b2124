"""A dialog that tells the admin what failed and what to do."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from screens.base import DismissOnce
from screens.text import plain


class ErrorModal(DismissOnce, ModalScreen[None]):
    """Shows one failure; enter or escape closes it."""

    DEFAULT_CSS = """
    ErrorModal {
        align: center middle;
        & > Vertical {
            width: 70;
            max-width: 95%;
            height: auto;
            max-height: 90%;
            border: thick $error;
            background: $surface;
            padding: 0 1;
        }
        & .error--message { height: auto; margin: 1 0; }
        & .error--hint { height: auto; color: $text-muted; margin-bottom: 1; }
        & Button { width: 100%; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
    ]

    def __init__(self, title: str, message: str, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            yield Static(plain(self.message, lines=True), classes="error--message")
            if self.hint:
                yield Static(plain(self.hint, lines=True), classes="error--hint")
            yield Button("Close (esc)", variant="error", id="close")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
