"""The keys of the current screen, as a dialog (`?` or F1).

The dialog is as wide as its longest line, within the terminal: when a description does not fit
it wraps inside its column (never cut), and the list scrolls when it is taller than the screen:
it is read, not chosen from, so it has no cursor and ↑/↓ (pgup/pgdn, home/end) scroll it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from screens.base import DismissOnce
from screens.text import plain, safe

KEY_HEADER, WHAT_HEADER = "Key", "What it does"
CLOSE_NOTE = "esc closes this list"
SCROLL_NOTE = "↑↓ pgup pgdn home end scroll · esc closes this list"
MIN_WHAT = 20  # the description column never gets narrower than this
# Columns around the table: the screen's margin (1 a side), the border (1 a side), the dialog's
# padding (1 a side), each cell's padding (1 a side, two columns) and the scrollbar (2).
CHROME = 2 + 2 + 2 + 4 + 2
# Lines around the table: the border (2) and the note lines below it.
FRAME_LINES = 2


class HelpTable(DataTable[Text]):
    """The list of keys: no cursor, so ↑/↓ and pgup/pgdn scroll it; home/end go to its top and
    its bottom (a DataTable's own home/end scroll sideways)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "Top", show=False),
        Binding("end", "scroll_bottom", "Bottom", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True)


class HelpModal(DismissOnce, ModalScreen[None]):
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
            # no cursor: ↑/↓ scroll the list (a row cursor had to reach the bottom edge first)
            yield HelpTable()
            if self.note:
                yield Static(plain(self.note, lines=True), classes="help--footer")
            yield Static(CLOSE_NOTE, classes="help--footer", id="help-keys")

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
        table = self.query_one(HelpTable)
        scrolled = table.scroll_y
        table.clear(columns=True)
        table.add_column(KEY_HEADER, width=key_width)
        table.add_column(WHAT_HEADER, width=what_width)
        lines = 1  # the header
        for key, what in self.rows:
            text = plain(what, limit=1000)
            wrapped = max(1, len(text.wrap(self.app.console, what_width)))
            table.add_row(plain(key), text, height=wrapped)
            lines += wrapped
        notes = len(self.query(".help--footer"))
        room = max(3, height - 2 - FRAME_LINES - notes)
        table.styles.max_height = room
        # say that it scrolls when it does: the rows below the edge are not otherwise hinted
        self.query_one("#help-keys", Static).update(SCROLL_NOTE if lines > room else CLOSE_NOTE)
        if scrolled:  # a resize keeps the place (the rows are only laid out after this)
            self.call_after_refresh(table.scroll_to, y=scrolled, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
