"""Messages screens send to the app."""

from __future__ import annotations

from textual.message import Message


class WorkerFailed(Message):
    """A background job of a screen failed; the app shows it to the admin in one place."""

    def __init__(self, what: str, error: BaseException | None) -> None:
        super().__init__()
        self.what = what  # e.g. "Loading the dashboard"
        self.error = error
