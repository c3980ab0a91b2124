"""Users screen over the real sample store: search, a person's attributes and accounts, why,
and the link, unlink and pin decisions (each confirmed first)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import pytest
from rich.text import Text
from textual import events
from textual.widgets import DataTable, Input, OptionList, Static

from console.app import RosterApp
from screens.modals.confirm import ConfirmModal
from screens.modals.explain import ExplainModal
from screens.modals.link_account import LinkAccountModal
from screens.modals.sync_confirm import SyncConfirmModal
from screens.modals.text_view import TextViewModal
from screens.users import UsersScreen
from tests.screens.helpers import screen_text, settle, shown


def owner_of(services: Any, key: str) -> tuple[int | None, bool, str | None]:
    account = services.account_by_key(key)
    return account.owner_id, account.pinned, account.link_kind


async def open_person(pilot: Any, query: str) -> UsersScreen:
    screen = pilot.app.screen
    assert isinstance(screen, UsersScreen)
    await pilot.press(*query)
    await settle(pilot)
    await pilot.press("escape")  # leave the search field for the results
    await pilot.press("enter")  # choose: focus moves to the attributes
    await settle(pilot)
    return screen


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_search_finds_a_person_with_attributes_and_accounts(
    services: Any, size: tuple[int, int]
) -> None:
    ref = services.find_records("user", "amara jones", limit=1)[0]
    detail = services.user_detail(ref.id)
    app = RosterApp(services, start="users")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        results = screen.query_one("#users-results", OptionList)
        assert results.option_count == 1
        assert "1 person" in shown(screen.query_one("#users-count", Static))
        person = shown(screen.query_one("#users-person", Static))
        # Amara Jones is HR's E10297 in sample_data/apps/hr.yaml: Engineering, this email
        assert "Amara Jones" in person and "amara.jones@example.com" in person
        assert "E10297" in person

        attributes = screen.query_one("#users-attributes", DataTable)
        assert attributes.has_focus
        assert attributes.row_count == len(detail.attributes)
        row = attributes.get_row("department")
        assert str(row[1]) == "Engineering"
        assert str(row[2]) == "hr:profile.department"

        accounts = screen.query_one("#users-accounts", DataTable)
        with closing(sqlite3.connect(services.db.sqlite_path)) as connection:
            (owned,) = connection.execute(
                "SELECT count(*) FROM account WHERE owner_id = ? AND status != 'DELETED'",
                (ref.id,),
            ).fetchone()
        assert owned >= 3 and accounts.row_count == owned
        slack = next(a for a in detail.accounts if a.app == "slack")
        row = accounts.get_row(slack.key)
        assert str(row[0]) == "slack" and str(row[3]) == "ownership"  # as the CLI says
        if size[0] >= 120:
            assert "ch-general" in str(row[6])
        else:  # no room for the entitlements: the border names the highlighted account's
            assert len(row) == 5
        assert screen.query_one("#users-accounts").region.bottom <= size[1]


async def test_enter_on_a_search_that_finds_one_person_opens_their_attributes(
    services: Any,
) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"amara jones")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        attributes = app.screen.query_one("#users-attributes", DataTable)
        assert attributes.has_focus
        await pilot.press("down")
        assert attributes.cursor_row == 1


async def test_search_narrows_as_you_type(services: Any) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        results = app.screen.query_one("#users-results", OptionList)
        everyone = results.option_count
        assert everyone > 1
        await pilot.press(*"amara")
        await settle(pilot)
        assert 1 < results.option_count < everyone
        await pilot.press(*"zzzz")
        await settle(pilot)
        assert results.option_count == 0
        assert "Nobody matches" in shown(app.screen.query_one("#users-count", Static))


async def test_why_shows_every_candidate(services: Any) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        attributes = screen.query_one("#users-attributes", DataTable)
        attributes.move_cursor(row=attributes.get_row_index("department"))
        await pilot.press("w")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ExplainModal)
        summary = shown(modal.query_one("#explain-summary", Static))
        assert "Engineering" in summary and "hr:profile.department" in summary
        assert "authority" in summary
        candidates = shown(modal.query_one("#explain-candidates", Static))
        assert "hr:profile.department  won" in candidates
        assert "ad:profile.department  ignored" in candidates
        assert "60/60/50" in candidates and "bidirectional" in candidates
        assert "Scores are create/update/delete" in shown(modal.query_one("#explain-hint", Static))
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, UsersScreen)
        await pilot.press("enter")  # enter on an attribute asks why too
        await settle(pilot)
        assert isinstance(app.screen, ExplainModal)
        await pilot.press("escape")
        await pilot.pause()

        # a reason too long for the row wraps under its candidate, not at the left edge
        attributes.move_cursor(row=attributes.get_row_index("employee_id"))
        await pilot.press("w")
        await settle(pilot)
        rows = screen_text(app).splitlines()
        lost = next(i for i, row in enumerate(rows) if "• ad:profile.employeeID  lost" in row)
        assert rows[lost + 1].startswith("│   (hr:employee_ids) has a value"), rows[lost + 1]


async def test_why_on_an_expression_shows_the_expression_and_its_mode(services: Any) -> None:
    """A CEL source is named `cel[1]` in the store; why shows its text, and the mode in the
    editor's words (union for a list), with no word of scores where there are none."""
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        attributes = screen.query_one("#users-attributes", DataTable)
        attributes.move_cursor(row=attributes.get_row_index("additional_email"))
        await pilot.press("w")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ExplainModal)
        summary = shown(modal.query_one("#explain-summary", Static))
        assert "Mode: union: every source's values" in summary
        assert "union of every source" in summary  # the decision says the same
        candidates = shown(modal.query_one("#explain-candidates", Static))
        assert "cel[1]" in candidates and '    CEL\n      "github" in accounts\n' in candidates
        assert "? accounts.github.emails.map(e, e.lowerAscii())" in candidates  # line by line
        assert "Scores" not in shown(modal.query_one("#explain-hint", Static))


