"""The people a source of one attribute fails for: person, source, message and position."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from screens.base import RosterModal
from screens.text import clip, plain, safe


class AttributeErrorsModal(RosterModal[None]):
    """A read-only list; escape closes it. The highlighted error's whole message is under it."""

    DEFAULT_CSS = """
    AttributeErrorsModal {
        align: center middle;
        & > Vertical {
            width: 110;
            max-width: 100%;
            height: 90%;
            max-height: 100%;
            border: round $error;
            background: $surface;
            padding: 0 1;
        }
        & DataTable { height: 1fr; }
        & #errors-detail { height: auto; max-height: 6; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, attribute: str, errors: list[Any], count: int) -> None:
        super().__init__()
        self.attribute = attribute
        self.errors = errors
        self.count = count

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(f"Errors of {safe(self.attribute, 60)}")
            shown = len(self.errors)
            more = f" (the first {shown:,} shown)" if self.count > shown else ""
            box.border_subtitle = f"{self.count:,} people{more} · esc closes"
            table: DataTable[Any] = DataTable(id="errors-table", cursor_type="row")
            table.add_column("Person", key="person")
            table.add_column("Source", key="source")
            table.add_column("Position", key="position")
            table.add_column("Message", key="message")
            for index, error in enumerate(self.errors):
                table.add_row(
                    clip(error.person, 30),
                    clip(error.source, 30, "magenta"),
                    clip(error.position or "—", 18),
                    clip(error.message, 60),
                    key=str(index),
                )
            yield table
            yield Static("", id="errors-detail")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.show(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show(event.cursor_row)

    def show(self, index: int) -> None:
        if not 0 <= index < len(self.errors):
            return
        error = self.errors[index]
        text = Text()
        text.append_text(plain(error.person, "bold", limit=120))
        text.append(" · ", style="dim")
        text.append_text(plain(error.source, "magenta", limit=300))
        if error.position:
            text.append(f" · {safe(error.position, 40)}", style="dim")
        text.append("\n")
        text.append_text(plain(error.message, lines=True, limit=600))
        self.query_one("#errors-detail", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
