"""Data is text, never markup or terminal control: every screen and dialog of the console, over a
store whose people, accounts, departments, job titles, app names, rule names and CEL hold
markup, escape sequences, bidi overrides, zero-width characters, a NUL byte and a megabyte
string. Each must show literally (markup as typed, controls as `\\x1b`), and nothing may crash.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual import events
from textual.app import App
from textual.content import Content
from textual.widgets import DataTable, Input, OptionList, Static, Tree
from textual.widgets._data_table import default_cell_formatter

from console.app import RosterApp
from engine.services import open_services
from screens.modals.confirm import ConfirmModal
from screens.modals.error import ErrorModal
from screens.modals.explain import ExplainModal
from screens.modals.help import HelpModal
from screens.modals.link_account import LinkAccountModal
from screens.modals.provision_queue import ProvisionQueueModal
from screens.modals.record_picker import RecordPicker
from screens.modals.sync_confirm import SyncConfirmModal
from screens.provision_field import ProvisionFieldScreen
from screens.users import NEXT_SYNC
from screens.widgets.cel_editor import CelEditor
from screens.widgets.change_detail import DETAIL_REASON, DETAIL_VALUE, ChangeDetail
from screens.widgets.plan_tree import PlanTree
from tests.hostile import (
    BOLD,
    CEL_JOIN,
    CLEAR,
    CLICK,
    CLOSE,
    CONFIG,
    DEPARTMENT,
    LINK,
    NUL,
    OVERRIDE,
    RAW_CONTROL,
    RTL,
    SHOWN,
    TITLE_OSC,
    ZERO_WIDTH,
    open_hostile_org,
)
from tests.screens.helpers import palette_choose, settle
from tests.screens.test_playground import choose_context

SIZE = (160, 50)
#: A second version of the push rule's title mapping, imported after the first sync so that
#: the push plan has changes to show (and the history has the first sync's executions).
CEL_TITLE_V2 = 'subject.jobTitle + " [/] \\x1b[2J"'


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    services = open_hostile_org(folder)
    config = dict(CONFIG)
    rule = dict(CONFIG["push_rules"][0])
    rule["mappings"] = [{"target": "title", "cel": CEL_TITLE_V2}, *rule["mappings"][1:]]
    config["push_rules"] = [rule]
    import yaml

    services.import_config(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        source="roster.yaml",
        base_dir=folder / "org",
    )
    services.db.dispose()
    return folder


@pytest.fixture
def hostile(hostile_store: Path, tmp_path: Path) -> Any:
    folder = tmp_path / "store"
    shutil.copytree(hostile_store, folder)
    services = open_services(db_path=folder / "roster.db")
    yield services
    services.db.dispose()


# What the terminal would receive --------------------------------------------------------------


def screen_text(app: App[Any]) -> str:
    """The current screen as the terminal would draw it, one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def plain_of(thing: Any) -> str:
    if isinstance(thing, Text):
        return thing.plain
    if isinstance(thing, Content):
        return thing.plain
    return str(thing)


def check_widgets(app: App[Any]) -> None:
    """Every table cell, list item, tree label and Static of the current screen (not only the
    rows in view) is text that is never read as markup and holds no raw control character."""
    screen = app.screen
    for table in screen.query(DataTable):
        for row in range(table.row_count):
            for cell in table.get_row_at(row):
                if isinstance(cell, str):
                    # A plain str cell is read as markup: only fixed words may be one.
                    assert "[" not in cell and not RAW_CONTROL.search(cell), repr(cell)
                else:
                    assert not RAW_CONTROL.search(plain_of(cell)), repr(cell)
                default_cell_formatter(cell)  # would raise on bad markup
    for options in screen.query(OptionList):
        for index in range(options.option_count):
            prompt = options.get_option_at_index(index).prompt
            assert not isinstance(prompt, str) or "[" not in prompt, repr(prompt)
            assert not RAW_CONTROL.search(plain_of(prompt)), repr(prompt)
    for tree in screen.query(Tree):
        nodes = [tree.root]
        while nodes:
            node = nodes.pop()
            assert not RAW_CONTROL.search(node.label.plain), repr(node.label)
            nodes.extend(node.children)
    for static in screen.query(Static):
        assert not RAW_CONTROL.search(plain_of(static.content)), repr(static.content)
    for widget in screen.query("*"):
        for title in (widget.border_title, widget.border_subtitle):
            assert title is None or not RAW_CONTROL.search(title), repr(title)