async def test_unlink_and_pin_change_what_the_engine_reports(services: Any) -> None:
    ref = services.find_records("user", "amara jones", limit=1)[0]
    detail = services.user_detail(ref.id)
    slack = next(a for a in detail.accounts if a.app == "slack").key
    badge = next(a for a in detail.accounts if a.app == "badge").key
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)

        # Pin the badge account: asks first, then the engine reports it pinned.
        accounts.move_cursor(row=accounts.get_row_index(badge))
        await pilot.press("p")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert "Syncs leave this link alone" in str(modal.message)
        await pilot.press("shift+tab", "enter")  # Pin (the dialog starts on Cancel)
        await settle(pilot)
        assert owner_of(services, badge)[:2] == (ref.id, True)
        assert str(accounts.get_row(badge)[4]) == "pinned"

        # Unlink slack; cancelling first changes nothing.
        accounts.move_cursor(row=accounts.get_row_index(slack))
        await pilot.press("u")
        await settle(pilot)  # what else it changes is worked out first
        assert isinstance(app.screen, ConfirmModal)
        assert slack in str(app.screen.message)
        await pilot.press("escape")
        await settle(pilot)
        assert owner_of(services, slack)[0] == ref.id
        await pilot.press("u")
        await settle(pilot)
        await pilot.press("enter")  # the dialog starts on Cancel: enter alone unlinks nothing
        await settle(pilot)
        assert owner_of(services, slack)[0] == ref.id
        await pilot.press("u")
        await settle(pilot)
        assert "enter: Cancel" in shown(app.screen.query_one("#confirm-keys", Static))
        await pilot.press("shift+tab", "enter")
        await settle(pilot)
        assert owner_of(services, slack)[:2] == (None, True)
        assert slack not in {str(k.value) for k in accounts.rows}
        assert len(services.user_detail(ref.id).accounts) == len(detail.accounts) - 1

        # Link it back: the modal asks for APP:EXTERNAL_ID, then confirms.
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LinkAccountModal)
        await pilot.press(*"nonsense", "enter")
        await pilot.pause()
        assert "APP:EXTERNAL_ID" in shown(app.screen.query_one("#link-error", Static))
        app.screen.query_one(Input).value = slack
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        assert "no owner" in str(confirm.message) and "pinned" in str(confirm.message)
        await pilot.press("shift+tab", "enter")  # Link and pin (it starts on Cancel)
        await settle(pilot)
        assert owner_of(services, slack) == (ref.id, True, "manual")
        assert str(accounts.get_row(slack)[3]) == "manual"

        # Unpin hands it back to the rules.
        accounts.move_cursor(row=accounts.get_row_index(slack))
        await pilot.press("p")
        await settle(pilot)  # whom the rules would give it to is worked out first
        assert isinstance(app.screen, ConfirmModal)
        said = str(app.screen.message)
        impact = services.unpin_impact(slack)  # the dialog says what the CLI's dry run says
        if impact.after == impact.before:
            assert f"The next sync's rules keep it with {impact.before}." in said, said
        else:
            assert f"The next sync's rules give it to {impact.after or 'nobody'}." in said, said
        await pilot.press("shift+tab", "enter")  # Unpin
        await settle(pilot)
        assert owner_of(services, slack)[1] is False


