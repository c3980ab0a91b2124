"""Ask which account to link to a person: APP:EXTERNAL_ID, checked as it is typed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from screens.text import safe
from screens.widgets.text_input import TextInput


class LinkAccountModal(ModalScreen["str | None"]):
    """Returns the account key typed ("app:external_id"), or None when cancelled."""

    DEFAULT_CSS = """
    LinkAccountModal {
        align: center middle;
        & > Vertical {
            width: 76;
            max-width: 100%;
            height: auto;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & .link--intro { height: auto; margin-bottom: 1; }
        & .link--error { height: auto; color: $text-error; }
        & .link--hint { height: auto; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without linking anything"),
    ]

    def __init__(self, person: str) -> None:
        super().__init__()
        self.person = person

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(f"Link an account to {safe(self.person, 120)}")
            yield Static(
                "Type the account as APP:EXTERNAL_ID (for example slack:U07ABC or hr:E10001). "
                "You will see what changes before anything is saved.",
                classes="link--intro",
                markup=False,
            )
            yield TextInput(placeholder="app:external_id", id="link-key")
            yield Static("", classes="link--error", id="link-error")
            yield Static("enter continues, esc cancels", classes="link--hint")

    def on_mount(self) -> None:
        self.query_one("#link-key", Input).focus()

    @on(Input.Submitted, "#link-key")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        key = event.value.strip()
        app, sep, external_id = key.partition(":")
        if not sep or not app.strip() or not external_id.strip():
            self.query_one("#link-error", Static).update(
                "Give the account as APP:EXTERNAL_ID, with a colon between the app id and the "
                "account's id in that app."
            )
            return
        self.dismiss(f"{app.strip()}:{external_id.strip()}")

    def action_cancel(self) -> None:
        self.dismiss(None)
