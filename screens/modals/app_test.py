"""Testing one app's connection from the dashboard (`t` on the apps list): what
`roster app test APP` shows — whether the app answered, where Roster looked, a few accounts and
the fields found — read in a worker so a slow server never freezes the console."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from screens.base import RosterModal
from screens.text import clip, label, safe

if TYPE_CHECKING:
    from engine.services import AppTest, Services


class AppTestModal(RosterModal[None]):
    """Runs `services.app_test(app_id)` in a worker and shows the result; `r` tests again,
    esc closes."""

    DEFAULT_CSS = """
    AppTestModal {
        align: center middle;
        & > Vertical {
            width: 100;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & #app-test-scroll { height: auto; max-height: 24; }
        & #app-test-body { height: auto; }
        & .app-test--hint { height: auto; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("r", "retest", "Test again", tooltip="Connect to the app again"),
    ]

    class Tested(Message):
        def __init__(self, result: AppTest) -> None:
            super().__init__()
            self.result = result

    def __init__(self, services: Services, app_id: str) -> None:
        super().__init__()
        self.services = services
        self.app_id = app_id

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Test app {safe(self.app_id, 60)}"
            with VerticalScroll(id="app-test-scroll"):
                yield Static("", id="app-test-body")
            yield Static(
                "Nothing is written to the app or the store. r tests again, esc closes.",
                classes="app-test--hint",
            )

    def on_mount(self) -> None:
        self.query_one("#app-test-scroll").focus()
        self.action_retest()

    def action_retest(self) -> None:
        self.query_one("#app-test-body", Static).update(
            label(("Connecting to ", "dim"), (self.app_id, "bold"), ("…", "dim"))
        )
        self.probe_app()

    @work(
        thread=True, exclusive=True, group="app-test", exit_on_error=False, name="Testing the app"
    )
    def probe_app(self) -> None:
        self.post_message(self.Tested(self.services.app_test(self.app_id)))

    def on_app_test_modal_tested(self, message: AppTestModal.Tested) -> None:
        self.query_one("#app-test-body", Static).update(result_text(message.result))

    def action_close(self) -> None:
        self.dismiss(None)


def result_text(result: AppTest) -> Text:
    """The result as the admin reads it; every value from the app shown literally."""
    body = Text()
    where = f" · {result.server}" if result.server else ""
    body.append_text(label((f"{result.kind} connector{where}", "dim")))
    body.append(f" · {result.elapsed:.2f} s\n", style="dim")
    if not result.ok:
        body.append("✗ ", style="bold red")
        body.append(safe(result.message, lines=True))
        return body
    body.append("✓ ", style="bold green")
    body.append(safe(result.message) + "\n")
    for account in result.accounts:
        name = account["display_name"] or account["username"] or account["email"]
        body.append("\n  ")
        body.append_text(clip(account["external_id"], 38, "dim"))
        body.append("  ")
        body.append_text(clip(name, 24, "bold"))
        body.append("  ")
        body.append_text(clip(account["email"], 30))
        if account["status"] != "ENABLED":
            body.append_text(clip(f"  {account['status']}", 12, "yellow"))
    if result.fields:
        body.append("\n\nFields found: ", style="bold")
        body.append(safe(", ".join(result.fields), lines=True))
    return body
