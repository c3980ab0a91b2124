"""Helpers for Pilot tests: wait on conditions, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerCancelled

POLL = 0.02  # seconds between two looks at a condition


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], object], what: str = "", timeout: float = 10.0
) -> None:
    """Let the app run until `condition()` is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await pilot.pause(POLL)


DEBOUNCE_TIMERS = ("_debounce", "_completion_timer")


def debounce_pending(pilot: Pilot[Any]) -> bool:
    """Whether a screen or widget has a debounce timer that has not fired yet: the screens and
    the CEL editor keep theirs in `_debounce`, the editor's completion list its opening delay
    in `_completion_timer`."""
    for screen in pilot.app.screen_stack:
        for node in (screen, *screen.walk_children()):
            for name in DEBOUNCE_TIMERS:
                timer = getattr(node, name, None)
                task = getattr(timer, "_task", None)
                if task is not None and not task.done():
                    return True
    return False


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait until every debounced change has fired, every worker has finished and the UI has
    processed what they posted."""
    deadline = time.monotonic() + timeout
    await pilot.pause()
    while True:
        await wait_until(
            pilot,
            lambda: not debounce_pending(pilot),
            "the debounced changes",
            max(deadline - time.monotonic(), POLL),
        )
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            pass  # replaced by a newer exclusive worker: the loop waits for that one
        await pilot.pause()
        if not debounce_pending(pilot) and not any(not w.is_finished for w in pilot.app.workers):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not settle within {timeout} s")


def shown(widget: Any) -> str:
    """The text a Static currently shows."""
    return str(widget.content)


async def palette_choose(pilot: Pilot[Any], query: str, timeout: float = 10.0) -> None:
    """Type into the open command palette, wait until it lists a command matching the query,
    and pick it: the palette searches asynchronously."""
    from textual.command import CommandList

    await pilot.press(*query)

    def matching() -> bool:
        found = pilot.app.screen.query(CommandList)
        if not found or found.first().option_count == 0:
            return False
        commands = found.first()
        highlighted = commands.highlighted if commands.highlighted is not None else 0
        prompt = str(commands.get_option_at_index(highlighted).prompt).lower()
        return all(word in prompt for word in query.lower().split())

    await wait_until(pilot, matching, f"the command palette to offer {query!r}", timeout)
    await pilot.press("enter")


def screen_text(app: Any) -> str:
    """The current screen as the terminal draws it, one line a row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)
