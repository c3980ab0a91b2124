"""The Roster console: wires the screens, the keys, the command palette and the error dialog.

The CLI builds `Services` and calls `RosterApp(services).run()`; tests build the same app over a
temporary database. Nothing here opens a database or touches files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input, TextArea

from console.crash import crash_message, write_crash_report
from console.palette import GENERIC_ACTIONS, RosterCommands
from engine.errors import RosterError
from engine.roles import article, may, permits
from screens.base import RosterScreen
from screens.messages import StoreChanged, WorkerFailed
from screens.modals.confirm import ConfirmModal
from screens.modals.error import ErrorModal
from screens.modals.help import HelpModal
from screens.text import safe

if TYPE_CHECKING:
    from engine.services import Services


FRIENDLY = {
    "app.focus_next": "Move to the next control",
    "app.focus_previous": "Move to the previous control",
}


@dataclass(frozen=True)
class ScreenInfo:
    mode: str
    key: str
    title: str
    summary: str
    # "module:Class": imported when the screen is first opened, so starting the console
    # imports only the first screen's code
    screen: str

    def build(self, services: Services) -> Screen[Any]:
        module, name = self.screen.split(":")
        factory: Callable[[Services], Screen[Any]] = getattr(import_module(module), name)
        return factory(services)


SCREEN_INFOS: tuple[ScreenInfo, ...] = (
    ScreenInfo(
        "dashboard",
        "1",
        "Dashboard",
        "People, accounts, unowned and unmerged accounts, apps, last runs, warnings",
        "screens.dashboard:DashboardScreen",
    ),
    ScreenInfo(
        "directories",
        "2",
        "Directories",
        "Directories in priority order, their filters and counts; add, edit, reorder, delete",
        "screens.directories:DirectoriesScreen",
    ),
    ScreenInfo(
        "merge",
        "3",
        "Merge rules",
        "Directories' merge rules and apps' ownership, the match matrix; link unowned accounts",
        "screens.merge_rules:MergeRulesScreen",
    ),
    ScreenInfo(
        "attributes",
        "4",
        "Attributes",
        "Standard and custom attributes: sources, flow rules, values and errors; add and edit",
        "screens.attributes:AttributesScreen",
    ),
    ScreenInfo(
        "push",
        "5",
        "Push rules",
        "Targets, targeting and mappings; the push plan (who gets which changes); history",
        "screens.push_rules:PushRulesScreen",
    ),
    ScreenInfo(
        "provisioning",
        "6",
        "Provisioning",
        "Per app: creation fields, mappings, types; test a field; create an account",
        "screens.provisioning:ProvisioningScreen",
    ),
    ScreenInfo(
        "users",
        "7",
        "Users",
        "Search people: attributes and why, linked accounts; link, unlink, pin",
        "screens.users:UsersScreen",
    ),
    ScreenInfo(
        "sync",
        "8",
        "Sync",
        "Plan a sync (dry run) or sync now, with progress; the plan as a tree; run history",
        "screens.sync:SyncScreen",
    ),
    ScreenInfo(
        "playground",
        "9",
        "CEL playground",
        "Try a CEL expression against one record or all of them",
        "screens.playground:PlaygroundScreen",
    ),
)


class RosterApp(App[None]):
    """Roster's console. Give it the engine facade; it never opens a database itself."""

    TITLE = "Roster"
    CSS = """
    Footer FooterLabel { margin-right: 1; }
    Footer.-compact KeyGroup.-compact { padding-left: 0; }
    """
    COMMANDS = App.COMMANDS | {RosterCommands}
    # How often the console asks whether another process changed the store (a cheap query).
    STORE_POLL_SECONDS: float = 3.0
    SCREEN_INFOS = SCREEN_INFOS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            priority=True,
            id="app.quit",
            tooltip="Quit Roster (q also quits, outside text fields)",
        ),
        Binding(
            "q",
            "quit",
            "Quit",
            show=False,
            id="app.quit.q",
            tooltip="Quit Roster (q also quits, outside text fields)",
        ),
        # Nine screen keys do not fit an 80-column footer beside a screen's own keys: the
        # footer shows one "1-9 Screens" entry (f2, or a click, lists the screens) and each
        # number key keeps its own line in help and the palette.
        Binding(
            "f2",
            "choose_screen",
            "Screens",
            key_display="1-9",
            tooltip="Keys 1 to 9 go to the screens; f2 lists them",
            id="app.screens",
        ),
        # in a text field the digits are text: the footer then offers f2 instead of 1-9
        Binding(
            "f2",
            "choose_screen_typing",
            "Screens",
            tooltip="Digits type into this field; f2 lists the screens (esc leaves the field)",
            id="app.screens.typing",
        ),
        *(
            Binding(
                info.key,
                f"show_screen('{info.mode}')",
                info.title.split()[0],
                show=False,
                tooltip=f"Go to {info.title}",
                id=f"screen.{info.mode}",
            )
            for info in SCREEN_INFOS
        ),
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            id="app.help",
            tooltip="Show the keys of this screen",
        ),
    ]

    def __init__(
        self, services: Services, *, start: str = "dashboard", crash_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.services = services
        self.start_mode = start
        self.crash_dir = crash_dir  # None: the user's log directory
        self.crash_report: Path | None = None  # where an unexpected error was written
        self.crash_text: Text | None = None  # and the short report the terminal shows
        self.store_generation = 0  # counts StoreChanged: screens compare it when shown again
        # what this console lets its user do (engine.roles); the keys a role may not use are
        # not shown (RosterScreen.permits), and the engine refuses them anyway
        self.role: str | None = services.role()
        self.title = self.title_for(self.role)
        self._own_change = False  # this console changed the store: screens already know
        for info in SCREEN_INFOS:
            self.add_mode(info.mode, lambda info=info: info.build(services))

    def on_mount(self) -> None:
        self.switch_mode(self.start_mode)
        if self.STORE_POLL_SECONDS:
            self.set_interval(self.STORE_POLL_SECONDS, self.look_at_store)

    # Navigation --------------------------------------------------------------------------------

    def action_command_palette(self) -> None:
        """Textual's command palette, with a search field that shows only visible text."""
        from screens.widgets.text_input import SafeCommandPalette

        if self.use_command_palette and not SafeCommandPalette.is_open(self):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    async def action_show_screen(self, mode: str) -> None:
        if self.current_mode != mode:
            await self.switch_mode(mode)

    def action_choose_screen(self) -> None:
        """The screens with their keys and what each shows, to pick one (the footer's
        "1-9 Screens")."""
        from console.palette import ScreenCommands
        from screens.widgets.text_input import SafeCommandPalette

        if not SafeCommandPalette.is_open(self):
            self.push_screen(
                SafeCommandPalette(
                    providers=[ScreenCommands],
                    placeholder="Go to a screen… (or press its number outside text fields)",
                    id="--command-palette",
                )
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show_screen" and parameters and parameters[0] == self.current_mode:
            return False
        if action in ("choose_screen", "choose_screen_typing"):
            typing = isinstance(self.focused, Input | TextArea)
            return typing == (action == "choose_screen_typing")
        return True

    def action_choose_screen_typing(self) -> None:
        self.action_choose_screen()

    # The store changed: every screen reloads ---------------------------------------------------

    def look_at_store(self) -> None:
        """Ask, off the UI thread, whether another process (the CLI, a cron sync, a second
        console) changed the store; if so every screen reloads, as after a change made here."""
        self.run_worker(
            self._store_changed_elsewhere,
            thread=True,
            exclusive=True,
            group="store-watch",
            exit_on_error=False,
        )

    def _store_changed_elsewhere(self) -> None:
        try:
            changed = self.services.store_changed_elsewhere()
            role = self.services.role()  # an admin may have granted or revoked one meanwhile
        except Exception:  # noqa: BLE001 - a busy or locked store: look again next time
            return
        self.call_from_thread(self._after_looking, changed, role)

    def _after_looking(self, changed: bool, role: str | None = None) -> None:
        own, self._own_change = self._own_change, False
        if changed and not own:
            self.post_message(StoreChanged("elsewhere"))
        if role != self.role:
            if role is None:  # nothing of the store is theirs to see any more
                self.exit(
                    return_code=7,
                    message="An admin revoked your role in this store: the console closed. "
                    "An admin can grant one again (roster users grant).",
                )
                return
            self.role = role
            self.title = self.title_for(role)
            self.refresh_bindings()
            # every screen of every mode (a screen not shown now keeps its hints till then)
            for stack in getattr(self, "_screen_stacks", {}).values():
                for screen in stack:
                    if isinstance(screen, RosterScreen):
                        screen.role_changed()
            self.notify(
                f"An admin changed your role: you are now {article(role)}: you may {may(role)}.",
                title="Your role",
                markup=False,
                timeout=10,
            )

    def title_for(self, role: str | None) -> str:
        """The header's title: an admin's console is plain Roster; the others say the role
        (why keys they may have read about are not there; `roster users` says what it may)."""
        if role == "admin":
            return self.TITLE
        return f"{self.TITLE} · {role or 'no role'}"  # (80 columns: the screen's name follows)

    def permits(self, needed: str) -> bool:
        """Whether this console's user may do what the role NEEDED may (engine.roles)."""
        return permits(self.role, needed)

    def on_store_changed(self, message: StoreChanged) -> None:
        """A run ended, a decision was saved or the configuration imported: the screens shown
        now reload at once (except the one that made the change); the others when shown."""
        self.store_generation += 1
        if message.origin is not None:
            self._own_change = True
        for screen in self.screen_stack:
            if not isinstance(screen, RosterScreen):
                continue
            if screen is message.origin:
                screen.store_seen(self.store_generation)
            else:
                screen.post_message(StoreChanged(message.what, message.origin, message.run_id))

    # Help ---------------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit, but ask first when an editor holds unsaved changes (escape asks there too)."""
        unsaved = [screen for screen in self.screen_stack if getattr(screen, "unsaved", False)]
        if not unsaved:
            self.exit()
            return

        def answered(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self.exit()

        self.push_screen(
            ConfirmModal(
                "Quit without saving?",
                "An editor holds changes that are not saved; quitting loses them.",
                "Quit",
                destructive=True,
            ),
            answered,
        )

    def action_help(self) -> None:
        if isinstance(self.screen, HelpModal):
            return
        screen = self.screen
        rows: list[tuple[str, str]] = []
        by_action: dict[tuple[int, str], int] = {}
        for _key, active in screen.active_bindings.items():
            binding = active.binding
            if not active.enabled or not binding.description:
                continue
            if not binding.show and active.node not in (screen, self):
                continue  # a widget's own editing keys (cursor left, …)
            if binding.action in GENERIC_ACTIONS - {"app.focus_next", "app.focus_previous"}:
                continue
            what = FRIENDLY.get(binding.action) or binding.tooltip or binding.description
            slot = (id(active.node), binding.action)
            if slot in by_action:
                index = by_action[slot]
                rows[index] = (f"{rows[index][0]} / {self.get_key_display(binding)}", what)
                continue
            by_action[slot] = len(rows)
            rows.append((self.get_key_display(binding), what))
        # App keys that a focused text field takes over (number keys, q, ?) still exist.
        shown_actions = {action for (_ns, action) in by_action}
        if shown_actions & {"choose_screen", "choose_screen_typing"}:  # one f2 line is enough
            shown_actions |= {"choose_screen", "choose_screen_typing"}
        for binding in Binding.make_bindings(self.BINDINGS):
            if binding.action in shown_actions or not binding.description:
                continue
            if binding.action == f"show_screen('{self.current_mode}')":
                continue
            shown_actions.add(binding.action)
            rows.append(
                (
                    self.get_key_display(binding),
                    f"{binding.tooltip or binding.description} (outside text fields)",
                )
            )
        if isinstance(screen.focused, Input | TextArea):
            # the screen's own keys a text field holds back (Users: / w u p l while the
            # cursor is in the search) still exist: listed as the App's keys above are
            for binding in Binding.make_bindings(screen.BINDINGS):
                if binding.action in shown_actions or not binding.description:
                    continue
                if isinstance(screen, RosterScreen) and not screen.permits(
                    binding.action.split("(")[0]
                ):
                    continue  # not for this role
                shown_actions.add(binding.action)
                what = binding.tooltip or binding.description
                rows.append((self.get_key_display(binding), f"{what} (outside text fields)"))
        self._list_current_screen_key(rows)
        rows.extend(getattr(screen, "HELP_NOTES", ()))
        title = getattr(screen, "TITLE_TEXT", screen.__class__.__name__)
        note = (
            ""
            if self.role == "admin"
            else f"You are {article(self.role) if self.role else 'without a role'}: the keys "
            "your role may not use are hidden (roster users)."
        )
        self.push_screen(HelpModal(title, rows, note))

    def _list_current_screen_key(self, rows: list[tuple[str, str]]) -> None:
        """The number key of the screen shown, among the other screens' keys: it is disabled
        here (it would go nowhere), so the bindings leave it out, and the help then listed 2-9
        on the dashboard, as if 1 did not exist."""
        keys = [key for key, _ in rows]
        order = [info.key for info in SCREEN_INFOS]
        info = next((info for info in SCREEN_INFOS if info.mode == self.current_mode), None)
        if info is None or info.key in keys or not set(order) & set(keys):
            return  # no screen keys listed here (a dialog), or already listed
        stack = self.screen_stack
        here = "this screen" if stack and self.screen is stack[0] else "under this one"
        row = (info.key, f"Go to {info.title} ({here})")
        index = order.index(info.key)
        later = [keys.index(key) for key in order[index + 1 :] if key in keys]
        earlier = [keys.index(key) + 1 for key in order[:index] if key in keys]
        rows.insert(min(later) if later else max(earlier), row)

    # Palette -----------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Quit and help are in RosterCommands; a screenshot would write a file on the server.
        for command in super().get_system_commands(screen):
            if command.title not in {"Quit", "Keys", "Screenshot"}:
                yield command

    # Text from data never reaches the terminal as markup or control characters ----------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast is plain text (never markup), with control characters made visible:
        messages name people, accounts and values."""
        super().notify(
            safe(message, lines=True),
            title=safe(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def format_title(self, title: str, sub_title: str) -> Content:
        return super().format_title(safe(title, 200), safe(sub_title, 200))

    # An unexpected error: a short report, the details in a file, a nonzero exit status ------------

    def _handle_exception(self, error: Exception) -> None:
        where = self.crash_location()
        super()._handle_exception(error)  # sets the exit status (1) and stops the app
        if self.crash_text is None:  # the first error is the one worth reporting
            self.crash_report = write_crash_report(error, self.crash_dir, where)
            self.crash_text = crash_message(error, self.crash_report, where)
        # Instead of Textual's traceback with local variables (personal data), a short report.
        self._exit_renderables[:] = [self.crash_text]

    def crash_location(self) -> str:
        try:
            screen = self.screen
        except Exception:  # noqa: BLE001 - no screen yet (or any more)
            return ""
        title = getattr(screen, "TITLE_TEXT", None)
        return f"the {title} screen" if title else f"the {type(screen).__name__} dialog"

    # The one place failed background work is reported -------------------------------------------

    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.show_error(message.what, message.error)

    def show_error(self, what: str, error: BaseException | None) -> None:
        title = f"{what} failed"
        if isinstance(error, RosterError):
            lines = [error.message, *(str(problem) for problem in error.problems[:10])]
            message = "\n".join(lines)
            hint = "Fix the cause above and try again."
        elif error is None:
            message = "The task stopped without saying why."
            hint = "Try again; if it keeps failing, report it."
        else:
            message = f"{type(error).__name__}: {error}"
            hint = (
                "This is not something you did wrong; it is probably a bug in Roster. "
                "Try again, and report this message if it keeps happening."
            )
        if isinstance(self.screen, ErrorModal):
            self.notify(message, title=title, severity="error", timeout=10)
        else:
            self.push_screen(ErrorModal(title, message, hint))
