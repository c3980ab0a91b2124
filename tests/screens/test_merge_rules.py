"""Merge rules screen over the real demo store: the directories' rules and the apps' ownership,
the match matrix, every edit (add, edit, reorder, remove, revert, strategy) through the audited
edit path, the drill-down with a link, a conflict, hostile names, and 80×24.

After each saved edit the exported configuration differs from before by exactly that edit."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from textual.content import Content
from textual.widgets import Checkbox, DataTable, Input, RadioSet, Select, Static

from console.app import RosterApp
from engine.services import ConfigEdit
from screens.merge_rules import MergeRulesScreen
from screens.modals.confirm import ConfirmModal
from screens.modals.link_person import LinkPersonModal
from screens.modals.match_rule import MatchRuleModal
from screens.modals.matrix_accounts import MatrixAccountsModal
from screens.modals.ownership import OwnershipModal
from screens.modals.record_picker import RecordPicker
from screens.widgets.cel_editor import CelEditor
from tests.screens.helpers import settle, shown, wait_until

HR_EMAIL = {
    "name": "email",
    "account": {"preset": "primary_email", "strip_plus_tag": True},
    "user": {"preset": "all_emails", "strip_plus_tag": True},
}


def exported(services: Any) -> dict[str, Any]:
    return yaml.safe_load(services.export_config())


def directory_of(document: dict[str, Any], app: str) -> dict[str, Any]:
    return next(d for d in document["directories"] if d["app"] == app)


def app_of(document: dict[str, Any], app: str) -> dict[str, Any]:
    return next(a for a in document["apps"] if a["id"] == app)


def shortened(cell: str, full: str) -> bool:
    """CELL is FULL, or FULL with parts cut out where CELL shows an ellipsis."""
    at = 0
    for part in cell.split("…"):
        found = full.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return cell == full or "…" in cell


def cells(table: DataTable[Any]) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def open_screen(pilot: Any) -> MergeRulesScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MergeRulesScreen)
    return screen


async def goto(
    pilot: Any, screen: MergeRulesScreen, kind: str, app: str, rule: str | None = None
) -> None:
    """Move the list's cursor with the arrow keys to the row (kind, app, rule)."""
    wanted = (kind, app, rule)
    target = next(i for i, e in enumerate(screen.entries) if e.same == wanted)
    screen.list_table.focus()
    await pilot.pause()
    while screen.list_table.cursor_row != target:
        await pilot.press("down" if screen.list_table.cursor_row < target else "up")
    await settle(pilot)
    assert screen.selected is not None and screen.selected.same == wanted
    assert screen.shown_app == app


def matrix_rows(screen: MergeRulesScreen) -> list[list[str]]:
    return cells(screen.matrix_table)