def check(app: App[Any], *expected: str) -> str:
    """The screen shows no raw control character, every widget is safe, and each expected
    string is visible exactly as given."""
    text = screen_text(app)
    found = RAW_CONTROL.search(text)
    assert found is None, f"raw {found.group()!r} on screen"
    check_widgets(app)
    for wanted in expected:
        assert wanted in text, f"{wanted!r} not on screen:\n{text}"
    return text


def toasts(app: App[Any]) -> list[Any]:
    return list(app._notifications)


async def open_help(pilot: Any, title: str) -> None:
    await pilot.press("f1")
    await pilot.pause()
    assert isinstance(pilot.app.screen, HelpModal)
    check(pilot.app, f"Keys — {title}")
    await pilot.press("escape")
    await pilot.pause()


# The screens ----------------------------------------------------------------------------------


async def test_dashboard_shows_hostile_app_names_literally(hostile: Any) -> None:
    app = RosterApp(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        check(
            app,
            f"HR {SHOWN[DEPARTMENT]}",
            f"Chat {SHOWN[BOLD]}",
            f"AD {SHOWN[CLICK]}",
        )
        await open_help(pilot, "Dashboard")
        # The command palette: searching with markup-like text neither crashes nor runs it.
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"[/]")
        await pilot.pause(0.3)
        check(app, "[/]")
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running


async def test_users_screen_search_detail_and_dialogs(hostile: Any) -> None:
    app = RosterApp(hostile, start="users")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        check(app, SHOWN[BOLD], SHOWN[OVERRIDE], RTL)

        # Typing markup into the search field: no crash, shown as typed.
        await pilot.press(*"[/]")
        await settle(pilot)
        assert app.screen.query_one("#users-search", Input).value == "[/]"
        screen = app.screen
        assert app.is_running
        check(app, "[/]")
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press(*"ann@")
        await settle(pilot)
        await pilot.press("escape", "enter")
        await settle(pilot)
        detail = check(
            app,
            f"Ann {SHOWN[BOLD]}",
            SHOWN[DEPARTMENT],
            "Chief \\x1b]0;pwned",  # the job title, cut to its column
            SHOWN[CLICK],  # the chat account's id
            f"Ann in chat {SHOWN[LINK]}"[:20],
            SHOWN[LINK][:20],  # the note attribute
        )
        assert "pwned" in detail
        attributes = screen.query_one("#users-attributes", DataTable)
        assert plain_of(attributes.get_row("department")[1]) == SHOWN[DEPARTMENT]
        assert plain_of(attributes.get_row("note")[1]).startswith(SHOWN[LINK][:21])

        # Why: the whole job title, escapes visible.
        attributes.focus()
        attributes.move_cursor(row=attributes.get_row_index("job_title"))
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ExplainModal)
        check(app, SHOWN[TITLE_OSC], "Why — job_title")
        await pilot.press("escape")
        await pilot.pause()

        # Unlink and pin ask first, naming the account and the person literally.
        accounts = screen.query_one("#users-accounts", DataTable)
        accounts.focus()
        accounts.move_cursor(row=accounts.get_row_index(f"chat:{CLICK}"))
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        check(app, f"chat:{SHOWN[CLICK]}", f"Ann {SHOWN[BOLD]}", f"Chat {SHOWN[BOLD]}")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        check(app, f"chat:{SHOWN[CLICK]}")
        await pilot.press("escape")
        await pilot.pause()

        # Link: the dialog's title names the person; the confirmation names the account's
        # escapes; the toast after linking holds the names as plain text.
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, LinkAccountModal)
        check(app, f"Link an account to Ann {SHOWN[BOLD]}")
        await pilot.press(*"chat:c2", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        check(app, f"Ghost {SHOWN[TITLE_OSC]}")
        await pilot.click("#confirm")
        await settle(pilot)
        linked = [n for n in toasts(app) if n.title == "Saved"]
        assert len(linked) == 1
        assert linked[0].markup is False
        assert linked[0].message == (
            f"Linked chat:c2 to Ann {BOLD} <ann@example.com> (pinned). {NEXT_SYNC}"
        )
        check(app)
        await open_help(pilot, "Users")

        # Eve: a bidi override in her name, a zero-width character, a megabyte job title.
        search = app.screen.query_one("#users-search", Input)
        search.value = "eve@"
        search.focus()
        await settle(pilot)
        await pilot.press("escape", "enter")
        await settle(pilot)
        check(app, SHOWN[OVERRIDE], SHOWN[ZERO_WIDTH], "BBBB")
        attributes.move_cursor(row=attributes.get_row_index("job_title"))
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ExplainModal)
        summary = app.screen.query_one("#explain-summary", Static)
        assert len(plain_of(summary.content)) < 5000  # a megabyte, shown as a bounded preview
        check(app, "BBBB…")
        await pilot.press("escape")
        await pilot.pause()

        # Sara: right-to-left name, a NUL byte, a department that is a click action.
        search.value = "sara@"
        search.focus()
        await settle(pilot)
        await pilot.press("escape", "enter")
        await settle(pilot)
        check(app, RTL, SHOWN[CLICK], SHOWN[NUL], "Wipe\\x1b[2Jout")
        assert app.is_running  # [@click=app.quit] is text, not an action


