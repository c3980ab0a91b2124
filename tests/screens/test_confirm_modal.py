"""A confirmation whose message is longer than the terminal says how to read the rest."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widgets import Static

from screens.modals.confirm import ConfirmModal
from tests.screens.helpers import settle, shown


async def _keys_line(message: str, size: tuple[int, int]) -> tuple[str, ConfirmModal]:
    app: App[Any] = App()
    async with app.run_test(size=size) as pilot:
        modal = ConfirmModal("Link account", message, "Link and pin", start_on_cancel=True)
        app.push_screen(modal)
        await settle(pilot)
        keys = shown(modal.query_one("#confirm-keys", Static))
        if "read on" in keys:  # and ↓ does read on
            scroll = modal.query_one("#confirm-scroll")
            await pilot.press("down", "down")
            await settle(pilot)
            assert scroll.scroll_y > 0
            assert app.focused is not None and app.focused.id == "cancel"
        return keys, modal


async def test_a_long_message_says_how_to_read_the_rest() -> None:
    long = "\n".join(f"Line {n} of what the link changes" for n in range(1, 41))
    keys, _ = await _keys_line(long, (80, 24))
    assert keys.startswith("↑↓: read on · enter: Cancel"), keys
    assert len(keys) <= 70  # one line of the 76-column dialog at 80 columns


async def test_a_message_that_fits_says_nothing_of_scrolling() -> None:
    keys, _ = await _keys_line("Link hr:E1 to Ann.", (80, 24))
    assert keys.startswith("enter: Cancel"), keys
    keys, _ = await _keys_line("\n".join(f"Line {n}" for n in range(40)), (120, 60))
    assert "read on" not in keys
