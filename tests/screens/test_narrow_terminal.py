"""At 80×24 the text an admin needs is on screen, not cut at the right edge: the dashboard's care
items, the Users screen's results, sources and link kinds, the merge rules, the provisioning
plan and a long change in the sync tree. Each test reads what the terminal draws."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, OptionList

from console.app import RosterApp
from screens.dashboard import DashboardScreen
from screens.merge_rules import MergeRulesScreen
from screens.sync import SyncScreen
from screens.users import UsersScreen
from screens.widgets.plan_tree import PlanTree
from tests.screens.helpers import screen_text, settle
from tests.screens.test_merge_rules import goto
from tests.screens.test_provisioning_screen import choose_person, open_provisioning, without_account
from tests.screens.test_sync_screen import (
    LONG_TITLE,
    demo_folder,
    give_john_a_long_title,
    tree_labels,
)
from tests.screens.test_users_screen import open_person

NARROW = (80, 24)
WIDE = (120, 40)


def words(text: str) -> str:
    """`text` with every run of whitespace (a wrapped row's break and indent) one space."""
    return " ".join(text.split())


def rows_with(text: str, wanted: str) -> list[str]:
    return [row for row in text.splitlines() if wanted in row]


async def test_the_care_items_show_what_is_still_enabled_and_the_apps_stay_in_view(
    services: Any,
) -> None:
    lists, _problems = services.care()
    leavers = next(c for c in lists if c.key == "leavers_still_enabled")
    # the demo's HR has leavers whose other accounts are still enabled
    assert leavers.total >= 3 and all("but still enabled in " in i for i in leavers.items)
    app = RosterApp(services, start="dashboard")
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        text = screen_text(app)
        flat = words(text)
        for item in leavers.items[:3]:
            # up to the first account still enabled: the part the admin acts on
            head, _, rest = item.partition("but still enabled in ")
            needed = words(f"{head}but still enabled in {rest.split(',')[0]}")
            assert needed in flat, f"{needed!r} not on screen:\n{text}"
        # each item on at most two rows, the second indented under the first
        lines = text.splitlines()
        title = next(i for i, row in enumerate(lines) if "Leavers who can still sign in" in row)
        more = next(i for i, row in enumerate(lines) if "(a shows them all)" in row)
        items = lines[title + 1 : more]
        firsts = [row for row in items if row.startswith("    ") and row[4] != " "]
        assert len(firsts) == 3 and len(items) <= 3 * 2, text
        assert all(row.startswith("      ") for row in items if row not in firsts)
        assert "…" not in items[0]  # the first item's first row is whole: it wraps
        # the apps stay on the first screen: their title, the header and some of their rows
        apps = next(i for i, row in enumerate(lines) if "Apps  (t tests" in row)
        assert "Connector" in lines[apps + 1] and "Workday HR" in lines[apps + 2]
        assert apps + 2 < NARROW[1] - 1  # above the footer


@pytest.mark.parametrize("size", [WIDE, NARROW])
async def test_users_fit_the_left_pane_and_tell_namesakes_apart(
    services: Any, size: tuple[int, int]
) -> None:
    # sample_data/apps/hr.yaml: E10013 and E10014 are both Alex Morgan
    namesakes = services.find_records("user", "alex morgan", limit=10)
    assert [r.label.partition(" <")[0] for r in namesakes] == ["Alex Morgan", "Alex Morgan"]
    app = RosterApp(services, start="users")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        text = screen_text(app)
        assert "Name or email" in text  # the placeholder, whole
        assert "First 100: type more" in text  # the count line, whole
        results = screen.query_one("#users-results", OptionList)
        prompts = [str(results.get_option_at_index(i).prompt) for i in range(2)]
        assert prompts == ["Alex Morgan\n  alex.morgan", "Alex Morgan\n  alex.morgan2"]
        assert str(results.get_option_at_index(2).prompt) == "Amara Jones"  # no namesake
        assert rows_with(text, " alex.morgan2 ") and rows_with(text, " alex.morgan ")

        await pilot.press(*"alex morgan")
        await settle(pilot)
        assert "2 people. ↓ to pick" in screen_text(app)


@pytest.mark.parametrize("size", [WIDE, NARROW])
async def test_users_sources_and_link_kinds_are_readable(
    services: Any, size: tuple[int, int]
) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        attributes = screen.query_one("#users-attributes", DataTable)
        accounts = screen.query_one("#users-accounts", DataTable)
        attributes.move_cursor(row=attributes.get_row_index("employment_status"))
        await pilot.pause()
        text = screen_text(app)
        # the cells keep the whole text, whatever the width
        assert str(attributes.get_cell("department", "source")) == "hr:profile.department"
        kinds = {str(accounts.get_row_at(i)[3]) for i in range(accounts.row_count)}
        # the labels `roster people show` prints too (engine.records.LINK_KINDS)
        assert {"ownership", "dir-create", "dir-match"} <= kinds
        # the highlighted attribute's whole source, under the table
        assert "from hr:profile.employment_status" in text
        if size == WIDE:
            for source in ("hr:profile.department", "hr:profile.job_title", "hr:employee_ids"):
                assert rows_with(text, source), source
            for kind in ("ownership", "dir-create", "dir-match"):
                assert rows_with(text, f"ENABLED  {kind} "), kind
        else:
            # app and field, the field path shortened; never "hr:prof"
            for source in ("hr:…department", "hr:…job_title", "hr:employee_ids"):
                assert rows_with(text, f" {source} "), f"{source} not on screen:\n{text}"
            for kind in ("ownership", "dir-create", "dir-match"):
                assert rows_with(text, f"ENABLED  {kind} "), f"{kind} not on screen:\n{text}"
            assert "ownership-" not in text and "directory-" not in text
            # the values keep a readable width beside them
            assert rows_with(text, " Engineering ")


async def test_merge_rules_keep_their_words_at_80_columns(services: Any) -> None:
    app = RosterApp(services, start="merge")
    async with app.run_test(size=NARROW) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MergeRulesScreen)
        text = screen_text(app)
        # sample_data/roster.yaml: hr's email rule strips the +tag on both sides
        assert rows_with(text, " primary email (no +tag) ↔ all emails (no +tag) ")
        assert rows_with(text, " all emails (no +tag) ↔ all emails (no +tag) ")  # idp
        # badge's own rule: the account side whole, the long person side cut
        await goto(pilot, screen, "ownership_rule", "badge", "badge-number")
        text = screen_text(app)
        row = rows_with(text, "1. badge-number")
        assert row and "account.profile.badge_number.trim() ↔ c1.user.v1." in row[0], text
        assert "…" in row[0]
        # the highlighted rule whole, under the list
        assert 'ListAppUsersForUser(subject, "ad")' in text


