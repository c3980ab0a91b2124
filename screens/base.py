"""What every Roster screen shares: the engine facade and the report of failed workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual.await_complete import AwaitComplete
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer
from textual.worker import Worker, WorkerState

from engine.roles import permits
from screens.messages import StoreChanged, WorkerFailed

if TYPE_CHECKING:
    from engine.services import Services

ResultT = TypeVar("ResultT")

_NOTHING = object()


class _Closes:
    """`close()`: dismiss, but only while the screen is the one shown. A save that lands while
    the admin looks at another screen (1-9 switch modes) must not pop that screen: the editor
    closes when the admin comes back to it."""

    _close_pending: Any = _NOTHING

    def close(self, result: Any = None) -> None:
        screen: Any = self
        if screen.is_current:
            screen.dismiss(result)
        else:
            self._close_pending = result

    def close_if_pending(self) -> bool:
        if self._close_pending is _NOTHING:
            return False
        result, self._close_pending = self._close_pending, _NOTHING
        self.close(result)
        return True


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the table's cursor (None: no rows). A list refilled by a
    reload keeps this row, not the one its screen last heard of: a key that moved the cursor
    may not have reached the screen yet."""
    if not table.row_count:
        return None
    value = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None if value is None else str(value)


def role_permits(node: Any, needs: dict[str, str], action: str) -> bool:
    """Whether the admin's role (the app's `role`, engine.roles) may run ACTION of a screen
    whose actions need NEEDS. A key the role may not use is not shown (check_action); the
    engine refuses the action anyway."""
    needed = needs.get(action)
    return needed is None or permits(getattr(node.app, "role", "admin"), needed)


def report_failed_worker(node: Screen[Any], event: Worker.StateChanged) -> None:
    """Forward a failed worker to the app's one error handler (worker events do not bubble)."""
    if event.state is WorkerState.ERROR:
        worker = event.worker
        node.app.post_message(WorkerFailed(worker.name or "A background task", worker.error))


class RosterScreen(_Closes, Screen[None]):
    """A full screen of the console, driving the engine through `services`."""

    #: Shown in the header, the help dialog and the command palette.
    TITLE_TEXT = "Roster"
    #: The role each action that changes something needs (engine.roles); the other actions
    #: (looking, previewing) are everyone's. A screen's check_action asks `permits` first.
    NEEDS: ClassVar[dict[str, str]] = {}

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self.sub_title = self.TITLE_TEXT
        self._store_seen: int | None = None  # the app's store generation this screen shows

    def on_mount(self) -> None:
        # the compact footer (less space between keys) keeps the global keys on an 80-column line
        for footer in self.query(Footer):
            footer.compact = True
        if "save" in self.NEEDS and not self.permits("save"):  # an editor, for a viewer
            self.notify(
                f"A preview only: saving needs the {self.NEEDS['save']} role (roster users).",
                title="Your role",
                markup=False,
                timeout=8,
            )

    # The store changed (a run ended, a decision, a configuration import) --------------------

    def permits(self, action: str) -> bool:
        return role_permits(self, self.NEEDS, action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.permits(action)

    def role_changed(self) -> None:
        """Hook: the admin's role changed (the keys follow by themselves): say again what
        the screen's own hints offer."""

    def reload(self) -> None:
        """Hook: read again everything the screen shows, keeping the admin's place."""

    def store_changed(self, what: str, run_id: int | None = None) -> None:
        """Tell the app (and so every other screen) that this screen changed the store."""
        self.app.post_message(StoreChanged(what, origin=self, run_id=run_id))

    def store_seen(self, generation: int) -> None:
        self._store_seen = generation

    def store_is_stale(self) -> bool:
        current = getattr(self.app, "store_generation", 0)
        return self._store_seen is not None and self._store_seen != current

    def on_store_changed(self, message: StoreChanged) -> None:
        self._store_seen = getattr(self.app, "store_generation", 0)
        self.reload()

    def on_screen_resume(self) -> None:
        if self.close_if_pending():
            return
        # Shown again: reload if the store changed while another screen was shown.
        if self._store_seen is None:  # first shown: on_mount loads
            self._store_seen = getattr(self.app, "store_generation", 0)
        elif self.store_is_stale():
            self._store_seen = getattr(self.app, "store_generation", 0)
            self.reload()

    def worker_failed(self, worker: Worker[Any]) -> None:
        """Hook: put the screen in a sensible state after one of its workers failed."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.worker_failed(event.worker)
        report_failed_worker(self, event)


class DismissOnce:
    """A dialog answers once: an enter typed twice (both queued before the first closed it)
    dismissed it twice, ran its answer twice and stopped the console on popping a screen that
    was gone (hostile review). Listed before ModalScreen among a dialog's bases."""

    _dismissed = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._dismissed:
            return AwaitComplete()
        self._dismissed = True
        return super().dismiss(result)  # type: ignore[misc,no-any-return]


class RosterModal(_Closes, DismissOnce, ModalScreen[ResultT]):
    """A modal that may run workers; their failures reach the app's handler too."""

    def on_screen_resume(self) -> None:
        self.close_if_pending()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failed_worker(self, event)
