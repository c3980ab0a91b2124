"""The CEL editor every CEL field in the console uses.

A TextArea with CEL colours, completion of variables, fields, functions and profile keys, a
debounced `CelEditor.Changed` message for live previews, and the current problem shown under the
text. The widget never calls the engine: the screen hands it `Completions` and problems.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.geometry import Offset
from textual.message import Message
from textual.timer import Timer
from textual.widgets import OptionList, Static, TextArea
from textual.widgets.option_list import Option
from textual.widgets.text_area import Edit, EditResult

from engine.text import printable
from screens.text import plain, safe
from screens.widgets.cel_syntax import (
    COMMENT,
    CONSTANT,
    FIELD,
    FUNCTION,
    KEYWORD,
    NUMBER,
    OPERATOR,
    STRING,
    VARIABLE,
    CompletionRequest,
    CompletionSource,
    complete,
    tokenize_line,
)

if TYPE_CHECKING:
    from engine.errors import Problem

# Colours chosen to stay distinct when Textual reduces them to the 256-colour palette.
CEL_STYLES: dict[str, Style] = {
    STRING: Style(color="#d7875f"),
    NUMBER: Style(color="#afd787"),
    KEYWORD: Style(color="#d787d7", bold=True),
    CONSTANT: Style(color="#5fafd7", italic=True),
    OPERATOR: Style(color="#d7d7af"),
    FUNCTION: Style(color="#ffd75f"),
    VARIABLE: Style(color="#87d7ff", bold=True),
    FIELD: Style(color="#87d7af"),
    COMMENT: Style(color="#808080", italic=True),
}
ERROR_STYLE = Style(underline=True, color="#ff5f5f", bold=True)

DEBOUNCE_SECONDS = 0.15


def editable_text(text: str) -> str:
    """`text` with line breaks normalised and every other control character as its escape."""
    if not text.isprintable():
        text = printable(text.replace("\r\n", "\n").replace("\r", "\n"), None)
    return text


class CelTextArea(TextArea):
    """The text part: CEL colours and the keys that drive completion."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "accept_completion", "Accept", show=False, priority=True),
        Binding("enter", "accept_completion", "Accept", show=False, priority=True),
        Binding("escape", "dismiss_completion", "Close list", show=False, priority=True),
        Binding("down", "completion_down", "Next", show=False, priority=True),
        Binding("up", "completion_up", "Previous", show=False, priority=True),
        Binding("ctrl+space,ctrl+@", "show_completion", "Complete", show=False),
    ]

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("placeholder", "Type a CEL expression; tab completes names")
        # The cursor-line style would paint over the CEL colours of the line being typed.
        kwargs.setdefault("highlight_cursor_line", False)
        super().__init__(editable_text(text), soft_wrap=True, tab_behavior="focus", **kwargs)
        self.variables: frozenset[str] = frozenset()
        self.error_location: tuple[int, int] | None = None  # (row, column), 0-based

    # A control character (pasted, or in a saved expression) would reach the terminal as it
    # is: the editor holds its CEL escape instead (`\x1b`, `\u202e`), which means the same
    # inside a string literal and is an error the admin can see anywhere else.

    def load_text(self, text: str) -> None:
        super().load_text(editable_text(text))

    def edit(self, edit: Edit) -> EditResult:
        text = editable_text(edit.text)
        if text != edit.text:
            edit = Edit(text, edit.from_location, edit.to_location, edit.maintain_selection_offset)
        return super().edit(edit)

    @property
    def editor(self) -> CelEditor:
        parent = self.parent
        assert isinstance(parent, CelEditor)
        return parent

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        for token in tokenize_line(line.plain, self.variables):
            style = CEL_STYLES.get(token.kind)
            if style is not None:
                line.stylize(style, token.start, token.end)
        if self.error_location is not None and self.error_location[0] == line_index:
            column = min(self.error_location[1], max(len(line.plain) - 1, 0))
            line.stylize(ERROR_STYLE, column, column + 1)
        return line

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {
            "accept_completion",
            "dismiss_completion",
            "completion_down",
            "completion_up",
        }:
            return self.editor.completion_open
        return True

    def action_accept_completion(self) -> None:
        self.editor.accept_completion()

    def action_dismiss_completion(self) -> None:
        self.editor.hide_completion()

    def action_completion_down(self) -> None:
        self.editor.completion_list.action_cursor_down()

    def action_completion_up(self) -> None:
        self.editor.completion_list.action_cursor_up()

    def action_show_completion(self) -> None:
        self.editor.update_completion(force=True)


