"""The app shell: number keys, the command palette, help, quit and the error dialog."""

from __future__ import annotations

from typing import Any

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, Footer

from console.app import RosterApp
from engine.errors import StoreError
from screens.dashboard import DashboardScreen
from screens.modals.error import ErrorModal
from screens.modals.help import HelpModal
from screens.playground import PlaygroundScreen
from screens.widgets.cel_editor import CelTextArea
from tests.screens.helpers import palette_choose, screen_text, settle, wait_until


def footer_keys(app: RosterApp) -> dict[str, str]:
    """What the footer offers: key display -> description."""
    footer = app.screen.query_one(Footer)
    return {
        app.get_key_display(binding): binding.description
        for (_ns, binding, enabled, _tip) in footer.screen.active_bindings.values()
        if binding.show and enabled
    }


async def test_number_keys_switch_screens(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert footer_keys(app)["r"] == "Refresh"
        await pilot.press("9")
        await settle(pilot)
        assert isinstance(app.screen, PlaygroundScreen)
        # In the editor, 1 is text; esc leaves the editor and then 1 switches.
        await pilot.press("1")
        assert app.screen.editor.text == "1"
        keys = footer_keys(app)
        assert keys["^r"] == "Run all" and keys["esc"] == "Leave" and keys["^t"] == "Context"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.focused, CelTextArea)
        await pilot.press("1")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("9")
        await pilot.pause()
        assert app.screen.editor.text == "1"  # the playground kept its state


