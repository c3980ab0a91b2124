"""Dashboard: how big the store is, what needs attention, and the latest imports and runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from screens.base import RosterScreen, cursor_key
from screens.modals.text_view import TextViewModal
from screens.text import clip, plain, safe
from screens.widgets.hanging import Hanging
from screens.widgets.row_table import RowTable

if TYPE_CHECKING:
    from engine.services import Dashboard
    from engine.services.care import CareList

#: What the "Unmerged" card counts (engine.services.dashboard; docs/impact-and-matrix.md), on
#: one line under the cards at 80 columns: the word is Roster's own, and says nothing alone.
UNMERGED_NOTE = "Unmerged: accounts a directory filter set to MATCH_ONLY that joined nobody"

# (attribute of Dashboard, card title, shown as a problem when above zero)
COUNTS: tuple[tuple[str, str, bool], ...] = (
    ("people", "People", False),
    ("accounts", "Accounts", False),
    ("unowned", "Unowned", True),
    ("unmerged", "Unmerged", True),
    ("errors", "Errors", True),
)


def format_when(value: datetime | None) -> str:
    if value is None:
        return "never"
    if value.tzinfo is not None:
        value = value.astimezone()  # the admin's local time
    return value.strftime("%Y-%m-%d %H:%M")


def format_count(value: int) -> str:
    return f"{value:,}"


STATUS_STYLES = {
    "ok": "green",
    "applied": "green",
    "applied-with-failures": "bold red",
    "planned-with-failures": "bold red",
    "planned": "cyan",
    "plan-changed": "yellow",
    "success": "green",
    "succeeded": "green",
    "done": "green",
    "completed": "green",
    "failed": "bold red",
    "error": "bold red",
    "blocked": "yellow",
    "cancelled": "yellow",
    "running": "cyan",
    "interrupted": "yellow",  # its process is gone: the next sync finishes it
}


#: How many items of each care list the dashboard names (at most `CARE_ROWS` rows each): every
#: list's title stays above the fold at 80x24, the apps table under them; `roster status` names
#: more.
CARE_SHOWN = 3
#: Rows an item may take: what matters in it ("…, but still enabled in ad:x") is at its end, so
#: at 80 columns it wraps once, under itself, instead of being cut at the right edge.
CARE_ROWS = 2


#: Items of each list the whole view (`a`) shows: every one, up to a bound that keeps a
#: broken store's hundred thousand leavers from building a dialog nobody could read (500
#: items open in 0.6 s; 2,000 took 1.9 s, and as long again at each resize).
CARE_ALL = 500


def care_text(lists: list[CareList], problems: list[str], *, whole: bool = False) -> Text:
    """The identity decisions that need an eye (engine.services.care): each non-empty list
    with its first items (`whole`: every item, to CARE_ALL), shown literally, and how many
    more."""
    text = Text()
    for problem in problems:
        if text:
            text.append("\n")
        text.append("! ", style="bold yellow")
        text.append(safe(problem))
    for care in lists:
        if not care.total:
            continue
        if text:
            text.append("\n")
        text.append(f"{safe(care.title)}: {care.total:,}", style="bold yellow")
        items = care.every[:CARE_ALL] if whole else care.items[:CARE_SHOWN]
        for item in items:
            text.append("\n  ")
            text.append(safe(item, 300))
        more = care.total - len(items)
        if more:
            where = "roster status --all lists them" if whole else "a shows them all"
            text.append(f"\n  … and {more:,} more ({where})", style="dim")
    return text


def run_kind(kind: str, dry_run: bool) -> Text:
    """A run's kind and mode in one cell ("sync", "sync, dry run", "provision"): two columns
    pushed the last one off the screen at 80 columns."""
    return plain(f"{kind}, dry run" if dry_run else kind)


def status_text(status: str) -> Text:
    return plain(status or "—", style=STATUS_STYLES.get((status or "").lower(), ""))


def import_status_text(status: str) -> Text:
    """An app's last import in its table cell: ok, or "failed" (the error itself, which is
    long, is in Needs attention above the table)."""
    if status in ("", "ok"):
        return status_text(status)
    return Text("failed", style="bold red")


class DashboardScreen(RosterScreen):
    """Counts, what needs attention (warnings, identity care), apps with their last import and
    the last runs. `r` reloads."""

    TITLE_TEXT = "Dashboard"
    CSS_PATH = Path(__file__).with_name("dashboard.tcss")

    NEEDS: ClassVar[dict[str, str]] = {"start_sync": "operator", "test_app": "operator"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", tooltip="Read the counts from the store again"),
        Binding(
            "p",
            "start_sync('plan')",
            "Plan a sync",
            tooltip="Go to Sync and plan a sync (dry run): see every change, apply nothing",
        ),
        Binding(
            "s",
            "start_sync('sync_now')",
            "Sync now",
            tooltip="Go to Sync and sync now: the plan is shown for your confirmation first",
        ),
        Binding(
            "a",
            "all_care",
            "All that needs attention",
            tooltip="Every item of the lists under Needs attention, in a dialog that scrolls",
            show=False,  # the footer must fit 80 columns; the lists' "… and N more" names it
        ),
        Binding(
            "t",
            "test_app",
            "Test app",
            tooltip="Connect to the selected app and read a few of its accounts",
            show=False,  # the footer must fit 80 columns; the apps title names the key
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("", "Unowned: accounts of apps (not directories) linked to no person (screen 3, then u)"),
        ("", f"{UNMERGED_NOTE} (screen 3, then n)"),
        (
            "",
            "Errors: failed imports, and the last run if it failed or had pushes refused",
        ),
        (
            "",
            "MATCH_ONLY: a directory filter's answer: the account may join a person, never "
            "create one",
        ),
    ]

    _last_run: tuple[int, str] | tuple[()] | None = None  # (id, status) of the newest run shown
    _care: tuple[list[CareList], list[str]] | None = None  # the lists shown under attention
    _warnings: tuple[str, ...] = ()  # the warnings shown above them

    class RunsChanged(Message):
        """A run started or finished since the dashboard was loaded."""

    class Loaded(Message):
        def __init__(self, dashboard: Dashboard) -> None:
            super().__init__()
            self.dashboard = dashboard

    class CareLoaded(Message):
        def __init__(self, lists: list[CareList], problems: list[str]) -> None:
            super().__init__()
            self.lists = lists
            self.problems = problems

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="dashboard-body"):
            with Horizontal(id="dashboard-counts"):
                for name, title, _ in COUNTS:
                    card = Static("…", id=f"count-{name}", classes="count")
                    card.border_title = title
                    yield card
            yield Static(Text(UNMERGED_NOTE, style="dim"), id="counts-note")
            with Vertical(id="dashboard-warnings", classes="section"):
                yield Static("Needs attention", classes="section-title")
                yield Static("…", id="warnings")
                yield Static("", id="care")
            with Vertical(id="dashboard-apps", classes="section"):
                yield Static(self.apps_title(), classes="section-title", id="apps-title")
                apps = RowTable(id="apps-table")
                apps.add_columns("App", "Connector", "Accounts", "Last import", "Status")
                yield apps
            with Vertical(id="dashboard-runs", classes="section"):
                yield Static("Last runs", classes="section-title")
                runs = RowTable(id="runs-table")
                runs.add_columns("Run", "Kind", "Status", "Started", "By")
                yield runs
        yield Footer()

    def apps_title(self) -> str:
        if self.permits("test_app"):
            return "Apps  (t tests the selected app's connection)"
        return "Apps"

    def role_changed(self) -> None:
        self.query_one("#apps-title", Static).update(self.apps_title())

    def on_mount(self) -> None:
        self.action_refresh()

    @on(DataTable.RowHighlighted)
    def _back_to_the_top(self, event: DataTable.RowHighlighted) -> None:
        """The body scrolls to keep a table's cursor in view, but never back: after PgDn in
        the apps list at 80x24, Home and PgUp left the counts out of sight (newcomer review).
        A cursor on a table's first row shows the section from its title (the apps', the
        counts and needs-attention above it too)."""
        if event.cursor_row != 0 or not event.data_table.has_focus:
            return
        body = self.query_one("#dashboard-body", VerticalScroll)
        if event.data_table.id == "apps-table":
            body.scroll_home(animate=False)
        elif event.data_table.parent is not None:
            body.scroll_to_widget(event.data_table.parent, top=True, animate=False)

    async def action_start_sync(self, action: str) -> None:
        """Switch to the Sync screen and start its plan or sync-now action there."""
        from screens.sync import SyncScreen

        await self.app.switch_mode("sync")
        screen = self.app.screen
        if isinstance(screen, SyncScreen):
            await self.app.run_action(action, screen)

    def selected_app(self) -> str | None:
        """The id of the app under the cursor in the apps list, None when it lists none."""
        return cursor_key(self.query_one("#apps-table", DataTable))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action == "test_app" and self.is_mounted and self.selected_app() is None:
            return None  # shown, disabled: no app to test yet
        return True

    def action_test_app(self) -> None:
        from screens.modals.app_test import AppTestModal

        app_id = self.selected_app()
        if app_id is not None:
            self.app.push_screen(AppTestModal(self.services, app_id))

    def on_screen_resume(self) -> None:
        # Back from another screen: reload if a run finished since the counts were read (also
        # one from the CLI; a change made in the console reloads through `reload`).
        if self._last_run is not None and not self.store_is_stale():
            self.check_runs()

    def reload(self) -> None:
        self.action_refresh()

    @work(
        thread=True,
        exclusive=True,
        group="dashboard-runs",
        exit_on_error=False,
        name="Checking for new runs",
    )
    def check_runs(self) -> None:
        runs = self.services.runs(limit=1)
        latest = (runs[0].id, runs[0].status) if runs else ()
        if latest != self._last_run:
            self.post_message(self.RunsChanged())

    def action_refresh(self) -> None:
        self.query_one("#dashboard-body").loading = True
        self.load()

    @work(
        thread=True,
        exclusive=True,
        group="dashboard",
        exit_on_error=False,
        name="Loading the dashboard",
    )
    def load(self) -> None:
        # the counts first: the care lists read everyone, seconds on a large store
        self.post_message(self.Loaded(self.services.dashboard(with_care=False)))

    @work(
        thread=True,
        exclusive=True,
        group="dashboard-care",
        exit_on_error=False,
        name="Checking people and managers",
    )
    def load_care(self) -> None:
        from engine.errors import Stopped

        worker = get_current_worker()
        try:  # stopped when the screen goes or the console quits: neither waits for it
            lists, problems = self.services.care(stop=lambda: worker.is_cancelled)
        except Stopped:
            return
        self.post_message(self.CareLoaded(lists, problems))

    def on_dashboard_screen_care_loaded(self, message: DashboardScreen.CareLoaded) -> None:
        self._care = (message.lists, message.problems)
        care = care_text(message.lists, message.problems)
        self.query_one("#care", Static).update(Hanging(care, rows=CARE_ROWS))

    def action_all_care(self) -> None:
        lists, problems = self._care or ([], [])
        # the warnings first, whole: "every item" left out "107 accounts have no owner"
        # (newcomer review); a care problem is among the warnings once the care is in them
        problems = list(dict.fromkeys([*self._warnings, *problems]))
        if not problems and not any(care.total for care in lists):
            self.app.bell()
            self.notify("Nothing needs attention (or it is still being checked).")
            return
        text = Hanging(care_text(lists, problems, whole=True), rows=8)
        self.app.push_screen(TextViewModal("Needs attention, every item", text))

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == "dashboard-care":
            self.query_one("#care", Static).update(
                Text("People and managers could not be checked. Press r to try again.")
            )
            return
        self.query_one("#dashboard-body").loading = False
        self.query_one("#warnings", Static).update(
            Text("The dashboard could not be loaded. Press r to try again.", style="bold red")
        )

    def on_dashboard_screen_runs_changed(self, message: DashboardScreen.RunsChanged) -> None:
        self.action_refresh()

    def on_dashboard_screen_loaded(self, message: DashboardScreen.Loaded) -> None:
        dashboard = message.dashboard
        newest = dashboard.last_runs[0] if dashboard.last_runs else None
        self._last_run = (newest.id, newest.status) if newest else ()
        with self.app.batch_update():
            for name, _title, is_problem in COUNTS:
                value = int(getattr(dashboard, name))
                card = self.query_one(f"#count-{name}", Static)
                card.update(format_count(value))
                card.set_class(is_problem and value > 0, "-attention")
            apps = self.query_one("#apps-table", DataTable)
            apps.clear()
            for app in dashboard.apps:
                apps.add_row(
                    clip(app.name or app.id, 40),
                    clip(app.connector, 20),
                    Text(format_count(app.accounts), justify="right"),
                    format_when(app.last_import_at),
                    Text("not in config", style="yellow")  # (fits the column at 80)
                    if app.removed
                    else import_status_text(app.last_import_status),
                    key=str(app.id),
                )
            if not dashboard.apps:
                apps.add_row("No apps connected yet.", "", "", "", "")
            self.refresh_bindings()  # `t` needs an app under the cursor
            runs = self.query_one("#runs-table", DataTable)
            runs.clear()
            for run in dashboard.last_runs:
                runs.add_row(
                    str(run.id),
                    run_kind(run.kind, run.dry_run),
                    status_text(run.status),
                    format_when(run.started_at),
                    clip(run.started_by or "", 40),
                    key=str(run.id),
                )
            if not dashboard.last_runs:
                runs.add_row("—", "No runs yet.", "", "", "")
            warnings = self.query_one("#warnings", Static)
            self._warnings = tuple(dashboard.warnings)
            if dashboard.warnings:
                text = Text()
                for index, warning in enumerate(dashboard.warnings):
                    if index:
                        text.append("\n")
                    text.append("! ", style="bold yellow")
                    # the first line: a file's further problems are in its run and `roster sync`
                    text.append(safe(warning.partition("\n")[0]))
                warnings.update(text)
            else:
                warnings.update(Text("No warnings.", style="green"))
            self.query_one("#dashboard-body").loading = False
        if not self.query_one("#care", Static).content:  # the first look: say it is coming
            self.query_one("#care", Static).update(
                Text("Checking people and managers…", style="dim")
            )
        self.load_care()
