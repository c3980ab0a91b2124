"""Try a provisioning field's expression: edit it in the CEL editor and see, live, the value and
type it gives for the chosen person, or the reason it fails. Nothing is saved: mappings live in
the configuration file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from engine.errors import Problem
from screens.base import RosterModal
from screens.text import safe, value
from screens.widgets.cel_editor import CelEditor

if TYPE_CHECKING:
    from engine.services import Completions, FieldResult, RecordRef, Services

CONTEXT = "provisioning_field"


class ProvisionTryModal(RosterModal[None]):
    """Edit one field's expression and test it against one person; esc closes."""

    DEFAULT_CSS = """
    ProvisionTryModal {
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
        & .try--about { height: auto; max-height: 3; color: $text-muted; }
        & CelEditor { height: auto; max-height: 12; }
        & .try--result { height: auto; max-height: 4; margin-top: 1; }
        & .try--footer { height: 1; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Close; nothing is saved"),
    ]

    class Ready(Message):
        def __init__(self, completions: Completions, subject_kind: str) -> None:
            super().__init__()
            self.completions = completions
            self.subject_kind = subject_kind

    class Tested(Message):
        def __init__(self, text: str, result: FieldResult) -> None:
            super().__init__()
            self.text = text
            self.result = result

    def __init__(
        self,
        services: Services,
        app_id: str,
        field: dict[str, Any],
        expression: str,
        person: RecordRef,
    ) -> None:
        super().__init__()
        self.services = services
        self.app_id = app_id
        self.field = field
        self.expression = expression.strip()
        self.person = person

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(
                f"Try {safe(self.app_id, 40)}.{safe(self.field['key'], 40)} — nothing is saved"
            )
            about = Text()
            about.append(safe(self.field["key"]), style="bold")
            about.append(f" · {safe(self.field.get('type', 'string'))}")
            if self.field.get("required"):
                about.append(" · required", style="yellow")
            about.append(f" · for {safe(self.person.label)}")
            if not self.expression:
                about.append("\nNot mapped now: type an expression to try one.")
            yield Static(about, classes="try--about")
            yield CelEditor(self.expression, id="try-editor")
            yield Static("Testing…", classes="try--result", id="try-result")
            yield Static(
                "esc closes · to keep it, put it in the configuration file", classes="try--footer"
            )

    def on_mount(self) -> None:
        self.query_one(CelEditor).focus()
        self.setup()
        self.run_test_of(self.expression)

    @work(
        thread=True,
        exclusive=True,
        group="try-setup",
        exit_on_error=False,
        name="Loading completions",
    )
    def setup(self) -> None:
        completions = self.services.completions(CONTEXT)
        spec = self.services.contexts()[CONTEXT]
        self.post_message(self.Ready(completions, spec.subject_kind))

    def on_provision_try_modal_ready(self, message: ProvisionTryModal.Ready) -> None:
        self.query_one(CelEditor).set_completions(message.completions, message.subject_kind)

    @on(CelEditor.Changed)
    def _changed(self, event: CelEditor.Changed) -> None:
        self.run_test_of(event.text)

    def run_test_of(self, text: str) -> None:
        self.test_text(text)

    @work(
        thread=True,
        exclusive=True,
        group="try-test",
        exit_on_error=False,
        name="Testing the expression",
    )
    def test_text(self, text: str) -> None:
        result = self.services.provision_test(
            self.app_id, self.field["key"], self.person.id, text=text
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self.Tested(text, result))

    def on_provision_try_modal_tested(self, message: ProvisionTryModal.Tested) -> None:
        editor = self.query_one(CelEditor)
        if message.text != editor.text:
            return  # an older keystroke
        result = message.result
        view = self.query_one("#try-result", Static)
        text = Text()
        if result.ok:
            editor.clear_problem()
            text.append("Value ", style="dim")
            text.append_text(value(result.value, style="bold green", empty="— (empty)"))
            text.append("  type ", style="dim")
            text.append(safe(result.type), style="bold cyan")
            text.append(f"  (from {safe(result.source)})", style="dim")
            if result.note:
                text.append(f"\n{safe(result.note)}", style="dim")
        else:
            if result.line is not None:
                editor.show_problem(
                    Problem(result.reason, line=result.line, column=result.column, hint=result.hint)
                )
            else:
                editor.clear_problem()
            text.append("✗ ", style="bold red")
            text.append(safe(result.reason, lines=True), style="red")
            if result.hint and result.line is None:
                text.append(f"\nHint: {safe(result.hint)}", style="dim")
        view.update(text)

    def action_close(self) -> None:
        self.dismiss(None)
