"""Merge rules (key 3): each directory's ordered merge rules and each other app's ownership
strategy, the match matrix beside them, and a drill-down into the accounts behind a number.

Every change goes through `Services.config_edit` with the configuration version the screen was
read at, so a change made meanwhile (another console, the CLI) is refused and offered for
reload; the matrix is computed in a worker and kept until the store changes.
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

from engine.errors import ConfigConflict, ConfigInvalid
from engine.services import ConfigEdit
from screens.base import RosterScreen
from screens.dashboard import format_when
from screens.modals.confirm import ConfirmModal
from screens.modals.match_rule import MatchRuleModal
from screens.modals.matrix_accounts import MatrixAccountsModal
from screens.modals.ownership import OwnershipModal
from screens.rule_text import (
    DEFAULTS_WORDS,
    STRATEGY_HELP,
    object_path,
    rule_document,
    rule_name,
    rule_pair,
    strategy_words,
)
from screens.saving import (
    SAVE_GROUP,
    EditRefused,
    EditSaved,
    offer_reload,
    problems_text,
    save_edit,
)
from screens.text import clip, plain, safe
from screens.widgets.audit_line import LastChangeLoaded, load_last_change

if TYPE_CHECKING:
    from engine.services import EditResult, MatchMatrix, Services

DEBOUNCE = 0.2
NAME_WIDTH = 28
PAIR_WIDTH = 70

# The matrix columns that name a list of accounts (matrix_accounts kinds).
LISTABLE = {"ambiguous": "ambiguous", "unmatched": "unmatched", "unowned": "unowned"}


@dataclass(frozen=True)
class Entry:
    """One row of the list: a directory, one of its merge rules, an app, one of its rules."""

    kind: str  # "directory" | "merge_rule" | "app" | "ownership_rule"
    app: str
    rule: str | None = None
    index: int = 0  # the rule's place in its list
    count: int = 0  # how many rules that list has

    @property
    def is_rule(self) -> bool:
        return self.rule is not None

    @property
    def is_directory(self) -> bool:
        return self.kind in ("directory", "merge_rule")

    @property
    def rules_path(self) -> str:
        if self.is_directory:
            return object_path("directories", self.app, "merge_rules")
        return object_path("apps", self.app, "ownership", "rules")

    @property
    def path(self) -> str:
        """The object this row shows (for `E` and the last change)."""
        if self.rule is not None:
            return f"{self.rules_path}.{object_path(self.rule)}"
        if self.kind == "directory":
            return object_path("directories", self.app, "merge_rules")
        return object_path("apps", self.app, "ownership")

    @property
    def same(self) -> tuple[str, str, str | None]:
        return (self.kind, self.app, self.rule)


@dataclass(frozen=True)
class DirectoryView:
    app: str
    title: str
    enabled: bool
    defaults: bool  # merge_rules left out: the defaults apply
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class AppView:
    app: str
    title: str
    strategy: str
    rules: list[dict[str, Any]]


def read_views(config: Any) -> tuple[list[DirectoryView], list[AppView]]:
    """The saved configuration (typed, from `Services.config()`) as what the list shows."""
    titles = {app.id: app.title for app in config.apps}
    directories = [
        DirectoryView(
            directory.app,
            titles.get(directory.app, directory.app),
            bool(getattr(directory, "enabled", True)),
            directory.merge_rules is None,
            [rule_document(rule) for rule in directory.effective_merge_rules()],
        )
        for directory in config.directories
    ]
    directory_ids = {directory.app for directory in config.directories}
    apps = [
        AppView(
            app.id,
            app.title,
            app.ownership.strategy,
            [rule_document(rule) for rule in app.ownership.rules],
        )
        for app in config.apps
        if app.id not in directory_ids
    ]
    return directories, apps


def table_cell_len(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def count_cell(number: int, style: str = "") -> Text:
    return Text(f"{number:,}", style=style if number else "dim", justify="right")


class MergeRulesScreen(RosterScreen):
    """Directories' merge rules and apps' ownership strategies, with the match matrix."""

    TITLE_TEXT = "Merge rules"
    CSS_PATH = Path(__file__).with_name("merge_rules.tcss")
    AUTO_FOCUS = "#merge-list"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (160, "-wide"),
    ]

    NEEDS: ClassVar[dict[str, str]] = {
        "add": "admin",
        "edit": "admin",
        "move": "admin",
        "delete": "admin",
        "strategy": "admin",
        "defaults": "admin",
        "external": "admin",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Add a rule to the highlighted directory or app"),
        Binding(
            "e",
            "edit",
            "Edit",
            tooltip="Edit the highlighted rule, or the app's ownership strategy",
        ),
        Binding(
            "shift+up",
            "move(-1)",
            "Move up",
            show=False,
            tooltip="Move the highlighted rule up (it is tried earlier)",
        ),
        Binding(
            "shift+down",
            "move(1)",
            "Move down",
            show=False,
            tooltip="Move the highlighted rule down (it is tried later)",
        ),
        Binding("d,delete", "delete", "Delete", tooltip="Remove the highlighted rule (asks first)"),
        Binding(
            "o",
            "strategy",
            "Strategy",
            show=False,
            tooltip="Change the highlighted app's ownership strategy (Narrow, Broad, Custom)",
        ),
        Binding(
            "D",
            "defaults",
            "Defaults",
            show=False,
            tooltip="Revert the directory's merge rules to the defaults (asks first)",
        ),
        Binding(
            "E",
            "external",
            "$EDITOR",
            show=False,
            tooltip="Edit the highlighted object in your $EDITOR (validated on save)",
        ),
        Binding("m", "matrix", "Matrix", tooltip="Move to the match matrix (enter lists accounts)"),
        Binding(
            "u",
            "unowned",
            "Unowned",
            show=False,
            tooltip="List every unowned account (all apps); link one to a person",
        ),
        Binding(
            "n",
            "unmatched",
            "Unmatched",
            show=False,
            tooltip="List every directory account no rule matched (the dashboard's unmerged)",
        ),
        Binding("r", "reload", "Reload", show=False, tooltip="Read the rules and matrix again"),
        Binding("escape", "focus_list", "Rules", show=False, tooltip="Back to the rules list"),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("enter", "On a rule: edit it; on an app: its strategy; on a matrix number: its accounts"),
        ("tab", "Move between the rules and the match matrix"),
        ("", f"A directory marked (defaults) uses {DEFAULTS_WORDS}."),
    ]

    class Loaded(Message):
        def __init__(
            self, version: str, directories: list[DirectoryView], apps: list[AppView]
        ) -> None:
            super().__init__()
            self.version = version
            self.directories = directories
            self.apps = apps

    class MatrixLoaded(Message):
        def __init__(self, app: str, matrix: MatchMatrix, note: str = "") -> None:
            super().__init__()
            self.app = app
            self.matrix = matrix
            self.note = note  # e.g. "the new order, saving…"

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.version: str | None = None
        self.directories: list[DirectoryView] = []
        self.apps: list[AppView] = []
        self.entries: list[Entry] = []
        self.matrices: dict[str, MatchMatrix] = {}  # by app, until the store changes
        self.shown_app: str | None = None  # the app whose matrix is shown
        self._want: tuple[str, str, str | None] | None = None  # the row to keep on reload
        self._debounce: Timer | None = None
        self._matrix_columns: list[str] = []
        self._matrix_rules: list[str | None] = []
        self._pair_width = PAIR_WIDTH

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="merge-body"):
            with Vertical(id="merge-left"):
                table: DataTable[Any] = DataTable(id="merge-list", cursor_type="row")
                table.add_column("Directory / app", key="name")
                table.add_column("Account ↔ person", key="pair")
                table.border_title = "Merge rules and ownership"
                yield table
                yield Static("Reading the rules…", id="merge-detail")
            with Vertical(id="merge-right"):
                matrix: DataTable[Any] = DataTable(id="merge-matrix", cursor_type="cell")
                matrix.border_title = "Match matrix"
                yield matrix
                yield Static("", id="merge-last-change")
        yield Footer()

    @property
    def list_table(self) -> DataTable[Any]:
        return self.query_one("#merge-list", DataTable)

    @property
    def matrix_table(self) -> DataTable[Any]:
        return self.query_one("#merge-matrix", DataTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    def reload(self) -> None:
        """The store changed (a sync, a link, a configuration change): read everything again."""
        self.matrices.clear()
        self.load()

    def action_reload(self) -> None:
        self.services.invalidate()
        self.reload()

    # Loading ------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="merge-load",
        exit_on_error=False,
        name="Reading the merge rules",
    )
    def load(self) -> None:
        version = self.services.config_version()  # first: the rules read are at least this new
        directories, apps = read_views(self.services.config())
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(version, directories, apps))

    def on_merge_rules_screen_loaded(self, message: MergeRulesScreen.Loaded) -> None:
        self.version = message.version
        self.directories = message.directories
        self.apps = message.apps
        table = self.list_table
        keep = self._want or (
            self.entries[table.cursor_row].same
            if 0 <= table.cursor_row < len(self.entries)
            else None
        )
        self._want = None
        self.fill_list()
        table.border_subtitle = f"{len(self.directories)} directories · {len(self.apps)} apps"
        if not self.entries:
            self.query_one("#merge-detail", Static).update(
                Text(
                    "No directories or apps are configured: import a configuration "
                    "(roster config import FILE).",
                    style="dim",
                )
            )
            self.refresh_bindings()
            return
        index = next((i for i, e in enumerate(self.entries) if e.same == keep), None)
        if index is None and keep is not None:
            # the rule is gone (deleted or renamed): stay with its directory or app
            index = next(
                (i for i, e in enumerate(self.entries) if not e.is_rule and e.app == keep[1]), 0
            )
        table.move_cursor(row=index or 0)
        self.select(self.entries[index or 0], force=True)

    def fill_list(self) -> None:
        """The rows, with each rule's pair cut to the width the table has (an ellipsis, never
        a sideways scroll); the highlighted row's full text is under the list."""
        table = self.list_table
        rows: list[tuple[Entry, Text, Text | None, dict[str, Any] | None]] = []
        for position, directory in enumerate(self.directories, start=1):
            name = Text(f"{position} ", style="dim")
            name.append(safe(directory.app, NAME_WIDTH), style="bold")
            summary = Text()
            if directory.defaults:
                summary.append("(defaults) ", style="italic cyan")
            summary.append(safe(directory.title, 40), style="dim")
            if not directory.enabled:
                summary.append(" · disabled", style="bold yellow")
            rows.append((Entry("directory", directory.app), name, summary, None))
            count = len(directory.rules)
            for index, rule in enumerate(directory.rules):
                label = Text(f"  {index + 1}. ", style="dim")
                label.append_text(clip(rule.get("name", ""), NAME_WIDTH))
                entry = Entry("merge_rule", directory.app, rule_name(rule), index, count)
                rows.append((entry, label, None, rule))
        for app in self.apps:
            name = Text("◇ ", style="dim")
            name.append(safe(app.app, NAME_WIDTH), style="bold")
            summary = Text("ownership: ", style="dim")
            summary.append(strategy_words(app.strategy), style="bold")
            summary.append(f" · {safe(app.title, 40)}", style="dim")
            rows.append((Entry("app", app.app), name, summary, None))
            count = len(app.rules)
            for index, rule in enumerate(app.rules):
                label = Text(f"  {index + 1}. ", style="dim")
                label.append_text(clip(rule.get("name", ""), NAME_WIDTH))
                entry = Entry("ownership_rule", app.app, rule_name(rule), index, count)
                rows.append((entry, label, None, rule))
        names = max((row[1].cell_len for row in rows), default=10)
        width = self.pair_width(names)
        self._pair_width = width
        row = table.cursor_row
        self.entries = []
        with self.app.batch_update():
            table.clear()
            for entry, name, summary, rule in rows:
                if rule is not None:
                    summary = rule_pair(rule, width)
                    directory = self.directory(entry.app) if entry.is_directory else None
                    if directory is not None and directory.defaults:
                        summary.stylize("dim")
                assert summary is not None
                summary.truncate(width, overflow="ellipsis")
                self._add(table, entry, name, summary)
            if 0 <= row < table.row_count:
                table.move_cursor(row=row, animate=False)

    def pair_width(self, names: int) -> int:
        """What the second column can show without a sideways scroll: the table's width less
        the first column (its widest cell or its label) and a cell of padding each side."""
        table = self.list_table
        if not table.size.width:
            return PAIR_WIDTH
        inner = table.size.width - table.styles.scrollbar_size_vertical  # a long list scrolls
        label = table.ordered_columns[0].label.cell_len
        return max(inner - max(names, label) - 2 - 2, 16)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_list)  # once the layout (and breakpoint) is applied

    def _fit_list(self) -> None:
        if self.entries:
            names = max((table_cell_len(c) for c in self.list_table.get_column_at(0)), default=10)
            if self.pair_width(names) != self._pair_width:
                self.fill_list()

    def _add(self, table: DataTable[Any], entry: Entry, name: Text, pair: Text) -> None:
        table.add_row(name, pair, key=str(len(self.entries)))
        self.entries.append(entry)

    # The highlighted row ------------------------------------------------------------------

    @property
    def selected(self) -> Entry | None:
        row = self.list_table.cursor_row
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def directory(self, app: str) -> DirectoryView | None:
        return next((d for d in self.directories if d.app == app), None)

    def app_view(self, app: str) -> AppView | None:
        return next((a for a in self.apps if a.app == app), None)

    def rules_of(self, entry: Entry) -> list[dict[str, Any]]:
        if entry.is_directory:
            directory = self.directory(entry.app)
            return directory.rules if directory else []
        view = self.app_view(entry.app)
        return view.rules if view else []

    def rule_of(self, entry: Entry) -> dict[str, Any] | None:
        return next((r for r in self.rules_of(entry) if r.get("name") == entry.rule), None)

    @on(DataTable.RowHighlighted, "#merge-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        entry = self.selected
        if entry is None:
            return
        self.show_detail(entry)
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, lambda: self.select(entry))
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#merge-list")
    def _chosen(self) -> None:
        self.action_edit()

    def select(self, entry: Entry, force: bool = False) -> None:
        """Show the entry's matrix (cached, else computed) and its last change."""
        self.show_detail(entry)
        if force or entry.app != self.shown_app or entry.app not in self.matrices:
            self.shown_app = entry.app
            if entry.app in self.matrices:
                self.show_matrix(entry.app, self.matrices[entry.app])
            else:
                self.matrix_table.border_subtitle = Text(
                    f"computing {safe(entry.app, 30)}…", style="italic"
                )
                self.load_matrix(entry.app)
        self.load_last_change(entry.path)
        self.refresh_bindings()

    def show_detail(self, entry: Entry) -> None:
        detail = Text()
        if entry.kind == "directory":
            directory = self.directory(entry.app)
            if directory is not None and directory.defaults:
                detail.append("(defaults) ", style="italic cyan")
                detail.append(f"{DEFAULTS_WORDS}. Editing a rule starts from these.", style="dim")
            else:
                detail.append(
                    "The first rule that finds exactly one person wins; a rule that finds several "
                    "is ambiguous and the next is tried.",
                    style="dim",
                )
        elif entry.kind == "app":
            view = self.app_view(entry.app)
            if view is not None:
                detail.append(f"{strategy_words(view.strategy)}: ", style="bold")
                detail.append(safe(STRATEGY_HELP.get(view.strategy, "")), style="dim")
                detail.append(" · o changes it", style="dim")
        else:
            rule = self.rule_of(entry)
            if rule is not None:
                detail.append(safe(rule.get("name", ""), 60), style="bold")
                detail.append(": ")
                detail.append_text(rule_pair(rule, 200))
        self.query_one("#merge-detail", Static).update(detail)

    # Match matrix -------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="merge-matrix",
        exit_on_error=False,
        name="Computing the match matrix",
    )
    def load_matrix(self, app: str) -> None:
        matrix = self.services.merge_matrix(app)
        if not get_current_worker().is_cancelled:
            self.post_message(self.MatrixLoaded(app, matrix))

    def on_merge_rules_screen_matrix_loaded(self, message: MergeRulesScreen.MatrixLoaded) -> None:
        if not message.note:
            self.matrices[message.app] = message.matrix
        if message.app == self.shown_app:
            self.show_matrix(message.app, message.matrix, message.note)

    def show_matrix(self, app: str, matrix: MatchMatrix, note: str = "") -> None:
        title = Text("Match matrix · ")
        table = self.matrix_table
        coordinate = table.cursor_coordinate
        with self.app.batch_update():
            table.clear(columns=True)
            self._matrix_rules = []
            directory = next((d for d in matrix.directories if d.app == app), None)
            owned = next((a for a in matrix.apps if a.app == app), None)
            if directory is not None:
                self._matrix_columns = ["rule", "matched", "ambiguous", "unmatched", "earlier"]
                for label, key in (
                    ("Rule", "rule"),
                    ("Matched", "matched"),
                    ("Ambiguous", "ambiguous"),
                    ("No match", "unmatched"),
                    ("Earlier", "earlier"),
                ):
                    table.add_column(label, key=key)
                for index, counts in enumerate(directory.rules):
                    table.add_row(
                        clip(f"{index + 1}. {counts.rule}", 22),
                        count_cell(counts.matched, "green"),
                        count_cell(counts.ambiguous, "yellow"),
                        count_cell(counts.unmatched, "yellow"),
                        count_cell(counts.decided_earlier),
                        key=str(index),
                    )
                    self._matrix_rules.append(counts.rule)
                title.append(safe(app, 30), style="bold")
                title.append(f": {directory.considered:,} accounts considered")
                title.append(f" · {directory.pinned:,} pinned")
                if directory.errors:
                    title.append(f" · {directory.errors:,} filter errors", style="bold red")
            elif owned is not None:
                self._matrix_columns = ["strategy", "owned", "unowned", "ambiguous", "pinned"]
                for label, key in (
                    ("Strategy", "strategy"),
                    ("Owned", "owned"),
                    ("Unowned", "unowned"),
                    ("Ambiguous", "ambiguous"),
                    ("Pinned", "pinned"),
                ):
                    table.add_column(label, key=key)
                table.add_row(
                    plain(strategy_words(owned.strategy)),
                    count_cell(owned.owned, "green"),
                    count_cell(owned.unowned, "yellow"),
                    count_cell(owned.ambiguous, "yellow"),
                    count_cell(owned.pinned),
                    key="0",
                )
                self._matrix_rules.append(None)
                title.append(safe(app, 30), style="bold")
                title.append(": ownership of its accounts")
            else:
                self._matrix_columns = []
                title.append(f"{safe(app, 30)}: no accounts to count yet")
        if table.row_count:
            row = min(coordinate.row, table.row_count - 1)
            column = coordinate.column if 0 < coordinate.column < len(table.columns) else 1
            table.move_cursor(row=row, column=column)
        table.border_title = title
        if note:
            table.border_subtitle = Text(safe(note, 60), style="italic")
        else:
            table.border_subtitle = "enter: its accounts" if self._matrix_columns else ""

    @on(DataTable.CellSelected, "#merge-matrix")
    def _matrix_chosen(self, event: DataTable.CellSelected) -> None:
        app = self.shown_app
        column = event.coordinate.column
        row = event.coordinate.row
        if app is None or not 0 <= column < len(self._matrix_columns):
            return
        kind = LISTABLE.get(self._matrix_columns[column])
        if kind is None:
            self.notify(
                "Choose an ambiguous, no-match or unowned number to list its accounts.",
                severity="warning",
            )
            return
        rule = self._matrix_rules[row] if 0 <= row < len(self._matrix_rules) else None
        self.open_accounts(kind, app, rule)

    def open_accounts(self, kind: str, app: str | None, rule: str | None = None) -> None:
        self.app.push_screen(MatrixAccountsModal(self.services, self, kind, app, rule))

    def accounts_changed(self) -> None:
        """Called by the drill-down after a link: the numbers change everywhere."""
        self.matrices.clear()
        self.store_changed("decision")
        entry = self.selected
        if entry is not None:
            self.select(entry, force=True)

    def action_unowned(self) -> None:
        self.open_accounts("unowned", None)

    def action_unmatched(self) -> None:
        self.open_accounts("unmatched", None)

    def action_matrix(self) -> None:
        self.matrix_table.focus()

    def action_focus_list(self) -> None:
        self.list_table.focus()

    # Last change --------------------------------------------------------------------------

    def load_last_change(self, path: str) -> None:
        load_last_change(self, self.services, path)

    def on_last_change_loaded(self, message: LastChangeLoaded) -> None:
        entry = self.selected
        if entry is None or entry.path != message.key:
            return
        view = self.query_one("#merge-last-change", Static)
        audit = message.entry
        if audit is None:
            view.update(Text("Not changed since the configuration was imported.", style="dim"))
            return
        text = Text("Last change: ", style="dim")
        text.append(format_when(audit.at))
        text.append(" by ", style="dim")
        text.append(safe(audit.actor, 40), style="bold")
        text.append(f" ({safe(audit.action, 20)} {safe(audit.path, 80)})", style="dim")
        view.update(text)

    # Editing ------------------------------------------------------------------------------

    def action_add(self) -> None:
        entry = self.selected
        if entry is None or self.version is None:
            return
        if not entry.is_directory:
            view = self.app_view(entry.app)
            if view is not None and view.strategy != "custom":
                self.notify(
                    f"{entry.app} uses the {strategy_words(view.strategy)} strategy, which has no "
                    "rules: press o and choose Custom to give it rules of its own.",
                    severity="warning",
                )
                return
        self._open_rule_editor(entry, None)

    def action_edit(self) -> None:
        entry = self.selected
        if entry is None or self.version is None:
            return
        if entry.kind == "app":
            self.action_strategy()
            return
        if entry.kind == "directory":
            self.notify("Highlight one of its rules to edit it, or press a to add one.")
            return
        rule = self.rule_of(entry)
        if rule is not None:
            self._open_rule_editor(entry, rule)

    def _open_rule_editor(self, entry: Entry, rule: dict[str, Any] | None) -> None:
        assert self.version is not None
        names = [str(r.get("name", "")) for r in self.rules_of(entry)]
        where = f"directory {entry.app}" if entry.is_directory else f"app {entry.app} (ownership)"

        def done(result: EditResult | None) -> None:
            if result is not None:
                name = (result.after or {}).get("name") if isinstance(result.after, dict) else None
                kind = "merge_rule" if entry.is_directory else "ownership_rule"
                self._want = (kind, entry.app, str(name) if name else entry.rule)
                self.after_save(f"Saved the rule {name or entry.rule} of {where}.", result)
            self.list_table.focus()

        self.app.push_screen(
            MatchRuleModal(
                self.services,
                rules_path=entry.rules_path,
                app=entry.app,
                where=where,
                rule=rule,
                names=names,
                version=self.version,
                reload=self.action_reload,
            ),
            done,
        )

    def action_strategy(self) -> None:
        entry = self.selected
        if entry is None or entry.is_directory or self.version is None:
            return
        view = self.app_view(entry.app)
        if view is None:
            return

        def done(result: EditResult | None) -> None:
            if result is not None:
                self._want = ("app", entry.app, None)
                self.after_save(f"Saved the ownership strategy of {entry.app}.", result)
            self.list_table.focus()

        self.app.push_screen(
            OwnershipModal(
                self.services,
                app=view.app,
                title=view.title,
                strategy=view.strategy,
                rules=view.rules,
                version=self.version,
                reload=self.action_reload,
            ),
            done,
        )

    def action_delete(self) -> None:
        entry = self.selected
        if entry is None or not entry.is_rule or self.version is None:
            return
        rule = self.rule_of(entry)
        message = Text("Remove the rule ")
        message.append(safe(entry.rule, 80), style="bold")
        if rule is not None:
            message.append(" (")
            message.append_text(rule_pair(rule, 70))
            message.append(")")
        message.append(f" from {'directory' if entry.is_directory else 'app'} ")
        message.append(safe(entry.app, 60), style="bold")
        message.append(".\n\n")
        if entry.is_directory:
            directory = self.directory(entry.app)
            if directory is not None and directory.defaults:
                message.append(
                    "This directory uses the defaults: removing one of them keeps the other as "
                    "its own rule.\n\n"
                )
            message.append(
                "Accounts this rule matched are tried against the remaining rules at the next "
                "sync; those that match nobody may create new people or stay unmerged."
            )
        else:
            message.append(
                "Accounts this rule linked look for their owner with the remaining rules at the "
                "next sync; those that find nobody become unowned."
            )
        edit = ConfigEdit("delete", entry.path)
        version = self.version  # what the admin saw when asked
        done = f"Removed the rule {entry.rule} from {entry.app}."
        want = ("directory" if entry.is_directory else "app", entry.app, None)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._want = want
                self.apply(edit, done, version)

        self.app.push_screen(
            ConfirmModal("Remove rule", message, "Remove", destructive=True), confirmed
        )

    def action_defaults(self) -> None:
        entry = self.selected
        if entry is None or not entry.is_directory or self.version is None:
            return
        directory = self.directory(entry.app)
        if directory is None or directory.defaults:
            return
        message = Text("Revert the merge rules of ")
        message.append(safe(entry.app, 60), style="bold")
        message.append(f" to the defaults: {DEFAULTS_WORDS}.\n\n")
        message.append(
            f"Its {len(directory.rules)} rule{'s' if len(directory.rules) != 1 else ''} of its "
            "own are removed from the configuration; the next sync matches its accounts with "
            "the defaults."
        )
        edit = ConfigEdit("delete", object_path("directories", entry.app, "merge_rules"))
        version = self.version  # what the admin saw when asked
        done = f"The merge rules of {entry.app} are the defaults again."

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._want = ("directory", entry.app, None)
                self.apply(edit, done, version)

        self.app.push_screen(
            ConfirmModal("Revert to the defaults", message, "Revert", destructive=True),
            confirmed,
        )

    def action_move(self, step: int) -> None:
        entry = self.selected
        if entry is None or not entry.is_rule or self.version is None:
            return
        to_index = entry.index + step
        if not 0 <= to_index < entry.count:
            return
        self._want = entry.same
        self.move_rule(entry, to_index, self.version)

    @work(
        thread=True,
        exclusive=True,
        group="merge-save",
        exit_on_error=False,
        name="Moving the rule",
    )
    def move_rule(self, entry: Entry, to_index: int, version: str) -> None:
        edit = ConfigEdit("move", entry.path, to_index=to_index)
        try:
            # the new order's numbers first (nothing saved yet), then save and count again
            preview = self.services.config_edit(edit, expected_version=version, dry_run=True)
            matrix = self.services.merge_matrix(entry.app, config=preview.config)
            self.post_message(
                self.MatrixLoaded(entry.app, matrix, "The new order's numbers; saving…")
            )
            result = self.services.config_edit(edit, expected_version=version)
        except (ConfigConflict, ConfigInvalid) as error:
            self.post_message(EditRefused(error, dry_run=False, tag="move"))
            return
        where = "up" if to_index < entry.index else "down"
        self.post_message(EditSaved(result, None, False, f"Moved the rule {entry.rule} {where}."))

    def apply(self, edit: ConfigEdit, done: str, version: str | None) -> None:
        save_edit(self, self.services, edit, version, tag=done)

    def on_edit_saved(self, message: EditSaved) -> None:
        self.after_save(message.tag, message.result)

    def after_save(self, done: str, result: EditResult) -> None:
        self.version = result.version
        if not result.applied:
            self.notify("The configuration already says this; nothing was changed.")
            self.load()
            return
        self.notify(done, title="Saved", markup=False)
        for warning in result.warnings[:3]:
            self.notify(str(warning), title="Warning", severity="warning")
        self.matrices.clear()
        self.store_changed("configuration")
        self.load()

    def on_edit_refused(self, message: EditRefused) -> None:
        self._want = None
        if message.conflict:
            offer_reload(self, message.error, self.action_reload, keeps="make your change again")
            return
        self.query_one("#merge-detail", Static).update(problems_text(message.error, limit=3))
        entry = self.selected
        if entry is not None and entry.app in self.matrices:
            self.show_matrix(entry.app, self.matrices[entry.app])  # the saved order's numbers

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group in ("merge-save", SAVE_GROUP):
            self.reload()  # show what the store holds now

    async def action_external(self) -> None:
        """The highlighted object in $EDITOR (`edit_externally` says what happened and tells
        the other screens); then read it again here."""
        from screens.external_edit import edit_externally  # the $EDITOR round trip

        entry = self.selected
        if entry is None:
            return
        result = await edit_externally(self, entry.path)
        if result is not None and result.applied:
            self.version = result.version
            self._want = entry.same
            self.matrices.clear()
        self.load()

    # Keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        entry = self.selected
        ready = self.version is not None and entry is not None
        if action == "add":
            return ready
        if action == "edit":
            return ready and entry is not None and entry.kind != "directory"
        if action == "delete":
            return ready and entry is not None and entry.is_rule
        if action == "move":
            if not ready or entry is None or not entry.is_rule:
                return False
            step = parameters[0] if parameters and isinstance(parameters[0], int) else 0
            return None if not 0 <= entry.index + step < entry.count else True
        if action == "strategy":
            return ready and entry is not None and not entry.is_directory
        if action == "defaults":
            if not ready or entry is None or not entry.is_directory:
                return False
            directory = self.directory(entry.app)
            return directory is not None and not directory.defaults
        if action == "external":
            return entry is not None
        if action == "focus_list":
            return not self.list_table.has_focus
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
