"""Add or edit one merge rule (a directory's) or ownership rule (a Custom app's): a name and two
sides, each a preset (with the +tag option for the email presets) or a CEL expression in the
shared CEL editor with its live value for a chosen account or person.

Saving goes through `Services.config_edit` with the version the screen was read at; problems
are shown under the field they belong to, a conflict offers to reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine.services import ConfigEdit
from screens.base import RosterModal
from screens.modals.confirm import close_or_ask
from screens.modals.record_picker import RecordPicker
from screens.rule_text import (
    EMAIL_PRESETS,
    PRESET_WORDS,
    object_path,
    problem_field,
    rule_document,
)
from screens.saving import (
    SAVE_GROUP,
    EditRefused,
    EditSaved,
    offer_reload,
    problem_line,
    save_edit,
)
from screens.text import literal, plain, safe
from screens.widgets.cel_editor import CelEditor
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.services import Completions, OnePreview, RecordRef, Services

CEL = "cel"
VALUE_WIDTH = 120
SIDES = ("account", "user")
CONTEXTS = {"account": "account_key", "user": "user_key"}


class SideEditor(Vertical):
    """One side of a rule: a preset (email presets with the +tag option) or a CEL expression."""

    DEFAULT_CSS = """
    SideEditor {
        height: auto;
        & > .side--head { height: 1; }
        & > Horizontal { height: auto; }
        & Select { width: 1fr; }
        & Checkbox { width: auto; margin-left: 1; }
        & CelEditor { margin-top: 0; }
        & > .side--value { height: auto; max-height: 3; color: $text-muted; padding: 0 1; }
        & > .side--error { height: auto; color: $text-error; padding: 0 1; display: none; }
        & > .side--error.-visible { display: block; }
    }
    """

    class ValueReady(Message):
        def __init__(self, side: SideEditor, text: str, preview: OnePreview) -> None:
            super().__init__()
            self.side = side
            self.text = text
            self.preview = preview

    def __init__(self, side: str, heading: str, spec: dict[str, Any] | None) -> None:
        super().__init__(id=f"side-{side}")
        self.side = side
        self.heading = heading
        spec = spec or {"preset": "primary_email" if side == "account" else "all_emails"}
        self.initial = dict(spec)
        self.record: RecordRef | None = None

    def compose(self) -> ComposeResult:
        spec = self.initial
        cel = spec.get("cel") if isinstance(spec.get("cel"), str) else None
        preset = spec.get("preset") if spec.get("preset") in PRESET_WORDS else None
        yield Static(Text(self.heading, style="bold"), classes="side--head")
        options = [(words, key) for key, words in PRESET_WORDS.items()]
        options.append(("CEL expression", CEL))
        with Horizontal():
            yield Select(
                options,
                value=CEL if cel is not None else (preset or "primary_email"),
                allow_blank=False,
                compact=True,
                id=f"{self.side}-kind",
            )
            yield Checkbox(
                "strip +tag",
                value=bool(spec.get("strip_plus_tag")),
                compact=True,
                id=f"{self.side}-tag",
            )
        yield CelEditor(cel or "", id=f"{self.side}-cel")
        yield Static("", classes="side--value", id=f"{self.side}-value")
        yield Static("", classes="side--error", id=f"{self.side}-error")

    def on_mount(self) -> None:
        self.show_kind()

    @property
    def kind(self) -> str:
        value = self.query_one(Select).value
        return value if isinstance(value, str) else "primary_email"

    @property
    def editor(self) -> CelEditor:
        return self.query_one(CelEditor)

    def document(self) -> dict[str, Any]:
        kind = self.kind
        if kind == CEL:
            return {"cel": self.editor.text}
        data: dict[str, Any] = {"preset": kind}
        if kind in EMAIL_PRESETS and self.query_one(Checkbox).value:
            data["strip_plus_tag"] = True
        return data

    def show_kind(self) -> None:
        kind = self.kind
        self.query_one(Checkbox).display = kind in EMAIL_PRESETS
        self.editor.display = kind == CEL
        self.query_one(".side--value").display = kind == CEL

    @on(Select.Changed)
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.show_kind()
        self.clear_error()
        if self.kind == CEL:
            self.preview()

    def show_error(self, text: str) -> None:
        view = self.query_one(".side--error", Static)
        view.update(plain(text, lines=True))
        view.add_class("-visible")

    def clear_error(self) -> None:
        view = self.query_one(".side--error", Static)
        view.update("")
        view.remove_class("-visible")

    # The live value -----------------------------------------------------------------------

    @on(CelEditor.Changed)
    def _text_changed(self, event: CelEditor.Changed) -> None:
        event.stop()
        self.clear_error()
        self.preview()

    def set_record(self, record: RecordRef | None) -> None:
        self.record = record
        self.preview()

    def preview(self) -> None:
        value = self.query_one(".side--value", Static)
        if self.kind != CEL:
            return
        text = self.editor.text
        if not text.strip():
            modal = self.screen
            if isinstance(modal, MatchRuleModal):
                modal.workers.cancel_group(modal, f"preview-{self.side}")
            self.editor.clear_problem()
            value.update(Text("Type an expression; its value for a sample shows here.", "dim"))
            return
        if self.record is None:
            who = "account" if self.side == "account" else "person"
            value.update(Text(f"No {who} to preview against (ctrl+o to choose one).", "dim"))
            return
        self.run_preview(text, self.record)

    def run_preview(self, text: str, record: RecordRef) -> None:
        """Ask the dialog to preview (its workers report failures to the app)."""
        modal = self.screen
        if isinstance(modal, MatchRuleModal):
            modal.preview_side(self, text, record)

    def on_side_editor_value_ready(self, message: SideEditor.ValueReady) -> None:
        message.stop()
        if message.text != self.editor.text or self.kind != CEL:
            return
        preview = message.preview
        shown = Text()
        assert self.record is not None
        shown.append(f"{safe(self.record.detail or self.record.label, 50)}: ", style="dim")
        if preview.ok:
            if preview.warnings:
                self.editor.show_problem(preview.warnings[0], "")
            else:
                self.editor.clear_problem()
            shown.append_text(literal(preview.value, VALUE_WIDTH, "bold"))
        else:
            if preview.error is not None:
                self.editor.show_problem(preview.error, preview.caret)
            shown.append("no value — the error is under the expression", style="red")
        shown.append("  ctrl+o: another", style="dim")
        self.query_one(".side--value", Static).update(shown)

    def set_completions(self, completions: Completions) -> None:
        self.editor.set_completions(completions, "account" if self.side == "account" else "user")


class MatchRuleModal(RosterModal["EditResult | None"]):
    """Returns the saved edit, or None when cancelled."""

    DEFAULT_CSS = """
    MatchRuleModal {
        align: center middle;
        & > Vertical {
            width: 96;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & VerticalScroll { height: auto; max-height: 1fr; }
        & #rule-name-row { height: auto; }
        & #rule-name-row > Static { width: auto; padding: 0 1 0 0; }
        & #rule-name { width: 1fr; }
        & .rule--error { height: auto; color: $text-error; padding: 0 1; display: none; }
        & .rule--error.-visible { display: block; }
        & .rule--hint { height: 1; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="Check and save the rule", priority=True),
        Binding("escape", "cancel", "Cancel", tooltip="Close (asks when there are changes)"),
        Binding(
            "ctrl+o",
            "choose_record",
            "Sample",
            tooltip="Choose the account or person the CEL value is shown for",
        ),
    ]

    class Setup(Message):
        def __init__(
            self,
            completions: dict[str, Completions],
            records: dict[str, RecordRef | None],
        ) -> None:
            super().__init__()
            self.completions = completions
            self.records = records

    def __init__(
        self,
        services: Services,
        *,
        rules_path: str,
        app: str,
        where: str,
        rule: dict[str, Any] | None,
        names: list[str],
        version: str,
        reload: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.rules_path = rules_path
        self.app_id = app
        self.where = where
        self.rule = rule_document(rule) if rule is not None else None
        self.names = names
        self.version = version
        self.reload = reload
        self._initial: dict[str, Any] | None = None
        self.saving = False

    def compose(self) -> ComposeResult:
        rule = self.rule or {}
        with Vertical() as box:
            verb = "Edit the rule" if self.rule else "Add a rule"
            box.border_title = Text(f"{verb} · {safe(self.where, 60)}")
            box.border_subtitle = "ctrl+s save · esc cancel · ctrl+o sample"
            with VerticalScroll():
                with Horizontal(id="rule-name-row"):
                    yield Static("Name")
                    yield TextInput(
                        str(rule.get("name", "")),
                        placeholder="e.g. email",
                        compact=True,
                        id="rule-name",
                    )
                yield Static("", classes="rule--error", id="name-error")
                yield SideEditor(
                    "account",
                    "Account side (context account_key: account)",
                    rule.get("account"),
                )
                yield SideEditor(
                    "user", "Person side (context user_key: user, subject)", rule.get("user")
                )
                yield Static("", classes="rule--error", id="rule-error")

    def on_mount(self) -> None:
        self.query_one("#rule-name", Input).focus()
        self._initial = self.document()
        self.load_setup()

    # Completions and sample records --------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="rule-setup",
        exit_on_error=False,
        name="Loading names for completion",
    )
    def load_setup(self) -> None:
        completions = {side: self.services.completions(CONTEXTS[side]) for side in SIDES}
        accounts = self.services.find_records("account", self.app_id, limit=50)
        account = next((r for r in accounts if r.detail.startswith(f"{self.app_id}:")), None)
        people = self.services.find_records("user", "", limit=1)
        records = {"account": account, "user": people[0] if people else None}
        if not get_current_worker().is_cancelled:
            self.post_message(self.Setup(completions, records))

    def on_match_rule_modal_setup(self, message: MatchRuleModal.Setup) -> None:
        for side in SIDES:
            editor = self.side(side)
            editor.set_completions(message.completions[side])
            editor.set_record(message.records[side])

    def preview_side(self, side: SideEditor, text: str, record: RecordRef) -> None:
        """The live value of one side's CEL for its sample record, in a worker."""

        def run() -> None:
            preview = self.services.preview_one(CONTEXTS[side.side], text, record)
            if not get_current_worker().is_cancelled:
                side.post_message(SideEditor.ValueReady(side, text, preview))

        self.run_worker(
            run,
            thread=True,
            exclusive=True,
            group=f"preview-{side.side}",
            exit_on_error=False,
            name="Previewing the expression",
        )

    def side(self, name: str) -> SideEditor:
        return self.query_one(f"#side-{name}", SideEditor)

    def action_choose_record(self) -> None:
        focused = self.focused
        side = self.side("account")
        for name in SIDES:
            candidate = self.side(name)
            if focused is not None and candidate in focused.ancestors_with_self:
                side = candidate
        if side.kind != CEL:
            other = self.side("user" if side.side == "account" else "account")
            if other.kind == CEL:
                side = other
        kind = "account" if side.side == "account" else "user"

        def chosen(record: RecordRef | None) -> None:
            if record is not None:
                side.set_record(record)

        self.app.push_screen(RecordPicker(self.services, kind), chosen)

    # Saving -------------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        name = self.query_one("#rule-name", Input).value.strip()
        return {
            "name": name,
            "account": self.side("account").document(),
            "user": self.side("user").document(),
        }

    def clear_errors(self) -> None:
        for view in self.query(".rule--error"):
            view.remove_class("-visible")
        for side in SIDES:
            self.side(side).clear_error()

    def show_error(self, field: str | None, text: str) -> None:
        if field in SIDES:
            assert field is not None
            self.side(field).show_error(text)
            return
        view = self.query_one("#name-error" if field == "name" else "#rule-error", Static)
        view.update(plain(text, lines=True))
        view.add_class("-visible")

    def action_save(self) -> None:
        if self.saving:
            return
        self.clear_errors()
        document = self.document()
        name = document["name"]
        old = str(self.rule.get("name", "")) if self.rule else None
        if not name:
            self.show_error("name", "Give the rule a name, e.g. email or badge-number.")
            self.query_one("#rule-name", Input).focus()
            return
        others = [n.casefold() for n in self.names if n != old]
        if name.casefold() in others:
            self.show_error(
                "name",
                f"Another rule here is named {name}: names must differ. Choose another name.",
            )
            self.query_one("#rule-name", Input).focus()
            return
        for side in SIDES:
            spec = document[side]
            if "cel" in spec and not spec["cel"].strip():
                self.show_error(side, "Type a CEL expression, or choose a preset.")
                self.side(side).editor.focus()
                return
        if self.rule is not None and document == self._initial:
            self.dismiss(None)  # nothing changed
            return
        path = f"{self.rules_path}.{object_path(old if old is not None else name)}"
        self.saving = True
        save_edit(self, self.services, ConfigEdit("set", path, value=document), self.version)

    def on_edit_saved(self, message: EditSaved) -> None:
        self.saving = False
        self.close(message.result)

    def on_edit_refused(self, message: EditRefused) -> None:
        self.saving = False
        if message.conflict:
            self.show_error(None, message.message)

            def reload() -> None:
                self.dismiss(None)
                if self.reload is not None:
                    self.reload()

            offer_reload(self, message.error, reload)
            return
        placed = False
        for problem in message.problems:
            field = problem_field(problem.path)
            if field in SIDES and self.side(str(field)).kind == CEL:
                self.side(str(field)).editor.show_problem(problem)
            self.show_error(field, problem_line(problem))
            placed = True
        if not placed:
            self.show_error(None, message.message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == SAVE_GROUP and event.state is WorkerState.ERROR:
            self.saving = False

    def action_cancel(self) -> None:
        close_or_ask(self, self.document() != self._initial, "The rule")
