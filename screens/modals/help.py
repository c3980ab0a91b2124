"""The keys of the current screen, as a dialog (`?` or F1)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


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
            box.border_title = f"Keys — {self.screen_title}"
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "What it does")
            for key, description in self.rows:
                table.add_row(key, description)
            yield table
            if self.note:
                yield Static(self.note, classes="help--footer", markup=False)
            yield Static("esc closes this list", classes="help--footer")

    def action_close(self) -> None:
        self.dismiss(None)