async def test_linking_an_unknown_account_says_so(services: Any) -> None:
    from screens.modals.error import ErrorModal

    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_person(pilot, "amara jones")
        await pilot.press("l")
        await pilot.pause()
        await pilot.press(*"slack:NOPE", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "slack:NOPE" in app.screen.message


async def test_help_lists_the_users_keys(services: Any) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_person(pilot, "amara")
        await pilot.press("question_mark")
        await pilot.pause()
        rows = dict(app.screen.rows)
        for key in ("w", "u", "p", "l"):
            assert key in rows, key
        assert any("pinned" in what for what in rows.values())


async def test_a_person_without_email_still_answers_why(services: Any) -> None:
    # the demo plants one: Mei Tanaka, whose HR account has `email: ''` (sample_data/README.md)
    nameless = [u for u in services.population().users if not u.email and u.display_name]
    assert [u.display_name for u in nameless] == ["Mei Tanaka"]
    person = nameless[0]
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, person.display_name)
        assert "(no email)" in shown(screen.query_one("#users-person", Static))
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ExplainModal)


@pytest.mark.parametrize("start_key", ["8", "1"])
async def test_the_users_screen_shows_new_values_after_a_sync(
    services: Any, start_key: str
) -> None:
    """A sync applied from the Sync screen (8, s) or the dashboard (1, s) ends; back on Users
    the person shown has the new value, not the one read before the sync."""
    from tests.screens.test_sync_screen import move_william_to_finance

    app = RosterApp(services, start="users")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "william.weiss@")
        attributes = screen.query_one("#users-attributes", DataTable)
        assert str(attributes.get_row("department")[1]) == "Marketing"

        move_william_to_finance(services)
        await pilot.press(start_key)
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        await pilot.press("a")  # apply (the dialog starts on Cancel)
        await settle(pilot)
        assert services.runs(limit=1)[0].status == "applied"

        await pilot.press("7")
        await settle(pilot)
        assert app.screen is screen
        assert "William" in shown(screen.query_one("#users-person", Static))
        assert str(attributes.get_row("department")[1]) == "Finance"


