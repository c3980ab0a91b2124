"""CEL playground: choose a context and a record, type, see the value live.

One record is previewed after every pause in typing; the whole population on demand (ctrl+r),
with progress and cancel (esc).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, ProgressBar, Select, Static
from textual.worker import Worker, get_current_worker

from engine.services import NO_RECORD, format_number, summary_label
from screens.base import RosterScreen
from screens.modals.record_picker import RecordPicker
from screens.text import literal, plain, safe
from screens.widgets.cel_editor import CelEditor

if TYPE_CHECKING:
    from engine.services import (
        Completions,
        ContextSpec,
        OnePreview,
        PopulationPreview,
        RecordRef,
        Services,
    )

SAMPLE_ROWS = 8
VALUE_WIDTH = 200
FIRST_ERRORS = 5


def record_name(record: Any) -> str:
    if isinstance(record, dict):
        for key in ("label", "email", "name", "display_name", "id"):
            if record.get(key):
                return str(record[key])
    return str(record)


class PlaygroundScreen(RosterScreen):
    """Try CEL against the real data of the store."""

    TITLE_TEXT = "CEL playground"
    CSS_PATH = Path(__file__).with_name("playground.tcss")
    AUTO_FOCUS = "CelEditor CelTextArea"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+r",
            "run_population",
            "Run all",
            tooltip="Evaluate the expression for every record in scope",
        ),
        Binding("escape", "cancel_population", "Cancel run", tooltip="Stop the run on all records"),
        Binding(
            "escape",
            "leave_editor",
            "Leave",
            tooltip="Leave the editor (then number keys switch screens)",
        ),
        Binding("ctrl+o", "choose_record", "Record", tooltip="Choose the record to preview"),
        Binding("ctrl+t", "choose_context", "Context", tooltip="Choose the CEL context"),
        Binding("e", "edit", "Edit", tooltip="Put the cursor in the expression"),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("tab / enter", "In the editor: accept the highlighted completion"),
        ("↑ / ↓", "In the editor: move in the completion list"),
        ("esc", "In the editor: close the completion list"),
        ("ctrl+space", "In the editor: show completions at the cursor"),
    ]

    class Setup(Message):
        """Contexts, completions and a first record, loaded in a worker."""

        def __init__(
            self,
            context: str,
            contexts: dict[str, ContextSpec] | None,
            completions: Completions,
            record: RecordRef | None,
        ) -> None:
            super().__init__()
            self.context = context
            self.contexts = contexts
            self.completions = completions
            self.record = record

    class OneReady(Message):
        def __init__(self, text: str, preview: OnePreview) -> None:
            super().__init__()
            self.text = text
            self.preview = preview

    class PopulationProgress(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done = done
            self.total = total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, PlaygroundScreen.PopulationProgress)

    class PopulationReady(Message):
        def __init__(self, text: str, result: PopulationPreview) -> None:
            super().__init__()
            self.text = text
            self.result = result

    def __init__(self, services: Services, *, context: str | None = None, text: str = "") -> None:
        super().__init__(services)
        self.contexts: dict[str, ContextSpec] = {}
        self.context: str | None = context
        self.record: RecordRef | None = None
        self.completions: Completions | None = None
        self.population_running = False
        self._initial_text = text
        self._population_for: tuple[str, str] | None = None  # (context, text) of the result
        self._ready = False

    # Layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="playground-body"):
            with Horizontal(id="playground-pickers"):
                yield Static("Loading contexts…", id="context-loading")
                yield Static("Record: loading…", id="record", markup=False)
            yield Static("", id="context-info")
            editor = CelEditor(self._initial_text, id="editor")
            editor.border_title = "Expression"
            yield editor
            with Vertical(id="value-box") as box:
                box.border_title = "Value for this record"
                yield Static("Type an expression to see its value.", id="value")
            with VerticalScroll(id="population-box") as scroll:
                scroll.border_title = "All records (ctrl+r)"
                yield ProgressBar(id="population-progress", show_eta=False)
                yield Static(
                    "Press ctrl+r to evaluate the expression for every record in scope.",
                    id="population",
                )
        yield Footer()

    @property
    def editor(self) -> CelEditor:
        return self.query_one("#editor", CelEditor)

    def on_mount(self) -> None:
        self.query_one("#population-progress").display = False
        self.editor.focus()
        self.load_setup(self.context, None, with_contexts=True)

    # Loading context, completions, record ----------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="playground-setup",
        exit_on_error=False,
        name="Loading the CEL contexts",
    )
    def load_setup(
        self, context: str | None, current: RecordRef | None, with_contexts: bool = False
    ) -> None:
        contexts = self.services.contexts() if with_contexts else None
        known = contexts if contexts is not None else self.contexts
        if context is None or context not in known:
            context = next(iter(known))
        spec = known[context]
        completions = self.services.completions(context)
        record = current
        if spec.subject_kind == NO_RECORD:
            record = None  # the `cel` context: the language alone
        elif record is None or record.kind != spec.subject_kind:
            record = self.services.first_record(context)  # a filter's: a directory account
        if not get_current_worker().is_cancelled:
            self.post_message(self.Setup(context, contexts, completions, record))

    def on_playground_screen_setup(self, message: PlaygroundScreen.Setup) -> None:
        if message.contexts is not None:
            self.contexts = dict(message.contexts)
            select: Select[str] = Select(
                [(name, name) for name in self.contexts],
                value=message.context,
                allow_blank=False,
                id="context",
            )
            self.query_one("#context-loading").remove()
            self.query_one("#playground-pickers").mount(select, before="#record")
        self.context = message.context
        self.completions = message.completions
        spec = self.contexts[message.context]
        self.editor.set_completions(message.completions, spec.subject_kind)
        self._show_context_info(spec)
        self._set_record(message.record)
        self._ready = True
        self._mark_population_stale()
        self.preview_current()

    def reload(self) -> None:
        # the store changed: fresh completions, the record again, the preview recomputed
        if self._ready and self.context is not None:
            self.load_setup(self.context, self.record)

    def _show_context_info(self, spec: ContextSpec) -> None:
        info = Text()
        info.append("Variables: ", style="dim")
        # two names of one record say so ("account, subject" read as two records: a
        # newcomer's review): "account, subject (the same account)"
        kinds = spec.variable_kinds
        for position, name in enumerate(spec.variables):
            if position:
                info.append(", ", style="bold")
            info.append(safe(name), style="bold")
            kind = kinds.get(name)
            same = [n for n in spec.variables if kinds.get(n) == kind]
            if kind in ("account", "user") and len(same) > 1 and same[-1] == name:
                info.append(f" (the same {'account' if kind == 'account' else 'person'})")
        info.append("   Returns: ", style="dim")
        info.append(safe(spec.returns), style="bold")
        self.query_one("#context-info", Static).update(info)

    @property
    def no_record(self) -> bool:
        """The context evaluates with no record (the `cel` context)."""
        spec = self.contexts.get(self.context) if self.context else None
        return spec is not None and spec.subject_kind == NO_RECORD

    def _set_record(self, record: RecordRef | None) -> None:
        self.record = record
        view = self.query_one("#record", Static)
        if self.no_record:
            view.update(plain("Record: none (the cel context is the language alone)"))
        elif record is None:
            kind = self.contexts[self.context].subject_kind if self.context else "record"
            view.update(plain(f"Record: the store has no {kind}s"))
        else:
            detail = f"  {record.detail}" if record.detail else ""
            view.update(plain(f"{record.kind.capitalize()}: {record.label}{detail}", limit=300))

    @on(Select.Changed, "#context")
    def _context_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.context:
            self.load_setup(event.value, self.record)
            self.editor.focus()  # chosen: back to typing

    # One record ------------------------------------------------------------------------------

    @on(CelEditor.Changed, "#editor")
    def _expression_changed(self, event: CelEditor.Changed) -> None:
        self._mark_population_stale()
        self.preview_current()

    def preview_current(self) -> None:
        if not self._ready or self.context is None:
            return
        text = self.editor.text
        value = self.query_one("#value", Static)
        if not text.strip():
            self.workers.cancel_group(self, "preview-one")
            self.editor.clear_problem()
            value.update("Type an expression to see its value.")
            return
        if self.record is None and not self.no_record:
            value.update("There is no record to preview against (ctrl+o to search).")
            return
        self.preview_one(self.context, text, self.record)

    @work(
        thread=True,
        exclusive=True,
        group="preview-one",
        exit_on_error=False,
        name="Previewing the expression",
    )
    def preview_one(self, context: str, text: str, record: RecordRef | None) -> None:
        preview = self.services.preview_one(context, text, record)
        if not get_current_worker().is_cancelled:
            self.post_message(self.OneReady(text, preview))

    def on_playground_screen_one_ready(self, message: PlaygroundScreen.OneReady) -> None:
        if message.text != self.editor.text:
            return  # an older keystroke; a newer preview is on its way
        preview = message.preview
        value_view = self.query_one("#value", Static)
        if preview.ok:
            problem = preview.warnings[0] if preview.warnings else None
            if problem is not None:
                self.editor.show_problem(problem, "")
            else:
                self.editor.clear_problem()
            shown = Text()
            shown.append_text(literal(preview.value, VALUE_WIDTH, "bold", lines=True))
            shown.append("\n")
            shown.append("type ", style="dim")
            shown.append(safe(preview.type), style="bold cyan")
            shown.append(f"   {preview.elapsed_ms:.1f} ms", style="dim")
            value_view.update(shown)
        else:
            if preview.error is not None:
                self.editor.show_problem(preview.error, preview.caret)
            value_view.update(
                Text.assemble(
                    ("No value", "bold red"),
                    (" — the error is shown under the expression.", ""),
                    (f"   {preview.elapsed_ms:.1f} ms", "dim"),
                )
            )

    # Whole population ------------------------------------------------------------------------

    def action_run_population(self) -> None:
        if self.context is None:
            return
        if self.no_record:
            self.notify(
                "The cel context has no records: the value shown is the whole answer. "
                "Choose a context such as push_condition to evaluate everyone.",
                markup=False,
            )
            return
        text = self.editor.text
        if not text.strip():
            self.notify("Type an expression first.", severity="warning")
            return
        self.population_running = True
        self._population_for = (self.context, text)
        progress = self.query_one("#population-progress", ProgressBar)
        progress.update(total=None, progress=0)
        progress.display = True
        self.query_one("#population", Static).update(
            Text("Evaluating every record… esc cancels.", style="italic")
        )
        self.refresh_bindings()
        self.preview_all(self.context, text)

    @work(
        thread=True,
        exclusive=True,
        group="preview-all",
        exit_on_error=False,
        name="Evaluating all records",
    )
    def preview_all(self, context: str, text: str) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if not worker.is_cancelled:
                self.post_message(self.PopulationProgress(done, total))

        result = self.services.preview_all(
            context, text, progress=progress, cancelled=lambda: worker.is_cancelled
        )
        if not worker.is_cancelled:
            self.post_message(self.PopulationReady(text, result))

    def on_playground_screen_population_progress(
        self, message: PlaygroundScreen.PopulationProgress
    ) -> None:
        if self.population_running:
            self.query_one("#population-progress", ProgressBar).update(
                total=max(message.total, 1), progress=message.done
            )

    def on_playground_screen_population_ready(
        self, message: PlaygroundScreen.PopulationReady
    ) -> None:
        self._population_finished()
        self.query_one("#population", Static).update(self._population_text_for(message.result))
        self._mark_population_stale()

    def _population_text_for(self, result: PopulationPreview) -> Text:
        out = Text()
        if not result.ok:
            out.append("The expression cannot run: ", style="bold red")
            if result.error is not None:
                where = ""
                if result.error.line is not None:
                    where = f"line {result.error.line}, column {result.error.column}: "
                out.append(safe(where + result.error.message, lines=True))
                if result.error.hint:
                    out.append(f"\nHint: {safe(result.error.hint)}")
            return out
        out.append(f"{result.count:,} records", style="bold")
        if result.scope:
            out.append(f" ({safe(result.scope)})", style="dim")
        out.append(", ")
        out.append(
            f"{result.errors:,} error{'s' if result.errors != 1 else ''}",
            style="bold red" if result.errors else "green",
        )
        out.append(f", {result.elapsed_ms:,.0f} ms", style="dim")
        if result.note:
            out.append("\nStopped: ", style="bold yellow")
            out.append(safe(result.note))
        summary = dict(result.summary or {})
        top = summary.pop("top", None)
        if summary:
            out.append("\nSummary: ", style="dim")
            parts = [
                f"{summary_label(key)} {format_number(value)}" for key, value in summary.items()
            ]
            out.append(safe("  ·  ".join(parts)), style="bold")
        if top:
            out.append("\nMost common: ", style="dim")
            for index, (top_value, count) in enumerate(top[:5]):
                out.append("  " if index else "")
                out.append_text(literal(top_value, 40))
                out.append(f" ×{count:,}")
        for warning in result.warnings[:3]:
            out.append("\nWarning: ", style="bold yellow")
            out.append(safe(warning.message))
            if warning.hint:
                out.append(f" ({safe(warning.hint)})")
        if result.first_errors:
            out.append("\nFirst errors:", style="bold red")
            for item in result.first_errors[:FIRST_ERRORS]:
                out.append(f"\n  {safe(record_name(item.get('record')), 60)}: ", style="dim")
                out.append(safe(item.get("message", "")))
        if result.samples:
            out.append("\nSamples:", style="bold")
            samples = result.samples[:SAMPLE_ROWS]
            names = [safe(record_name(item.get("record")), 60) for item in samples]
            width = min(max(len(name) for name in names), 40)
            for name, item in zip(names, samples, strict=True):
                out.append(f"\n  {name:<{width}}  ", style="dim")
                out.append_text(literal(item.get("value"), 60))
        return out

    def action_cancel_population(self) -> None:
        self.workers.cancel_group(self, "preview-all")
        self._population_finished()
        self.query_one("#population", Static).update(
            Text("Cancelled. Press ctrl+r to run again.", style="yellow")
        )

    def _population_finished(self) -> None:
        self.population_running = False
        self.query_one("#population-progress", ProgressBar).display = False
        self.refresh_bindings()

    def _mark_population_stale(self) -> None:
        box = self.query_one("#population-box")
        stale = self._population_for is not None and self._population_for != (
            self.context,
            self.editor.text,
        )
        box.set_class(stale, "-stale")
        box.border_title = (
            "All records — out of date, ctrl+r runs the new expression"
            if stale
            else "All records (ctrl+r)"
        )

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == "preview-all":
            self._population_finished()
            self.query_one("#population", Static).update(
                Text("The run on all records failed.", style="bold red")
            )
        elif worker.group == "preview-one":
            self.query_one("#value", Static).update(Text("The preview failed.", style="bold red"))

    # Pickers, focus --------------------------------------------------------------------------

    def action_choose_record(self) -> None:
        if self.context is None or self.context not in self.contexts:
            return
        kind = self.contexts[self.context].subject_kind
        if self.no_record:
            self.notify("The cel context has no record to choose.", markup=False)
            return

        def chosen(record: RecordRef | None) -> None:
            if record is not None:
                self._set_record(record)
                self._mark_population_stale()
                self.preview_current()
            self.editor.focus()

        self.app.push_screen(RecordPicker(self.services, kind), chosen)

    def action_choose_context(self) -> None:
        if not self.query("#context"):
            return
        select = self.query_one("#context", Select)
        select.focus()
        select.action_show_overlay()

    def action_edit(self) -> None:
        self.editor.focus()

    def action_leave_editor(self) -> None:
        self.focus_next()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_population":
            return self.population_running
        if action == "leave_editor":
            return not self.population_running and self.editor.text_area.has_focus
        if action == "edit":
            return not self.editor.text_area.has_focus
        if action == "run_population":
            return not self.population_running
        return True
