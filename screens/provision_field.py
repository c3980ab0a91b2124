"""The editor of one provisioning mapping: a creation field's CEL expression in the shared CEL
editor, tested while typing against a chosen person (value and type, or the error with its
position) and checked over everyone (how many people would get an empty required value, an
invalid one or an error), saved through the audited configuration edit.

Saving sets `apps.APP.provisioning.fields.KEY`; saving an empty expression clears the mapping
(the field then takes its default), after a confirmation. The edit is made against the
configuration version the editor read: when someone saved first, nothing is saved and the
admin is offered a reload. Leaving with unsaved text asks first (escape, and quit through
`unsaved`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, get_current_worker

from engine.errors import NotFound, Problem
from engine.services import ConfigEdit
from screens.base import RosterScreen
from screens.modals.confirm import ConfirmModal
from screens.modals.record_picker import RecordPicker
from screens.provision_text import check_text, clear_message, field_about, result_text
from screens.rule_text import object_path
from screens.saving import (
    SAVE_GROUP,
    EditRefused,
    EditSaved,
    offer_reload,
    problem_line,
    save_edit,
)
from screens.text import plain, safe
from screens.widgets.audit_line import change_line
from screens.widgets.cel_editor import CelEditor

if TYPE_CHECKING:
    from engine.services import (
        AuditEntry,
        Completions,
        FieldCheck,
        FieldResult,
        RecordRef,
        Services,
    )

CONTEXT = "provisioning_field"
# The check runs the expression for everyone: wait for a pause in typing before it starts.
CHECK_DEBOUNCE = 0.3


def field_path(app_id: str, key: str) -> str:
    return object_path("apps", app_id, "provisioning", "fields", key)


class ProvisionFieldScreen(RosterScreen):
    """Edit, test, check and save one creation field's mapping. Dismisses with True when the
    mapping was saved or cleared."""

    TITLE_TEXT = "Provisioning mapping"
    CSS_PATH = Path(__file__).with_name("provision_field.tcss")
    AUTO_FOCUS = "#pf-editor CelTextArea"

    NEEDS: ClassVar[dict[str, str]] = {"save": "admin"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="Save the mapping (audited)"),
        Binding("escape", "cancel", "Back", tooltip="Back to the fields (asks if unsaved)"),
        Binding("ctrl+o", "choose_person", "Person", tooltip="Choose the person to test on"),
        Binding(
            "ctrl+r",
            "check",
            "Check all",
            tooltip="Check the expression over everyone again",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("", "The value is tested on the chosen person while you type, and checked over"),
        ("", "everyone who is not deleted: ok, empty, invalid (type, length) or error."),
        ("", "An empty expression saved clears the mapping: the field takes its default."),
        ("", 'A map field takes a CEL map: {"cn": subject.displayName, "gid": "5000"}.'),
        ("ctrl+space", "In the expression: show completions at the cursor"),
    ]

    class Setup(Message):
        def __init__(
            self,
            version: str,
            saved: str | None,
            completions: Completions,
            last: AuditEntry | None,
        ) -> None:
            super().__init__()
            self.version = version
            self.saved = saved
            self.completions = completions
            self.last = last

    class Tested(Message):
        def __init__(self, text: str, person: int, result: FieldResult) -> None:
            super().__init__()
            self.text = text
            self.person = person
            self.result = result

    class Progress(Message):
        def __init__(self, text: str, done: int, total: int) -> None:
            super().__init__()
            self.text = text
            self.done = done
            self.total = total

    class Checked(Message):
        def __init__(self, text: str, check: FieldCheck) -> None:
            super().__init__()
            self.text = text
            self.check = check

    def __init__(
        self,
        services: Services,
        app_id: str,
        field: dict[str, Any],
        *,
        app_name: str = "",
        person: RecordRef | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(services)
        self.app_id = app_id
        self.app_name = app_name
        self.field = field
        self.key = str(field["key"])
        self.path = field_path(app_id, self.key)
        self.person = person
        self._initial_text = text
        self.version: str | None = None
        self.saved: str | None = None  # the saved expression (None: not mapped)
        self.check: FieldCheck | None = None
        self._check_for: str | None = None  # the text `check` is about
        self._problems_for: str | None = None  # the text the validator refused
        self._ready = False
        self._saving = False

    # Layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="pf-body"):
            title = Text()
            title.append("Mapping of ", style="dim")
            title.append(safe(self.app_id, 40), style="bold")
            if self.app_name and self.app_name != self.app_id:
                title.append(f" ({safe(self.app_name, 40)})", style="dim")
            title.append(" · ")
            title.append_text(field_about(self.field))
            yield Static(title, id="pf-about")
            yield Static(Text("Reading the mapping…", style="dim"), id="pf-last")
            editor = CelEditor(self._initial_text or "", debounce=CHECK_DEBOUNCE, id="pf-editor")
            editor.border_title = "CEL (subject, entitlement) · saved empty, it clears the mapping"
            yield editor
            yield Static("", id="pf-test")
            with Vertical(id="pf-check-box") as box:
                box.border_title = "Over everyone"
                yield Static(Text("Checking…", style="dim"), id="pf-check")
        yield Footer()

    @property
    def editor(self) -> CelEditor:
        return self.query_one("#pf-editor", CelEditor)

    def on_mount(self) -> None:
        super().on_mount()
        self.load_setup()

    @property
    def unsaved(self) -> bool:
        if not self._ready:
            return False
        return self.editor.text.strip() != (self.saved or "").strip()

    # Loading ----------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="pf-setup",
        exit_on_error=False,
        name="Reading the mapping",
    )
    def load_setup(self) -> None:
        services = self.services
        version = services.config_version()
        app = next((a for a in services.config().apps if a.id == self.app_id), None)
        if app is None:
            raise NotFound(
                f"There is no app {self.app_id!r} any more (it was deleted); press escape to "
                "go back."
            )
        saved = app.provisioning.fields.get(self.key) if app.provisioning else None
        completions = services.completions(CONTEXT)
        last = services.last_change(self.path)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Setup(version, saved, completions, last))

    def on_provision_field_screen_setup(self, message: ProvisionFieldScreen.Setup) -> None:
        first = not self._ready
        self.version = message.version
        self.saved = message.saved
        self.editor.set_completions(message.completions, "user")
        if first and self._initial_text is None:
            self.editor.text = message.saved or ""
        self.query_one("#pf-last", Static).update(change_line(message.last))
        self._ready = True
        self.refresh_bindings()
        self.changed()

    def reload(self) -> None:
        # The store changed (a sync, a link): test and check again. The version stays the one
        # the admin opened, so saving over someone else's edit is refused, never silent.
        if self._ready:
            self.changed()

    # While typing -------------------------------------------------------------------------

    @on(CelEditor.Changed, "#pf-editor")
    def _text_changed(self, event: CelEditor.Changed) -> None:
        self.changed()

    def changed(self) -> None:
        if not self._ready:
            return
        text = self.editor.text
        self.validate(text)
        self.run_test(text)
        self.run_check(text)

    def edit_for(self, text: str) -> ConfigEdit | None:
        """The edit this text makes: set the mapping, clear it, or nothing (None)."""
        if text.strip():
            return ConfigEdit("set", self.path, value=text)
        if self.saved is not None:
            return ConfigEdit("delete", self.path)
        return None

    def validate(self, text: str) -> None:
        """Check the edit as saving would (problems and warnings under the expression)."""
        edit = self.edit_for(text)
        if edit is None:
            self.editor.clear_problem()
            return
        save_edit(self, self.services, edit, None, dry_run=True, tag=text)

    # One person ---------------------------------------------------------------------------

    def run_test(self, text: str) -> None:
        view = self.query_one("#pf-test", Static)
        if self.person is None:
            self.workers.cancel_group(self, "pf-test")
            view.update(Text("No person to test on: ctrl+o chooses one.", style="yellow"))
            return
        self.test_person(text, self.person.id)

    @work(
        thread=True,
        exclusive=True,
        group="pf-test",
        exit_on_error=False,
        name="Testing the mapping",
    )
    def test_person(self, text: str, person: int) -> None:
        result = self.services.provision_test(self.app_id, self.key, person, text=text)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Tested(text, person, result))

    def on_provision_field_screen_tested(self, message: ProvisionFieldScreen.Tested) -> None:
        if message.text != self.editor.text or self.person is None:
            return  # an older keystroke, or the person changed meanwhile
        if message.person != self.person.id:
            return
        result = message.result
        if result.problem == "compile":
            self.editor.show_problem(
                Problem(result.reason, line=result.line, column=result.column, hint=result.hint)
            )
        self.query_one("#pf-test", Static).update(result_text(result, self.person.label))

    def action_choose_person(self) -> None:
        def chosen(ref: RecordRef | None) -> None:
            if ref is not None:
                self.person = ref
                self.run_test(self.editor.text)
            self.editor.focus()

        self.app.push_screen(RecordPicker(self.services, "user"), chosen)

    # Everyone -----------------------------------------------------------------------------

    def run_check(self, text: str) -> None:
        box = self.query_one("#pf-check-box")
        box.add_class("-stale")  # the numbers shown are the previous text's until this ends
        box.border_subtitle = "checking…"
        self.check_everyone(text)

    def action_check(self) -> None:
        if self._ready:
            self.run_check(self.editor.text)

    @work(
        thread=True,
        exclusive=True,
        group="pf-check",
        exit_on_error=False,
        name="Checking the mapping over everyone",
    )
    def check_everyone(self, text: str) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if not worker.is_cancelled:
                self.post_message(self.Progress(text, done, total))

        check = self.services.provision_check(
            self.app_id,
            self.key,
            text if text.strip() else "",
            progress=progress,
            cancelled=lambda: worker.is_cancelled,
        )
        if not worker.is_cancelled:
            self.post_message(self.Checked(text, check))

    def on_provision_field_screen_progress(self, message: ProvisionFieldScreen.Progress) -> None:
        if message.text == self.editor.text and message.done < message.total:
            box = self.query_one("#pf-check-box")
            box.border_subtitle = f"checking… {message.done:,} of {message.total:,}"

    def on_provision_field_screen_checked(self, message: ProvisionFieldScreen.Checked) -> None:
        if message.text != self.editor.text:
            return
        self.check, self._check_for = message.check, message.text
        box = self.query_one("#pf-check-box")
        box.remove_class("-stale")
        box.border_subtitle = f"{message.check.elapsed_ms / 1000:.1f} s · ctrl+r again"
        self.query_one("#pf-check", Static).update(check_text(message.check))

    # Saving -------------------------------------------------------------------------------

    def action_save(self) -> None:
        if not self._ready or self._saving:
            return
        text = self.editor.text
        if not self.unsaved:
            self.notify("The mapping is as saved; nothing to save.")
            return
        if self._problems_for == text:
            self.notify(
                "The mapping has a problem (shown under it); fix it before saving.",
                severity="error",
            )
            return
        edit = self.edit_for(text)
        if edit is None:  # pragma: no cover - unsaved means there is an edit
            return
        if edit.op == "delete":
            self.confirm_clear(edit)
            return
        check = self.check if self._check_for == text else None
        if check is not None and (check.blocked or check.shared or check.taken):
            self.confirm_blocking(edit, check)
            return
        self.save(edit)

    def confirm_clear(self, edit: ConfigEdit) -> None:
        message = clear_message(self.app_id, self.field, self.saved or "")
        self.ask(ConfirmModal("Clear the mapping", message, "Clear", destructive=True), edit)

    def confirm_blocking(self, edit: ConfigEdit, check: FieldCheck) -> None:
        message = Text()
        if check.blocked:
            message.append(f"With this mapping {check.blocked:,} of {check.total:,} people ")
            message.append("would get no account", style="bold red")
            message.append(
                f" in {safe(self.app_id)} (an empty required value, an invalid value or an "
                f"error); {check.blocked_without_account:,} of them have none there yet, and "
                "the others keep theirs.\n\n"
            )
        else:  # every value fits, and yet the app takes each one once (a unique field)
            message.append(
                f"With this mapping some people would get a value that {safe(self.app_id)} "
            )
            message.append("refuses a second time", style="bold red")
            message.append(": another person's, or an account's it already has.\n\n")
        message.append_text(check_text(check))
        message.append("\n\nSave anyway?")
        modal = ConfirmModal(
            "Save a mapping that fails for some", message, "Save", start_on_cancel=True
        )
        self.ask(modal, edit)  # (it warns: enter keeps the mapping as it was, as the others)

    def ask(self, modal: ConfirmModal, edit: ConfigEdit) -> None:
        self._saving = True

        def answered(yes: bool | None) -> None:
            if yes:
                self.save(edit)
            else:
                self._saving = False
                self.editor.focus()

        self.app.push_screen(modal, answered)

    def save(self, edit: ConfigEdit) -> None:
        self._saving = True
        save_edit(self, self.services, edit, self.version, tag="save")

    def on_edit_saved(self, message: EditSaved) -> None:
        if message.dry_run:
            if message.tag != self.editor.text:
                return
            self._problems_for = None
            warnings = message.result.warnings
            if warnings:
                self.editor.show_problem(warnings[0])
            else:
                self.editor.clear_problem()
            return
        self._saving = False
        result = message.result
        cleared = result.after is None
        self.saved = None if cleared else self.editor.text
        self.version = result.version
        self.query_one("#pf-last", Static).update(change_line(message.last))
        who = f" by {message.last.actor}" if message.last is not None else ""
        verb = "Cleared" if cleared else "Saved"
        self.notify(
            f"{verb} {result.path}{who}. New accounts use it from now on.",
            title=verb,
            markup=False,
        )
        self.store_changed("configuration")
        self.close(True)

    def on_edit_refused(self, message: EditRefused) -> None:
        if message.dry_run:
            if message.tag != self.editor.text or message.conflict:
                return
            self._problems_for = message.tag
            self.show_problems(message.problems, message.message)
            return
        self._saving = False
        if message.conflict:
            offer_reload(
                self, message.error, self.load_setup, keeps="your text stays in the editor"
            )
            return
        self._problems_for = self.editor.text
        self.show_problems(message.problems, message.message)
        self.notify(message.message, title="Not saved", severity="error")

    def show_problems(self, problems: list[Problem], message: str) -> None:
        """The first problem under the expression: its own with line and column, another
        object's (the edit broke something else) with that object's path."""
        own = [p for p in problems if p.path.startswith(self.path)]
        if own:
            self.editor.show_problem(own[0])
        elif problems:
            text = problem_line(problems[0], with_path=True)
            self.editor.show_problem(Problem(text, severity=problems[0].severity))
        else:
            self.editor.show_problem(Problem(message))

    # Leaving --------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        if not self.unsaved:
            self.dismiss(False)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(False)
            else:
                self.editor.focus()

        self.app.push_screen(
            ConfirmModal(
                "Discard the unsaved mapping?",
                plain(
                    f"Leave without saving your changes to {self.app_id}.{self.key}? "
                    "Nothing has been saved."
                ),
                "Discard",
                destructive=True,
            ),
            answered,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action in ("save", "check"):
            return True if self._ready and not self._saving else None
        return True

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == SAVE_GROUP:
            self._saving = False
        elif worker.group == "pf-check":
            self.query_one("#pf-check", Static).update(
                plain("The check could not be run (see the error).", "bold red")
            )
