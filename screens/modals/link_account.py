"""Ask which account to link to a person: APP:EXTERNAL_ID typed, or chosen from a searchable
list of the accounts (↓ or ctrl+o opens it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from engine.records import AccountRecord
from screens.base import DismissOnce
from screens.text import safe
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from engine.services import RecordRef, Services


class LinkAccountModal(DismissOnce, ModalScreen["str | None"]):
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
        Binding("down,ctrl+o", "choose", "Choose from a list", tooltip="Search the accounts"),
    ]

    def __init__(
        self, person: str, services: Services | None = None, typed: Sequence[Key] = ()
    ) -> None:
        super().__init__()
        self.person = person
        self.services = services  # None: no list to choose from (the key is typed)
        # keys typed after the one that opened the dialog, before it could take them
        self.typed = list(typed)

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
            yield Static(
                "enter continues, ↓ or ctrl+o chooses from the accounts, esc cancels"
                if self.services is not None
                else "enter continues, esc cancels",
                classes="link--hint",
                markup=False,
            )

    def on_mount(self) -> None:
        field = self.query_one("#link-key", Input)
        field.focus()
        for key in self.typed:  # as if typed into the field: text, backspace, enter, esc
            if key.key == "escape":
                self.call_after_refresh(self.action_cancel)
                break
            if key.key == "enter":
                field.post_message(Input.Submitted(field, field.value))
                break
            if key.key == "backspace":
                field.value = field.value[:-1]
            elif key.is_printable:
                field.insert_text_at_cursor(key.character or "")

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

    def action_choose(self) -> None:
        if self.services is None:
            return
        from screens.modals.record_picker import RecordPicker

        services = self.services

        def chosen(ref: RecordRef | None) -> None:
            if ref is None:
                return
            account = services.record(ref)
            if not isinstance(account, AccountRecord):
                return
            field = self.query_one("#link-key", Input)
            field.value = f"{account.app_id}:{account.external_id}"
            field.focus()
            self.query_one("#link-error", Static).update("")

        self.app.push_screen(RecordPicker(services, "account"), chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)
