"""Helpers for Pilot tests."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot


async def settle(pilot: Pilot[Any], debounce: float = 0.25) -> None:
    """Let a debounced change fire, then wait for every worker and the UI to catch up."""
    await pilot.pause(debounce)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def shown(widget: Any) -> str:
    """The text a Static currently shows."""
    return str(widget.content)


async def palette_choose(pilot: Pilot[Any], query: str, timeout: float = 10.0) -> None:
    """Type into the open command palette, wait until it lists a match, and pick it: the
    palette searches asynchronously, so a fixed pause is not enough on a busy machine."""
    import time

    from textual.command import CommandList

    await pilot.press(*query)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        found = pilot.app.screen.query(CommandList)
        if found and found.first().option_count > 0:
            break
    await pilot.pause(0.2)  # let the search finish ranking
    await pilot.press("enter")
