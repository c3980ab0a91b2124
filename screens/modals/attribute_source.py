"""Add or edit one source of an attribute: an app and a field chosen from the fields that app's
stored accounts really have (each with how many accounts hold a value and sample values), or a
CEL expression (context attribute_source) in the shared editor with its value for a chosen
person.

The dialog returns the source's document (`{app, field}` or `{cel}`); the attribute editor
holds it until the attribute is saved, and previews it meanwhile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from screens.base import RosterModal
from screens.modals.confirm import close_or_ask
from screens.modals.record_picker import RecordPicker
from screens.text import clip, literal, plain, safe
from screens.widgets.cel_editor import CelEditor

if TYPE_CHECKING:
    from engine.services import AppFields, Completions, OnePreview, RecordRef, Services

CONTEXT = "attribute_source"
DIRECT = "direct"
CEL = "cel"
VALUE_WIDTH = 100


class SourceModal(RosterModal["dict[str, Any] | None"]):
    """Returns the source's document, or None when cancelled."""

    DEFAULT_CSS = """
    SourceModal {
        align: center middle;
        & > Vertical {
            width: 100;
            max-width: 100%;
            height: 90%;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & #source-kind-row { height: auto; }
        & #source-kind-row Select { width: 1fr; }
        & #source-fields { height: 1fr; min-height: 4; }
        & #source-cel { height: auto; }
        & .source--status { height: auto; max-height: 3; color: $text-muted; }
        & .source--error { height: auto; color: $text-error; display: none; }
        & .source--error.-visible { display: block; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "done", "Use", priority=True, tooltip="Use this source"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing the source"),
        Binding(
            "ctrl+o",
            "choose_person",
            "Person",
            tooltip="Choose the person the CEL value is shown for",
        ),
    ]

    class FieldsLoaded(Message):
        def __init__(self, app: str, fields: AppFields) -> None:
            super().__init__()
            self.app = app
            self.fields = fields

    class Setup(Message):
        def __init__(self, completions: Completions) -> None:
            super().__init__()
            self.completions = completions

    class ValueReady(Message):
        def __init__(self, text: str, preview: OnePreview) -> None:
            super().__init__()
            self.text = text
            self.preview = preview

    def __init__(
        self,
        services: Services,
        *,
        attribute: str,
        source: dict[str, Any] | None,
        apps: list[tuple[str, str]],
        multi: bool,
        person: RecordRef | None,
    ) -> None:
        super().__init__()
        self.services = services
        self.attribute = attribute
        self.source = dict(source) if source else None
        self.apps = apps  # (id, title) of the configured apps
        self.multi = multi
        self.person = person
        self.fields: AppFields | None = None

    def compose(self) -> ComposeResult:
        source = self.source or {}
        cel = source.get("cel") if isinstance(source.get("cel"), str) else None
        app = source.get("app") if isinstance(source.get("app"), str) else None
        known = [app_id for app_id, _ in self.apps]
        if app is not None and app not in known:
            self.apps = [*self.apps, (app, f"{app} (not configured)")]
        with Vertical() as box:
            verb = "Edit the source" if self.source else "Add a source"
            box.border_title = Text(f"{verb} · {safe(self.attribute, 50)}")
            box.border_subtitle = "ctrl+s use · esc cancel · ctrl+o person"
            with Horizontal(id="source-kind-row"):
                yield Select(
                    [("An app's field", DIRECT), ("A CEL expression", CEL)],
                    value=CEL if cel is not None else DIRECT,
                    allow_blank=False,
                    compact=True,
                    id="source-kind",
                )
                options = [
                    (f"{safe(title, 40)} ({safe(app_id, 30)})", app_id)
                    for app_id, title in self.apps
                ]
                first = app if app is not None else (self.apps[0][0] if self.apps else None)
                yield Select(
                    options,
                    value=first if first is not None else Select.NULL,
                    allow_blank=first is None,
                    compact=True,
                    id="source-app",
                )
            yield OptionList(id="source-fields")
            yield CelEditor(cel or "", id="source-cel")
            yield Static("", classes="source--status", id="source-status")
            yield Static("", classes="source--error", id="source-error")

    def on_mount(self) -> None:
        self.show_kind()
        self.load_setup()
        if self.kind == DIRECT:
            app = self.app_id
            if app is not None:
                self.load_fields(app)
            self.query_one("#source-fields", OptionList).focus()
        else:
            self.editor.focus()

    # What is chosen -------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        value = self.query_one("#source-kind", Select).value
        return value if isinstance(value, str) else DIRECT

    @property
    def app_id(self) -> str | None:
        value = self.query_one("#source-app", Select).value
        return value if isinstance(value, str) else None

    @property
    def editor(self) -> CelEditor:
        return self.query_one("#source-cel", CelEditor)

    def chosen_field(self) -> str | None:
        options = self.query_one("#source-fields", OptionList)
        if self.fields is None or options.highlighted is None:
            return None
        index = options.highlighted
        return self.fields.fields[index].name if 0 <= index < len(self.fields.fields) else None

    def show_kind(self) -> None:
        direct = self.kind == DIRECT
        self.query_one("#source-app", Select).display = direct
        self.query_one("#source-fields", OptionList).display = direct
        self.editor.display = not direct
        self.clear_error()
        self.show_status()

    @on(Select.Changed, "#source-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.show_kind()
        if self.kind == CEL:
            # after the list has closed: it takes the focus back as it closes, and the
            # expression typed next went to it (newcomer review)
            self.call_after_refresh(self.editor.focus)
            self.preview()
        elif self.app_id is not None:
            self.load_fields(self.app_id)

    @on(Select.Changed, "#source-app")
    def _app_changed(self, event: Select.Changed) -> None:
        event.stop()
        if self.app_id is not None:
            self.load_fields(self.app_id)

    # The app's fields -----------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="source-fields",
        exit_on_error=False,
        name="Reading the app's fields",
    )
    def load_fields(self, app: str) -> None:
        fields = self.services.app_fields(app)
        if not get_current_worker().is_cancelled:
            self.post_message(self.FieldsLoaded(app, fields))

    def on_source_modal_fields_loaded(self, message: SourceModal.FieldsLoaded) -> None:
        if message.app != self.app_id:
            return
        self.fields = message.fields
        options = self.query_one("#source-fields", OptionList)
        options.clear_options()
        source = self.source or {}
        wanted = source.get("field") if source.get("app") == message.app else None
        highlight = 0
        for index, info in enumerate(message.fields.fields):
            line = Text()
            line.append(safe(info.name, 40).ljust(26), style="bold" if info.with_value else "dim")
            line.append(f"{info.with_value:>6,} ", style="" if info.with_value else "dim")
            if info.samples:
                line.append("e.g. ", style="dim")
                line.append_text(clip(" · ".join(info.samples), 60, "cyan"))
            options.add_option(Option(line, id=str(index)))
            if info.name == wanted:
                highlight = index
        if message.fields.fields:
            options.highlighted = highlight
        if wanted is not None and message.fields.field(wanted) is None:
            self.show_error(
                f"No account of {message.app} has the field {wanted} now: choose one it has."
            )
        self.show_status()

    @on(OptionList.OptionHighlighted, "#source-fields")
    def _field_highlighted(self) -> None:
        self.show_status()

    @on(OptionList.OptionSelected, "#source-fields")
    def _field_chosen(self) -> None:
        self.action_done()

    # Status: the chosen field's numbers, or the CEL value ----------------------------------

    def show_status(self) -> None:
        status = self.query_one("#source-status", Static)
        if self.kind != DIRECT:
            return
        fields = self.fields
        if fields is None:
            status.update(Text("Reading the app's fields…", style="dim"))
            return
        name = self.chosen_field()
        info = fields.field(name) if name else None
        text = Text()
        text.append(f"{fields.accounts:,} accounts in {safe(fields.app, 30)}", style="dim")
        if fields.truncated:
            text.append(" (the most filled profile keys are listed)", style="dim")
        if info is not None:
            text.append("\n")
            text.append(f"{safe(fields.app, 30)}:{safe(info.name, 60)}", style="bold")
            text.append(f": {info.with_value:,} with a value")
            if info.kind == "list":
                text.append(
                    " · a list: every value for a multi-valued attribute"
                    if self.multi
                    else " · a list: a single-valued attribute takes it only when it holds one",
                    style="dim",
                )
        text.append("\nenter or ctrl+s uses the highlighted field", style="dim")
        status.update(text)

    @work(
        thread=True,
        exclusive=True,
        group="source-setup",
        exit_on_error=False,
        name="Loading names for completion",
    )
    def load_setup(self) -> None:
        completions = self.services.completions(CONTEXT)
        if self.person is None:
            people = self.services.find_records("user", "", limit=1)
            self.person = people[0] if people else None
        if not get_current_worker().is_cancelled:
            self.post_message(self.Setup(completions))

    def on_source_modal_setup(self, message: SourceModal.Setup) -> None:
        self.editor.set_completions(message.completions, "user")
        self.preview()

    @on(CelEditor.Changed, "#source-cel")
    def _text_changed(self, event: CelEditor.Changed) -> None:
        event.stop()
        self.clear_error()
        self.preview()

    def preview(self) -> None:
        if self.kind != CEL:
            return
        status = self.query_one("#source-status", Static)
        text = self.editor.text
        if not text.strip():
            self.workers.cancel_group(self, "source-value")
            self.editor.clear_problem()
            status.update(
                Text(
                    "Type an expression: `subject` is the person, `accounts` their accounts by "
                    "app (e.g. accounts.hr.profile.department); a string or a list of strings.",
                    style="dim",
                )
            )
            return
        if self.person is None:
            status.update(Text("No person to preview against (ctrl+o chooses one).", "dim"))
            return
        self.run_preview(text, self.person)

    @work(
        thread=True,
        exclusive=True,
        group="source-value",
        exit_on_error=False,
        name="Previewing the expression",
    )
    def run_preview(self, text: str, person: RecordRef) -> None:
        preview = self.services.preview_one(CONTEXT, text, person)
        if not get_current_worker().is_cancelled:
            self.post_message(self.ValueReady(text, preview))

    def on_source_modal_value_ready(self, message: SourceModal.ValueReady) -> None:
        if message.text != self.editor.text or self.kind != CEL or self.person is None:
            return
        preview = message.preview
        shown = Text()
        shown.append(f"{safe(self.person.label, 50)}: ", style="dim")
        if preview.ok:
            if preview.warnings:
                self.editor.show_problem(preview.warnings[0])
            else:
                self.editor.clear_problem()
            shown.append_text(literal(preview.value, VALUE_WIDTH, "bold"))
            shown.append(f"  ({safe(preview.type, 20)})", style="dim")
        else:
            if preview.error is not None:
                self.editor.show_problem(preview.error, preview.caret)
            shown.append("no value — the error is under the expression", style="red")
        shown.append("  ctrl+o: another person", style="dim")
        self.query_one("#source-status", Static).update(shown)

    def action_choose_person(self) -> None:
        def chosen(record: RecordRef | None) -> None:
            if record is not None:
                self.person = record
                self.preview()

        self.app.push_screen(RecordPicker(self.services, "user"), chosen)

    # Done ----------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        view = self.query_one("#source-error", Static)
        view.update(plain(text, lines=True))
        view.add_class("-visible")

    def clear_error(self) -> None:
        view = self.query_one("#source-error", Static)
        view.update("")
        view.remove_class("-visible")

    def document(self) -> dict[str, Any] | None:
        if self.kind == CEL:
            return {"cel": self.editor.text}
        app, name = self.app_id, self.chosen_field()
        if app is None or name is None:
            return None
        return {"app": app, "field": name}

    def action_done(self) -> None:
        document = self.document()
        if self.kind == CEL:
            if not self.editor.text.strip():
                self.show_error("Type a CEL expression, or choose an app's field.")
                self.editor.focus()
                return
        elif document is None:
            if self.app_id is None:
                self.show_error("Choose the app the value comes from.")
            else:
                self.show_error(
                    f"Choose one of the fields of {self.app_id} (its accounts have none yet)."
                )
            return
        self.dismiss(document)

    def action_cancel(self) -> None:
        # a typed expression is work to lose; a field picked from the list is not
        saved = (self.source or {}).get("cel")
        typed = self.kind == CEL and bool(self.editor.text.strip()) and self.editor.text != saved
        close_or_ask(self, typed, "The source")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "choose_person":
            return self.kind == CEL
        return True
