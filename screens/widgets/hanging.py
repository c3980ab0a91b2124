"""Lines of text laid out with a hanging indent, each on at most a few rows: a long item wraps
under itself instead of being cut at the right edge, and the rows after its last one say with
an ellipsis that it goes on.

`Hanging(text)` is a Rich renderable, so a `Static` shows it at whatever width it has (and sizes
its height to it); `str()` gives the whole text, as the text a widget shows.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text


class Hanging:
    """`text`, each of its lines wrapped to the width, the rows after a line's first indented
    by `indent` more than the line itself (by `edge_indent`, when given, for a line that
    starts at the left edge: a sentence above a table's rows), and at most `rows` rows a line
    (the last one cut with an ellipsis)."""

    def __init__(
        self, text: Text, *, indent: int = 2, rows: int = 2, edge_indent: int | None = None
    ) -> None:
        self.text = text
        self.indent = indent
        self.edge_indent = indent if edge_indent is None else edge_indent
        self.rows = rows

    def __str__(self) -> str:
        return self.text.plain

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        out = Text(no_wrap=True, overflow="ellipsis")
        for index, line in enumerate(self.text.split("\n", allow_blank=True)):
            if index:
                out.append("\n")
            out.append_text(self.layout(console, line, options.max_width))
        yield out

    def layout(self, console: Console, line: Text, width: int) -> Text:
        """One line of the text in at most `self.rows` rows of `width` cells."""
        lead = len(line.plain) - len(line.plain.lstrip(" "))
        body = line[lead:]
        first_width = max(width - lead, 1)
        indent = self.indent if lead else self.edge_indent
        hang = min(lead + indent, max(width - 8, 0))  # a narrow column keeps some room
        rest_width = max(width - hang, 1)
        out = Text(" " * lead)
        rows = 1
        while True:
            if body.cell_len <= (first_width if rows == 1 else rest_width):
                out.append_text(body)
                return out
            row_width = first_width if rows == 1 else rest_width
            if rows >= self.rows:
                body = body.copy()
                body.truncate(row_width, overflow="ellipsis")
                out.append_text(body)
                return out
            wrapped = body.wrap(console, row_width, overflow="fold")
            cut = len(wrapped[0].plain)
            if not cut or not body.plain.startswith(wrapped[0].plain):
                cut = row_width  # no break found: a row's worth of characters
            piece = body[:cut]
            piece.rstrip()
            out.append_text(piece)
            rest = body.plain[cut:]
            body = body[cut + len(rest) - len(rest.lstrip(" ")) :]
            out.append("\n" + " " * hang)
            rows += 1
