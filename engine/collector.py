"""Pausing Python's cyclic garbage collector around work that builds many long-lived objects.

Loading the population (every person and account as records) and a first preview over everyone
(each record converted to its CEL value once, then cached) allocate hundreds of thousands of
objects that all survive. Each allocation burst triggers a collection that walks every tracked
object of the process, the whole population included: measured, two thirds of a cold preview
over 10,000 people (bench/preview.py). Reference counting still frees everything that is not in
a cycle while the collector is paused; the collector resumes when the last pause ends.

A pause that loads the store's records (`freeze=True`) freezes them as it ends (`gc.freeze`):
the first collection after it would walk them all, as would the one when the process exits.
They are thawed (`thaw`) when the records are let go of.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """Within the block (in any thread, nested or overlapping) the cyclic collector does not
    run; it is enabled again when the last block ends, if it was enabled before the first.

    `freeze`: what the block builds is kept for long and holds no cycles (records read from
    the store): when it built much, everything tracked is frozen as the block ends, so no
    collection walks it again (not the first one after the pause, a few seconds at 100,000
    people, nor the one when the process exits) until `thaw`. Not for work that makes
    garbage in cycles (an impact simulated, CEL errors raised): frozen, that garbage would
    stay until the next thaw (measured: 200 MiB more each time the console's counts ran
    again at 10,000 people)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if freeze and gc.get_count()[0] > FREEZE_AFTER:
                gc.freeze()
            if _depth == 0 and _was_enabled:
                gc.enable()


#: Objects a pause built (allocations less frees) past which a freezing pause freezes them
FREEZE_AFTER = 200_000


def thaw() -> None:
    """Let the collector see again what pauses froze: called when the records they built are
    let go of (a sync, an import, a link: `ServiceContext.invalidate`), so that cyclic garbage
    among them is collected in time; the next full collection walks them once."""
    gc.unfreeze()