# The list and the matrix ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_demo_rules_ownership_and_matrix(services: Any, size: tuple[int, int]) -> None:
    hr = services.merge_matrix("hr").directories[0]
    github = services.merge_matrix("github").apps[0]
    app = RosterApp(services, start="merge")
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(pilot)
        listed = cells(screen.list_table)
        names = [row[0] for row in listed]
        # sample_data/roster.yaml: hr, idp, hr_feed in priority order, then the other apps
        assert names[:3] == ["1 hr", "  1. email", "  2. employee-id"]
        full = "primary email (+tag stripped) ↔ all emails (+tag stripped)"
        if size[0] >= 120:
            assert listed[1][1] == full
        else:  # the short words fit the column, never scrolled sideways; the full text is
            # under the list
            assert listed[1][1] == "primary email (no +tag) ↔ all emails (no +tag)"
        assert "4. " not in "".join(names)
        idp = names.index("2 idp")
        assert names[idp + 2] == "  2. login"
        assert shortened(
            listed[idp + 2][1], "account.profile.login.trim().lowerAscii() ↔ all emails"
        )
        feed = names.index("3 hr_feed")
        assert listed[feed][1].startswith("(defaults)")
        # the defaults listed as its rules
        assert listed[feed + 1][1] == "primary email ↔ all emails"
        assert listed[feed + 2][1] == "employee id ↔ employee id"
        apps = {row[0]: row[1] for row in listed if row[0].startswith("◇ ")}
        assert set(apps) == {"◇ ad", "◇ entra", "◇ github", "◇ slack", "◇ badge"}
        assert apps["◇ github"].startswith("ownership: Broad")
        assert apps["◇ badge"].startswith("ownership: Custom")
        badge = names.index("◇ badge")
        assert names[badge + 1 : badge + 3] == ["  1. badge-number", "  2. email"]

        # the matrix of the highlighted directory: one row per rule, the engine's numbers
        assert screen.shown_app == "hr"
        rows = matrix_rows(screen)
        assert [row[0] for row in rows] == ["1. email", "2. employee-id"]
        assert rows[0][1:] == [
            f"{hr.rules[0].matched:,}",
            f"{hr.rules[0].ambiguous:,}",
            f"{hr.rules[0].unmatched:,}",
            f"{hr.rules[0].decided_earlier:,}",
        ]
        assert hr.rules[0].matched > 0
        title = Content.from_markup(str(screen.matrix_table.border_title)).plain
        assert f"hr: {hr.considered:,} accounts considered" in title

        await goto(pilot, screen, "merge_rule", "hr", "email")
        assert shown(screen.query_one("#merge-detail", Static)) == f"email: {full}"
        assert screen.list_table.virtual_size.width <= screen.list_table.size.width

        await goto(pilot, screen, "app", "github")
        rows = matrix_rows(screen)
        assert rows == [
            [
                "Broad",
                f"{github.owned:,}",
                f"{github.unowned:,}",
                f"{github.ambiguous:,}",
                f"{github.pinned:,}",
            ]
        ]
        # everything on screen, nothing cut off at the right
        for widget in (screen.list_table, screen.matrix_table):
            assert widget.region.right <= size[0]
            assert widget.region.height >= 3


# Adding, editing, moving, removing ------------------------------------------------------------


async def test_add_a_preset_rule(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "directory", "hr")
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatchRuleModal)
        await pilot.press(*"username")
        modal.query_one("#account-kind", Select).value = "username"
        modal.query_one("#user-kind", Select).value = "username"
        await pilot.pause()
        # the +tag option is for email presets only
        assert not modal.query_one("#account-tag", Checkbox).display
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
        assert screen.selected is not None and screen.selected.same == (
            "merge_rule",
            "hr",
            "username",
        )
        assert [row[0] for row in matrix_rows(screen)][-1] == "3. username"
    expected = copy.deepcopy(before)
    directory_of(expected, "hr")["merge_rules"].append(
        {"name": "username", "account": {"preset": "username"}, "user": {"preset": "username"}}
    )
    assert exported(services) == expected
    entry = services.last_change("directories.hr.merge_rules.username")
    assert entry is not None and entry.action == "config.edit"


async def test_add_an_email_rule_with_the_tag_option_by_keyboard(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "directory", "idp")
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatchRuleModal)
        await pilot.press(*"primary")
        await pilot.press("tab")  # to the account side's preset: primary email by default
        assert app.focused is modal.query_one("#account-kind", Select)
        await pilot.press("tab")  # +tag
        assert app.focused is modal.query_one("#account-tag", Checkbox)
        await pilot.press("space")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
    expected = copy.deepcopy(before)
    directory_of(expected, "idp")["merge_rules"].append(
        {
            "name": "primary",
            "account": {"preset": "primary_email", "strip_plus_tag": True},
            "user": {"preset": "all_emails"},
        }
    )
    assert exported(services) == expected