async def test_a_sync_run_by_another_process_reaches_the_screen_shown(services: Any) -> None:
    """The CLI (or a second console) syncs the same store: within a few seconds the console
    shown reloads and the person on screen has the new value, with no key pressed."""
    import subprocess
    import sys

    from tests.screens.helpers import wait_until
    from tests.screens.test_sync_screen import move_william_to_finance

    app = RosterApp(services, start="users")
    app.STORE_POLL_SECONDS = 0.2
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "william.weiss@")
        attributes = screen.query_one("#users-attributes", DataTable)
        assert str(attributes.get_row("department")[1]) == "Marketing"

        move_william_to_finance(services)
        done = subprocess.run(
            [sys.executable, "-m", "console.cli", "--db", str(services.db.sqlite_path), "sync"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        await wait_until(
            pilot,
            lambda: str(attributes.get_row("department")[1]) == "Finance",
            "the Users screen to show the department the other process synced",
        )
        assert "William" in shown(screen.query_one("#users-person", Static))


async def test_a_search_that_finds_nobody_leaves_nobody_to_act_on(services: Any) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        assert screen.detail is not None
        assert "Amara" in screen.sub_title
        await pilot.press("slash")
        await pilot.press(*"zzqx-nobody")
        await settle(pilot)
        assert "Nobody matches" in shown(screen.query_one("#users-count", Static))
        assert screen.detail is None
        assert "Amara" not in screen.sub_title  # the header no longer names her either
        assert "Amara" not in shown(screen.query_one("#users-person", Static))
        accounts = screen.query_one("#users-accounts", DataTable)
        assert accounts.row_count == 0
        assert not str(accounts.border_subtitle)  # nor her grants (hostile review)
        await pilot.press("escape")
        for action in ("unlink", "pin", "link", "why"):
            assert not screen.check_action(action, ())


async def test_a_huge_name_takes_one_row_of_the_results(services: Any) -> None:
    """A 60 kB display name (hostile or broken HR data) is one ellipsised row of the results,
    not a wall of text that pushes everyone else out of the list."""
    huge = "Amara " + "N" * 60_000
    with closing(sqlite3.connect(services.db.sqlite_path)) as db, db:
        db.execute(
            "UPDATE person SET display_name = ? WHERE email = ?", (huge, "amara.jones@example.com")
        )
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"amara")
        await settle(pilot)
        results = app.screen.query_one("#users-results", OptionList)
        assert results.option_count > 1
        # every option is one line high, so the others stay in view
        assert results.virtual_size.height == results.option_count
        prompts = [str(results.get_option_at_index(i).prompt) for i in range(results.option_count)]
        huge_rows = [prompt for prompt in prompts if prompt.startswith("Amara NNN")]
        assert len(huge_rows) == 1 and len(huge_rows[0]) <= 200 and huge_rows[0].endswith("…")


async def test_the_link_dialog_chooses_the_account_from_a_list(services: Any) -> None:
    """Nobody remembers `slack:U076ADP4VGE`: ↓ in the link dialog searches the accounts and
    fills the key in."""
    from screens.modals.record_picker import RecordPicker

    slack = next(a for a in services.population().accounts if a.app_id == "slack")
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_person(pilot, "amara jones")
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LinkAccountModal)
        assert "↓ or ctrl+o chooses from the accounts" in shown(
            app.screen.query_one(".link--hint", Static)
        )
        await pilot.press("down")
        await settle(pilot)
        assert isinstance(app.screen, RecordPicker)
        await pilot.press(*slack.external_id)
        await settle(pilot)
        # whose the account is now, before choosing it (linking takes it from them)
        owner = services.population().user_by_id(slack.owner_id) if slack.owner_id else None
        prompt = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
        assert f"(linked to {owner.email})" in prompt if owner else "(no owner)" in prompt, prompt
        await pilot.press("down", "enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, LinkAccountModal)
        assert modal.query_one(Input).value == f"slack:{slack.external_id}"
        await pilot.press("enter")  # on to the confirmation, as if typed
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert f"slack:{slack.external_id}" in str(app.screen.message)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_linked_by_says_what_the_command_line_says(
    services: Any, size: tuple[int, int]
) -> None:
    """One label per link kind, in the console at any width and in `roster people show`."""
    from click.testing import CliRunner

    from console.cli import main

    # sample_data: Amara Jones was created from hr:E10297, her idp account matched by a merge
    # rule, the others found by their apps' ownership rules
    expected = {
        "hr:E10297": "dir-create",
        "idp:00ugugZqH9PJEANjykEQ": "dir-match",
        "ad:amara.jones": "ownership",
        "slack:U070TUM2HFE": "ownership",
    }
    db = str(services.db.sqlite_path)
    printed = CliRunner().invoke(main, ["people", "show", "amara.jones@example.com", "--db", db])
    assert printed.exit_code == 0, printed.output
    cli = {}
    for line in printed.stdout.split("accounts:\n", 1)[1].splitlines():
        key, _status, kind, *_ = line.split()
        cli[key] = kind
    app = RosterApp(services, start="users")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        table = screen.query_one("#users-accounts", DataTable)
        console = {
            str(table.ordered_rows[i].key.value): str(table.get_row_at(i)[3])
            for i in range(table.row_count)
        }
        text = screen_text(app)
    assert console == cli
    for key, label in expected.items():
        assert cli[key] == label, key
        external_id = key.partition(":")[2]
        # at 80 columns a long id loses its middle (the border names it whole)
        shown = external_id if size[0] >= 120 or len(external_id) <= 12 else external_id[:7]
        assert any(
            f" {shown}" in row and f" ENABLED  {label} " in row for row in text.splitlines()
        ), (key, text)


@pytest.mark.parametrize("name", ["ann", "quinn", "paul", "linda", "will"])
async def test_typing_a_name_in_the_results_searches_again(services: Any, name: str) -> None:
    """From the results, a name typed goes on with the search instead of going to the list:
    its l opened the link dialog, its q quit the console, its p opened a pin dialog while the
    next letters replaced the search behind it (newcomer and hostile reviews). It is added to
    the search, not put in its place: backspace takes it back. w u p l still act from the
    person's accounts."""
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara")
        await pilot.press("shift+tab")  # back to the results
        assert app.focused is screen.query_one("#users-results", OptionList)
        await pilot.press(*name)
        await settle(pilot)
        assert app.is_running and app.screen is screen
        search = screen.query_one("#users-search", Input)
        assert app.focused is search and search.value == "amara" + name
        await pilot.press(*["backspace"] * len(name))  # a stray key costs nothing
        await settle(pilot)
        assert search.value == "amara"
        await pilot.press("escape", "enter")  # the results, then the person
        await settle(pilot)
        await pilot.press("tab")  # their accounts
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LinkAccountModal)


