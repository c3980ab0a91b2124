"""One way for a screen or dialog to save a configuration edit (docs/configuration.md).

Every editor saves the same way: `Services.config_edit` in a thread worker with the version the
editor was opened at; the outcome comes back as a message to the node that asked (`EditSaved` or
`EditRefused`), so a screen handles it on the UI thread. A refusal is either a conflict (someone
saved first: `offer_reload` asks before anything is thrown away) or problems named by object path
(`problem_line` says where, for showing under the field they belong to).

    class MyEditor(RosterModal[...]):
        def action_save(self) -> None:
            save_edit(self, self.services, ConfigEdit("set", path, value=doc), self.version)

        def on_edit_saved(self, message: EditSaved) -> None: ...
        def on_edit_refused(self, message: EditRefused) -> None:
            if message.conflict:
                offer_reload(self, message.error, self.reload)
            else:
                for problem in message.problems: ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker

from engine.errors import ConfigConflict, ConfigInvalid, Problem
from screens.modals.confirm import ConfirmModal
from screens.text import plain

if TYPE_CHECKING:
    from engine.services import AuditEntry, ConfigEdit, EditResult, Services

SAVE_GROUP = "config-save"


class EditSaved(Message):
    """The edit was saved (or, for a dry run, would be valid): its result and, after a real
    save, the audit entry it wrote."""

    def __init__(
        self, result: EditResult, last: AuditEntry | None, dry_run: bool, tag: str
    ) -> None:
        super().__init__()
        self.result = result
        self.last = last
        self.dry_run = dry_run
        self.tag = tag


class EditRefused(Message):
    """The edit was refused: a conflict (offer a reload) or problems (show them)."""

    def __init__(self, error: ConfigConflict | ConfigInvalid, dry_run: bool, tag: str) -> None:
        super().__init__()
        self.error = error
        self.dry_run = dry_run
        self.tag = tag

    @property
    def conflict(self) -> bool:
        return isinstance(self.error, ConfigConflict)

    @property
    def problems(self) -> list[Problem]:
        return list(getattr(self.error, "problems", None) or [])

    @property
    def message(self) -> str:
        return self.error.message


def save_edit(
    node: DOMNode,
    services: Services,
    edit: ConfigEdit,
    version: str | None,
    *,
    dry_run: bool = False,
    tag: str = "",
) -> Worker[None]:
    """Check (dry_run) or save EDIT in a worker; `node` receives EditSaved or EditRefused.

    `tag` comes back on the message, for a node that saves more than one kind of thing. Any
    other failure is reported by the worker machinery (RosterScreen/RosterModal forward it to
    the app's error dialog); `worker_failed` sees the group SAVE_GROUP.
    """

    def run() -> None:
        try:
            result = services.config_edit(edit, expected_version=version, dry_run=dry_run)
        except (ConfigConflict, ConfigInvalid) as error:
            node.post_message(EditRefused(error, dry_run, tag))
            return
        last = None if dry_run else services.last_change(result.path)
        node.post_message(EditSaved(result, last, dry_run, tag))

    return node.run_worker(
        run,
        thread=True,
        exclusive=not dry_run,
        group=SAVE_GROUP if not dry_run else f"{SAVE_GROUP}-check",
        exit_on_error=False,
        name="Checking the change" if dry_run else "Saving the change",
    )


def problem_line(problem: Problem, *, with_path: bool = False) -> str:
    """A problem for showing under its field: "line 2, column 5: message (hint)"; the object
    path is left out unless asked for (the field already says where)."""
    where = problem.path if with_path and problem.path else ""
    if problem.line is not None:
        where += (", " if where else "") + f"line {problem.line}"
        where += f", column {problem.column}" if problem.column else ""
    text = f"{where}: {problem.message}" if where else problem.message
    return text + (f" ({problem.hint})" if problem.hint else "")


def problems_text(
    error: ConfigConflict | ConfigInvalid | Sequence[Problem], limit: int = 5
) -> Text:
    """A refusal as plain text: the message, then up to `limit` problems with their paths."""
    out = Text()
    problems: Sequence[Problem]
    if isinstance(error, ConfigConflict | ConfigInvalid):
        out.append("Not saved: ", style="bold red")
        out.append_text(plain(error.message, lines=True))
        problems = getattr(error, "problems", None) or []
    else:
        problems = error
    for problem in list(problems)[:limit]:
        if out:
            out.append("\n")
        out.append_text(plain(problem_line(problem, with_path=True), lines=True))
    if len(problems) > limit:
        out.append(f"\n… and {len(problems) - limit} more", style="dim")
    return out


def offer_reload(
    node: DOMNode,
    error: ConfigConflict | ConfigInvalid,
    reload: Callable[[], Any] | None,
    *,
    keeps: str = "your changes stay here to copy",
) -> None:
    """Someone saved first: say who and when, and reload only if the admin says so."""
    text = plain(error.message, lines=True)
    text.append(
        "\n\nNothing was saved. Reload shows the configuration as it is now; "
        f"cancel keeps editing ({keeps})."
    )

    def answered(yes: bool | None) -> None:
        if yes and reload is not None:
            reload()

    node.app.push_screen(ConfirmModal("Changed meanwhile", text, "Reload"), answered)
