"""Directories screen and the directory filter editor over the real demo store: the list and its
counts, add, edit with the impact while typing, save (audit entry, export shows exactly the
edit), reorder, enable/disable, delete with confirmation, a CEL error, a conflict, hostile text,
80×24."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from textual.widgets import Button, DataTable, OptionList, Static

from console.app import RosterApp
from engine.services import ConfigEdit
from screens.directories import DirectoriesScreen
from screens.directory_filter import DirectoryFilterScreen
from screens.modals.add_directory import AddDirectoryModal
from screens.modals.confirm import ConfirmModal
from screens.modals.help import HelpModal
from screens.widgets.cel_editor import CelEditor
from tests.screens.helpers import screen_text, settle, shown, wait_until
from tests.screens.test_app import footer_showing

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"

# An HR filter that keeps leavers: every known kind of worker stays a person.
KEEP_LEAVERS = (
    'account.profile.employment_type in ["FULL_TIME", "CONTRACTOR", "INTERN"] '
    '? "CREATE" : "MATCH_ONLY"'
)


def hr_decisions(filter_name: str) -> dict[str, int]:
    """What the demo's HR filters decide, counted from the HR file itself."""
    hr = yaml.safe_load((SAMPLE / "apps" / "hr.yaml").read_text(encoding="utf-8"))
    counts = {"CREATE": 0, "MATCH_ONLY": 0, "IGNORE": 0}
    for account in hr["accounts"]:
        profile = account.get("profile") or {}
        kind = profile.get("employment_type")
        known = kind in ("FULL_TIME", "CONTRACTOR", "INTERN")
        leaver = (
            profile.get("employment_status") == "TERMINATED" or account.get("status") == "DISABLED"
        )
        if filter_name == "saved" and leaver:
            counts["IGNORE"] += 1
        else:
            counts["CREATE" if known else "MATCH_ONLY"] += 1
    return counts


def rows(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def exported(services: Any) -> dict[str, Any]:
    return yaml.safe_load(services.export_config())


def app_for(services: Any, start: str = "directories") -> RosterApp:
    app = RosterApp(services, start=start)
    app.STORE_POLL_SECONDS = 0
    return app


async def open_directories(pilot: Any) -> DirectoriesScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, DirectoriesScreen)
    await wait_until(pilot, lambda: screen.counts is not None, "the decision counts")
    await settle(pilot)
    return screen


async def open_filter(pilot: Any, app: str) -> DirectoryFilterScreen:
    screen = pilot.app.screen
    assert isinstance(screen, DirectoriesScreen)
    apps = [r.app for r in screen.rows]
    table = screen.query_one("#directories", DataTable)
    table.focus()
    table.move_cursor(row=apps.index(app))
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    editor_screen = pilot.app.screen
    assert isinstance(editor_screen, DirectoryFilterScreen)
    await wait_until(pilot, lambda: editor_screen.impact is not None, "the first impact")
    await settle(pilot)
    return editor_screen


def hr_impact(services: Any, text: str) -> Any:
    """What saving TEXT as HR's filter would do, as the services say."""
    edit = ConfigEdit("set", "directories.hr.filter", text)
    return services.identity_impact(services.config_edit(edit, dry_run=True).config)


async def edit_hr_filter(pilot: Any, text: str) -> DirectoryFilterScreen:
    """HR's filter open in the editor with TEXT in it, its impact shown."""
    await open_directories(pilot)
    editor = await open_filter(pilot, "hr")
    await replace_text(pilot, text)
    await wait_until(pilot, lambda: editor._impact_for == text, "the impact")
    return editor


async def replace_text(pilot: Any, text: str) -> None:
    """Select everything in the filter (f7) and type the new text over it, key by key."""
    await pilot.press("f7")
    await pilot.press(*text)
    await settle(pilot)


def modal_text(pilot: Any) -> str:
    modal = pilot.app.screen
    assert isinstance(modal, ConfirmModal)
    return str(modal.query_one(".confirm--message", Static).content)


async def confirm(pilot: Any) -> None:
    """Press the confirm button of the open confirmation (keyboard: a destructive one opens on
    Cancel, so shift+tab first)."""
    modal = pilot.app.screen
    assert isinstance(modal, ConfirmModal)
    if modal.start == "#cancel":
        await pilot.press("shift+tab")  # it opens on Cancel (destructive, or a write)
    assert modal.focused is not None and modal.focused.id == "confirm"
    await pilot.press("enter")
    await settle(pilot)


