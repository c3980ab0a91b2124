"""The CEL editor every CEL field in the console uses.

A TextArea with CEL colours, completion of variables, fields, functions and profile keys, a
debounced `CelEditor.Changed` message for live previews, and the current problem shown under the
text. The widget never calls the engine: the screen hands it `Completions` and problems.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.scalar import Scalar
from textual.geometry import Offset, Size
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static, TextArea
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
    Candidate,
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
BOLD = Style(bold=True)

DEBOUNCE_SECONDS = 0.15
COMPLETION_DELAY_SECONDS = 0.1  # a pause in typing this long opens the completion list
COMPLETION_ROWS = 8  # the completion list's height when it has more candidates


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
        # up/down are not here: these bindings replace TextArea's own for the same keys, so
        # their actions move the cursor themselves when the list is closed.
        if action in {"accept_completion", "dismiss_completion"}:
            return self.editor.completion_open
        return True

    def action_accept_completion(self) -> None:
        self.editor.accept_completion()

    def action_dismiss_completion(self) -> None:
        self.editor.hide_completion()

    def action_completion_down(self) -> None:
        if self.editor.completion_open:
            self.editor.completion_list.action_cursor_down()
        else:
            self.action_cursor_down()

    def action_completion_up(self) -> None:
        if self.editor.completion_open:
            self.editor.completion_list.action_cursor_up()
        else:
            self.action_cursor_up()

    def action_show_completion(self) -> None:
        self.editor.update_completion(force=True)


class CompletionList(Widget, can_focus=False):
    """The dropdown under the cursor. It never takes the focus; the text area drives it.

    Drawn line by line from the candidates (no widget or layout per option), so narrowing the
    list while typing only repaints its few rows."""

    DEFAULT_CSS = """
    CompletionList {
        overlay: screen;
        constrain: inside inflect;
        width: 24;
        height: 8;
        background: $panel;
        display: none;
        & > .completion-list--highlighted { background: $accent; }
        & > .completion-list--kind { text-style: dim; }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "completion-list--highlighted",
        "completion-list--kind",
    }

    class Chosen(Message):
        """A candidate was clicked."""

        def __init__(self, completion_list: CompletionList) -> None:
            super().__init__()
            self.completion_list = completion_list

        @property
        def control(self) -> CompletionList:
            return self.completion_list

    def __init__(self, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.candidates: tuple[Candidate, ...] = ()
        self.highlighted = 0
        self._top = 0  # the first candidate shown

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        # Opening the list lays the screen out once; Textual would then lay it out a second
        # time because the list's (unscrolled) virtual size changed with its size. Nothing
        # depends on that size, so record it without a second layout.
        return super()._size_updated(size, virtual_size, container_size, layout=False)

    def set_candidates(self, candidates: tuple[Candidate, ...]) -> None:
        self.candidates = candidates
        self.highlighted = 0
        self._top = 0
        self.refresh()

    @property
    def highlighted_candidate(self) -> Candidate | None:
        if 0 <= self.highlighted < len(self.candidates):
            return self.candidates[self.highlighted]
        return None

    def _move(self, step: int) -> None:
        if not self.candidates:
            return
        self.highlighted = (self.highlighted + step) % len(self.candidates)
        rows = max(self.size.height, 1)
        if self.highlighted < self._top:
            self._top = self.highlighted
        elif self.highlighted >= self._top + rows:
            self._top = self.highlighted - rows + 1
        self.refresh()

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        index = self._top + y
        if index >= len(self.candidates):
            return Strip.blank(width, base)
        candidate = self.candidates[index]
        style = base
        if index == self.highlighted:
            style = base + self.get_component_rich_style("completion-list--highlighted")
        kind_style = style + self.get_component_rich_style("completion-list--kind", partial=True)
        label = safe(candidate.label, 80)
        kind = "  " + safe(candidate.kind)
        segments = [
            Segment(" ", style),
            Segment(label, style + BOLD if candidate.kind == "variable" else style),
            Segment(kind, kind_style),
        ]
        return Strip(segments).adjust_cell_length(width, style)

    def on_click(self, event: events.Click) -> None:
        index = self._top + event.y
        if 0 <= index < len(self.candidates):
            self.highlighted = index
            self.post_message(self.Chosen(self))


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
        completion_delay: float = COMPLETION_DELAY_SECONDS,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.debounce = debounce
        self._initial_text = text
        self._completions = completions
        self.subject_kind = subject_kind
        self._debounce: Timer | None = None
        self.completion_delay = completion_delay
        self._completion_timer: Timer | None = None
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
        # One line: ready to extend it. Several: show the expression from its first line,
        # where a saved rule's main condition usually is.
        multi_line = self.text_area.document.line_count > 1
        self.text_area.move_cursor((0, 0) if multi_line else self.text_area.document.end)

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
        if self._completion_timer is not None:
            self._completion_timer.stop()
            self._completion_timer = None
        if self._suppress_completion:
            self._suppress_completion = False
            self.hide_completion()
        elif self.completion_open:
            self.update_completion()  # narrow (a repaint) or close the list at once
        else:
            # Opening the list lays the screen out: wait for a pause in typing, so a word
            # typed in one go costs no layout at all (ctrl+space opens it at once).
            self._completion_timer = self.set_timer(
                self.completion_delay, self._open_completion_after_pause
            )

    def _open_completion_after_pause(self) -> None:
        self._completion_timer = None
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
        """Show what fits at the cursor, or hide the list when nothing does.

        Runs on every key, so it changes only what differs: the options when the candidates
        changed, the list's size and place when they must move (each of those lays the screen
        out again). The completion keys are not in the footer, and whether they act is asked when
        a key is pressed, so opening and closing the list does not redraw the footer."""
        area = self.text_area
        if self._completions is None or not area.has_focus:
            self.hide_completion()
            return
        row, column = area.cursor_location
        prefix = area.document.get_line(row)[:column]
        if not force and not prefix[-1:].isalnum() and prefix[-1:] not in {"_", "."}:
            self.hide_completion()
            return
        before = area.get_text_range((0, 0), (row, column)) if row else prefix
        request = complete(prefix, self._completions, self.subject_kind, text_before=before)
        if request is None:
            self.hide_completion()
            return
        previous = self._request
        self._request = request
        options = self.completion_list
        if previous is None or previous.candidates != request.candidates:
            options.set_candidates(request.candidates)
        if previous is None or previous.start != request.start:
            # a new word: size the list for its candidates (narrowing them keeps the size)
            widest = max(len(c.label) + 2 + len(c.kind) for c in request.candidates)
            self._set_completion_size(min(max(widest + 2, 24), 60), len(request.candidates))
        elif len(request.candidates) < len(previous.candidates):
            self._set_completion_size(None, len(request.candidates))
        self._place_completion()
        options.display = True

    def _set_completion_size(self, width: int | None, count: int) -> None:
        styles = self.completion_list.styles
        if width is not None and styles.width != Scalar.from_number(width):
            styles.width = width
        height = min(count, COMPLETION_ROWS)
        if styles.height != Scalar.from_number(height):
            styles.height = height

    def _place_completion(self) -> None:
        if self._request is None:
            return
        area = self.text_area
        cursor = area.cursor_screen_offset
        start_x = cursor.x - (area.cursor_location[1] - self._request.start)
        offset = Offset(max(start_x - 1, 0), cursor.y + 1)
        options = self.completion_list
        if options.absolute_offset != offset:
            options.absolute_offset = offset
            options.refresh(layout=True)

    def hide_completion(self) -> None:
        self._request = None
        if self.is_mounted and self.completion_list.display:
            self.completion_list.display = False

    def accept_completion(self) -> None:
        request = self._request
        candidate = self.completion_list.highlighted_candidate
        if request is None or candidate is None:
            self.hide_completion()
            return
        insert = candidate.text
        area = self.text_area
        row, column = area.cursor_location
        self.hide_completion()
        area.replace(insert, (row, request.start), (row, column), maintain_selection_offset=False)

    @on(CompletionList.Chosen, ".cel-editor--completion")
    def _option_clicked(self, event: CompletionList.Chosen) -> None:
        event.stop()
        self.accept_completion()

    def on_descendant_blur(self) -> None:
        if self._completion_timer is not None:
            self._completion_timer.stop()
            self._completion_timer = None
        self.hide_completion()
