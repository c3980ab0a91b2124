"""Pausing Python's cyclic garbage collector around work that builds many long-lived objects.

Loading the population (every person and account as records) and a first preview over everyone
(each record converted to its CEL value once, then cached) allocate hundreds of thousands of
objects that all survive. Each allocation burst triggers a collection that walks every tracked
object of the process, the whole population included: measured, two thirds of a cold preview
over 10,000 people (bench/preview.py). Reference counting still frees everything that is not in
a cycle while the collector is paused; the collector resumes when the last pause ends.
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
                gc.enable()