async def test_backspace_in_the_results_shortens_the_search(services: Any) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"amaraz")
        await settle(pilot)
        assert "Nobody matches" in shown(app.screen.query_one("#users-count", Static))
        app.screen.query_one("#users-results", OptionList).focus()
        await pilot.press("backspace", "s")
        await settle(pilot)
        search = app.screen.query_one("#users-search", Input)
        assert app.focused is search and search.value == "amaras"


async def test_help_in_the_search_field_lists_the_keys_it_holds_back(services: Any) -> None:
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"amara")
        await settle(pilot)
        assert isinstance(app.focused, Input)
        await pilot.press("f1")  # ? would be typed: F1 is help everywhere
        await pilot.pause()
        rows = dict(app.screen.rows)
        assert rows["/"] == "Put the cursor in the search field (outside text fields)"
        assert "outside text fields" in rows["l"]


async def test_the_search_finds_who_has_no_account_in_an_app(services: Any) -> None:
    """An admin provisioning Slack asks who has none yet (newcomer review): no:slack; an app
    being typed (no:sla) says which apps there are instead of failing in a dialog."""
    population = services.population()
    with_slack = {a.owner_id for a in population.accounts if a.app_id == "slack"}
    without = sorted(
        u.display_name
        for u in population.users
        if u.status == "ENABLED" and u.id not in with_slack and u.display_name
    )
    assert 0 < len(without) < 50
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(*"no:sla")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        count = shown(screen.query_one("#users-count", Static))
        assert "No app 'sla' for no:" in count and "slack" in count, count
        await pilot.press(*"ck status:enabled")
        await settle(pilot)
        found = sorted(ref.label.split(" <")[0] for ref in screen.refs)
        assert found == without


async def highlight_account(pilot: Any, accounts: DataTable[Any], key: str) -> str:
    """Put the accounts table's cursor on KEY; returns the table's border subtitle."""
    accounts.focus()
    accounts.move_cursor(row=accounts.get_row_index(key))
    await settle(pilot)
    return Text.from_markup(str(accounts.border_subtitle)).plain


async def test_an_accounts_entitlements_are_cut_with_an_ellipsis_and_shown_whole_below(
    services: Any,
) -> None:
    """At 120 columns the Entitlements column ran off the table's edge ("grp-all-staf"), read
    as a whole name (newcomer review): it takes the room left and ends with …, and the
    highlighted account's entitlements are on the table's border, whole."""
    ref = services.find_records("user", "amara jones", limit=1)[0]
    slack = next(a for a in services.user_detail(ref.id).accounts if a.app == "slack")
    assert len(", ".join(slack.entitlements)) > 12
    app = RosterApp(services, start="users")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)
        subtitle = await highlight_account(pilot, accounts, slack.key)
        assert accounts.virtual_size.width <= accounts.size.width  # nothing off the edge
        row = next(r for r in screen_text(app).splitlines() if " U0" in r and "ENABLED" in r)
        assert "…" in row
        assert f"5 accounts · slack grants: {', '.join(slack.entitlements)}" in subtitle


