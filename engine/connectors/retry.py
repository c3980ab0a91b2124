"""Retries with backoff for a connector's transient failures (a timeout, a server busy or down),
within one time budget, so that a connector never holds a sync past its timeout
(docs/connectors.md).

A rejection (the server understood and said no) is never retried: the caller's `transient`
says which outcomes are worth another try.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 4
FIRST_DELAY = 0.25  # seconds; doubled after each transient failure
MAX_DELAY = 4.0


@dataclass
class Budget:
    """The time one operation may take, retries and waits included."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.seconds - (time.monotonic() - self.started))


@dataclass
class Outcome:
    """How a call ended after its retries: how many attempts, and whether time ran out."""

    attempts: int = 0
    out_of_time: bool = False


def with_retries(
    attempt: Callable[[float], T],
    transient: Callable[[T | None, BaseException | None], float | None],
    budget: Budget,
    outcome: Outcome | None = None,
    attempts: int = ATTEMPTS,
) -> T:
    """Call `attempt(seconds left)` until it succeeds, fails for good, or the budget or the
    attempts run out; returns its last result or raises its last exception.

    `transient(result, error)` returns None when that outcome is final (a success or a
    rejection), else the seconds the server asked to wait (0 for the usual backoff).
    """
    outcome = outcome if outcome is not None else Outcome()
    delay = FIRST_DELAY
    while True:
        outcome.attempts += 1
        result: T | None = None
        error: BaseException | None = None
        try:
            result = attempt(budget.remaining())
        except Exception as exc:  # noqa: BLE001 - `transient` decides; re-raised below
            error = exc
        wait = transient(result, error)
        if wait is None or outcome.attempts >= attempts:
            return _finish(result, error)
        wait = max(wait, delay)
        if wait >= budget.remaining():
            outcome.out_of_time = True
            return _finish(result, error)
        time.sleep(wait)
        delay = min(delay * 2, MAX_DELAY)


def _finish(result: T | None, error: BaseException | None) -> T:
    if error is not None:
        raise error
    return result  # type: ignore[return-value]  # not an error, so `attempt` returned a T