# The list -------------------------------------------------------------------------------


async def test_the_list_shows_directories_in_order_with_counts_and_last_change(
    services: Any,
) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_directories(pilot)
        table = screen.query_one("#directories", DataTable)
        shown_rows = rows(table)
        assert [r[1].split()[0] for r in shown_rows] == ["hr", "idp", "hr_feed"]
        assert [r[0] for r in shown_rows] == ["1", "2", "3"]
        assert all(r[2] == "yes" for r in shown_rows)
        expected = hr_decisions("saved")
        assert shown_rows[0][4:] == [
            f"{expected['CREATE']:,}",
            f"{expected['MATCH_ONLY']:,}",
            f"{expected['IGNORE']:,}",
            "0",
        ]
        # the contractor feed is MATCH_ONLY for every row of its CSV
        feed_rows = (SAMPLE / "apps" / "hr_feed.csv").read_text(encoding="utf-8").splitlines()
        assert shown_rows[2][4:] == ["0", str(len(feed_rows) - 1), "0", "0"]
        assert shown_rows[0][3].startswith("account.profile.employment")
        assert "counting" not in shown(screen.query_one("#directories-status", Static))
        # before today's are counted, the store's show, dimmed, and the line says so
        counted, screen.counts = screen.counts, None
        screen.stored = services.stored_decision_counts(services.config())
        screen.fill_counts()
        cell = table.get_cell("hr", "CREATE")
        assert cell.plain == f"{expected['CREATE']:,}" and cell.style == "dim"
        status = shown(screen.query_one("#directories-status", Static))
        assert "as the last sync left them; counting today's…" in status
        screen.counts = counted
        screen.fill_counts()
        assert table.get_cell("hr", "CREATE").style == ""
        detail = shown(screen.query_one("#directory-filter", Static))
        assert "hr (Workday HR) · 300 accounts" in detail
        last = shown(screen.query_one("#directory-last", Static))
        assert "imported by" in last and "directories" in last
        # at 80 columns the table and the screen's keys fit
        assert table.region.right <= 80
        items = await footer_showing(pilot, "a Add", "e Edit", "d Delete", "^q Quit", "? Help")
        for item in ("a Add", "e Edit", "space On/off", "d Delete", "^q Quit", "? Help"):
            assert item in items, items


async def test_add_a_directory_lists_only_apps_with_accounts_and_saves_it(services: Any) -> None:
    before = exported(services)
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        await pilot.press("a")
        await settle(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, AddDirectoryModal)
        offered = [c.id for c in modal.choices]
        with_accounts = {a.id for a in services.dashboard().apps if a.accounts > 0}
        assert set(offered) == with_accounts - {"hr", "idp", "hr_feed"}
        assert "github" in offered
        options = modal.query_one(OptionList)
        options.highlighted = offered.index("github")
        await pilot.press("enter")
        await settle(pilot)
        editor = pilot.app.screen
        assert isinstance(editor, DirectoryFilterScreen) and editor.adding
        await wait_until(pilot, lambda: editor.impact is not None, "the impact of the new one")
        await settle(pilot)
        assert editor.editor.text == '"MATCH_ONLY"'
        impact = shown(editor.query_one("#filter-impact", Static))
        github = sum(1 for a in services.records_in_scope("directory_filter", "github"))
        assert f"MATCH_ONLY {github:,}" in impact
        assert "0 people would be created, 0 removed" in impact
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, DirectoriesScreen)
        await wait_until(pilot, lambda: len(screen.rows) == 4, "the new directory in the list")
    after = exported(services)
    assert after["directories"][:3] == before["directories"]
    assert after["directories"][3] == {"app": "github", "filter": '"MATCH_ONLY"'}
    rest = {k: v for k, v in after.items() if k != "directories"}
    assert rest == {k: v for k, v in before.items() if k != "directories"}
    entry = services.last_change("directories.github")
    assert entry is not None and entry.action == "config.edit" and entry.before is None


# The filter editor --------------------------------------------------------------------------


