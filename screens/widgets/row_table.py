"""A DataTable of rows (a row cursor, no columns to move through) whose Home and End go to the
first and last row. DataTable's Home and End move between columns; in a table whose cursor is
a row they did nothing, and ctrl+Home is not a key anyone guesses."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable[Any]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
