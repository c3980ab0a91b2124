"""The accounts the next sync creates for approved access requests, and those it cannot."""

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
from screens.text import safe

if TYPE_CHECKING:
    from engine.services import ProvisionQueue, Services


class ProvisionQueueModal(RosterModal[None]):
    """Loads `services.provision_queue()` in a worker and shows it; esc closes."""

    DEFAULT_CSS = """
    ProvisionQueueModal {
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
        & #queue-scroll { height: auto; max-height: 20; }
        & #queue-body { height: auto; }
        & .queue--hint { height: auto; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,a", "close", "Close")]

    class Loaded(Message):
        def __init__(self, queue: ProvisionQueue) -> None:
            super().__init__()
            self.queue = queue

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Queue — accounts for approved access requests"
            with VerticalScroll(id="queue-scroll"):
                yield Static("Reading the access requests…", id="queue-body")
            yield Static(
                "The next sync creates the ready ones (apps marked auto). ↑↓ scroll, esc closes.",
                classes="queue--hint",
            )

    def on_mount(self) -> None:
        self.query_one("#queue-scroll").focus()
        self.load()

    @work(thread=True, exclusive=True, group="queue", exit_on_error=False, name="Reading the queue")
    def load(self) -> None:
        self.post_message(self.Loaded(self.services.provision_queue()))

    def on_provision_queue_modal_loaded(self, message: ProvisionQueueModal.Loaded) -> None:
        queue = message.queue
        body = Text()
        ready = queue.ready
        if not ready and not queue.problems:
            body.append("Nothing waits: every approved request has its account.", style="green")
        for item in ready:
            body.append("ready  ", style="bold green")
            body.append(f"{safe(item.app)} ", style="bold")
            body.append(safe(f"for {item.user} (request {item.request})") + "\n")
        for problem in queue.problems:
            body.append("✗      ", style="bold red")
            body.append(f"{safe(problem)}\n")
        counts = queue.counts
        if counts:
            body.append(
                "\n"
                + safe(" · ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items()))),
                style="dim",
            )
        self.query_one("#queue-body", Static).update(body)

    def action_close(self) -> None:
        self.dismiss(None)
