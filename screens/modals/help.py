"""The keys of the current screen, as a dialog (`?` or F1).

The dialog is as wide as its longest line, within the terminal: when a description does not fit
it wraps inside its column (never cut), and the list scrolls when it is taller than the screen.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from screens.text import plain, safe

KEY_HEADER, WHAT_HEADER = "Key", "What it does"
MIN_WHAT = 20  # the description column never gets narrower than this
# Columns around the table: the screen's margin (1 a side), the border (1 a side), the dialog's
# padding (1 a side), each cell's padding (1 a side, two columns) and the scrollbar (2).
CHROME = 2 + 2 + 2 + 4 + 2
# Lines around the table: the border (2) and the note lines below it.
FRAME_LINES = 2


class HelpModal(ModalScreen[None]):
    """Lists (key, what it does) rows; escape, q, ? or F1 closes it."""

    DEFAULT_CSS = """
    HelpModal {
        align: center middle;
        & > Vertical {
            width: auto;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & DataTable { height: auto; width: auto; }
        & .help--footer { color: $text-muted; height: auto; width: auto; }
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
        self.fitted_to: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(f"Keys — {safe(self.screen_title, 80)}")
            yield DataTable(cursor_type="row", zebra_stripes=True)
            if self.note:
                yield Static(plain(self.note, lines=True), classes="help--footer")
            yield Static("esc closes this list", classes="help--footer")

    def on_mount(self) -> None:
        self.fit()

    def on_resize(self) -> None:
        self.fit()

    def column_widths(self, columns: int) -> tuple[int, int]:
        """The key column and the description column for a terminal `columns` wide."""
        key_width = max([len(KEY_HEADER), *(len(key) for key, _ in self.rows)])
        what_full = max([len(WHAT_HEADER), *(len(what) for _, what in self.rows)])
        room = columns - CHROME - key_width
        return key_width, max(MIN_WHAT, min(what_full, room))

    def fit(self) -> None:
        """Size the table to its content within the terminal: wrap what does not fit."""
        width, height = self.app.size
        if self.fitted_to == (width, height):
            return
        self.fitted_to = (width, height)
        key_width, what_width = self.column_widths(width)
        table: DataTable[Text] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        table.add_column(KEY_HEADER, width=key_width)
        table.add_column(WHAT_HEADER, width=what_width)
        for key, what in self.rows:
            text = plain(what, limit=1000)
            lines = len(text.wrap(self.app.console, what_width))
            table.add_row(plain(key), text, height=max(1, lines))
        notes = len(self.query(".help--footer"))
        table.styles.max_height = max(3, height - 2 - FRAME_LINES - notes)
        if 0 <= row < table.row_count:
            table.move_cursor(row=row)

    def action_close(self) -> None:
        self.dismiss(None)
