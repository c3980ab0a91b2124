"""Where in the expression an evaluation failed: the sub-expression and its line and column.

A program is Python code generated from the parse tree (transpile.py); every node's code is a
piece of that source, and Python (3.11+) knows the column range of the instruction that was
running when an exception passed through a frame. So the failing instruction's range in the
generated source, matched to the smallest node whose code covers it, gives the CEL text that
failed. The map is built once per compiled program and read only when something failed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import CodeType, TracebackType
from typing import Any

from engine.text import printable

_SHOWN = 60  # characters of a sub-expression quoted in a message


@dataclass(frozen=True)
class Place:
    """A sub-expression of the CEL text: where it starts and how it reads."""

    line: int
    column: int
    text: str

    def describe(self) -> str:
        where = (
            f"line {self.line}, column {self.column}" if self.line > 1 else f"column {self.column}"
        )
        return f"at {where}: `{printable(self.text, _SHOWN)}`"


class SourceMap:
    """Generated source ranges -> the CEL sub-expressions they came from."""

    def __init__(self, filename: str, source: str, tree: Any, text: str, rewrite: Any) -> None:
        self.filename = filename
        self._lines = source.split("\n")
        # generated line number (1-based) -> [(start byte, end byte, place)], narrowest first
        self._spans: dict[int, list[tuple[int, int, Place]]] = {}
        for node in tree.iter_subtrees():
            code = getattr(node, "transpiled", None)
            meta = node.meta
            if not isinstance(code, str) or not code or meta.empty:
                continue
            code = rewrite(code)
            place = _place(node, text)
            needle = code.encode("utf-8")
            for number, line in enumerate(self._lines, start=1):
                data = line.encode("utf-8")
                start = data.find(needle)
                while start >= 0:
                    self._spans.setdefault(number, []).append((start, start + len(needle), place))
                    start = data.find(needle, start + 1)
        for spans in self._spans.values():
            spans.sort(key=lambda span: span[1] - span[0])

    def place(self, error: BaseException | None) -> Place | None:
        """The sub-expression that was running when `error` was raised, if it can be told."""
        position = self._position(error)
        if position is None:
            return None
        line, start, end = position
        for begin, finish, place in self._spans.get(line, ()):
            if begin <= start and end <= finish:
                return place
        return None

    def _position(self, error: BaseException | None) -> tuple[int, int, int] | None:
        traceback: TracebackType | None = error.__traceback__ if error is not None else None
        found: tuple[CodeType, int] | None = None
        while traceback is not None:
            code = traceback.tb_frame.f_code
            if code.co_filename == self.filename:
                found = (code, traceback.tb_lasti)
            traceback = traceback.tb_next
        if found is None:
            return None
        code, offset = found
        entry = next(itertools.islice(code.co_positions(), offset // 2, None), None)
        if entry is None or None in entry:
            return None
        line, _end_line, start, end = entry
        assert line is not None and start is not None and end is not None
        return line, start, end


# a binary operator's left side and operator: `relation_lt` is `relation "<"`
_OPERATOR_SIDES = {
    "addition_add": "+", "addition_sub": "-", "multiplication_mul": "*",
    "multiplication_div": "/", "multiplication_mod": "%", "relation_lt": "<",
    "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=", "relation_eq": "==",
    "relation_ne": "!=", "relation_in": "in",
}  # fmt: skip


def _place(node: Any, text: str) -> Place:
    """A node's text; a method call or a field is shown from its dot (`.replace("a", "b")`
    rather than everything it is called on), and its column is the dot's. A binary operation
    is shown whole, with its column at the operator (the types met there)."""
    meta = node.meta
    if node.data in ("addition", "multiplication", "relation") and len(node.children) == 2:
        side = node.children[0]
        symbol = _OPERATOR_SIDES.get(getattr(side, "data", ""))
        end = getattr(getattr(side, "meta", None), "end_pos", None)
        if symbol is not None and isinstance(end, int):
            at = end - len(symbol)
            if text[at:end] == symbol:
                line = text.count("\n", 0, at) + 1
                column = at - (text.rfind("\n", 0, at) + 1) + 1
                return Place(line, column, text[meta.start_pos : meta.end_pos])
    if node.data in ("member_dot_arg", "member_dot") and len(node.children) > 1:
        token = node.children[1]
        start = getattr(token, "start_pos", None)
        if isinstance(start, int):
            dot = text.rfind(".", meta.start_pos, start)
            if dot >= 0:
                line = text.count("\n", 0, dot) + 1
                column = dot - (text.rfind("\n", 0, dot) + 1) + 1
                return Place(line, column, text[dot : meta.end_pos])
    return Place(meta.line, meta.column, text[meta.start_pos : meta.end_pos])
