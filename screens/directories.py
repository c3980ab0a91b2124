"""Directories (docs/directories.md): the directory apps in priority order, with their filter
and what it decides today (CREATE / MATCH_ONLY / IGNORE / errors), and the keys that change them:
add, edit the filter, reorder, enable or disable, delete, edit in $EDITOR.

Every change is one audited configuration edit (`Services.config_edit`) made with the version
the screen loaded: if someone changed the configuration meanwhile the edit is refused and the
screen offers to reload. Changes that remove people (disabling or deleting a directory) say how
many before anything is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from engine.errors import ConfigInvalid, Stopped
from screens.base import RosterScreen, cursor_key
from screens.directory_filter import DirectoryFilterScreen, people
from screens.modals.add_directory import AddDirectoryModal, AppChoice
from screens.modals.confirm import ConfirmModal
from screens.saving import SAVE_GROUP, EditRefused, EditSaved, offer_reload, save_edit
from screens.text import clip, one_line, plain, safe
from screens.widgets.audit_line import LastChangeLoaded, change_diff, change_line, load_last_change
from screens.widgets.plan_tree import plural

if TYPE_CHECKING:
    from engine.services import AuditEntry, ConfigEdit, IdentityImpact, Services

DEBOUNCE = 0.2
MOVE_GROUP = Binding.Group("Move", compact=True)
FILTER_LINES = 3


@dataclass(frozen=True)
class DirectoryRow:
    app: str
    name: str
    enabled: bool
    filter: str | None
    accounts: int


def count_cell(counts: dict[str, int] | None, key: str, stored: bool = False) -> Text:
    """A count; STORED: the store's, dimmed until today's replaces it."""
    if counts is None:
        return Text("…", style="dim", justify="right")
    number = counts.get(key, 0)
    style = "bold red" if key == "errors" and number else "" if number else "dim"
    return Text(f"{number:,}", style="dim" if stored else style, justify="right")


class DirectoriesScreen(RosterScreen):
    """The directories, their filters and counts; add, edit, reorder, enable, delete."""

    TITLE_TEXT = "Directories"
    CSS_PATH = Path(__file__).with_name("directories.tcss")
    AUTO_FOCUS = "#directories"

    NEEDS: ClassVar[dict[str, str]] = {
        "add": "admin",
        "edit": "admin",
        "move": "admin",
        "toggle": "admin",
        "delete": "admin",
        "edit_externally": "admin",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Add a directory (an app that has accounts)"),
        Binding("e", "edit", "Edit", tooltip="Edit the directory's filter, with its impact"),
        Binding(
            "shift+up",
            "move(-1)",
            "Move up",
            tooltip="Move the directory up (higher priority)",
            group=MOVE_GROUP,
            show=False,
        ),
        Binding(
            "shift+down",
            "move(1)",
            "Move down",
            tooltip="Move the directory down (lower priority)",
            group=MOVE_GROUP,
            show=False,
        ),
        Binding("space", "toggle", "On/off", tooltip="Enable or disable the directory"),
        Binding("d,delete", "delete", "Delete", tooltip="Delete the directory (asks first)"),
        Binding(
            "E",
            "edit_externally",
            "$EDITOR",
            tooltip="Edit the directory in your own editor ($EDITOR)",
            show=False,
        ),
        Binding(
            "r", "reload", "Reload", tooltip="Read the directories and counts again", show=False
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("enter", "Edit the highlighted directory's filter"),
        ("", "shift+↑ / shift+↓ move, E edits in $EDITOR, r reloads (also in ctrl+p)."),
        ("", "The first directory is primary: a person's core fields come from it first."),
        ("", "Counts: what each filter decides for the app's accounts today."),
    ]

    class Loaded(Message):
        def __init__(self, version: str, rows: list[DirectoryRow], free: list[AppChoice]) -> None:
            super().__init__()
            self.version = version
            self.rows = rows
            self.free = free  # apps with accounts that are not directories

    class CountsLoaded(Message):
        def __init__(
            self, version: str, generation: int, counts: dict[str, dict[str, int]]
        ) -> None:
            super().__init__()
            self.version = version
            self.generation = generation  # the app's store generation they were counted at
            self.counts = counts

    class StoredLoaded(Message):
        """The decisions the store holds, counted: shown until today's are."""

        def __init__(self, version: str, counts: dict[str, dict[str, int]]) -> None:
            super().__init__()
            self.version = version
            self.counts = counts

    class Prepared(Message):
        """A disable or delete, tried without saving: what it would do to people."""

        def __init__(self, what: str, edit: ConfigEdit, impact: IdentityImpact) -> None:
            super().__init__()
            self.what = what  # "disable" | "delete"
            self.edit = edit
            self.impact = impact

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.version: str | None = None
        self.rows: list[DirectoryRow] = []
        self.free: list[AppChoice] = []
        self.counts: dict[str, dict[str, int]] | None = None
        # the decisions the store holds, shown dimmed until today's are counted
        self.stored: dict[str, dict[str, int]] | None = None
        self._counts_version: tuple[str, int] | None = None  # (version, store generation)
        self.selected: str | None = None
        self.last: AuditEntry | None = None
        self._debounce: Timer | None = None
        self._busy = False
        self._select_after: str | None = None  # the directory to select once a save lands

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="directories-body"):
            table: DataTable[Any] = DataTable(id="directories", cursor_type="row")
            table.add_column("#", key="position")
            table.add_column("App", key="app")
            table.add_column("On", key="enabled")
            table.add_column("Filter", key="filter")
            table.add_column(Text("Create", justify="right"), key="CREATE")
            table.add_column(Text("Match", justify="right"), key="MATCH_ONLY")
            table.add_column(Text("Ignore", justify="right"), key="IGNORE")
            table.add_column(Text("Err", justify="right"), key="errors")
            table.border_title = "Directories, first = primary"
            yield table
            yield Static("Reading the directories…", id="directories-status")
            with Vertical(id="directory-detail-box"):
                yield Static("", id="directory-filter")
                yield Static("", id="directory-last")
                yield Static("", id="directory-diff")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    def reload(self) -> None:
        self.load()

    # Loading ------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="directories-load",
        exit_on_error=False,
        name="Reading the directories",
    )
    def load(self) -> None:
        services = self.services
        version = services.config_version()
        config = services.config()
        apps = {app.id: app for app in services.dashboard(with_care=False).apps}
        names = {app.id: app.name for app in config.apps}
        rows = [
            DirectoryRow(
                d.app,
                names.get(d.app, ""),
                d.enabled,
                d.filter,
                apps[d.app].accounts if d.app in apps else 0,
            )
            for d in config.directories
        ]
        directories = {d.app for d in config.directories}
        free = [
            AppChoice(app.id, names.get(app.id, app.name), app.accounts)
            for app in apps.values()
            if app.accounts > 0 and app.id not in directories and app.id in names
        ]
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(version, rows, free))

    def on_directories_screen_loaded(self, message: DirectoriesScreen.Loaded) -> None:
        self.version = message.version
        self.rows = message.rows
        self.free = message.free
        generation = getattr(self.app, "store_generation", 0)
        if self._counts_version != (message.version, generation):
            self.counts = None  # computed again: the configuration or the records changed
            self.stored = None
            self.load_counts(message.version, generation)
        self.fill_table()
        status = self.query_one("#directories-status", Static)
        if not self.rows:
            status.update(
                Text(
                    "No directories: nobody becomes a person. Press a to add one.",
                    style="bold yellow",
                )
            )
        else:
            status.update(self.status_text())
        self.refresh_bindings()

    def status_text(self) -> Text:
        text = Text()
        count = len(self.rows)
        text.append(f"{count} director{'y' if count == 1 else 'ies'}")
        off = sum(1 for r in self.rows if not r.enabled)
        if off:
            text.append(f", {off} disabled", style="yellow")
        if self.counts is None and self.stored is not None:
            text.append(" · as the last sync left them; counting today's…", style="dim")
        elif self.counts is None:
            text.append(" · counting decisions…", style="dim")
        return text

    def on_resize(self) -> None:
        if self.rows:
            self.call_after_refresh(self.fill_table)

    def fill_table(self) -> None:
        table = self.query_one("#directories", DataTable)
        width = max(self.size.width, 80)
        app_width = min(max((len(r.app) for r in self.rows), default=3), 16)
        filter_width = max(14, width - 45 - app_width)
        shown = cursor_key(table)
        with self.app.batch_update():
            table.clear()
            # Columns only ever grow with their widest cell: after a narrower resize the filter
            # column must shrink back, or the counts slide out of view.
            for column in table.columns.values():
                column.content_width = column.label.cell_len
            shown, stored = self.shown_counts()
            for index, row in enumerate(self.rows, 1):
                counts = shown.get(row.app) if shown is not None else None
                table.add_row(
                    str(index),
                    clip(row.app, app_width, "bold"),
                    Text("yes", style="green") if row.enabled else Text("off", style="yellow"),
                    one_line(row.filter or "(none: CREATE)", filter_width),
                    count_cell(counts, "CREATE", stored),
                    count_cell(counts, "MATCH_ONLY", stored),
                    count_cell(counts, "IGNORE", stored),
                    count_cell(counts, "errors", stored),
                    key=row.app,
                )
        apps = [r.app for r in self.rows]
        if apps:
            keep = shown if shown in apps else self.selected
            index = apps.index(keep) if keep in apps else 0
            table.move_cursor(row=index)
            self.select(apps[index], force=True)
        else:
            self.selected = None
            self.show_detail()

    @work(
        thread=True,
        exclusive=True,
        group="directories-counts",
        exit_on_error=False,
        name="Counting the filters' decisions",
    )
    def load_counts(self, version: str, generation: int) -> None:
        worker = get_current_worker()
        config = self.services.config()
        # the store's at once (one query), today's when counted
        stored = self.services.stored_decision_counts(config)
        if not worker.is_cancelled:
            self.post_message(self.StoredLoaded(version, stored))
        try:
            counts = self.services.decision_counts(config, cancelled=lambda: worker.is_cancelled)
        except Stopped:
            return
        if not worker.is_cancelled:
            self.post_message(self.CountsLoaded(version, generation, counts))

    def on_directories_screen_stored_loaded(self, message: DirectoriesScreen.StoredLoaded) -> None:
        if message.version != self.version or self.counts is not None:
            return
        self.stored = message.counts
        self.fill_counts()

    def shown_counts(self) -> tuple[dict[str, dict[str, int]] | None, bool]:
        """Today's counts, or else the store's (and that they are the store's)."""
        if self.counts is not None:
            return self.counts, False
        return self.stored, self.stored is not None

    def fill_counts(self) -> None:
        table = self.query_one("#directories", DataTable)
        shown, stored = self.shown_counts()
        with self.app.batch_update():
            for row in self.rows:
                counts = shown.get(row.app) if shown is not None else None
                for key in ("CREATE", "MATCH_ONLY", "IGNORE", "errors"):
                    table.update_cell(row.app, key, count_cell(counts, key, stored))
        self.query_one("#directories-status", Static).update(self.status_text())

    def on_directories_screen_counts_loaded(self, message: DirectoriesScreen.CountsLoaded) -> None:
        if message.version != self.version:
            return
        self._counts_version = (message.version, message.generation)
        self.counts = message.counts
        self.fill_counts()

    # The highlighted directory ---------------------------------------------------------------

    def row(self, app: str | None) -> DirectoryRow | None:
        return next((r for r in self.rows if r.app == app), None)

    @on(DataTable.RowHighlighted, "#directories")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        app = str(event.row_key.value) if event.row_key is not None else None
        if app is None or app == self.selected:
            return
        self.selected = app
        self.show_detail()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, lambda: self.select(app))

    def select(self, app: str, force: bool = False) -> None:
        self._debounce = None
        if app != self.selected and not force:
            return
        self.selected = app
        self.last = None
        self.show_detail()
        self.load_last_change(app)
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#directories")
    def _row_selected(self) -> None:
        self.action_edit()

    def show_detail(self) -> None:
        row = self.row(self.selected)
        filter_view = self.query_one("#directory-filter", Static)
        if row is None:
            filter_view.update("")
            self.query_one("#directory-last", Static).update("")
            self.query_one("#directory-diff", Static).update("")
            return
        text = Text()
        text.append(safe(row.app, 40), style="bold")
        if row.name:
            text.append(f" ({safe(row.name, 60)})")
        text.append(f" · {plural(row.accounts, 'account')}", style="dim")
        if not row.enabled:
            text.append(" · disabled: IGNORE for every account", style="bold yellow")
        lines = (row.filter or "").strip().splitlines()
        if not lines:
            text.append("\nNo filter: every account becomes a person (CREATE).", style="dim")
        width = max(self.size.width - 8, 20)
        for line in lines[:FILTER_LINES]:
            text.append("\n  ")
            text.append_text(clip(line, width))
        if len(lines) > FILTER_LINES:
            text.append(f"\n  … {len(lines) - FILTER_LINES} more lines (enter)", style="dim")
        filter_view.update(text)
        last = self.last if self.last is not None else None
        self.query_one("#directory-last", Static).update(
            change_line(last) if last is not None else Text("Last change: …", style="dim")
        )
        self.query_one("#directory-diff", Static).update(change_diff(last))

    def load_last_change(self, app: str) -> None:
        load_last_change(self, self.services, f"directories.{app}", key=app)

    def on_last_change_loaded(self, message: LastChangeLoaded) -> None:
        if message.key != self.selected:
            return
        self.last = message.entry
        self.query_one("#directory-last", Static).update(change_line(message.entry))
        self.query_one("#directory-diff", Static).update(change_diff(message.entry))

    # Actions ------------------------------------------------------------------------------

    def action_add(self) -> None:
        if not self.free:
            self.notify(
                "Every app that has accounts is a directory already (an app without accounts "
                "cannot be one yet: sync it first).",
                severity="warning",
            )
            return

        def chosen(app: str | None) -> None:
            if app is None:
                return
            name = next((c.name for c in self.free if c.id == app), "")
            self.selected = app
            self.app.push_screen(
                DirectoryFilterScreen(
                    self.services, app, app_name=name, adding=True, text='"MATCH_ONLY"'
                )
            )

        self.app.push_screen(AddDirectoryModal(self.free), chosen)

    def action_edit(self) -> None:
        row = self.row(self.selected)
        if row is None:
            return
        self.app.push_screen(DirectoryFilterScreen(self.services, row.app, app_name=row.name))

    def action_move(self, step: int) -> None:
        from engine.services import ConfigEdit

        apps = [r.app for r in self.rows]
        if self.selected not in apps or self._busy:
            return
        index = apps.index(self.selected) + step
        if not 0 <= index < len(apps):
            return
        self.apply(ConfigEdit("move", f"directories.{self.selected}", to_index=index), None)

    def action_toggle(self) -> None:
        from engine.services import ConfigEdit

        row = self.row(self.selected)
        if row is None or self._busy:
            return
        if row.enabled:
            self._busy = True
            self.prepare("disable", ConfigEdit("disable", f"directories.{row.app}"))
        else:
            self.apply(ConfigEdit("enable", f"directories.{row.app}"), row.app)

    def action_delete(self) -> None:
        from engine.services import ConfigEdit

        row = self.row(self.selected)
        if row is None or self._busy:
            return
        self._busy = True
        self.prepare("delete", ConfigEdit("delete", f"directories.{row.app}"))

    @work(
        thread=True,
        exclusive=True,
        group="directories-edit",
        exit_on_error=False,
        name="Working out what the change does",
    )
    def prepare(self, what: str, edit: ConfigEdit) -> None:
        try:
            result = self.services.config_edit(edit, dry_run=True)
        except ConfigInvalid as error:
            self.post_message(EditRefused(error, dry_run=True, tag=what))
            return
        impact = self.services.identity_impact(result.config)
        self.post_message(self.Prepared(what, edit, impact))

    def on_directories_screen_prepared(self, message: DirectoriesScreen.Prepared) -> None:
        edit, impact = message.edit, message.impact
        app = edit.path.split(".", 1)[1]
        removed = impact.people_removed
        samples = impact.samples.get("people_removed") or []
        if message.what == "disable" and not removed:
            self.apply(edit, app)
            return
        text = Text()
        if message.what == "delete":
            text.append("Delete the directory ", style="bold")
            text.append(safe(app, 40), style="bold")
            text.append("? Its filter and merge rules go; the app and its accounts stay.\n\n")
        else:
            text.append("Disable the directory ", style="bold")
            text.append(safe(app, 40), style="bold")
            text.append("? Its filter then decides IGNORE for every account.\n\n")
        if removed:
            text.append(
                f"{people(removed)} only this directory backs would be removed on the next sync",
                style="bold red",
            )
            text.append(" (kept as DELETED, for the record).")
            if samples:
                text.append("\nFor example: ", style="dim")
                text.append(", ".join(safe(s, 40) for s in samples[:5]))
        else:
            text.append(
                "Nobody would be removed: every person it backs has another directory account.",
                style="green",
            )
        if impact.owner_changed:
            text.append(f"\n{plural(impact.owner_changed, 'account')} would change owner.")
        verb = "Delete" if message.what == "delete" else "Disable"
        label = f"{verb} and remove {removed:,}" if removed else verb

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.apply(edit, None if message.what == "delete" else app)
            else:
                self._busy = False

        self.app.push_screen(
            ConfirmModal(f"{verb} {safe(app, 40)}?", text, label, destructive=True), answered
        )

    def apply(self, edit: ConfigEdit, select: str | None) -> None:
        self._busy = True
        self._select_after = select
        save_edit(self, self.services, edit, self.version)

    def on_edit_saved(self, message: EditSaved) -> None:
        self._busy = False
        result = message.result
        if self._select_after is not None:
            self.selected = self._select_after
        if result.applied:
            self.notify(
                f"Saved {result.path}. The next sync applies it.", title="Saved", markup=False
            )
            self.store_changed("configuration")
        self.load()

    def on_edit_refused(self, message: EditRefused) -> None:
        self._busy = False
        if message.conflict:
            offer_reload(self, message.error, self.load, keeps="make your change again after")
            return
        lines = [message.message, *(str(p) for p in message.problems[:5])]
        self.notify("\n".join(lines), title="Not saved", severity="error", timeout=10, markup=False)

    async def action_edit_externally(self) -> None:
        from screens.external_edit import edit_externally

        row = self.row(self.selected)
        if row is None:
            return
        result = await edit_externally(self, f"directories.{row.app}")
        if result is not None and result.applied:
            self.load()

    def action_reload(self) -> None:
        self._counts_version = None
        self.services.invalidate()
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action in ("edit", "toggle", "delete", "edit_externally", "move"):
            # (moving past either end does nothing; both moves stay listed in help)
            if self.row(self.selected) is None:
                return None
        if action == "add":
            return bool(self.free) or None
        return True

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group in ("directories-edit", SAVE_GROUP):
            self._busy = False
        elif worker.group == "directories-counts":
            self.query_one("#directories-status", Static).update(
                plain("The decisions could not be counted (see the error).", "bold red")
            )