async def test_a_cel_rule_with_an_error_is_shown_under_the_text_and_not_saved(
    services: Any,
) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "directory", "hr")
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatchRuleModal)
        await pilot.press(*"phone")
        modal.query_one("#account-kind", Select).value = "cel"
        await pilot.pause()
        editor = modal.query_one("#account-cel", CelEditor)
        assert editor.display
        editor.focus()
        await pilot.press(*"account.profile.phone.trim(")
        await settle(pilot)
        # the live preview says where the expression is wrong, under the text
        assert "Error" in editor.problem_text
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is modal  # refused: still editing
        error = shown(modal.query_one("#side-account .side--error", Static))
        assert "line 1" in error
        assert "Error" in editor.problem_text
        # fixed, the live value shows for the sample account, and it saves
        await pilot.press(*")")
        await settle(pilot)
        assert editor.problem_text == ""
        value = shown(modal.query_one("#account-value", Static))
        assert value.startswith('hr:E10001: "+44 20 7946 5560"')  # sample_data/apps/hr.yaml
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
    expected = copy.deepcopy(before)
    directory_of(expected, "hr")["merge_rules"].append(
        {
            "name": "phone",
            "account": {"cel": "account.profile.phone.trim()"},
            "user": {"preset": "all_emails"},
        }
    )
    assert exported(services) == expected


async def test_a_duplicate_or_missing_name_is_refused_at_the_name(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "directory", "hr")
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatchRuleModal)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Give the rule a name" in shown(modal.query_one("#name-error", Static))
        await pilot.press(*"EMAIL")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Another rule here is named EMAIL" in shown(modal.query_one("#name-error", Static))
        assert app.screen is modal
        # esc with changes asks first
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("tab", "enter")  # cancel is focused (destructive): tab to discard…
        await pilot.pause()
    assert exported(services) == before


async def test_edit_a_rule(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "idp", "login")
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatchRuleModal)
        assert modal.query_one("#rule-name", Input).value == "login"
        editor = modal.query_one("#account-cel", CelEditor)
        assert editor.text == "account.profile.login.trim().lowerAscii()"
        editor.text = "account.profile.login.lowerAscii()"
        modal.query_one("#user-kind", Select).value = "username"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
        row = screen.entries.index(next(e for e in screen.entries if e.rule == "login"))
        assert str(screen.list_table.get_row_at(row)[1]) == (
            "account.profile.login.lowerAscii() ↔ username"
        )
    expected = copy.deepcopy(before)
    directory_of(expected, "idp")["merge_rules"][1] = {
        "name": "login",
        "account": {"cel": "account.profile.login.lowerAscii()"},
        "user": {"preset": "username"},
    }
    assert exported(services) == expected


async def test_reorder_two_rules_and_see_the_matrix_change(services: Any) -> None:
    before = exported(services)
    old = services.merge_matrix("hr").directories[0].rules
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "hr", "employee-id")
        was = matrix_rows(screen)
        assert [row[0] for row in was] == ["1. email", "2. employee-id"]
        await pilot.press("shift+up")
        await settle(pilot)
        now = matrix_rows(screen)
        assert [row[0] for row in now] == ["1. employee-id", "2. email"]
        # the employee id rule, tried first, decides what email decided before
        new = services.merge_matrix("hr").directories[0].rules
        assert new[0].rule == "employee-id" and new[0].decided_earlier == 0
        assert now[0][1] == f"{new[0].matched:,}" and now[1][4] == f"{new[1].decided_earlier:,}"
        assert new[0].matched != old[1].matched or new[1].decided_earlier != old[0].decided_earlier
        assert now != was
        # the cursor followed the rule; it cannot move further up
        assert screen.selected is not None and screen.selected.rule == "employee-id"
        assert screen.check_action("move", (-1,)) is None
    expected = copy.deepcopy(before)
    rules = directory_of(expected, "hr")["merge_rules"]
    rules.reverse()
    assert exported(services) == expected
    assert directory_of(exported(services), "hr")["merge_rules"][1] == HR_EMAIL


async def test_remove_a_rule_after_confirming(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "idp", "login")
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")  # destructive: cancel has the focus
        await settle(pilot)
        assert exported(services) == before
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("tab", "enter")  # to "Remove"… (tab from Cancel wraps to Remove)
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
        assert all(e.rule != "login" for e in screen.entries)
        assert screen.selected is not None and screen.selected.same == ("directory", "idp", None)
    expected = copy.deepcopy(before)
    del directory_of(expected, "idp")["merge_rules"][1]
    assert exported(services) == expected


