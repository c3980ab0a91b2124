"""A dialog showing one text whole, scrolled with the keys: what a panel had to cut (a change
whose fields or reason run past the detail under the plan tree at 80x24)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from screens.base import DismissOnce
from screens.text import plain
from screens.widgets.hanging import Hanging

KEYS_NOTE = "↑↓ PgUp PgDn Home End scroll · esc closes"


class TextViewModal(DismissOnce, ModalScreen[None]):
    """`text` (already made safe by its caller; a `Hanging` to wrap its lines under
    themselves) under `title`; escape, q or enter closes it."""

    DEFAULT_CSS = """
    TextViewModal {
        align: center middle;
        & > Vertical {
            width: 100;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & VerticalScroll { height: auto; }
        & #text-view-body { height: auto; }
        & .text-view--keys { color: $text-muted; height: 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close"),
    ]

    def __init__(self, title: str, text: Text | Hanging) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self.title_text)
            with VerticalScroll():
                yield Static(self.text, id="text-view-body")
            yield Static(KEYS_NOTE, classes="text-view--keys")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self.fit()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """The text scrolls within the terminal, the keys' line stays under it: sized by
        hand, as a height of "auto" grew past the screen and pushed the line out."""
        border_and_keys = 3
        self.query_one(VerticalScroll).styles.max_height = max(
            3, self.app.size.height - border_and_keys
        )

    def action_close(self) -> None:
        self.dismiss(None)