async def test_push_rules_screen_rules_plan_and_history(hostile: Any) -> None:
    app = RosterApp(hostile, start="push")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await settle(pilot)
        check(
            app,
            SHOWN[BOLD],  # the rule's name
            f"ad (AD {SHOWN[CLICK]})",
            # The plan: a value with an escape sequence is never sent (control characters are
            # refused at the push as at the import), and the refusal shows it escaped.
            "2 values would fail",
        )
        await pilot.press("m")
        await pilot.pause()
        # The CEL of a mapping, as written (once cut to its column, once in full below).
        check(app, CEL_JOIN, 'subject.jobTitle + " [/] \\x1b[2J"')
        await pilot.press("h")
        await settle(pilot)
        # The first sync's executions: refused, the value shown with its escapes visible.
        check(app, f"Latest executions of {SHOWN[BOLD]}", "ad:ad1", "failed: title 'Chief \\x1b")
        await open_help(pilot, "Push rules")


async def test_provisioning_screen_fields_picker_editor_and_queue(hostile: Any) -> None:
    app = RosterApp(hostile, start="provisioning")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        check(app, "sAMAccountName", CEL_JOIN[:30], f"AD {SHOWN[CLICK]}"[:20])

        # The record picker: markup typed into its search, then the hostile labels.
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, RecordPicker)
        check(app, f"Ann {SHOWN[BOLD]}", SHOWN[OVERRIDE], RTL)
        await pilot.press(*"[/]")
        await settle(pilot)
        assert app.screen.query_one("#record-search", Input).value == "[/]"
        check(app, "[/]")
        for _ in range(3):
            await pilot.press("backspace")
        await pilot.press(*"eve@")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, RecordPicker)
        # Eve's plan: her department makes the account name too long, her job title the
        # display name; the reasons are shown, and the mappings' CEL as written.
        check(
            app,
            SHOWN[OVERRIDE],
            SHOWN[ZERO_WIDTH],
            "✗ refused fields:",
            "✗ 37 characters long",
            "✗ 1000008 characters",
            CEL_JOIN,
            'subject.jobTitle + "\\x1b]0;cel\\x07"',
        )

        await pilot.press("t")
        await settle(pilot)
        check(app, f"Test for {SHOWN[OVERRIDE]} <eve@example.com>: ✗ 37 characters")

        # The mapping's editor: the schema's texts, Eve's test and the check over everyone.
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ProvisionFieldScreen)
        check(app, "Mapping of ad", "sAMAccountName", SHOWN[OVERRIDE], "would get no account")
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ProvisionFieldScreen)

        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ProvisionQueueModal)
        check(app, "Queue")
        await pilot.press("escape")
        await pilot.pause()

        # Create: refused or confirmed, the reasons and values are text.
        await pilot.press("c")
        await settle(pilot)
        if isinstance(app.screen, ConfirmModal):
            check(app, f"AD {SHOWN[CLICK]}", SHOWN[OVERRIDE])
            await pilot.press("escape")
            await pilot.pause()
        else:
            refused = [n for n in toasts(app) if n.title == "Nothing created in ad"]
            assert refused and all(n.markup is False for n in refused)
            assert not RAW_CONTROL.search(refused[0].message)
        await open_help(pilot, "Provisioning")