async def test_revert_to_the_defaults(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "directory", "hr_feed")
        assert screen.check_action("defaults", ()) is False  # already the defaults
        await goto(pilot, screen, "directory", "idp")
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("tab", "enter")
        await settle(pilot)
        row = next(i for i, e in enumerate(screen.entries) if e.same == ("directory", "idp", None))
        assert str(screen.list_table.get_row_at(row)[1]).startswith("(defaults)")
        assert [row[0] for row in matrix_rows(screen)] == ["1. email", "2. employee_id"]
    expected = copy.deepcopy(before)
    del directory_of(expected, "idp")["merge_rules"]
    assert exported(services) == expected


async def test_editing_a_default_rule_writes_the_defaults_out(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "hr_feed", "employee_id")
        await pilot.press("shift+up")
        await settle(pilot)
    expected = copy.deepcopy(before)
    directory_of(expected, "hr_feed")["merge_rules"] = [
        {
            "name": "employee_id",
            "account": {"preset": "employee_id"},
            "user": {"preset": "employee_id"},
        },
        {"name": "email", "account": {"preset": "primary_email"}, "user": {"preset": "all_emails"}},
    ]
    assert exported(services) == expected


# Ownership ------------------------------------------------------------------------------------


async def test_change_an_apps_ownership_strategy_with_counts_before_and_after(
    services: Any,
) -> None:
    before = exported(services)
    now = services.merge_matrix("github").apps[0]
    edit = ConfigEdit("set", "apps.github.ownership", value={"strategy": "narrow"})
    edited = services.config_edit(edit, dry_run=True).config
    after = services.merge_matrix("github", config=edited).apps[0]
    impact = services.identity_impact(edited)
    # Broad finds owners by name for GitHub logins that have no matching email
    assert after.unowned > now.unowned and impact.owner_changed > 0
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "app", "github")
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, OwnershipModal)
        await pilot.press("enter")  # the RadioSet's cursor starts on its first button: Narrow
        await settle(pilot)
        assert modal.query_one(RadioSet).pressed_index == 0
        counts = shown(modal.query_one("#own-counts", Static))
        assert f"{now.unowned:>7,}  →  {after.unowned:,}" in counts
        assert f"{now.owned:>7,}  →  {after.owned:,}" in counts
        assert f"Accounts changing owner: {impact.owner_changed:,}" in counts
        assert exported(services) == before  # nothing saved yet
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
        row = next(i for i, e in enumerate(screen.entries) if e.same == ("app", "github", None))
        assert str(screen.list_table.get_row_at(row)[1]).startswith("ownership: Narrow")
        assert matrix_rows(screen)[0][2] == f"{after.unowned:,}"
    expected = copy.deepcopy(before)
    del app_of(expected, "github")["ownership"]  # narrow is the default: not written
    assert exported(services) == expected


