"""Command palette (ctrl+p): the screens, the actions of the current screen, help and quit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from screens.text import safe

if TYPE_CHECKING:
    from console.app import RosterApp

# Textual's own screen keys: not worth a palette entry (and copy needs a clipboard the jump
# host does not have, so help leaves it out too).
GENERIC_ACTIONS = frozenset({"app.focus_next", "app.focus_previous", "screen.copy_text"})


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    callback: Callable[[], Any]


async def start_sync(app: RosterApp, action: str) -> None:
    """Switch to the Sync screen and start one of its actions there (plan, sync_now)."""
    await app.switch_mode("sync")
    await app.run_action(action, app.screen)


async def edit_in_editor(app: RosterApp) -> None:
    """Ask for an object path, then open that object in $EDITOR (screens/external_edit.py)."""
    from screens.external_edit import edit_externally
    from screens.modals.object_path import ObjectPathModal

    async def chosen(path: str | None) -> None:
        if path is not None:
            await edit_externally(app.screen, path)

    await app.push_screen(ObjectPathModal(), chosen)


class RosterCommands(Provider):
    """Context-aware: what the palette offers follows the screen it was opened on."""

    @property
    def roster_app(self) -> RosterApp:
        return self.app  # type: ignore[return-value]

    def commands(self) -> list[PaletteCommand]:
        app = self.roster_app
        found: list[PaletteCommand] = []
        current = app.current_mode
        for info in app.SCREEN_INFOS:
            if info.mode == current:
                continue
            found.append(
                PaletteCommand(
                    f"Go to {info.title}",
                    f"{info.summary} (key {info.key})",
                    partial(app.action_show_screen, info.mode),
                )
            )
        screen = self.screen
        title = getattr(screen, "TITLE_TEXT", "")
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is app or not active.enabled:
                continue
            if not binding.show and active.node is not screen:
                continue
            if binding.action in GENERIC_ACTIONS or binding.action == "app.command_palette":
                continue
            if binding.key == "escape":
                continue  # cancelling or leaving only makes sense from the keyboard
            if binding.action in seen or not binding.description:
                continue
            seen.add(binding.action)
            key = app.get_key_display(binding)
            found.append(
                PaletteCommand(
                    f"{title}: {binding.description}" if title else binding.description,
                    f"{binding.tooltip} (key {key})" if binding.tooltip else f"key {key}",
                    partial(app.run_action, binding.action, active.node),
                )
            )
        if (
            current not in ("sync", "dashboard")
            and any(info.mode == "sync" for info in app.SCREEN_INFOS)
            and app.permits("operator")
        ):
            found.append(
                PaletteCommand(
                    "Sync: plan a sync (dry run)",
                    "Go to Sync and compute every change without applying (key p there)",
                    partial(start_sync, app, "plan"),
                )
            )
            found.append(
                PaletteCommand(
                    "Sync: sync now",
                    "Go to Sync; the plan is shown for your confirmation first (key s there)",
                    partial(start_sync, app, "sync_now"),
                )
            )
        if app.permits("admin"):
            found.append(
                PaletteCommand(
                    "Edit a configuration object in $EDITOR…",
                    "Open one object (directories.hr, push_rules.x.condition, …) or the whole "
                    "configuration in your editor; validated on save, audited",
                    partial(edit_in_editor, app),
                )
            )
        found.append(PaletteCommand("Help: keys of this screen", "key ? or F1", app.action_help))
        found.append(
            PaletteCommand("Quit Roster", "key ctrl+q (or q outside text fields)", app.action_quit)
        )
        return found

    async def discover(self) -> Hits:
        for command in self.commands():
            title = safe(command.title)
            yield DiscoveryHit(
                Content(title), command.callback, text=title, help=help_text(command)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            title = safe(command.title)
            score, offsets = matcher.fuzzy_search.match(matcher.query, title)
            if score > 0:
                # Matcher.highlight would read the title as markup: highlight plain text instead.
                shown = Content(title)
                for offset in offsets:
                    if not title[offset].isspace():
                        shown = shown.stylize(matcher.match_style, offset, offset + 1)
                yield Hit(score, shown, command.callback, text=title, help=help_text(command))


class ScreenCommands(Provider):
    """Only the screens, with their number keys: what the footer's "1-9 Screens" opens."""

    def commands(self) -> list[PaletteCommand]:
        app: RosterApp = self.app  # type: ignore[assignment]
        return [
            PaletteCommand(
                f"{info.key} {info.title}",
                info.summary,
                partial(app.action_show_screen, info.mode),
            )
            for info in app.SCREEN_INFOS
            if info.mode != app.current_mode
        ]

    async def discover(self) -> Hits:
        for command in self.commands():
            title = safe(command.title)
            yield DiscoveryHit(
                Content(title), command.callback, text=title, help=help_text(command)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            title = safe(command.title)
            score = matcher.match(title)
            if score > 0:
                shown = Content(title)
                yield Hit(score, shown, command.callback, text=title, help=help_text(command))


def help_text(command: PaletteCommand) -> str:
    """The palette reads a hit's help as markup: escape it, after making it printable."""
    return escape(safe(command.help))