class CompletionList(OptionList, can_focus=False):
    """The dropdown under the cursor. It never takes the focus; the text area drives it."""

    DEFAULT_CSS = """
    CompletionList {
        overlay: screen;
        constrain: inside inflect;
        width: auto;
        min-width: 24;
        max-width: 60;
        height: auto;
        max-height: 8;
        border: none;
        padding: 0;
        background: $panel;
        display: none;
        & > .option-list--option-highlighted { background: $accent; }
    }
    """


class CelEditor(Vertical):
    """A CEL expression editor: text with colours, completion, and the problem under it."""

    DEFAULT_CSS = """
    CelEditor {
        height: auto;
        & > CelTextArea {
            height: auto;
            min-height: 3;
            max-height: 10;
        }
        & > .cel-editor--problem {
            display: none;
            height: auto;
            padding: 0 1;
            color: $text-error;
        }
        & > .cel-editor--problem.-warning { color: $text-warning; }
        & > .cel-editor--problem.-visible { display: block; }
    }
    """

    class Changed(Message):
        """The text changed and stayed unchanged for the debounce interval."""

        def __init__(self, editor: CelEditor, text: str) -> None:
            super().__init__()
            self.editor = editor
            self.text = text

        @property
        def control(self) -> CelEditor:
            return self.editor

    def __init__(
        self,
        text: str = "",
        *,
        completions: CompletionSource | None = None,
        subject_kind: str = "user",
        debounce: float = DEBOUNCE_SECONDS,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.debounce = debounce
        self._initial_text = text
        self._completions = completions
        self.subject_kind = subject_kind
        self._debounce: Timer | None = None
        self._request: CompletionRequest | None = None
        self._suppress_completion = False
        self._problem_text = ""

    def compose(self) -> ComposeResult:
        area = CelTextArea(self._initial_text, classes="cel-editor--text")
        if self._completions is not None:
            area.variables = frozenset(self._completions.variables)
        yield area
        yield CompletionList(classes="cel-editor--completion")
        yield Static("", classes="cel-editor--problem", markup=False)

    # Public API -----------------------------------------------------------------------------

    @property
    def text_area(self) -> CelTextArea:
        return self.query_one(CelTextArea)

    @property
    def completion_list(self) -> CompletionList:
        return self.query_one(CompletionList)

    @property
    def problem_view(self) -> Static:
        return self.query_one(".cel-editor--problem", Static)

    @property
    def text(self) -> str:
        return self.text_area.text

    @text.setter
    def text(self, value: str) -> None:
        self._suppress_completion = True
        self.text_area.load_text(value)
        self.text_area.move_cursor(self.text_area.document.end)

    @property
    def completion_open(self) -> bool:
        return self.is_mounted and self.completion_list.display

    def set_completions(self, completions: CompletionSource | None, subject_kind: str) -> None:
        """Use these names for completion (from `Services.completions(context)`)."""
        self._completions = completions
        self.subject_kind = subject_kind
        if completions is not None:
            self.text_area.variables = frozenset(completions.variables)
            self.text_area.refresh()
        self.hide_completion()

    def focus(self, scroll_visible: bool = True) -> CelEditor:
        self.text_area.focus(scroll_visible)
        return self

    def show_problem(self, problem: Problem, caret: str = "") -> None:
        """Show a problem under the text: where, what, the caret line and the hint."""
        where = ""
        if problem.line is not None:
            where = f"line {problem.line}"
            if problem.column is not None:
                where += f", column {problem.column}"
        label = "Warning" if problem.severity == "warning" else "Error"
        lines = [f"{label}{' at ' + where if where else ''}: {problem.message}"]
        if caret:
            lines += ["  " + part for part in caret.rstrip("\n").splitlines()]
        if problem.hint:
            lines.append(f"Hint: {problem.hint}")
        view = self.problem_view
        self._problem_text = "\n".join(lines)
        view.update(plain(self._problem_text, lines=True))
        view.set_class(problem.severity == "warning", "-warning")
        view.add_class("-visible")
        if problem.severity != "warning" and problem.line is not None:
            self.text_area.error_location = (problem.line - 1, max((problem.column or 1) - 1, 0))
        else:
            self.text_area.error_location = None
        self.text_area.refresh()

    def clear_problem(self) -> None:
        view = self.problem_view
        self._problem_text = ""
        view.update("")
        view.remove_class("-visible", "-warning")
        if self.text_area.error_location is not None:
            self.text_area.error_location = None
            self.text_area.refresh()

    @property
    def problem_text(self) -> str:
        """The problem as shown (empty when there is none)."""
        return self._problem_text

    # Changes and completion -------------------------------------------------------------------

    @on(TextArea.Changed, ".cel-editor--text")
    def _text_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(self.debounce, self._post_changed)
        if self._suppress_completion:
            self._suppress_completion = False
            self.hide_completion()
        else:
            self.update_completion()

    def _post_changed(self) -> None:
        self._debounce = None
        self.post_message(self.Changed(self, self.text))

    @on(TextArea.SelectionChanged, ".cel-editor--text")
    def _selection_changed(self, event: TextArea.SelectionChanged) -> None:
        event.stop()
        if self._request is None:
            return
        row, column = event.selection.end
        if event.selection.start != event.selection.end or column < self._request.start:
            self.hide_completion()
        else:
            self._place_completion()

    def update_completion(self, force: bool = False) -> None:
        """Show what fits at the cursor, or hide the list when nothing does."""
        area = self.text_area
        if self._completions is None or not area.has_focus:
            self.hide_completion()
            return
        row, column = area.cursor_location
        prefix = area.document.get_line(row)[:column]
        if not force and not prefix[-1:].isalnum() and prefix[-1:] not in {"_", "."}:
            self.hide_completion()
            return
        before = area.get_text_range((0, 0), (row, column))
        request = complete(prefix, self._completions, self.subject_kind, text_before=before)
        if request is None:
            self.hide_completion()
            return
        self._request = request
        options = self.completion_list
        options.clear_options()
        for candidate in request.candidates:
            label = Text.assemble(
                (safe(candidate.label, 80), "bold" if candidate.kind == "variable" else ""),
                ("  " + safe(candidate.kind), "dim"),
            )
            options.add_option(Option(label, id=candidate.text))
        options.highlighted = 0
        options.display = True
        self._place_completion()
        area.refresh_bindings()

    def _place_completion(self) -> None:
        if self._request is None:
            return
        area = self.text_area
        cursor = area.cursor_screen_offset
        start_x = cursor.x - (area.cursor_location[1] - self._request.start)
        self.completion_list.absolute_offset = Offset(max(start_x - 1, 0), cursor.y + 1)
        self.completion_list.refresh(layout=True)

    def hide_completion(self) -> None:
        self._request = None
        if self.is_mounted and self.completion_list.display:
            self.completion_list.display = False
            self.text_area.refresh_bindings()

    def accept_completion(self) -> None:
        request = self._request
        options = self.completion_list
        if request is None or options.highlighted is None:
            self.hide_completion()
            return
        option = options.get_option_at_index(options.highlighted)
        insert = option.id or ""
        area = self.text_area
        row, column = area.cursor_location
        self.hide_completion()
        area.replace(insert, (row, request.start), (row, column), maintain_selection_offset=False)

    @on(OptionList.OptionSelected, ".cel-editor--completion")
    def _option_clicked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.accept_completion()

    def on_descendant_blur(self) -> None:
        self.hide_completion()
