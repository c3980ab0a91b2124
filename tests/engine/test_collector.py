"""The cyclic collector's pause around population loads and first previews (issue 11)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from engine.collector import collector_paused


@pytest.fixture(autouse=True)
def _collector_back_on() -> Iterator[None]:
    yield
    gc.enable()


def test_the_collector_resumes_only_when_the_last_overlapping_pause_ends() -> None:
    gc.enable()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=other)
    with collector_paused():
        assert not gc.isenabled()
        worker.start()
        assert inside.wait(10)
    # this thread's pause ended; the worker's goes on
    assert not gc.isenabled()
    release.set()
    worker.join(10)
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_that_was_off_off_and_survives_an_error() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
    gc.enable()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()
