"""Pausing Python's cyclic garbage collector around work that builds many long-lived objects.

Loading the population (every person and account as records) and a first preview over everyone
(each record converted to its CEL value once, then cached) allocate hundreds of thousands of
objects that all survive. Each allocation burst triggers a collection that walks every tracked
object of the process, the whole population included: measured, two thirds of a cold preview
over 10,000 people (bench/preview.py). Reference counting still frees everything that is not in
a cycle while the collector is paused; the collector resumes when the last pause ends.

A pause that leaves many objects behind freezes them as it ends (`gc.freeze`): the first
collection after it would walk them all, as would the one when the process exits. They are
thawed (`thaw`) when the records they hold are let go of, so cyclic garbage among them waits
at most until the store changes.
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
def collector_paused() -> Iterator[None]:
    """Within the block (in any thread, nested or overlapping) the cyclic collector does not
    run; it is enabled again when the last block ends, if it was enabled before the first."""
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
            if _depth == 0 and _was_enabled:
                if gc.get_count()[0] > FREEZE_AFTER:
                    # what the pause built is what the process keeps (records, converted CEL
                    # values): walking it again, object by object, was the first collection
                    # after the pause (5 s of the Merge rules screen at 100,000 people, and
                    # as much again when the process exits); `thaw` gives it back
                    gc.freeze()
                gc.enable()


#: Objects left by a pause (allocations less frees) past which they are frozen as it ends
FREEZE_AFTER = 200_000


def thaw() -> None:
    """Let the collector see again what pauses froze: called when the records they built are
    let go of (a sync, an import, a link: `ServiceContext.invalidate`), so that cyclic garbage
    among them is collected in time; the next full collection walks them once."""
    gc.unfreeze()