async def test_merge_rules_say_it_all_when_wide(services: Any) -> None:
    app = RosterApp(services, start="merge")
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert rows_with(text, "primary email (+tag stripped) ↔ all emails (+tag stripped)")
        assert "(no +tag)" not in text


async def test_provisioning_keeps_the_plan_readable_at_80_columns(services: Any) -> None:
    demo_folder(services)
    person = without_account(services, "entra")
    app = RosterApp(services)
    async with app.run_test(size=NARROW) as pilot:
        screen = await open_provisioning(pilot, "entra")
        text = screen_text(app)
        assert rows_with(text, " No person chosen: ") and rows_with(text, " o chooses one. ")
        # before a person is chosen the plan column only says "—": the mapping is in view
        row = rows_with(text, "userPrincipalName *")
        assert row and "subject.email.lowerAscii()" in row[0], text
        # a mapping cut to the column says so
        assert 'subject.email.split("@")[0]' in text and "…" in rows_with(text, "mailNickname")[0]
        await choose_person(pilot, person.email)
        text = screen_text(app)
        assert "Plan for t" not in text  # the column's title is "Plan" when narrow
        fields = screen.query_one("#prov-fields", DataTable)
        upn = str(fields.get_cell("userPrincipalName", "plan"))
        assert upn == f"{person.email.lower()} (string)"
        row = rows_with(text, "userPrincipalName *")
        assert row, text
        after = row[0].split("userPrincipalName *", 1)[1]
        shown = after[: after.rindex("│")].strip(" ▁▂▃▄▅▆▇█")
        # the whole value, or its start and an ellipsis: never silently cut
        email = person.email.lower()
        assert shown in (f"{email} (string)", email) or (
            shown.endswith("…") and len(shown) > 8 and email.startswith(shown[:-1])
        ), shown
        # a long field name is cut with an ellipsis; the detail under the table has it whole
        fields.focus()
        fields.move_cursor(row=fields.get_row_index("onPremisesExtensionAttributes"))
        await pilot.pause()
        text = screen_text(app)
        assert rows_with(text, " onPremisesExtension… "), text
        assert "onPremisesExtensionAttributes (" in text  # the detail


@pytest.mark.parametrize("size", [WIDE, NARROW])
async def test_a_long_change_in_the_tree_shows_old_and_new(
    services: Any, size: tuple[int, int]
) -> None:
    give_john_a_long_title(services)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        await pilot.press("p")
        await settle(pilot)
        tree = app.screen.query_one("#sync-tree", PlanTree)
        # the node's label keeps the value, literally
        assert any(
            f"profile.job_title: Head of Product → {LONG_TITLE[:40]}" in label
            for label in tree_labels(tree)
        )
        text = screen_text(app)
        row = rows_with(text, "profile.job_title: ")
        assert row, text
        # on the row: the old value whole, the new one's start and its end, the markup literal
        assert "profile.job_title: Head of Product → Head of <b>" in row[0]
        new = row[0].split(" → ", 1)[1]
        assert "…" in new and "company  (" in new, row[0]
        assert tree.max_scroll_x == 0  # nothing hidden past the right edge