async def test_switching_to_custom_starts_with_rules_and_they_are_editable(services: Any) -> None:
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "app", "slack")
        assert screen.check_action("add", ()) is True
        await pilot.press("a")  # Narrow has no rules: says so
        await pilot.pause()
        assert isinstance(app.screen, MergeRulesScreen)
        await pilot.press("o")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, OwnershipModal)
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert "Starts with these rules" in shown(modal.query_one("#own-rules", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert [e.rule for e in screen.entries if e.app == "slack" and e.is_rule] == [
            "email",
            "username",
        ]
    expected = copy.deepcopy(before)
    app_of(expected, "slack")["ownership"] = {
        "strategy": "custom",
        "rules": [
            {
                "name": "email",
                "account": {"preset": "all_emails"},
                "user": {"preset": "all_emails"},
            },
            {"name": "username", "account": {"preset": "username"}, "user": {"preset": "username"}},
        ],
    }
    assert exported(services) == expected


# Drill-down and linking -----------------------------------------------------------------------


async def test_the_unowned_list_and_linking_one_account(services: Any) -> None:
    unowned = services.dashboard().unowned
    assert unowned == 107  # the demo (sample_data/README.md), three pages
    listing = services.matrix_accounts("unowned")
    assert listing.total == unowned
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot)
        await pilot.press("u")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatrixAccountsModal)
        table = modal.query_one(DataTable)
        assert table.row_count == 50  # one page
        assert f"1–50 of {unowned}" in shown(modal.query_one("#accounts-status", Static))
        await pilot.press("n")
        await settle(pilot)
        assert table.row_count == 50
        assert f"51–100 of {unowned}" in shown(modal.query_one("#accounts-status", Static))
        await pilot.press("p")
        await settle(pilot)
        key = modal.rows[0].key
        assert key == listing.rows[0].key
        await pilot.press("l")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, RecordPicker)
        await pilot.press(*"amara jones")
        await settle(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LinkPersonModal)
        await pilot.press("enter")  # Link, pinned
        await settle(pilot)
        assert app.screen is modal
        await wait_until(pilot, lambda: modal.total == unowned - 1, "the list to shrink")
        assert key not in [row.key for row in modal.rows]
        await pilot.press("escape")
        await settle(pilot)
    account = services.account_by_key(key)
    assert account.pinned and account.link_kind == "manual"
    assert services.person(account.owner_id).email == "amara.jones@example.com"
    assert services.dashboard().unowned == unowned - 1


async def test_drill_down_from_an_apps_unowned_number(services: Any) -> None:
    github = services.merge_matrix("github").apps[0]
    assert github.unowned > 0
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "app", "github")
        await pilot.press("m")
        matrix = screen.matrix_table
        assert matrix.has_focus
        matrix.move_cursor(row=0, column=2)  # Unowned
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatrixAccountsModal)
        assert modal.total == github.unowned
        assert all(row.key.startswith("github:") for row in modal.rows)
        await pilot.press("escape")
        await pilot.pause()
        await goto(pilot, screen, "directory", "hr")
        await pilot.press("m")
        screen.matrix_table.move_cursor(row=0, column=3)  # email: no match
        await pilot.press("enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatrixAccountsModal)
        hr = services.merge_matrix("hr").directories[0]
        assert modal.total == hr.rules[0].unmatched
        assert modal.rule == "email"


async def test_the_unmatched_directory_accounts_are_the_dashboards_unmerged(services: Any) -> None:
    unmerged = services.dashboard().unmerged
    # the demo's contractors no directory keeps, and leavers' disabled IdP accounts (MATCH_ONLY
    # finds nobody for them): sample_data/README.md
    assert unmerged == 20
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot)
        await pilot.press("n")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatrixAccountsModal)
        assert modal.total == unmerged
        table = modal.query_one(DataTable)
        assert table.row_count == unmerged
        keys = [row.key for row in modal.rows]
        assert sum(key.startswith("hr_feed:CW-") for key in keys) == 7
        assert sum(key.startswith("idp:") for key in keys) == 13
        assert all("stays unmerged" in row.reason for row in modal.rows)
        assert f"1–20 of {unmerged}" in shown(modal.query_one("#accounts-status", Static))
        assert modal.check_action("page", (1,)) is None  # one page only


# Conflicts, hostile names, keys -----------------------------------------------------------------


async def test_a_change_made_meanwhile_is_refused_and_offers_to_reload(services: Any) -> None:
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "idp", "login")
        # someone else (the CLI) changes idp's login rule meanwhile (a change to another
        # object would not refuse the admin's edit)
        services.config_edit(
            ConfigEdit("set", "directories.idp.merge_rules.login.account", {"preset": "username"})
        )
        after_other = exported(services)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("tab", "enter")
        await settle(pilot)
        conflict = app.screen
        assert isinstance(conflict, ConfirmModal)
        assert "since you opened it" in str(conflict.message)
        await pilot.press("enter")  # Reload
        await settle(pilot)
        assert exported(services) == after_other  # nothing of ours was saved
        assert [e.rule for e in screen.entries if e.app == "idp" and e.is_rule] == [
            "email",
            "login",
        ]


