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
