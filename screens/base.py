"""What every Roster screen shares: the engine facade and the report of failed workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from screens.messages import WorkerFailed

if TYPE_CHECKING:
    from engine.services import Services

ResultT = TypeVar("ResultT")


def report_failed_worker(node: Screen[Any], event: Worker.StateChanged) -> None:
    """Forward a failed worker to the app's one error handler (worker events do not bubble)."""
    if event.state is WorkerState.ERROR:
        worker = event.worker
        node.app.post_message(WorkerFailed(worker.name or "A background task", worker.error))


class RosterScreen(Screen[None]):
    """A full screen of the console, driving the engine through `services`."""

    #: Shown in the header, the help dialog and the command palette.
    TITLE_TEXT = "Roster"

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.sub_title = self.TITLE_TEXT

    def worker_failed(self, worker: Worker[Any]) -> None:
        """Hook: put the screen in a sensible state after one of its workers failed."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.worker_failed(event.worker)
        report_failed_worker(self, event)


class RosterModal(ModalScreen[ResultT]):
    """A modal that may run workers; their failures reach the app's handler too."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