async def test_hostile_rule_names_stay_literal(services: Any) -> None:
    from tests.hostile import CLICK, TITLE_OSC
    from tests.screens.test_hostile_text import check

    name = f"a.b {CLICK}"
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "directory", "hr")
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, MatchRuleModal)
        # an escape sequence put in the name field (a paste, a stored name shown for editing)
        # is held as its visible escape: it never reaches the terminal raw
        modal.query_one("#rule-name", Input).value = f"{name} {TITLE_OSC}"
        await settle(pilot)
        held = modal.query_one("#rule-name", Input).value
        assert "\\x1b]0;pwned" in held and "\x1b" not in held
        modal.query_one("#account-kind", Select).value = "cel"
        modal.query_one("#account-cel", CelEditor).text = '"[b]" + account.email'
        # markup is text: taken, and shown as it is
        modal.query_one("#rule-name", Input).value = name
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
        saved = directory_of(exported(services), "hr")["merge_rules"][-1]
        assert saved["name"] == name
        text = check(app, "[@click=app.quit]q[/]")
        assert "a.b" in text
        # a name with a dot is addressed quoted: it can be moved and removed
        await pilot.press("shift+up")
        await settle(pilot)
        assert directory_of(exported(services), "hr")["merge_rules"][1]["name"] == name
        await pilot.press("d")
        await pilot.pause()
        check(app, "[@click=app.quit]q[/]")
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert all(r["name"] != name for r in directory_of(exported(services), "hr")["merge_rules"])


async def test_keys_palette_and_footer_at_80_columns(services: Any) -> None:
    from tests.screens.helpers import palette_choose

    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        screen = await open_screen(pilot)
        footer = {
            app.get_key_display(binding): binding.description
            for (_ns, binding, enabled, _tip) in screen.active_bindings.values()
            if binding.show and enabled
        }
        assert footer["a"] == "Add" and footer["m"] == "Matrix"
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await palette_choose(pilot, "merge rules")
        await settle(pilot)
        assert isinstance(app.screen, MergeRulesScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await palette_choose(pilot, "unowned")
        await settle(pilot)
        assert isinstance(app.screen, MatrixAccountsModal)


async def test_E_edits_the_highlighted_rule_in_the_editor(
    services: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib
    import json

    from tests.engine.test_cli_config_edit import EDITOR

    folder = tmp_path / "editor"
    folder.mkdir()
    script = folder / "edit.py"
    script.write_text(EDITOR)
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.setenv("EDIT_PLAN", str(folder / "plan.json"))
    (folder / "plan.json").write_text(
        json.dumps([{"replace": ["preset: all_emails", "preset: username"]}])
    )
    before = exported(services)
    app = RosterApp(services, start="merge")
    # headless tests cannot hand a terminal over: the editor runs without App.suspend
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "idp", "login")
        version = screen.version
        await pilot.press("E")
        await settle(pilot)
        assert "login" in (folder / "seen.1").read_text()
        assert screen.version != version  # read again after the save
        row = next(i for i, e in enumerate(screen.entries) if e.rule == "login")
        assert str(screen.list_table.get_row_at(row)[1]).endswith("↔ username")
        assert screen.selected is not None and screen.selected.rule == "login"
    expected = copy.deepcopy(before)
    directory_of(expected, "idp")["merge_rules"][1]["user"] = {"preset": "username"}
    assert exported(services) == expected


async def test_removing_the_last_rule_is_refused_next_to_the_list(services: Any) -> None:
    services.config_edit(ConfigEdit("delete", "directories.idp.merge_rules.login"))
    before = exported(services)
    app = RosterApp(services, start="merge")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "merge_rule", "idp", "email")
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("tab", "enter")
        await settle(pilot)
        detail = shown(screen.query_one("#merge-detail", Static))
        assert detail.startswith("Not saved: directories.idp.merge_rules.email")
        assert "`merge_rules` is empty" in detail
        assert [e.rule for e in screen.entries if e.app == "idp" and e.is_rule] == ["email"]
    assert exported(services) == before
