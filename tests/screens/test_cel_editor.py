"""The CEL editor widget: colours, completion, debounced changes and the problem view."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import App, ComposeResult

from screens.widgets.cel_editor import CEL_STYLES, CelEditor
from screens.widgets.cel_syntax import complete, tokenize_line
from tests.screens.helpers import wait_until


@dataclass
class Names:
    variables: list[str] = field(default_factory=lambda: ["subject", "user"])
    fields: dict[str, list[str]] = field(
        default_factory=lambda: {
            "user": ["department", "displayName", "email", "profile", "attributes"],
            "account": ["appId", "email", "profile"],
        }
    )
    functions: list[str] = field(
        default_factory=lambda: [
            "c1.user.v1.HasApp",
            "c1.directory.users.v1.FindByEmail",
            "lowerAscii",
            "trim",
            "UserStatus.ENABLED",
        ]
    )
    profile_keys: dict[str, list[str]] = field(
        default_factory=lambda: {"user": ["costCenter", "location"], "account": ["extAttr1"]}
    )
    field_aliases: dict[str, list[str]] = field(
        default_factory=lambda: {"user": ["display_name", "first_name"], "account": []}
    )


def kinds(line: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize_line(line, frozenset({"subject"}))]


def test_tokens_cover_cel_syntax() -> None:
    assert kinds('subject.email.lowerAscii() == "a@b" && 1.5 > 2 // note') == [
        ("variable", "subject"),
        ("punctuation", "."),
        ("field", "email"),
        ("punctuation", "."),
        ("function", "lowerAscii"),
        ("punctuation", "("),
        ("punctuation", ")"),
        ("operator", "=="),
        ("string", '"a@b"'),
        ("operator", "&&"),
        ("number", "1.5"),
        ("operator", ">"),
        ("number", "2"),
        ("comment", "// note"),
    ]
    assert kinds("x in [true, null]")[1:4] == [
        ("keyword", "in"),
        ("punctuation", "["),
        ("constant", "true"),
    ]
    assert kinds("'unterminated")[0] == ("string", "'unterminated")


def test_completion_of_variables_fields_keys_and_functions() -> None:
    names = Names()
    top = complete("su", names)
    assert top is not None and [c.text for c in top.candidates] == ["subject"]
    assert top.start == 0

    fields = complete("subject.de", names, subject_kind="user")
    assert fields is not None and [c.text for c in fields.candidates] == ["department"]
    assert fields.start == len("subject.")

    accounts = complete("subject.", names, subject_kind="account")
    assert accounts is not None and [c.text for c in accounts.candidates] == [
        "appId",
        "email",
        "profile",
    ]

    keys = complete("subject.profile.", names, subject_kind="user")
    assert keys is not None and {c.text for c in keys.candidates} == {"costCenter", "location"}

    dotted = complete("c1.us", names)
    assert dotted is not None and [c.text for c in dotted.candidates] == ["user.v1.HasApp("]

    methods = complete("subject.email.lo", names)
    assert methods is not None and [c.text for c in methods.candidates] == ["lowerAscii("]

    constant = complete("UserStatus.E", names)
    assert constant is not None and [c.text for c in constant.candidates] == ["ENABLED"]

    names.variables = ["subject", "accounts"]
    bound = complete("accounts.exists(a, a.em", names)
    assert bound is not None and [c.text for c in bound.candidates] == ["email"]
    names.variables = ["subject", "user"]

    # a field is offered by its own name; its other names only for what no own name starts
    assert [c.text for c in complete("subject.dis", names, subject_kind="user").candidates] == [
        "displayName"
    ]
    assert [c.text for c in complete("subject.fi", names, subject_kind="user").candidates] == [
        "first_name"
    ]
    assert [
        c.text for c in complete("subject.display_", names, subject_kind="user").candidates
    ] == ["display_name"]

    assert complete('"subject.de', names) is None  # inside a string
    assert complete("subject", names) is None  # already complete
    assert complete("zzz", names) is None


class EditorApp(App[None]):
    def __init__(self, debounce: float = 0.15) -> None:
        super().__init__()
        self.changes: list[str] = []
        self.debounce = debounce

    def compose(self) -> ComposeResult:
        yield CelEditor(
            completions=Names(), subject_kind="user", debounce=self.debounce, id="editor"
        )

    def on_mount(self) -> None:
        self.query_one(CelEditor).focus()

    def on_cel_editor_changed(self, message: CelEditor.Changed) -> None:
        self.changes.append(message.text)


async def test_typing_completes_and_accepts_with_tab_and_enter() -> None:
    app = EditorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one(CelEditor)

        async def list_opens() -> None:
            await wait_until(pilot, lambda: editor.completion_open, "the completion list")

        await pilot.press("s", "u")
        await list_opens()
        await pilot.press("tab")
        assert editor.text == "subject"
        assert not editor.completion_open
        await pilot.press(".", "d")
        await list_opens()
        await pilot.press("down", "enter")  # department, displayName: take the second
        assert editor.text == "subject.displayName"
        await pilot.press(".", "l", "o")
        await list_opens()
        await pilot.press("escape")
        assert not editor.completion_open
        await pilot.press("enter")  # no list open: enter is a new line again
        assert editor.text == "subject.displayName.lo\n"


async def test_the_list_opens_after_a_pause_and_narrows_or_closes_at_once() -> None:
    # Opening the list lays the screen out, so a word typed in one go never opens it; once
    # open, the next keys narrow it (or close it) at once, and ctrl+space opens it at once.
    app = EditorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one(CelEditor)
        editor.completion_delay = 2.0  # longer than any pause between two presses here
        await pilot.press(*"subject.d")
        assert not editor.completion_open
        await pilot.press("ctrl+space")
        assert editor.completion_open
        shown = editor.completion_list.candidates
        assert [c.text for c in shown] == ["department", "displayName"]
        await pilot.press("i")
        assert editor.completion_open
        assert [c.text for c in editor.completion_list.candidates] == ["displayName"]
        await pilot.press(" ")
        assert not editor.completion_open
        await pilot.press("s")
        assert not editor.completion_open  # typing on: the delay has not passed
        editor.completion_delay = 0.05
        await pilot.press("u")
        await wait_until(pilot, lambda: editor.completion_open, "the list after a pause")
        assert [c.text for c in editor.completion_list.candidates] == ["subject"]


async def test_changed_is_debounced() -> None:
    # a long interval, so a busy machine typing slowly cannot fire it between keys
    app = EditorApp(debounce=2.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"1 + 2")
        assert app.changes == []  # still typing
        await wait_until(pilot, lambda: app.changes != [], "the debounced change", timeout=10)
        assert app.changes == ["1 + 2"]  # one message for the whole burst of keys


async def test_problem_is_shown_under_the_text_and_cleared() -> None:
    from engine.errors import Problem

    app = EditorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one(CelEditor)
        editor.text = "subject.departmnt"
        problem = Problem(
            "unknown field `departmnt`", line=1, column=9, hint="did you mean `department`?"
        )
        editor.show_problem(problem, "subject.departmnt\n        ^")
        await pilot.pause()
        assert "line 1, column 9" in editor.problem_text
        assert "did you mean `department`?" in editor.problem_text
        assert editor.problem_view.display and editor.problem_view.region.height >= 4
        assert editor.text_area.error_location == (0, 8)
        editor.clear_problem()
        await pilot.pause()
        assert editor.problem_text == ""
        assert editor.problem_view.region.height == 0


async def test_colours_are_applied_to_the_line() -> None:
    app = EditorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one(CelEditor)
        editor.text = 'subject.email == "x" // c'
        await pilot.pause()
        line = editor.text_area.get_line(0)
        styles = {line.plain[span.start : span.end]: span.style for span in line.spans}
        assert styles['"x"'] == CEL_STYLES["string"]
        assert styles["subject"] == CEL_STYLES["variable"]
        assert styles["// c"] == CEL_STYLES["comment"]


async def test_up_and_down_move_the_cursor_when_no_list_is_open() -> None:
    # The completion keys replace TextArea's own up/down bindings: with no list open they
    # must still move between the lines of a multi-line expression.
    app = EditorApp()
    async with app.run_test(size=(80, 24)) as pilot:
        editor = app.query_one(CelEditor)
        editor.text = "1 +\n2 +\n3"
        editor.text_area.move_cursor((2, 1))
        await pilot.press("up", "up")
        assert editor.text_area.cursor_location == (0, 1)
        await pilot.press("down")
        assert editor.text_area.cursor_location == (1, 1)
        assert not editor.completion_open