async def test_editing_the_filter_shows_the_impact_and_saving_audits_exactly_the_edit(
    services: Any,
) -> None:
    before = exported(services)
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        editor = await open_filter(pilot, "hr")
        impact = shown(editor.query_one("#filter-impact", Static))
        saved = hr_decisions("saved")
        assert f"Saved  CREATE {saved['CREATE']:,}" in impact
        assert "0 people would be created, 0 removed" in impact  # nothing changed yet
        await replace_text(pilot, KEEP_LEAVERS)
        assert editor.editor.text == KEEP_LEAVERS
        impact = shown(editor.query_one("#filter-impact", Static))
        after = hr_decisions("keep")
        assert f"Edited CREATE {after['CREATE']:,} · MATCH_ONLY {after['MATCH_ONLY']:,}" in impact
        expected = services.identity_impact(
            services.config_edit(
                ConfigEdit("set", "directories.hr.filter", KEEP_LEAVERS), dry_run=True
            ).config
        )
        assert expected.people_created > 0 and expected.people_removed == 0
        assert f"{expected.people_created:,} people would be created, 0 removed" in impact
        assert "Created: " + expected.samples["people_created"][0] in impact
        # the spot-check marks the leavers whose decision changes: IGNORE now, CREATE after
        changed = [s for s in editor.spot if s.now != s.after]
        assert changed and all(s.now == "IGNORE" and s.after == "CREATE" for s in changed)
        value = shown(editor.query_one("#filter-value", Static))
        assert value.startswith(editor.spot[0].label[:20])
        await pilot.press("ctrl+s")  # nobody is removed: saved without a question
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, DirectoriesScreen)
        await wait_until(
            pilot,
            lambda: "changed by" in shown(screen.query_one("#directory-last", Static)),
            "the audit entry",
        )
        assert "directories.hr.filter" in shown(screen.query_one("#directory-last", Static))
        diff = shown(screen.query_one("#directory-diff", Static)).splitlines()
        assert any(line.startswith("+") and '"CONTRACTOR"' in line for line in diff)
        assert any(line.startswith("-") and "TERMINATED" in line for line in diff)
        await wait_until(pilot, lambda: screen.counts is not None, "the new counts")
        await settle(pilot)
        assert rows(screen.query_one("#directories", DataTable))[0][4] == f"{after['CREATE']:,}"
    # `config export` shows exactly the edit and nothing else moved
    now = exported(services)
    before["directories"][0]["filter"] = KEEP_LEAVERS
    assert now == before
    entry = services.last_change("directories.hr.filter")
    assert entry is not None and entry.after == KEEP_LEAVERS


