"""The cyclic collector's pause around population loads and first previews (issue 11)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

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


def test_the_console_s_counts_over_everyone_run_with_the_collector_paused(demo: object) -> None:
    """The Directories, Merge rules, Attributes and Push rules screens' counts convert every
    record to CEL and keep the values: with the collector running, its collections walked them
    all again and again (a third of each screen's time at 100,000 people: bench/screens.py).
    Each call is watched from inside: the matrix through its cancel check, the others
    through the CEL engine's evaluation."""
    from engine.cel import CelEngine

    services: Any = demo
    config = services.config()
    seen: dict[str, set[bool]] = {}
    real = CelEngine.evaluate
    watching = ["—"]

    def evaluate(self: CelEngine, program: Any, variables: Any) -> Any:
        seen.setdefault(watching[0], set()).add(gc.isenabled())
        return real(self, program, variables)

    gc.enable()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CelEngine, "evaluate", evaluate)
        for name, call in [
            ("decision counts", lambda: services.decision_counts(config)),
            ("identity impact", lambda: services.identity_impact(config)),
            ("value impact", lambda: services.value_impact(None)),
            ("push plan", lambda: services.push_plan()),
            ("merge matrix", lambda: services.merge_matrix()),
        ]:
            watching[0] = name
            call()
            assert gc.isenabled(), f"{name}: the collector is back on afterwards"
    assert {name: states for name, states in seen.items()} == {
        name: {False}
        for name in (
            "decision counts",
            "identity impact",
            "value impact",
            "push plan",
            "merge matrix",
        )
    }