async def test_at_80_columns_the_accounts_table_fits_and_names_a_cut_id_whole(
    services: Any,
) -> None:
    """At 80 columns the accounts table ran off its edge: its header ended "Pinn", and Name
    and Entitlements were out of sight. Entitlements and Name go, a long id loses its middle,
    and the border names the highlighted account whole, with its grants."""
    ref = services.find_records("user", "amara jones", limit=1)[0]
    accounts_of = services.user_detail(ref.id).accounts
    idp = next(a for a in accounts_of if a.app == "idp")
    ad = next(a for a in accounts_of if a.app == "ad" and a.entitlements)
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)
        subtitle = await highlight_account(pilot, accounts, idp.key)
        assert accounts.virtual_size.width <= accounts.size.width  # nothing off the edge
        header = next(r for r in screen_text(app).splitlines() if "Account id" in r)
        assert "Pinned" in header and "Entitlements" not in header
        row = next(r for r in screen_text(app).splitlines() if " idp " in r)
        external_id = idp.key.partition(":")[2]
        assert external_id not in row and external_id[:4] in row and "…" in row
        assert subtitle == f"5 accounts · {idp.key}"
        subtitle = await highlight_account(pilot, accounts, ad.key)
        assert subtitle.startswith(f"5 accounts · {ad.key} grants: {ad.entitlements[0]}")


async def test_the_unlink_dialog_says_what_else_the_unlink_changes(services: Any) -> None:
    """Unlinking a directory account said only that the person might be removed "if no other
    directory account still passes" (newcomer review); `roster unlink --dry-run` listed what
    would change. The dialog lists it too, and at 80x24 its buttons and its first line (what
    is unlinked from whom) stay on screen."""
    ref = services.find_records("user", "amara jones", limit=1)[0]
    hr = next(a for a in services.user_detail(ref.id).accounts if a.app == "hr").key
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        await highlight_account(pilot, screen.query_one("#users-accounts", DataTable), hr)
        await pilot.press("u")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        message = str(modal.message)
        assert "It also changes, at the next sync:" in message
        assert "employment_status: ACTIVE → —" in message
        assert "removes the person" not in message  # the particulars, not the maybe
        text = screen_text(app)
        assert f"Unlink {hr}" in text
        assert "Cancel (esc)" in text and "enter: Cancel" in text
        await pilot.press("enter")
        await settle(pilot)
        assert owner_of(services, hr)[0] == ref.id


async def test_a_search_typed_at_once_after_slash_goes_to_the_search(services: Any) -> None:
    """/ and a name in one burst, from the person's accounts: the search takes the focus a
    moment after /, and the letters typed meanwhile went to the accounts table, where p
    opened Pin and the enter pinned (hostile review). They are the search's."""
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)
        accounts.focus()
        await pilot.pause()
        before = [(str(k.value), owner_of(services, str(k.value))) for k in accounts.rows]
        # one burst: the keys are queued before the focus can move
        for key, character in [("slash", "/"), *[(c, c) for c in "paul"], ("enter", None)]:
            event = events.Key(key, character)
            event.set_sender(app)
            app._driver.send_message(event)  # as pilot.press does, without waiting between
        await settle(pilot)
        assert app.screen is screen, app.screen  # no Pin, no Link dialog
        search = screen.query_one("#users-search", Input)
        assert search.value == "paul"  # a new search: the old one replaced
        assert [(key, owner_of(services, key)) for key, _ in before] == before
        assert app.focused is not search  # the enter went on to the results or the person


