"""Messages screens send to the app."""

from __future__ import annotations

from textual.message import Message


class WorkerFailed(Message):
    """A background job of a screen failed; the app shows it to the admin in one place."""

    def __init__(self, what: str, error: BaseException | None) -> None:
        super().__init__()
        self.what = what  # e.g. "Loading the dashboard"
        self.error = error


class StoreChanged(Message, bubble=False):
    """What the screens show may be out of date: a run ended (a sync, a dry run, a
    provisioning run), a manual decision was saved, or the configuration was imported.

    A screen (or anything else) posts it to the app with `origin` set to itself; the app
    counts the change and posts a copy to every screen that is shown, except the origin, which
    already shows the outcome. Each screen handles it by reloading; a screen of another mode
    reloads when it is next shown (`RosterScreen` does both).
    """

    # not bubbling: the app forwards it to the screens, and it must not come back up

    def __init__(self, what: str, origin: object | None = None, run_id: int | None = None) -> None:
        super().__init__()
        self.what = what  # "run", "decision", "configuration" or "elsewhere" (another process)
        self.origin = origin
        self.run_id = run_id
