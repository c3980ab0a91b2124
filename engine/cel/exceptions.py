"""The two errors the CEL engine raises: one for text that cannot run, one for a failed run."""

from __future__ import annotations

import unicodedata

from engine.errors import Problem, RosterError

from .locate import Place


def caret_text(text: str, line: int | None, column: int | None) -> str:
    """The expression line with a caret under the column (tabs kept so it lines up)."""
    if not line or not column:
        return ""
    lines = text.splitlines() or [""]
    if line > len(lines):
        line, column = len(lines), len(lines[-1]) + 1
    source = lines[line - 1]
    # a wide character (CJK, most emoji) takes two cells, a combining mark none
    pad = "".join(_pad(ch) for ch in source[: column - 1])
    pad += " " * max(0, column - 1 - len(source))
    return f"{source}\n{pad}^"


def _pad(character: str) -> str:
    if character == "\t":
        return "\t"
    if unicodedata.combining(character):
        return ""
    return "  " if unicodedata.east_asian_width(character) in ("W", "F") else " "


class CelCompileError(Exception):
    """The expression cannot be compiled: `problem` says where (1-based) and how to fix it."""

    def __init__(self, problem: Problem, caret: str = "") -> None:
        self.problem = problem
        self.caret = caret
        where = ""
        if problem.line is not None:
            where = f"line {problem.line}, column {problem.column}: "
        text = where + problem.message
        if problem.hint:
            text += f" — {problem.hint}"
        super().__init__(text)

    @property
    def message(self) -> str:
        return self.problem.message


class CelEvalError(Exception):
    """Evaluating a compiled expression for one record failed. `message` is short and never
    contains the record's data; when the failing sub-expression is known, `part` is its text
    (from the expression, not the data) and `line`/`column` where it starts, and the error's
    text (`str(error)`) ends with them."""

    def __init__(
        self,
        message: str,
        *,
        place: Place | None = None,
        hint: str = "",
        over_budget: bool = False,
    ) -> None:
        super().__init__(f"{message} ({place.describe()})" if place is not None else message)
        self.message = message
        self.over_budget = over_budget  # ran out of its cost budget (settings.cel.max_cost)
        self.line = place.line if place is not None else None
        self.column = place.column if place is not None else None
        self.part = place.text if place is not None else ""
        self.hint = hint


class CelTimeBudgetError(RosterError):
    """A preview or a sync stage ran out of its time budget (`settings.cel`) while evaluating:
    not one record's failure, so the work ends (a sync run fails, a preview stops with the
    counts it has)."""