async def test_pin_and_link_start_on_cancel(services: Any) -> None:
    """A p and an enter that reach the accounts by mistake pin nothing: Pin's and Link's
    confirmations start on Cancel, as Unlink's does."""
    ref = services.find_records("user", "amara jones", limit=1)[0]
    badge = next(a for a in services.user_detail(ref.id).accounts if a.app == "badge").key
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)
        accounts.move_cursor(row=accounts.get_row_index(badge))
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert "enter: Cancel" in shown(app.screen.query_one("#confirm-keys", Static))
        await pilot.press("enter")
        await settle(pilot)
        assert owner_of(services, badge)[:2] == (ref.id, False)


async def test_v_shows_an_account_whose_id_no_border_holds(services: Any) -> None:
    """A 90-character account id was never shown whole at 80 columns: the cell cut its
    middle and the border its end (hostile review). The border says v shows it, and v does."""
    ref = services.find_records("user", "amara jones", limit=1)[0]
    badge = next(a for a in services.user_detail(ref.id).accounts if a.app == "badge")
    long_id = "BDG-" + "0123456789" * 8 + "-<b>[red]end"
    with closing(sqlite3.connect(services.db.sqlite_path)) as db, db:
        db.execute(
            "UPDATE account SET external_id = ? WHERE app_id = 'badge' AND external_id = ?",
            (long_id, badge.key.partition(":")[2]),
        )
    services.invalidate()
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)
        subtitle = await highlight_account(pilot, accounts, f"badge:{long_id}")
        assert "v shows it whole" in subtitle, subtitle
        assert long_id not in screen_text(app)
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, TextViewModal)
        body = shown(app.screen.query_one("#text-view-body", Static))
        assert f"badge:{long_id}" in body.replace("\n", "").replace(" " * 10, ""), body
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


async def test_two_enters_at_once_in_the_link_dialog_answer_it_once(services: Any) -> None:
    """Enter twice in one burst in the Link dialog dismissed it twice: the second stopped the
    console ("Can't pop screen"; hostile review). It answers once: the confirmation opens."""
    slack = next(a for a in services.population().accounts if a.app_id == "slack")
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await open_person(pilot, "tom becker")
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LinkAccountModal)
        app.screen.query_one(Input).value = f"slack:{slack.external_id}"
        for _ in range(2):
            event = events.Key("enter", "\r")
            event.set_sender(app)
            app._driver.send_message(event)
        await settle(pilot)
        assert app.is_running
        assert isinstance(app.screen, ConfirmModal), app.screen
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_an_account_id_with_markup_is_named_literally_on_the_border(
    services: Any, size: tuple[int, int]
) -> None:
    """An id the table cuts is named on the border: as a str, Textual read it as markup, and
    `a[/]b` stopped the console (hostile review). It is shown as it is."""
    ref = services.find_records("user", "amara jones", limit=1)[0]
    badge = next(a for a in services.user_detail(ref.id).accounts if a.app == "badge")
    odd = "a[/]b[bold red]x" + "y" * 30  # past the 40 characters the table shows
    with closing(sqlite3.connect(services.db.sqlite_path)) as db, db:
        db.execute(
            "UPDATE account SET external_id = ? WHERE app_id = 'badge' AND external_id = ?",
            (odd, badge.key.partition(":")[2]),
        )
    services.invalidate()
    app = RosterApp(services, start="users")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "amara jones")
        accounts = screen.query_one("#users-accounts", DataTable)
        subtitle = await highlight_account(pilot, accounts, f"badge:{odd}")
        assert app.is_running
        assert f"badge:{odd}" in subtitle or "v shows it whole" in subtitle, subtitle


async def test_an_account_typed_at_once_after_l_reaches_the_link_dialog(services: Any) -> None:
    """l, an account and enter in one burst: the letters came before the dialog's field had
    the focus and were lost, and the dialog asked for APP:EXTERNAL_ID (hostile review)."""
    slack = next(a for a in services.population().accounts if a.app_id == "slack")
    key = f"slack:{slack.external_id}"
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "tom becker")
        screen.query_one("#users-accounts", DataTable).focus()
        await pilot.pause()
        for character in ["l", *key, "\r"]:
            name = {"\r": "enter", ":": "colon"}.get(character, character)
            event = events.Key(name, character)
            event.set_sender(app)
            app._driver.send_message(event)
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal), app.screen
        assert key in str(app.screen.message)
