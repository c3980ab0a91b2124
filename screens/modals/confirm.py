"""Ask before doing something: what will happen, then a confirm button and cancel."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

from screens.base import DismissOnce
from screens.text import plain
from screens.widgets.hanging import Hanging


def key_hint(focused: Widget | None) -> str:
    """What enter (or space) does in a confirmation right now: it presses the focused button,
    which is Cancel where confirming would lose something, so the dialog says which."""
    if isinstance(focused, Checkbox):
        return "space or enter: tick or clear the box · tab: next · esc: cancel"
    if isinstance(focused, Button):
        label = str(focused.label).removesuffix(" (esc)")
        return f"enter: {label} · tab: next · esc: cancel"
    return "tab: the buttons · esc: cancel"


#: The rows of a confirmation that are not its message: its border, buttons and keys' line.
FIXED_ROWS = 2 + 3 + 1


class ConfirmModal(DismissOnce, ModalScreen[bool]):
    """Returns True when the admin confirms, False on cancel (esc).

    A `destructive` confirmation (something would be deleted) starts with Cancel focused, so
    enter never confirms it by accident; so does one that says `start_on_cancel` (it changes
    what syncs do, e.g. a pinned link, without deleting anything).
    """

    DEFAULT_CSS = """
    ConfirmModal {
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
        & VerticalScroll { height: auto; }
        & .confirm--message { height: auto; margin: 1 0; }
        & .confirm--keys { height: auto; color: $text-muted; margin: 0 1; }
        & Horizontal { height: auto; }
        & Button { width: 1fr; margin: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing anything"),
        Binding("up", "scroll_message('up')", show=False),
        Binding("down", "scroll_message('down')", show=False),
        Binding("pageup", "scroll_message('page_up')", show=False),
        Binding("pagedown", "scroll_message('page_down')", show=False),
    ]

    def __init__(
        self,
        title: str,
        message: str | Text | Hanging,
        confirm: str = "Confirm",
        *,
        destructive: bool = False,
        start_on_cancel: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.confirm_label = confirm
        self.destructive = destructive
        # focused as the dialog is composed, not once mounted: an enter typed right after the
        # key that opened it reached the first button (Unlink) in between (hostile review)
        self.start = "#cancel" if destructive or start_on_cancel else "#confirm"
        self.AUTO_FOCUS = self.start  # type: ignore[misc]

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            message = (
                self.message
                if isinstance(self.message, Text | Hanging)
                else plain(self.message, lines=True)
            )
            # a long message (a link's impact) scrolls, by ↑↓ from the buttons; the buttons
            # stay on screen, and tab goes from one to the other only
            with VerticalScroll(id="confirm-scroll") as scroll:
                scroll.can_focus = False
                yield Static(message, classes="confirm--message")
            with Horizontal():
                yield Button(
                    self.confirm_label,
                    variant="error" if self.destructive else "warning",
                    id="confirm",
                )
                yield Button("Cancel (esc)", id="cancel")
            yield Static(classes="confirm--keys", id="confirm-keys")

    def on_mount(self) -> None:
        self.query_one(self.start, Button).focus()

    def on_resize(self) -> None:
        # what is not the message: the border, the buttons, the keys' line
        self.query_one("#confirm-scroll").styles.max_height = max(3, self.size.height - FIXED_ROWS)
        self.call_after_refresh(self._show_keys)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self._show_keys()

    def _show_keys(self) -> None:
        """The keys' line; a message longer than the dialog says how to read the rest (at
        80x24 a link's impact did not fit, and nothing said that ↓ scrolls it)."""
        hint = key_hint(self.focused)
        if self.query_one("#confirm-scroll", VerticalScroll).max_scroll_y > 0:
            hint = f"↑↓: read on · {hint}"
        self.query_one("#confirm-keys", Static).update(hint)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_scroll_message(self, how: str) -> None:
        getattr(self.query_one("#confirm-scroll", VerticalScroll), f"scroll_{how}")()

    def action_cancel(self) -> None:
        self.dismiss(False)


def close_or_ask(modal: ModalScreen[Any], changed: bool, what: str) -> None:
    """Esc in an editing dialog: close it at once when nothing changed, else ask before the
    changes are thrown away (Cancel has the focus, so enter never discards by accident)."""
    if not changed:
        modal.dismiss(None)
        return

    def answered(discard: bool | None) -> None:
        if discard:
            modal.dismiss(None)

    modal.app.push_screen(
        ConfirmModal(
            "Discard changes",
            f"{what} has changes that are not kept. Discard them?",
            "Discard",
            destructive=True,
        ),
        answered,
    )
