"""A table cell with a shorter form for a narrow column: `Fit(full, short)` shows `full` when the
column has room for it, else `short` (cut with an ellipsis if even that is too long).

The cell keeps its whole text: `str()` gives `full`, as a plain `Text` cell would, so what a
test or a copy reads does not depend on the terminal's width. Both forms are `Text` built by
`screens.text`, never markup.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text


class Fit:
    def __init__(self, full: Text, short: Text | None = None) -> None:
        self.full = full
        self.short = short if short is not None else full

    def __str__(self) -> str:
        return self.full.plain

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.short.cell_len, self.full.cell_len)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        shown = self.full if self.full.cell_len <= width else self.short
        shown = shown.copy()
        shown.end = ""
        shown.no_wrap = True
        shown.truncate(width, overflow="ellipsis")
        yield shown


def natural_width(label: str, cells: list[object]) -> int:
    """The width a column needs for its label and cells (a `Fit` at its whole text): tables
    that size their columns themselves set every column's width, so a table never shows rows
    at its labels' widths until it has measured them."""
    widths = [cell_len(label)]
    for cell in cells:
        if isinstance(cell, Fit):
            widths.append(cell.full.cell_len)
        elif isinstance(cell, Text):
            widths.append(cell.cell_len)
        else:
            widths.append(cell_len(str(cell)))
    return max(widths)