async def test_sync_screen_tree_history_and_confirmation(hostile: Any) -> None:
    app = RosterApp(hostile, start="sync")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # The first run's journal, from the history: imported names and values literally.
        await pilot.press("h")
        await settle(pilot)
        history = app.screen.query_one("#sync-history", DataTable)
        history.move_cursor(row=history.get_row_index("1"))
        await pilot.press("enter")
        await settle(pilot)
        tree = app.screen.query_one(PlanTree)
        labels: list[str] = []
        nodes = [tree.root]
        while nodes:
            node = nodes.pop()
            labels.append(node.label.plain)
            nodes.extend(node.children)
        joined = "\n".join(labels)
        for wanted in (
            f"Ann {SHOWN[BOLD]}",
            f"chat:{SHOWN[CLICK]}",
            SHOWN[TITLE_OSC],
            SHOWN[DEPARTMENT],
            SHOWN[OVERRIDE],
        ):
            assert wanted in joined, wanted
        # (a new account is one change carrying its record: the tree names it, and its
        # fields, the NUL-bearing note among them, are on the account's page, checked above)
        # the megabyte value sits inside a new person's attributes, cut short with them
        assert len(joined) < 100_000
        check(app, "Run 1")

        # The detail of each change under the tree: literal, controls visible, bounded.
        detail = app.screen.query_one(ChangeDetail)
        shown: list[str] = []
        nodes = [tree.root]
        while nodes:
            node = nodes.pop()
            nodes.extend(reversed(node.children))
            if not (isinstance(node.data, tuple) and node.data[0] == "change"):
                continue
            tree.move_cursor(node)
            await pilot.pause()
            assert tree.cursor_node is node
            text = detail.text
            assert not RAW_CONTROL.search(text), repr(text)
            # one line a field (at most DETAIL_FIELDS), each value bounded, the reason too
            assert len(text) < 12 * DETAIL_VALUE + DETAIL_REASON, len(text)
            shown.append(text)
            check(app)
        everything = "\n".join(shown)
        for wanted in (SHOWN[BOLD], SHOWN[TITLE_OSC], SHOWN[NUL], SHOWN[CLICK], SHOWN[OVERRIDE]):
            assert wanted in everything, wanted
        # the megabyte job title: its first characters, then an ellipsis
        assert f"job_title: — → {'B' * (DETAIL_VALUE - 1)}…" in everything

        # Sync now: the dry run's confirmation, then cancel.
        await pilot.press("s")
        await settle(pilot)
        await settle(pilot)
        assert isinstance(app.screen, SyncConfirmModal)
        check(app, "(a dry run) found")
        await pilot.press("escape")
        await settle(pilot)
        check(app)
        await open_help(pilot, "Sync")


async def test_playground_values_samples_and_picker(hostile: Any) -> None:
    app = RosterApp(hostile, start="playground")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"account.displayName")
        await settle(pilot)
        check(app)
        await pilot.press("ctrl+r")
        await settle(pilot)
        await settle(pilot)
        # A directory filter must decide, so every account of the directory is an error, with
        # the value it gave, shown literally.
        check(
            app,
            "3 records (the accounts of the directory hr), 3 errors",
            f'got string "Ann {SHOWN[BOLD]}"',
        )
        # Every account is in an account key's scope: each named literally.
        await choose_context(pilot, app.screen, "account_key")
        await pilot.press("ctrl+r")
        await settle(pilot)
        await settle(pilot)
        check(
            app,
            "7 records (every account), 0 errors",
            f"chat:{SHOWN[CLICK]} (Ann in chat [link=",
            f"chat:c2 (Ghost {SHOWN[TITLE_OSC]})",
        )

        # A string literal holding markup, typed in the editor.
        await pilot.press("ctrl+a", "delete", *'"[/] " + account.displayName')
        await settle(pilot)
        check(app, '"[/] ')

        # The record picker, with markup typed into its search.
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, RecordPicker)
        await pilot.press(*"[/]")
        await settle(pilot)
        check(app, "[/]")
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running
        await open_help(pilot, "CEL playground")


async def test_error_dialog_and_toasts_are_plain_text(hostile: Any) -> None:
    app = RosterApp(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.show_error(f"Loading {DEPARTMENT}", RuntimeError(f"boom {CLOSE} {TITLE_OSC}"))
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal)
        check(app, f"Loading {SHOWN[DEPARTMENT]} failed", f"boom [/] {SHOWN[TITLE_OSC]}")
        # A second error while the dialog is open becomes a toast: plain text too.
        app.show_error("Again", RuntimeError(f"{LINK} {CLEAR}"))
        await pilot.pause()
        toast = toasts(app)[-1]
        assert toast.markup is False
        assert toast.title == "Again failed"
        assert toast.message == f"RuntimeError: {SHOWN[LINK]} {SHOWN[CLEAR]}"
        await pilot.press("escape")
        await pilot.pause()
        app.notify(f"{BOLD}\n{NUL}", title=f"{CLICK}\x1b[2J")
        await pilot.pause()
        toast = toasts(app)[-1]
        assert toast.markup is False
        assert toast.message == f"{SHOWN[BOLD]}\n{SHOWN[NUL]}"
        assert toast.title == f"{SHOWN[CLICK]}\\x1b[2J"
        check(app, SHOWN[BOLD])  # the toast is on screen, as typed


async def test_palette_commands_open_screens_with_hostile_data(hostile: Any) -> None:
    app = RosterApp(hostile)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await palette_choose(pilot, "Go to Users")
        await settle(pilot)
        assert app.current_mode == "users"
        check(app, SHOWN[BOLD])


