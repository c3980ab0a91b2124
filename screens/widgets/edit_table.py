"""A table of the items of a list being edited in a form (a push rule's mappings, its attribute
filters): its own keys add, edit, remove and move the highlighted item, as messages the form
handles. The keys show in the footer only while the table has the focus."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable


class EditTable(DataTable[Any]):
    """A DataTable whose rows are list items; a, enter, d and shift+↑/↓ post `Action`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "item('add')", "Add", tooltip="Add an item to this list"),
        Binding("enter", "item('edit')", "Edit", tooltip="Edit the highlighted item"),
        Binding("d,delete", "item('remove')", "Remove", tooltip="Remove the highlighted item"),
        Binding("shift+up", "item('up')", "Move up", tooltip="Move the item up", show=False),
        Binding(
            "shift+down", "item('down')", "Move down", tooltip="Move the item down", show=False
        ),
    ]

    class Action(Message):
        """`what` (add, edit, remove, up, down) on the item at `row` (-1: none)."""

        def __init__(self, table: EditTable, what: str, row: int) -> None:
            super().__init__()
            self.table = table
            self.what = what
            self.row = row

        @property
        def control(self) -> EditTable:
            return self.table

    def __init__(self, *, movable: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
        self.movable = movable

    def action_item(self, what: str) -> None:
        row = self.cursor_row if self.row_count else -1
        if what != "add" and row < 0:
            return
        self.post_message(self.Action(self, what, row))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "item" and parameters:
            what = parameters[0]
            if what in ("up", "down"):
                if not self.movable:
                    return False
                step = -1 if what == "up" else 1
                return 0 <= self.cursor_row + step < self.row_count or None
            if what in ("edit", "remove"):
                return self.row_count > 0 or None
        return super().check_action(action, parameters)