async def test_a_cel_error_is_shown_under_the_text_and_save_is_refused(services: Any) -> None:
    before = services.export_config()
    version = services.config_version()
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        editor = await open_filter(pilot, "hr")
        await replace_text(pilot, 'account.profile.department == "Sales" &&')
        problem = editor.editor.problem_text
        assert "line 1, column 41" in problem and "ends too early" in problem
        assert "cannot be saved" in shown(editor.query_one("#filter-impact", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert pilot.app.screen is editor  # still editing
        await pilot.press("escape")  # unsaved: asks
        await settle(pilot)
        assert "Leave without saving your changes" in modal_text(pilot)
        await confirm(pilot)
        assert isinstance(pilot.app.screen, DirectoriesScreen)
    assert services.export_config() == before
    assert services.config_version() == version


async def test_a_change_that_removes_people_must_be_acknowledged(services: Any) -> None:
    before = services.export_config()
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        editor = await open_filter(pilot, "idp")
        await replace_text(pilot, '"MATCH_ONLY"')
        impact = editor.impact
        assert impact is not None and impact.people_removed > 0
        assert f"{impact.people_removed:,} removed" in shown(
            editor.query_one("#filter-impact", Static)
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        text = modal_text(pilot)
        assert f"removes {impact.people_removed:,} people" in text
        await pilot.press("escape")  # not acknowledged: nothing saved
        await settle(pilot)
        assert pilot.app.screen is editor
        assert services.export_config() == before
        await pilot.press("ctrl+s")
        await settle(pilot)
        await confirm(pilot)
        assert isinstance(pilot.app.screen, DirectoriesScreen)
    assert services.config_get("directories.idp.filter") == '"MATCH_ONLY"'


async def test_a_conflicting_edit_is_refused_and_reload_lets_the_admin_save(
    services: Any,
) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        editor = await open_filter(pilot, "hr")
        # someone else edits this filter meanwhile (the CLI, another console); an edit of
        # another object would not refuse the save
        services.grant_role("bob", "admin")  # another admin, elsewhere
        services.config_edit(ConfigEdit("set", "directories.hr.filter", "true"), actor="bob")
        await replace_text(pilot, KEEP_LEAVERS)
        await pilot.press("ctrl+s")
        await settle(pilot)
        text = modal_text(pilot)
        assert "was changed by bob" in text and "Nothing was saved" in text
        assert services.config_get("directories.hr.filter") != KEEP_LEAVERS
        await confirm(pilot)  # Reload
        await wait_until(
            pilot, lambda: editor.version == services.config_version(), "the new version"
        )
        assert editor.editor.text == KEEP_LEAVERS  # the admin's text stays
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, DirectoriesScreen)
    assert services.config_get("directories.hr.filter") == KEEP_LEAVERS  # saved over, knowingly


# Reorder, enable/disable, delete ------------------------------------------------------------


async def test_reorder_moves_one_directory_and_nothing_else(services: Any) -> None:
    before = exported(services)
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_directories(pilot)
        await pilot.press("shift+down")  # hr below idp
        await settle(pilot)
        await wait_until(pilot, lambda: [r.app for r in screen.rows][:2] == ["idp", "hr"], "move")
        assert screen.selected == "hr"
        table = screen.query_one("#directories", DataTable)
        assert table.cursor_row == 1
        await pilot.press("shift+up")
        await settle(pilot)
        await wait_until(pilot, lambda: [r.app for r in screen.rows][:2] == ["hr", "idp"], "back")
        await pilot.press("shift+down")
        await settle(pilot)
        await wait_until(pilot, lambda: [r.app for r in screen.rows][:2] == ["idp", "hr"], "again")
    after = exported(services)
    first, second, third = before["directories"]
    assert after["directories"] == [second, first, third]
    assert {k: v for k, v in after.items() if k != "directories"} == {
        k: v for k, v in before.items() if k != "directories"
    }
    assert len(services.audit("directories")) >= 3


async def test_disabling_asks_with_the_number_of_people_and_enabling_does_not(
    services: Any,
) -> None:
    expected = services.identity_impact(
        services.config_edit(ConfigEdit("disable", "directories.hr"), dry_run=True).config
    )
    assert expected.people_removed > 0
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_directories(pilot)
        await pilot.press("space")
        await settle(pilot)
        text = modal_text(pilot)
        assert f"{expected.people_removed:,} people only this directory backs" in text
        await confirm(pilot)
        await wait_until(pilot, lambda: not screen.rows[0].enabled, "hr disabled")
        await settle(pilot)
        assert rows(screen.query_one("#directories", DataTable))[0][2] == "off"
        assert services.config_get("directories.hr.enabled") is False
        await wait_until(pilot, lambda: screen.counts is not None, "the counts")
        await settle(pilot)
        assert rows(screen.query_one("#directories", DataTable))[0][4:7] == ["0", "0", "300"]
        await pilot.press("space")  # enabling removes nobody: no question
        await settle(pilot)
        await wait_until(pilot, lambda: screen.rows[0].enabled, "hr enabled again")
    assert services.config_get("directories.hr.enabled") is True
    assert "enabled" not in exported(services)["directories"][0]


async def test_delete_says_what_happens_to_people_and_asks(services: Any) -> None:
    expected = services.identity_impact(
        services.config_edit(ConfigEdit("delete", "directories.hr"), dry_run=True).config
    )
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_directories(pilot)
        await pilot.press("d")
        await settle(pilot)
        text = modal_text(pilot)
        assert f"{expected.people_removed:,} people only this directory backs" in text
        assert pilot.app.screen.focused is not None
        assert isinstance(pilot.app.screen.focused, Button)
        assert pilot.app.screen.focused.id == "cancel"  # enter does not delete
        await pilot.press("enter")
        await settle(pilot)
        assert [r.app for r in screen.rows] == ["hr", "idp", "hr_feed"]
        table = screen.query_one("#directories", DataTable)
        table.move_cursor(row=2)
        await settle(pilot)
        await pilot.press("delete")  # the contractor feed only matches: nobody is removed
        await settle(pilot)
        assert "Nobody would be removed" in modal_text(pilot)
        await confirm(pilot)
        await wait_until(pilot, lambda: [r.app for r in screen.rows] == ["hr", "idp"], "deleted")
    assert [d["app"] for d in exported(services)["directories"]] == ["hr", "idp"]
    entry = services.last_change("directories.hr_feed")
    assert entry is not None and entry.after is None


async def test_a_conflict_in_the_list_offers_to_reload(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_directories(pilot)
        old = screen.version
        services.config_edit(ConfigEdit("set", "directories.hr.filter", "false"))
        await pilot.press("shift+down")  # moves hr, whose filter just changed
        await settle(pilot)
        assert "since you opened it" in modal_text(pilot)
        await confirm(pilot)  # Reload
        await wait_until(pilot, lambda: screen.version != old, "the reloaded version")
        await settle(pilot)
        assert screen.rows[0].filter == "false"
        assert [r.app for r in screen.rows] == ["hr", "idp", "hr_feed"]  # nothing moved


# Hostile text, help and palette ----------------------------------------------------------------


async def test_hostile_app_names_and_filters_stay_literal(tmp_path: Path) -> None:
    from tests.hostile import BOLD, CLOSE, open_hostile_org

    services = open_hostile_org(tmp_path / "org")
    hostile = f'account.profile.department == "{BOLD}" ? "CREATE" : "{CLOSE}" == "x"'
    services.config_edit(ConfigEdit("set", "directories.hr.filter", hostile))
    try:
        app = app_for(services)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_directories(pilot)
            shown_rows = rows(screen.query_one("#directories", DataTable))
            assert shown_rows[0][1] == "hr"
            detail = shown(screen.query_one("#directory-filter", Static))
            assert "hr (HR R&D [/EMEA])" in detail
            assert BOLD in detail and CLOSE in detail
            editor = await open_filter(pilot, "hr")
            assert editor.editor.text == hostile
            title = shown(editor.query_one("#filter-title", Static))
            assert "HR R&D [/EMEA]" in title
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(pilot.app.screen, DirectoriesScreen)
    finally:
        services.db.dispose()


async def test_keys_are_in_help_and_the_palette(services: Any) -> None:
    from tests.screens.helpers import palette_choose

    app = app_for(services, start="dashboard")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await pilot.pause()
        screen = await open_directories(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, HelpModal)
        keys = dict(modal.rows)
        assert "Add a directory" in keys["a"]
        assert any("Move the directory up" in what for what in keys.values()), keys
        assert "$EDITOR" in keys["E"]
        assert "Enable or disable" in keys["space"]
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await palette_choose(pilot, "directories move down")
        await settle(pilot)
        await wait_until(pilot, lambda: [r.app for r in screen.rows][:2] == ["idp", "hr"], "move")


async def test_the_filter_editor_fits_80_by_24(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        editor = await open_filter(pilot, "hr")
        for selector in ("#filter-editor", "#filter-impact-box", "#filter-value", "#filter-spot"):
            region = editor.query_one(selector).region
            assert region.height > 0 and region.bottom <= 23, selector  # above the footer
        table = editor.query_one("#filter-spot", DataTable)
        assert table.region.height >= 4  # a few accounts are visible
        await pilot.press("tab")  # to the accounts: the pages
        await settle(pilot)
        assert table.has_focus
        first = editor.spot[0].key
        await pilot.press("right_square_bracket")
        await settle(pilot)
        await wait_until(pilot, lambda: editor.page_offset == 50, "the second page")
        assert editor.spot[0].key != first
        assert isinstance(editor.editor, CelEditor)


async def test_the_filter_completes_the_profile_keys_of_its_app(services: Any) -> None:
    hr = yaml.safe_load((SAMPLE / "apps" / "hr.yaml").read_text(encoding="utf-8"))
    hr_keys = {key for account in hr["accounts"] for key in (account.get("profile") or {})}
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        editor = await open_filter(pilot, "hr")
        await replace_text(pilot, "account.profile.")
        await pilot.press("ctrl+space")
        assert editor.editor.completion_open
        offered = {c.text for c in editor.editor.completion_list.candidates}
        assert offered == hr_keys  # not AD's sAMAccountName, not Slack's tz
        await pilot.press(*"employment_s", "tab")
        assert editor.editor.text == "account.profile.employment_status"


async def test_shift_e_opens_the_highlighted_directory_in_the_editor(
    services: Any, monkeypatch: Any
) -> None:
    # The $EDITOR round trip itself (App.suspend) is tested with a real terminal in
    # tests/e2e/test_tmux_external_edit.py; here: E asks for the highlighted directory's path
    # and the list shows the saved edit.
    import screens.external_edit

    asked: list[str | None] = []

    async def edit_externally(screen: Any, path: str | None) -> Any:
        asked.append(path)
        return services.config_edit(ConfigEdit("set", f"{path}.filter", '"IGNORE"'))

    monkeypatch.setattr(screens.external_edit, "edit_externally", edit_externally)
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_directories(pilot)
        screen.query_one("#directories", DataTable).move_cursor(row=2)
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        assert asked == ["directories.hr_feed"]
        await wait_until(pilot, lambda: screen.rows[2].filter == '"IGNORE"', "the edit shown")


async def test_a_narrower_terminal_keeps_the_counts_in_view_and_the_filter_opens_at_its_top(
    services: Any,
) -> None:
    app = app_for(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_directories(pilot)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        table = screen.query_one("#directories", DataTable)
        widths = sum(column.get_render_width(table) for column in table.columns.values())
        assert widths <= table.size.width, "the counts slid out of view after the resize"
        editor_screen = await open_filter(pilot, "hr")
        area = editor_screen.query_one(CelEditor).text_area
        assert area.document.line_count > 1  # the demo's HR filter has several lines
        assert area.cursor_location == (0, 0)
        assert area.scroll_offset.y == 0


async def test_quitting_with_an_unsaved_filter_asks_first(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_directories(pilot)
        await open_filter(pilot, "hr")
        await replace_text(pilot, '"MATCH_ONLY"')
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "Quit without saving?" in str(app.screen.title_text)
        await pilot.press("escape")  # stay
        await settle(pilot)
        assert isinstance(app.screen, DirectoryFilterScreen)
        assert app.screen.editor.text == '"MATCH_ONLY"'


async def test_at_80x24_the_people_an_edit_removes_are_named_and_c_lists_the_changed(
    services: Any,
) -> None:
    """Taking interns out of HR's filter: at 80x24 the person it removes is named in the
    impact (the line was below the box's last row), and `c` lists only the accounts whose
    decision changes (22 of 300 were spread over six pages; newcomer review)."""
    no_interns = (
        'account.profile.employment_status == "TERMINATED" || account.status == '
        'UserStatus.DISABLED ? "IGNORE" : account.profile.employment_type in '
        '["FULL_TIME", "CONTRACTOR"] ? "CREATE" : "MATCH_ONLY"'
    )
    expected = hr_impact(services, no_interns)
    assert expected.people_removed > 0 and expected.decisions_changed > 3
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await edit_hr_filter(pilot, no_interns)
        await settle(pilot)
        removed = expected.samples["people_removed"][0]
        assert f"Removed: {removed}" in screen_text(app)
        # "and N more" counts everyone removed, not the ten names the impact carries
        # on one line of the box: as many names as fit, then how many more (it wrapped, and
        # at 80x24 the end fell below the box)
        many = replace(editor.impact, people_removed=147)
        line = next(
            line for line in editor.impact_text(many).plain.splitlines() if line.startswith("Rem")
        )
        named = len(line.removeprefix("Removed: ").split(" and ")[0].split(", "))
        assert line.endswith(f" and {147 - named:,} more") and named >= 1, line
        assert len(line) <= editor.query_one("#filter-impact").size.width, line
        await pilot.press("tab")  # to the accounts
        await pilot.press("c")
        await wait_until(pilot, lambda: editor.changed_only and editor.spot, "the changed")
        await settle(pilot)
        table = editor.query_one("#filter-spot", DataTable)
        assert all(s.now != s.after for s in editor.spot)
        assert editor.total == expected.decisions_changed
        assert str(table.border_title).startswith(
            f"Changed decisions 1–{min(editor.total, 50)} of {editor.total}"
        )
        await pilot.press("c")  # all again
        await wait_until(pilot, lambda: not editor.changed_only and editor.total == 300, "all")
        await pilot.press("escape")
        await settle(pilot)


async def test_saving_a_filter_that_removes_people_says_whom_it_creates_too(
    services: Any,
) -> None:
    """The confirmation before a save that removes people says the whole of what it does: it
    named the 2 removed and not the 17 the same filter creates (newcomer review). It opens on
    Cancel; esc keeps the edit unsaved."""
    full_time = 'account.profile.employment_type == "FULL_TIME" ? "CREATE" : "MATCH_ONLY"'
    expected = hr_impact(services, full_time)
    assert expected.people_removed > 0 and expected.people_created > 0
    saved = services.config_get("directories.hr.filter")
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await edit_hr_filter(pilot, full_time)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and modal.start == "#cancel"
        message = str(modal.message)
        assert f"this removes {expected.people_removed:,} people" in message
        assert f"It also creates {expected.people_created:,} people" in message
        assert expected.samples["people_created"][0] in message
        await pilot.press("escape")
        await settle(pilot)
    assert services.config_get("directories.hr.filter") == saved
