"""What one evaluation may spend: a cost budget per evaluation and a time budget per preview or
sync stage (`settings.cel` in the configuration, docs/configuration.md).

Pure Python cannot interrupt a running evaluation, so the evaluation pays as it goes. Only
expressions that can grow beyond the size of their own text and data are metered: those with a
comprehension (`map`, `filter`, `exists`, …) or a function whose result can be much larger
than its arguments (`replace`, `join`, `split`, `format`). Any other expression is at worst
linear in its text and the record it reads, so it runs exactly as fast as before. A metered
program starts each evaluation with `max_cost` units and spends, before a value is built,
one unit per character of every string, per item of every list or map and per step of a
comprehension; when the units or the time run out, `BudgetExceeded` ends the evaluation.

`BudgetExceeded` is a BaseException on purpose: CEL's errors are values that `||`, `&&`, `?:`
and the macros absorb (`expensive || true` is true), and a blown budget must not be absorbed.
`CelEngine.evaluate` turns it into a CelEvalError (cost, one record) or a CelTimeBudgetError
(time: the preview or the stage ends).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.config.defaults import (
    DEFAULT_MAX_COST,
    DEFAULT_MAX_SECONDS_PER_PREVIEW,
    DEFAULT_MAX_SECONDS_PER_STAGE,
)

# Values this small are not counted: what a program can build from them without building a
# larger value (which is counted) is bounded by its text and its two levels of comprehensions,
# and skipping them keeps the budget's cost out of typical expressions.
SMALL = 64

# Functions whose result can be much larger than their arguments: they make a program metered.
GROWING_FUNCTIONS = frozenset(("replace", "join", "split", "format"))


@dataclass(frozen=True)
class CelLimits:
    """The budgets of `settings.cel` (engine.config.model.CelSettings; see
    docs/configuration.md)."""

    max_cost: int
    max_seconds_per_preview: float
    max_seconds_per_stage: float

    @classmethod
    def of(cls, settings: Any = None) -> CelLimits:
        """The limits of a configuration's `settings.cel`; the defaults without one."""
        if settings is None:
            return cls(
                DEFAULT_MAX_COST, DEFAULT_MAX_SECONDS_PER_PREVIEW, DEFAULT_MAX_SECONDS_PER_STAGE
            )
        return cls(
            int(settings.max_cost),
            float(settings.max_seconds_per_preview),
            float(settings.max_seconds_per_stage),
        )


class BudgetExceeded(BaseException):  # noqa: N818 - not an error of the expression's logic
    """An evaluation ran out of cost units (`kind == "cost"`) or time (`kind == "time"`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Meter(threading.local):
    # units this thread's current metered evaluation may still spend (a function called
    # outside any program, as a test does, has all it wants)
    left: int = 2**62
    deadline: float | None = None  # time.monotonic() when the current preview or stage ends
    seconds: float = 0.0
    what: str = ""  # "the preview", "the attributes stage": named in the error
    setting: str = ""  # the setting that gives the time


meter = _Meter()


def spend(units: int) -> None:
    """Spend `units` of the current evaluation's budget, before building what costs them."""
    left = meter.left - units
    meter.left = left
    if left < 0:
        raise BudgetExceeded("cost", "the expression went over its cost budget")
    deadline = meter.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise time_exceeded()


def time_exceeded() -> BudgetExceeded:
    return BudgetExceeded("time", f"{meter.what} went over its time budget of {meter.seconds:g} s")


def past_deadline() -> bool:
    """Whether this thread's preview or stage is out of time (loops over records ask)."""
    deadline = meter.deadline
    return deadline is not None and time.monotonic() > deadline


@contextmanager
def time_budget(seconds: float, what: str, setting: str = "") -> Iterator[None]:
    """Evaluations on this thread inside the block end `seconds` after it starts; `what`
    names the work in the error ("the preview", "the attributes stage"). A block inside
    another keeps the earlier of the two deadlines."""
    previous = (meter.deadline, meter.seconds, meter.what, meter.setting)
    deadline = time.monotonic() + seconds
    if previous[0] is None or deadline < previous[0]:
        meter.deadline, meter.seconds, meter.what, meter.setting = deadline, seconds, what, setting
    try:
        yield
    finally:
        meter.deadline, meter.seconds, meter.what, meter.setting = previous


def time_setting() -> str:
    """The setting that gives this thread's current time budget."""
    return meter.setting or "the time budget"
