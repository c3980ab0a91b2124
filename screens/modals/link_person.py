"""Confirm linking one account to one person, with the choice to pin the link."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static

from screens.base import DismissOnce

PIN_HELP = (
    "Pinned: syncs leave the link alone (even if a rule would change it) until you unpin it in "
    "Users. Not pinned: the next sync's rules decide the account's owner again."
)


class LinkPersonModal(DismissOnce, ModalScreen["bool | None"]):
    """Returns whether to pin (True/False) when the admin links, None on cancel."""

    DEFAULT_CSS = """
    LinkPersonModal {
        align: center middle;
        & > Vertical {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $warning;
            background: $surface;
            padding: 0 1;
        }
        & .link--message { height: auto; margin: 1 0 0 0; }
        & .link--help { height: auto; color: $text-muted; margin-bottom: 1; }
        & Horizontal { height: auto; }
        & Button { width: 1fr; margin: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without linking"),
    ]

    def __init__(self, message: Text) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Link account"
            yield Static(self.message, classes="link--message")
            yield Checkbox("Pin the link", value=True, id="link-pin")
            yield Static(PIN_HELP, classes="link--help", markup=False)
            with Horizontal():
                yield Button("Link", variant="warning", id="confirm")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.dismiss(self.query_one("#link-pin", Checkbox).value)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
