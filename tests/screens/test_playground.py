"""CEL playground over the real sample store, driven by keys."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import pytest
from textual.widgets import Input, Select, Static

from console.app import RosterApp
from screens.modals.record_picker import RecordPicker
from screens.playground import PlaygroundScreen
from screens.widgets.cel_editor import CelTextArea
from tests.screens.helpers import settle, shown


async def open_playground(pilot: Any) -> PlaygroundScreen:
    await pilot.pause()
    await pilot.press("9")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, PlaygroundScreen)
    return screen


async def choose_context(pilot: Any, screen: PlaygroundScreen, name: str) -> None:
    """Pick a context from the list the way an admin does: ctrl+t, arrows, enter."""
    if screen.context == name:
        return
    await pilot.press("ctrl+t")
    await pilot.pause()
    index = list(screen.contexts).index(name)
    await pilot.press("home", *(["down"] * index), "enter")
    await settle(pilot)
    assert screen.context == name
    assert screen.query_one("#context", Select).value == name
    assert isinstance(pilot.app.focused, CelTextArea)  # back to typing


async def type_expression(pilot: Any, screen: PlaygroundScreen, text: str) -> None:
    screen.editor.text = ""
    await pilot.pause()
    for character in text:
        await pilot.press("space" if character == " " else character)
    # A typed `.` opens completion; escape closes it so the text stays exactly as typed.
    if screen.editor.completion_open:
        await pilot.press("escape")
    assert screen.editor.text == text
    await settle(pilot)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_value_and_type_follow_typing(services: Any, size: tuple[int, int]) -> None:
    app = RosterApp(services)
    async with app.run_test(size=size) as pilot:
        screen = await open_playground(pilot)
        assert isinstance(app.focused, CelTextArea)  # the editor has the focus on open
        await choose_context(pilot, screen, "user_key")
        assert screen.record is not None and screen.record.kind == "user"
        user = services.record(screen.record)
        await type_expression(pilot, screen, "subject.email")
        value = shown(screen.query_one("#value", Static))
        assert f'"{user.email}"' in value
        assert "type string" in value
        assert " ms" in value
        assert screen.editor.problem_text == ""
        # The editor, the value and the population box are all on screen.
        for widget in (
            screen.editor,
            screen.query_one("#value-box"),
            screen.query_one("#population-box"),
        ):
            assert widget.region.height > 0 and widget.region.bottom <= size[1]


async def test_typo_names_the_right_field(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_playground(pilot)
        await choose_context(pilot, screen, "user_key")
        await type_expression(pilot, screen, "subject.departmnt")
        problem = screen.editor.problem_text
        assert "departmnt" in problem
        assert "department" in problem.split("Hint:", 1)[1]
        assert "No value" in shown(screen.query_one("#value", Static))


async def test_syntax_error_shows_line_and_column(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_playground(pilot)
        await choose_context(pilot, screen, "user_key")
        await type_expression(pilot, screen, "subject.email +")
        problem = screen.editor.problem_text
        assert "line 1, column" in problem
        assert "^" in problem  # the caret under the spot
        assert screen.editor.text_area.error_location is not None
        # Fixing it clears the error.
        await pilot.press("space", "quotation_mark", "x", "quotation_mark")
        await settle(pilot)
        assert screen.editor.text == 'subject.email + "x"'
        assert screen.editor.text_area.error_location is None
        assert screen.editor.problem_text == ""


async def test_population_summary(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_playground(pilot)
        await choose_context(pilot, screen, "push_condition")
        await type_expression(pilot, screen, 'subject.employmentStatus == "ACTIVE"')
        await pilot.press("ctrl+r")
        await settle(pilot)
        text = shown(screen.query_one("#population", Static))
        # counted in the store's tables, not by the preview the screen runs
        with closing(sqlite3.connect(services.db.sqlite_path)) as connection:
            statuses = dict(
                connection.execute(
                    "SELECT json_extract(attributes, '$.employment_status') = 'ACTIVE', "
                    "count(*) FROM person WHERE status != 'DELETED' GROUP BY 1"
                ).fetchall()
            )
        total, enabled = sum(statuses.values()), statuses[1]
        # people on leave and the IdP-only contractors are not ACTIVE (sample_data/README.md)
        assert 0 < enabled < total
        assert f"{total:,} records" in text
        assert f"selected {enabled:,}" in text
        assert f"not selected {total - enabled:,}" in text
        assert "Samples:" in text
        assert " ms" in text
        assert not screen.query_one("#population-progress").display
        # Editing marks the summary as belonging to an earlier expression.
        await pilot.press("space")
        await settle(pilot)
        assert "out of date" in str(screen.query_one("#population-box").border_title)


async def test_population_run_can_be_cancelled(services: Any) -> None:
    import threading

    started = threading.Event()
    real = services.preview_all

    def slow_preview_all(
        context: str, text: str, *, progress: Any = None, cancelled: Any = None
    ) -> Any:
        started.set()
        for _ in range(200):  # at most 10 s; the test cancels long before
            if cancelled is not None and cancelled():
                break
            threading.Event().wait(0.05)
        return real(context, text, progress=progress, cancelled=cancelled)

    services.preview_all = slow_preview_all
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_playground(pilot)
        await type_expression(pilot, screen, "true")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert started.wait(5)
        assert screen.population_running
        assert screen.query_one("#population-progress").display
        await pilot.press("escape")
        await pilot.pause()
        assert not screen.population_running
        assert "Cancelled" in shown(screen.query_one("#population", Static))
        await settle(pilot)
        assert "Cancelled" in shown(screen.query_one("#population", Static))


async def test_switching_context_and_record(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_playground(pilot)
        account_context = next(n for n, s in screen.contexts.items() if s.subject_kind == "account")
        await choose_context(pilot, screen, account_context)
        assert screen.record is not None and screen.record.kind == "account"
        info = shown(screen.query_one("#context-info", Static))
        assert "account" in info
        assert str(screen.contexts[account_context].returns) in info

        await choose_context(pilot, screen, "directory_filter")
        # two names of one record say so (a newcomer read them as two records)
        info = shown(screen.query_one("#context-info", Static))
        assert "Variables: account, subject (the same account)" in info

        await choose_context(pilot, screen, "user_key")
        assert screen.record is not None and screen.record.kind == "user"
        assert "user, subject (the same person)" in shown(screen.query_one("#context-info", Static))
        first = screen.record
        await type_expression(pilot, screen, "subject.email")

        # Pick another user by searching for them.
        others = [r for r in services.find_records("user", "", limit=20) if r.id != first.id]
        target = others[-1]
        email = services.record(target).email
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, RecordPicker)
        for character in email:
            await pilot.press(character)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.record is not None and screen.record.id == target.id
        assert email in shown(screen.query_one("#record", Static))
        assert f'"{email}"' in shown(screen.query_one("#value", Static))
        assert isinstance(app.focused, CelTextArea)


async def test_enter_before_the_search_answers_chooses_from_its_answer(
    services: Any, monkeypatch: Any
) -> None:
    """An admin types a name and presses enter at once: the list still shows the earlier
    search's people, and the first of those must not be chosen. The picker says it is still
    searching and chooses the first match when the answer comes."""
    import threading

    gate = threading.Event()
    real = services.find_records
    others = real("user", "", limit=20)
    target = others[-1]
    email = services.record(target).email

    def slow(kind: str, query: str = "", *args: Any, **kwargs: Any) -> Any:
        if query == email:
            gate.wait(10)
        return real(kind, query, *args, **kwargs)

    monkeypatch.setattr(services, "find_records", slow)
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_playground(pilot)
        await choose_context(pilot, screen, "user_key")
        await pilot.press("ctrl+o")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, RecordPicker)
        assert picker.refs and picker.refs[0].id != target.id  # the first list: everyone
        picker.query_one("#record-search", Input).value = email
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is picker  # nothing chosen from the earlier list
        assert "Searching" in shown(picker.query_one("#record-status", Static))
        gate.set()
        await settle(pilot)
        assert app.screen is screen
        assert screen.record is not None and screen.record.id == target.id


def _slow_search(services: Any, monkeypatch: Any) -> Any:
    """Searches that are not for everyone ("") wait until the returned gate is set."""
    import threading

    gate = threading.Event()
    real = services.find_records

    def slow(kind: str, query: str = "", *args: Any, **kwargs: Any) -> Any:
        if query:
            gate.wait(10)
        return real(kind, query, *args, **kwargs)

    monkeypatch.setattr(services, "find_records", slow)
    return gate


async def _open_record_picker(pilot: Any) -> tuple[PlaygroundScreen, RecordPicker]:
    screen = await open_playground(pilot)
    await choose_context(pilot, screen, "user_key")
    await pilot.press("ctrl+o")
    await settle(pilot)
    picker = pilot.app.screen
    assert isinstance(picker, RecordPicker)
    return screen, picker


async def test_a_search_answering_after_the_admin_left_the_picker_chooses_nothing(
    services: Any, monkeypatch: Any
) -> None:
    """Enter while searching, then the command palette or another screen: the answer must not
    close the screen on top (it crashed the console) nor choose for an admin who went on."""
    gate = _slow_search(services, monkeypatch)
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen, picker = await _open_record_picker(pilot)
        before = screen.record
        await pilot.press("s", "a", "m", "enter")
        await pilot.pause()
        await app.switch_mode("dashboard")
        await pilot.pause()
        gate.set()
        await settle(pilot)
        assert app.is_running and app.current_mode == "dashboard"
        await app.switch_mode("playground")
        await settle(pilot)
        assert app.screen is picker and screen.record == before  # nothing chosen meanwhile


async def test_the_list_of_an_earlier_search_is_never_chosen_from(
    services: Any, monkeypatch: Any
) -> None:
    """Down into the list, then enter, before the search answers: the answer's first match
    is chosen, not the row of the earlier list; enter on a list nobody asked for yet waits."""
    gate = _slow_search(services, monkeypatch)
    target = services.find_records("user", "", limit=50)[-1]
    email = services.record(target).email
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen, picker = await _open_record_picker(pilot)
        picker.query_one("#record-search", Input).value = email
        await pilot.pause()
        status = shown(picker.query_one("#record-status", Static))
        assert status == "Searching…"  # not the earlier list's count
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert app.screen is picker
        gate.set()
        await settle(pilot)
        assert app.screen is screen and screen.record is not None
        assert screen.record.id == target.id


async def test_the_cel_context_has_no_record(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_playground(pilot)
        await choose_context(pilot, screen, "cel")
        assert screen.record is None
        assert "none" in shown(screen.query_one("#record", Static))
        screen.editor.text = '[1, 2].map(x, x * 2) + ["a,b".split(",").size()]'
        await settle(pilot)
        value = shown(screen.query_one("#value", Static))
        assert "[2, 4, 2]" in value and "list(int)" in value
        # no record to read: the hint says which contexts have one
        await type_expression(pilot, screen, "subject")
        assert "no record" in screen.editor.problem_text
        assert "push_condition" in screen.editor.problem_text
        # nothing to run over everyone, nothing to choose: said, not silently ignored
        await pilot.press("ctrl+r")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.screen is screen
        messages = [n.message for n in app._notifications]
        assert any("no records" in m for m in messages)
        assert any("no record to choose" in m for m in messages)


async def test_an_evaluation_error_shows_where_it_happened(services: Any) -> None:
    """A runtime error (wrong types for one record) is placed like a syntax error: its line
    and column, the caret under the part that failed, and that spot marked in the text."""
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_playground(pilot)
        await choose_context(pilot, screen, "user_key")
        await type_expression(pilot, screen, 'subject.email + "" + 1')
        problem = screen.editor.problem_text
        # at the second `+`: a string met an int there
        assert problem.startswith(
            "Error at line 1, column 20: no matching overload for string + int"
        ), problem
        assert '(in `subject.email + "" + 1`)' in problem
        assert "^" in problem
        assert screen.editor.text_area.error_location == (0, 19)
        assert "No value" in shown(screen.query_one("#value", Static))
