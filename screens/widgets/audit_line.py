"""How the console shows the last change of a configuration object: "changed by alice 10 min
ago", and the change itself as a few `-`/`+` YAML lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.dom import DOMNode
from textual.message import Message
from textual.worker import get_current_worker

from screens.text import safe

if TYPE_CHECKING:
    from engine.services import AuditEntry, Services

DIFF_LINES = 6


def ago(at: datetime, now: datetime | None = None) -> str:
    """`at` relative to now: "just now", "3 min ago", "2 h ago", "5 days ago"."""
    now = now or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = (now - at).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h ago"
    return f"{hours // 24} days ago"


ACTIONS = {"config.edit": "changed", "config.import": "imported"}


def change_line(entry: AuditEntry | None, *, now: datetime | None = None) -> Text:
    """ "Last change: changed by alice 10 min ago (2025-06-01 10:00 UTC), directories.hr.filter"."""
    text = Text()
    text.append("Last change: ", style="dim")
    if entry is None:
        text.append("none recorded", style="dim")
        return text
    verb = ACTIONS.get(entry.action, entry.action)
    text.append(f"{safe(verb)} by ")
    text.append(safe(entry.actor, 60), style="bold")
    text.append(f" {ago(entry.at, now)}")
    text.append(f" ({safe(entry.when())})", style="dim")
    text.append(", ", style="dim")
    text.append(safe(entry.path, 80), style="cyan")
    return text


def change_diff(entry: AuditEntry | None, lines: int = DIFF_LINES) -> Text:
    """The change's first `-`/`+` YAML lines (what the edit did)."""
    text = Text()
    if entry is None:
        return text
    if entry.action != "config.edit":
        text.append(
            f"(the whole {safe(entry.path, 60)} section; roster audit --object shows it)",
            style="dim",
        )
        return text
    diff = entry.diff()
    if len(diff) > lines:  # both sides: the first lines removed and the first lines added
        half = lines // 2
        removed = [line for line in diff if line.startswith("-")]
        added = [line for line in diff if not line.startswith("-")]
        shown = removed[: max(half, lines - len(added))]
        shown += added[: lines - len(shown)]
    else:
        shown = diff
    for index, line in enumerate(shown):
        if index:
            text.append("\n")
        style = "red" if line.startswith("-") else "green" if line.startswith("+") else "dim"
        text.append(safe(line, 200), style=style)
    if len(diff) > len(shown):
        text.append(
            f"\n… {len(diff) - len(shown)} more lines: roster audit --object {safe(entry.path)}",
            style="dim",
        )
    return text


class LastChangeLoaded(Message):
    """The last audit entry of an object, read for a screen; `key` is what the screen asked
    with (an app, a rule name, a path), so it can tell whether it still shows that object."""

    def __init__(self, key: str, entry: AuditEntry | None) -> None:
        super().__init__()
        self.key = key
        self.entry = entry


def load_last_change(node: DOMNode, services: Services, path: str, key: str | None = None) -> None:
    """Read PATH's last change in a worker (one at a time per screen: a newer request cancels
    an older one); `node` receives LastChangeLoaded(key or path, entry)."""

    def run() -> None:
        entry = services.last_change(path)
        if not get_current_worker().is_cancelled:
            node.post_message(LastChangeLoaded(path if key is None else key, entry))

    node.run_worker(
        run,
        thread=True,
        exclusive=True,
        group="last-change",
        exit_on_error=False,
        name="Reading the last change",
    )