async def test_q_quits_outside_the_editor_only(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("9")
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and app.screen.editor.text == "q"
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_q_quits_from_the_dashboard(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_palette_lists_screens_and_actions(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await palette_choose(pilot, "playground")
        await settle(pilot)
        assert isinstance(app.screen, PlaygroundScreen)

        # On the playground the palette offers its actions, e.g. running on all records.
        await pilot.press(*"true")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await palette_choose(pilot, "run all")
        await settle(pilot)
        assert isinstance(app.screen, PlaygroundScreen)
        assert "records" in str(app.screen.query_one("#population").content)


async def test_help_lists_the_keys_of_the_current_screen(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        rows = dict(app.screen.rows)
        assert "Read the counts from the store again" in rows["r"]
        assert "CEL playground" in rows["9"]
        assert any("Quit" in what for what in rows.values())
        table = app.screen.query_one(DataTable)
        assert table.row_count == len(app.screen.rows)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)

        await pilot.press("9")
        await settle(pilot)
        await pilot.press("f1")  # ? is text in the editor; F1 always opens help
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        keys = dict(app.screen.rows)
        assert "^r" in keys and "^o" in keys and "^t" in keys
        assert any("complet" in what.lower() for what in keys.values())
        await pilot.press("escape")


async def test_help_lists_every_screen_key_and_down_scrolls_it(services: Any) -> None:
    """At 80x24 the dashboard's help is taller than the screen: it lists 1 (the screen shown)
    with 2-9, and each ↓ brings one more line into view."""
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, HelpModal)
        keys = [key for key, _ in modal.rows]
        at = keys.index("1")
        assert keys[at : at + 9] == [str(n) for n in range(1, 10)], keys
        assert dict(modal.rows)["1"] == "Go to Dashboard (this screen)"
        assert dict(modal.rows)["2"] == "Go to Directories"

        table = modal.query_one(DataTable)
        assert table.max_scroll_y > 0  # taller than the screen
        assert "↑↓ pgup pgdn home end scroll" in screen_text(app)
        before = screen_text(app)
        assert "Show the keys of this screen" not in before  # below the edge
        for step in (1, 2):
            await pilot.press("down")
            await wait_until(pilot, lambda step=step: table.scroll_y == step, f"scrolled {step}")
        await pilot.press("end")
        await wait_until(pilot, lambda: table.scroll_y == table.max_scroll_y, "the end")
        await pilot.pause()
        assert "Show the keys of this screen" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("8")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        keys = [key for key, _ in app.screen.rows]
        at = keys.index("1")
        assert keys[at : at + 9] == [str(n) for n in range(1, 10)], keys
        assert dict(app.screen.rows)["8"] == "Go to Sync (this screen)"


async def test_failed_worker_shows_one_clear_dialog(services: Any) -> None:
    def broken(**_: Any) -> Any:
        raise StoreError("The identity store /tmp/x.db cannot be read: disk I/O error.")

    services.dashboard = broken
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert app.screen.title_text == "Loading the dashboard failed"
        assert "disk I/O error" in app.screen.message
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "could not be loaded" in str(app.screen.query_one("#warnings").content)
        assert app.is_running


async def test_a_store_change_reloads_the_screen_shown_and_the_others_when_shown(
    services: Any,
) -> None:
    """A change the console did not make itself (as a configuration import would post) reaches
    the screen shown at once, and a screen of another mode when it is shown again."""
    from screens.messages import StoreChanged
    from screens.sync import SyncScreen

    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)

        run = services.sync(dry_run=True)  # a run the screens have not seen
        app.post_message(StoreChanged("run", run_id=run.run_id))
        await settle(pilot)
        runs = app.screen.query_one("#runs-table", DataTable)
        assert str(runs.get_row_at(0)[0]) == str(run.run_id)

        await pilot.press("8")  # the Sync screen was not shown: it reloads now
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        history = app.screen.query_one("#sync-history", DataTable)
        assert str(history.get_row_at(0)[0]) == str(run.run_id)


async def footer_showing(pilot: Any, *wanted: str, timeout: float = 10.0) -> list[str]:
    """What the footer shows once it offers every `wanted` item, or after `timeout` seconds:
    it recomposes its keys asynchronously after the bindings change."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause(0.05)
        footer = pilot.app.screen.query_one(Footer)
        keys = list(footer.query("FooterKey"))
        laid_out = len(keys) > 1 and all(key.region.width > 0 for key in keys)
        items = visible_footer(pilot.app) if laid_out else []
        if (laid_out and all(item in items for item in wanted)) or time.monotonic() > deadline:
            return items


def visible_footer(app: RosterApp) -> list[str]:
    """The footer's keys and group labels that are wholly on screen (not under the palette
    key docked on the right, not past the edge)."""
    footer = app.screen.query_one(Footer)
    keys = list(footer.query("FooterKey"))
    palette = [key for key in keys if key.has_class("-command-palette")]
    limit = palette[0].region.x if palette else footer.region.right
    shown_items = []
    for widget in footer.query("FooterKey, FooterLabel"):
        if widget in palette or widget.region.width == 0 or widget.region.right > limit:
            continue
        if widget in keys:
            shown_items.append(f"{widget.key_display} {widget.description}".strip())
        else:
            shown_items.append(str(widget.content))
    return shown_items


@pytest.mark.parametrize(
    "mode",
    ["dashboard", "directories", "merge", "attributes", "push", "provisioning", "users", "sync"],
)
async def test_every_footer_entry_fits_at_80_columns(services: Any, mode: str) -> None:
    app = RosterApp(services, start=mode)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.set_focus(None)  # outside text fields: every key is offered
        items = await footer_showing(pilot, "^q Quit", "? Help", "1-9 Screens")
        assert "^q Quit" in items and "? Help" in items and "1-9 Screens" in items, items
        footer = app.screen.query_one(Footer)
        offered = [
            f"{key.key_display} {key.description}".strip()
            for key in footer.query("FooterKey")
            if not key.has_class("-command-palette")
        ]
        assert offered == items, f"cut off at 80 columns: {set(offered) - set(items)}"


async def test_the_screen_keys_work_and_f2_lists_the_screens(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert app.current_mode == "attributes"
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await palette_choose(pilot, "Dashboard")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        rows = dict(app.screen.rows)  # the help dialog lists every screen key
        assert rows["4"] == "Go to Attributes (outside text fields)" or rows["4"].startswith(
            "Go to Attributes"
        )
        assert rows["1-9"].startswith("Keys 1 to 9")


async def test_the_playground_footer_fits_at_80_columns(services: Any) -> None:
    app = RosterApp(services, start="playground")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # in the editor: number keys are text, F1 is help
        items = await footer_showing(pilot, "^q Quit", "f1 Help")
        assert "^q Quit" in items and "f1 Help" in items, items
        await pilot.press("escape")
        items = await footer_showing(pilot, "? Help", "1-9 Screens")
        assert "? Help" in items and "1-9 Screens" in items, items


async def test_the_help_dialog_fits_its_content_within_the_terminal(services: Any) -> None:
    longest = "Go to Sync and sync now: the plan is shown for your confirmation first"
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, HelpModal)
        table = modal.query_one(DataTable)
        box = modal.query_one("Vertical")
        # wide enough for every line, one line per row, and no wider than its content needs
        assert dict(modal.rows)["s"] == longest
        longest = max((description for _, description in modal.rows), key=len)  # a note
        what = table.ordered_columns[1]
        assert what.width == len(longest)
        assert all(row.height == 1 for row in table.ordered_rows)
        assert box.region.width <= len(longest) + 30 and box.region.right <= 120
        assert box.region.height < 40

    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, HelpModal)
        table = modal.query_one(DataTable)
        box = modal.query_one("Vertical")
        assert box.region.x >= 0 and box.region.right <= 80
        assert box.region.y >= 0 and box.region.bottom <= 24
        # a description longer than the column wraps onto a second line instead of being cut
        what = table.ordered_columns[1].width
        rows = dict(modal.rows)
        assert len(rows["s"]) > what
        index = [key for key, _ in modal.rows].index("s")
        assert table.ordered_rows[index].height == 2
        # taller than the screen: the list scrolls to its last row
        assert table.virtual_size.height > table.size.height
        await pilot.press("end")
        await wait_until(pilot, lambda: table.scroll_y == table.max_scroll_y > 0, "the end")