# An unexpected error ends the console with a short report, never status 0 ----------------------


class Boom(Exception):
    pass


async def test_unexpected_error_ends_with_status_1_and_a_short_report(
    hostile: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crashes = tmp_path / "crashes"
    app = RosterApp(hostile, crash_dir=crashes)

    def explode() -> None:
        raise Boom(f"secret {TITLE_OSC} ann@example.com")

    with pytest.raises(Boom):
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.call_later(explode)
            await pilot.pause()
            await pilot.pause()
    assert app.return_code == 1
    report = app.crash_report
    assert report is not None and report.parent == crashes
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    details = report.read_text()
    assert "Boom" in details and "explode" in details  # the traceback, for a bug report
    shown = app.crash_text
    assert shown is not None
    assert "Boom" in shown.plain and str(report) in shown.plain
    assert "the Dashboard screen" in shown.plain
    assert "secret" not in shown.plain and "ann@example.com" not in shown.plain
    printed = capsys.readouterr().err  # what the terminal gets after the console closes
    assert "Roster stopped: an unexpected error (Boom)" in printed
    assert "Traceback" not in printed and "secret" not in printed
    assert "ann@example.com" not in printed and "\x1b]0;pwned" not in printed


async def test_pasted_control_characters_become_visible_escapes(hostile: Any) -> None:
    """A search field and the CEL editor keep a pasted escape sequence as its visible text."""
    app = RosterApp(hostile, start="users")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        search = app.screen.query_one("#users-search", Input)
        await pilot.press("a")
        search._on_paste(events.Paste(CLEAR))
        await settle(pilot)
        assert search.value == "a" + SHOWN[CLEAR]
        check(app, "a" + SHOWN[CLEAR])

        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("9")
        await settle(pilot)
        editor = app.screen.query_one(CelEditor)
        editor.text = f'"{TITLE_OSC}"'  # as a saved expression would load
        await settle(pilot)
        assert editor.text == '"Chief \\x1b]0;pwned\\x07Officer"'
        editor.text_area.insert(OVERRIDE)  # as a paste would insert
        await settle(pilot)
        assert editor.text.endswith(SHOWN[OVERRIDE])
        check(app, "Chief \\x1b]0;pwned\\x07Officer")


@pytest.mark.parametrize("keys", [("ctrl+p",), ("f2",)])
async def test_the_command_palettes_search_keeps_pasted_controls_visible(
    hostile: Any, keys: tuple[str, ...]
) -> None:
    """Textual's palette field drew a pasted bidi override (and an escape sequence) raw
    (hostile review): both palettes' fields hold visible text, and still find commands."""
    from textual.command import CommandInput, CommandPalette

    app = RosterApp(hostile, start="users")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("escape", *keys)
        await settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        field = app.screen.query_one(CommandInput)
        field._on_paste(events.Paste(f"ab{OVERRIDE}{CLEAR}"))
        await settle(pilot)
        assert field.value == f"ab{SHOWN[OVERRIDE]}{SHOWN[CLEAR]}"
        assert "\x1b" not in field.value and "\\x1b" in screen_text(app)
        assert "\u202e" not in screen_text(app)
        field.value = ""
        await pilot.press(*"users")
        await settle(pilot)
        assert "Users" in screen_text(app)


async def test_merge_rules_screen_rules_matrix_editor_and_accounts(hostile: Any) -> None:
    from screens.merge_rules import MergeRulesScreen
    from screens.modals.match_rule import MatchRuleModal
    from screens.modals.matrix_accounts import MatrixAccountsModal

    app = RosterApp(hostile, start="merge")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MergeRulesScreen)
        # the rule named `[/]`, the apps' names with markup
        check(app, f"1. {SHOWN[CLOSE]}", f"HR {SHOWN[DEPARTMENT]}", f"Chat {SHOWN[BOLD]}")
        check(app, f"AD {SHOWN[CLICK]}", "Match matrix · hr")
        # its editor, with the name as typed
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MatchRuleModal)
        assert app.screen.query_one("#rule-name", Input).value == CLOSE
        check(app)
        await pilot.press("escape")
        await pilot.pause()
        # every unowned account: chat's ghost, its name with an escape sequence
        await pilot.press("u")
        await settle(pilot)
        assert isinstance(app.screen, MatrixAccountsModal)
        check(app, "chat:c2", f"Ghost {SHOWN[TITLE_OSC]}")
        await pilot.press("escape")
        await pilot.pause()
        await open_help(pilot, "Merge rules")
