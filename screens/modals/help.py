"""The keys of the current screen, as a dialog (`?` or F1)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from screens.text import plain, safe


class HelpModal(ModalScreen[None]):
    """Lists (key, what it does) rows; escape, q, ? or F1 closes it."""

    DEFAULT_CSS = """
    HelpModal {
        align: center middle;
        & > Vertical {
            width: 72;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & DataTable { height: auto; max-height: 18; }
        & .help--footer { color: $text-muted; height: auto; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "Close"),
    ]

    def __init__(self, screen_title: str, rows: list[tuple[str, str]], note: str = "") -> None:
        super().__init__()
        self.screen_title = screen_title
        self.rows = rows
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(f"Keys — {safe(self.screen_title, 80)}")
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "What it does")
            for key, description in self.rows:
                table.add_row(plain(key), plain(description))
            yield table
            if self.note:
                yield Static(plain(self.note, lines=True), classes="help--footer")
            yield Static("esc closes this list", classes="help--footer")

    def action_close(self) -> None:
        self.dismiss(None)
