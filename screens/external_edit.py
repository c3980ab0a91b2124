"""Edit one configuration object in the admin's own editor ($EDITOR), from the console.

`edit_externally(screen, path)` hands the terminal to the editor through Textual's
`App.suspend()` and runs the same round trip as `roster config edit PATH`
(`Services.edit_in_editor`: the object's YAML in a temporary file, validated on save, reopened
with the problems as `# ERROR:` lines until it is valid or abandoned). The Directories and Merge
rules screens bind it to `E`; the command palette offers it for any object path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import SuspendNotSupported
from textual.screen import Screen

from engine.errors import RosterError
from engine.text import printable
from screens.base import RosterScreen
from screens.messages import WorkerFailed

if TYPE_CHECKING:
    from engine.services import EditResult, Services


def _services(screen: Screen[Any]) -> Services:
    services = getattr(screen, "services", None) or getattr(screen.app, "services", None)
    if services is None:  # pragma: no cover - every Roster screen and the app carry one
        raise RuntimeError("no Services to edit the configuration with")
    return services  # type: ignore[no-any-return]


async def edit_externally(screen: Screen[Any], path: str | None) -> EditResult | None:
    """Open the object at PATH (None or "" = the whole configuration) in $EDITOR; the saved
    edit, or None when nothing was changed (abandoned, refused, or the terminal cannot be
    handed over). Problems reach the app's error dialog; a saved edit tells every screen."""
    app = screen.app
    services = _services(screen)
    where = printable(path, 200) if path else "the whole configuration"
    what = f"Editing {where} in your editor"
    try:
        services.config_get(path or "")  # a wrong path is refused before the screen goes
        failure: BaseException | None = None
        with app.suspend():
            # Textual's suspend() resumes the screen only when its block ends normally: an
            # error raised inside would leave the terminal in line mode with a blank screen.
            try:
                result = services.edit_in_editor(path or "")
            except Exception as exc:  # raised again below, once the console is back
                failure, result = exc, None
        if failure is not None:
            raise failure
    except SuspendNotSupported:
        app.notify(
            "This terminal cannot be handed to an editor (is Roster running in a browser?). "
            f"Use `roster config edit {path or ''}` in a shell instead.",
            title="Edit in $EDITOR",
            severity="error",
        )
        return None
    except RosterError as exc:
        app.post_message(WorkerFailed(what, exc))
        return None
    if result is None:
        app.notify(
            f"{where}: the edit was abandoned; nothing was changed.", title="$EDITOR", markup=False
        )
        return None
    if not result.applied:
        app.notify(
            f"{where} already says this; nothing was changed.", title="$EDITOR", markup=False
        )
        return result
    count = len(result.changes)
    app.notify(
        f"Saved {where} ({count} change{'s' if count != 1 else ''}).", title="$EDITOR", markup=False
    )
    for warning in result.warnings[:3]:
        app.notify(str(warning), title="Warning", severity="warning")
    if isinstance(screen, RosterScreen):
        screen.store_changed("configuration")
    else:
        from screens.messages import StoreChanged

        app.post_message(StoreChanged("configuration"))
    return result
