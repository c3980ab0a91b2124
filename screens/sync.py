"""Sync: plan a sync (dry run) or sync now, with live progress per stage and cancel; the plan or
an applied run's changes as a tree (stage → object → field, old → new, reason); run history.

"Sync now" never applies blind: it runs a dry run first and shows its summary (counts per stage,
changes, deletions by cause) in a dialog; only "Apply" there starts the applying run. A plan the
deletion threshold blocks needs the admin to tick that they reviewed the deletions.

Under the tree, the highlighted change in full (object, each field old → new, the whole reason:
the tree's row cuts them at the edge). On a short terminal (fewer than `TALL_FROM` rows: 80x24)
the stage table shows only while a run is under way, or when the admin asks (`t`): the tree
gets its rows, and a stage's counters are in the detail when the stage is highlighted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane, Tree
from textual.worker import Worker, get_current_worker

from engine.errors import SyncLocked
from engine.services import APPLIED_STATUSES, PLANNED_STATUSES
from screens.base import RosterScreen
from screens.dashboard import format_when, run_kind, status_text
from screens.modals.sync_confirm import SyncConfirmModal
from screens.modals.text_view import TextViewModal
from screens.text import clip, label, plain, safe
from screens.widgets.change_detail import ChangeDetail, node_text
from screens.widgets.plan_tree import (
    PlanTree,
    StageChanges,
    format_counts,
    group_changes,
    journal_tree,
    plural,
)
from screens.widgets.row_table import RowTable

if TYPE_CHECKING:
    from engine.services import JournalStage, RunSummary, Services

WRITE_ROW = "write"
STAGE_WIDTH, STATE_WIDTH = 11, 9  # the stage table's first two columns
HISTORY_LIMIT = 30
#: From this many rows the stage table always shows above the tree; below (80x24) it would
#: leave the tree five rows, so it shows while a run is under way or when asked (t).
TALL_FROM = 34

# What each run is for: a plan the admin asked for, the dry run before "sync now", the apply.
PLAN, PREFLIGHT, APPLY = "plan", "preflight", "apply"
DOING = {
    PLAN: "Planning a sync (dry run)",
    PREFLIGHT: "Checking what a sync would change (dry run before applying)",
    APPLY: "Syncing",
}


def run_title(run_id: int, dry_run: bool, status: str, extra: str = "") -> Text:
    """ "Run 7: planned, nothing written", "Run 4: applied": the status says what the run was,
    so the mode is named only where it does not ("Run 5 (dry run): failed")."""
    planned = status in PLANNED_STATUSES
    title = Text.assemble((f"Run {run_id}", "bold"))
    if dry_run and not planned:
        title.append(" (dry run)")
    if extra:
        title.append(f" ({extra})")
    title.append(": ")
    title.append_text(status_text(status))
    if planned:
        title.append(", nothing written", style="dim")
    return title


def when_and_who(summary: Any) -> str:
    """ "2026-12-06 21:20, ann": when a recorded run started, and who started it."""
    return f"{format_when(summary.started_at)}, {safe(summary.started_by or '', 40)}"


def cancelled_text(result: Any) -> str:
    """ "Run 17 cancelled before the attributes stage." (its error says how it was)."""
    why = (result.error or "cancelled").rstrip(".")
    return f"Run {result.run_id} {why if why.startswith('cancelled') else f'cancelled ({why})'}."


def named(apps: list[str], shown: int = 3) -> str:
    """ "hr, idp and 2 more": a few apps by name."""
    names = [safe(app, 40) for app in apps[:shown]]
    if len(apps) > shown:
        return f"{', '.join(names)} and {len(apps) - shown} more"
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


#: What failed in each stage (SyncResult.failures' "stage"), of the APPS named: a push fails
#: when the app refuses it, when its expression fails, or when the app cannot be read back
FAILED_AS = {
    "import": "{apps} could not be read",
    "push": "pushes to {apps} failed",
    "provision": "{apps} refused accounts",
}


def failed_apps(failures: list[dict[str, str]]) -> str:
    """ "slack could not be read; pushes to ad failed": which apps failed, and where."""
    by_stage: dict[str, list[str]] = {}
    for failure in failures:
        apps = by_stage.setdefault(failure.get("stage", ""), [])
        if failure.get("app") not in apps:
            apps.append(str(failure.get("app", "")))
    return "; ".join(
        FAILED_AS.get(stage, f"{{apps}} failed ({safe(stage, 20)})").replace("{apps}", named(apps))
        for stage, apps in by_stage.items()
    )


def stage_text(counts: Mapping[str, Any] | None, problems: int) -> Text:
    """A stage's counters as the command line prints them, and how many problems it had."""
    text = plain(format_counts(counts))
    if problems:
        text.append(f"  {plural(problems, 'problem')}", style="bold yellow")
    return text


def wrap_counts(counts: Text, width: int) -> Text:
    """COUNTS ("filter create 543 · filter ignore 24 · …") on as many lines as WIDTH needs,
    broken only between two counts; a single count wider than WIDTH is cut with an ellipsis."""
    lines: list[Text] = []
    line = Text()
    for part in counts.split(" · "):
        part.rstrip()
        if len(part) > width:
            part.truncate(width, overflow="ellipsis")
        if line.plain and len(line) + 3 + len(part) > width:
            lines.append(line)
            line = Text()
        if line.plain:
            line.append(" · ")
        line.append_text(part)
    lines.append(line)
    return Text("\n").join(lines)


class SyncScreen(RosterScreen):
    """Run dry runs and syncs, watch them, and read what they changed."""

    TITLE_TEXT = "Sync"
    CSS_PATH = Path(__file__).with_name("sync.tcss")
    AUTO_FOCUS = "#sync-tree"  # ↑↓ move through the plan at once (the stage table is read only)

    NEEDS: ClassVar[dict[str, str]] = {"plan": "operator", "sync_now": "operator"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "p",
            "plan",
            "Plan",
            tooltip="Plan a sync (dry run): compute every change, apply nothing",
        ),
        Binding(
            "s",
            "sync_now",
            "Sync now",
            tooltip="Apply the plan you just made, after your confirmation (else plan first)",
        ),
        Binding("escape", "cancel", "Cancel run", tooltip="Stop the running sync between stages"),
        # the tabs name c and h ("Changes (c)"): out of the footer, which must fit 80 columns
        Binding("c", "show_tab('changes')", "Changes", show=False, tooltip="Show the changes tree"),
        Binding("h", "show_tab('history')", "History", show=False, tooltip="Show the run history"),
        Binding(
            "t",
            "toggle_stages",
            "Stages",
            tooltip="Show or hide the stage table above the tree (a short terminal hides it "
            "when no run is under way)",
        ),
        Binding("r", "reload_history", "Reload", show=False, tooltip="Read the run history again"),
        Binding(
            "minus",
            "collapse_stages",
            "Collapse",
            show=False,
            key_display="-",
            tooltip="Close every stage of the tree and go to the highlighted change's stage "
            "(a first sync's thousands of changes are one screen of stages again)",
        ),
        Binding(
            "v",
            "view_whole",
            "View",
            tooltip="Show the highlighted change (or problem, or note) whole, where the detail "
            "under the tree cuts it",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("enter", "In the history: show that run's changes in the tree"),
        ("enter", "In the tree: open or close a node; on “… more objects”, show the next page"),
        ("↑ / ↓", "In the tree: the highlighted change is shown in full under the tree"),
        (
            "shift+↑ / ↓",
            "In the tree: the previous or next node at the same level (stage to stage)",
        ),
        ("shift+←", "In the tree: up to the highlighted node's stage or object"),
        ("shift+space", "In the tree: open or close everything under the highlighted node"),
    ]

    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-short"),
        (TALL_FROM, "-tall"),
    ]

    class Progress(Message):
        """A stage started; a newer one replaces an older one still in the queue."""

        def __init__(self, stage: str, done: int, total: int) -> None:
            super().__init__()
            self.stage = stage
            self.done = done
            self.total = total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SyncScreen.Progress)

    class StageDone(Message):
        """A stage is planned: its counters and problems as they stand (copied in the run's
        thread, which goes on changing the report)."""

        def __init__(
            self, stage: str, counts: dict[str, Any], problems: int, unread: list[str]
        ) -> None:
            super().__init__()
            self.stage = stage
            self.counts = counts
            self.problems = problems
            self.unread = unread  # the apps that could not be read (the import stage)

    class Finished(Message):
        def __init__(self, purpose: str, result: Any) -> None:
            super().__init__()
            self.purpose = purpose
            self.result = result

    class ResultTreeLoaded(Message):
        """A finished run's changes, read for the tree (None: group the result's own)."""

        def __init__(
            self, result: Any, stages: list[StageChanges] | None, summary: Any = None
        ) -> None:
            super().__init__()
            self.result = result
            self.stages = stages
            self.summary = summary  # the run as recorded (None: its journal could not be read)

    class Refused(Message):
        """Another sync holds the lock."""

        def __init__(self, purpose: str, message: str) -> None:
            super().__init__()
            self.purpose = purpose
            self.message = message

    class CancelledLoaded(Message):
        """A cancelled run's journal: which of its changes were applied before the cancel."""

        def __init__(
            self,
            purpose: str,
            result: Any,
            outline: list[JournalStage],
            stages: list[StageChanges],
        ) -> None:
            super().__init__()
            self.purpose = purpose
            self.result = result
            self.outline = outline  # each stage's changes, and how many were applied
            self.stages = stages

    class HistoryLoaded(Message):
        def __init__(self, runs: list[RunSummary], locked: bool | None = None) -> None:
            super().__init__()
            self.runs = runs
            self.locked = locked  # asked after a refusal: whether a sync still holds the lock

    class RunLoaded(Message):
        def __init__(self, summary: RunSummary, stages: list[StageChanges]) -> None:
            super().__init__()
            self.summary = summary
            self.stages = stages

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.stage_names = services.sync_stages()
        self.running: str | None = None  # PLAN, PREFLIGHT or APPLY while a run is under way
        self.refused = False  # the last run asked for was refused: another sync was running
        self.writing = False  # the applying run passed "done": it is writing to the store
        self.cancel_requested = False
        self.stage_index = -1
        self.counted: set[str] = set()  # stages whose counters are shown (StageDone)
        self._stage_rows: dict[str, list[Text]] = {}  # stage -> [state, counts], as shown
        # the plan `p` showed, while nothing else ran: `s` confirms it rather than planning
        # again (the apply still checks that it stands: expect_plan)
        self.shown_plan: Any = None
        self.applying_plan: int | None = None  # the plan's run an applying run carries out
        self.stages_asked = False  # t: the stage table stays shown on a short terminal

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="sync-body"):
            yield Static(self.idle_text(), id="sync-status")
            stages: DataTable[Any] = DataTable(
                id="sync-stages", cursor_type="none", show_cursor=False
            )
            self._stage_columns(stages, None)
            yield stages
            with TabbedContent(initial="changes", id="sync-tabs"):
                with TabPane("Changes (c)", id="changes"):
                    yield PlanTree(id="sync-tree")
                    yield ChangeDetail(id="sync-detail")
                with TabPane("History (h)", id="history"):
                    history = RowTable(id="sync-history")
                    history.add_column("Run", key="run")
                    history.add_column("Kind", key="kind")
                    history.add_column("Status", key="status")
                    history.add_column("Changes", key="changes")
                    history.add_column("Started", key="started")
                    history.add_column("By", key="by")
                    yield history
        yield Footer()

    def on_mount(self) -> None:
        # another process's run shows in the history as it starts, and a refusal's "another
        # sync is running" goes once it ended (team review: both stayed until `r`); the
        # app's own look at the store only sees runs end
        poll = getattr(self.app, "STORE_POLL_SECONDS", 0)
        if poll:
            self.set_interval(poll * 2, self.look_at_history)
        self.reset_stages(dry_run=None, label="—")
        self.tree.show_message(self.no_run_text())
        self.load_history()

    def no_run_text(self) -> str:
        return (
            "No run shown yet: p plans a sync, enter on a run in History"
            if self.permits("plan")
            else "No run shown yet: enter on a run in History (h) shows it"
        )

    @property
    def tree(self) -> PlanTree:
        return self.query_one("#sync-tree", PlanTree)

    @on(Tree.NodeHighlighted, "#sync-tree")
    def _node_highlighted(self, event: Tree.NodeHighlighted[Any]) -> None:
        self.query_one("#sync-detail", ChangeDetail).show(event.node)
        # the detail may have grown under the tree: keep the highlighted row in view
        tree = self.tree
        if event.node is tree.cursor_node:
            tree.call_after_refresh(tree.scroll_to_node, event.node, animate=False)
        # keys typed while a stage opened move the cursor over lines laid out before it
        # opened: the message names the node the line held then (newcomer review: the detail
        # described a push while the row highlighted was a person's attributes)
        tree.call_after_refresh(self._detail_follows_cursor)

    def _detail_follows_cursor(self) -> None:
        detail = self.query_one("#sync-detail", ChangeDetail)
        node = self.tree.cursor_node
        if node is not None and detail.shown is not node:
            detail.show(node)

    def action_view_whole(self) -> None:
        """A change, a problem or a note whole; the other nodes are whole in the detail already."""
        node = self.tree.cursor_node
        data = node.data if node is not None else None
        kind = data[0] if isinstance(data, tuple) and data else ""
        run = self.tree.run_id
        whole = ("change", "problem", "note")
        text = node_text(node, whole=True, run=run) if kind in whole else None
        if text is None:
            self.app.bell()
            self.notify(
                "v shows a change, a problem or a note whole: move to one first.", timeout=4
            )
            return
        self.app.push_screen(TextViewModal(f"The highlighted {kind}, whole", text))

    def action_collapse_stages(self) -> None:
        tree = self.tree
        node = tree.cursor_node
        while node is not None and node.parent is not None and node.parent is not tree.root:
            node = node.parent  # up to the stage (or the root itself)
        for stage in tree.root.children:
            stage.collapse()
        tree.focus()
        if node is not None:  # once the tree has laid its lines out again
            tree.call_after_refresh(tree.move_cursor, node)

    # The stage table on a short terminal --------------------------------------------------

    @property
    def short(self) -> bool:
        return self.has_class("-short")

    def show_stages(self) -> None:
        """The stage table shows (on a short terminal) while a run is under way or when the
        admin asked for it."""
        shown = self.running is not None or self.stages_asked
        if shown != self.has_class("-stages"):
            self.set_class(shown, "-stages")
            self.call_after_refresh(self._fit_stages)

    def _fit_stages(self) -> None:
        """Lay the stage table out again once it shows: its rows drawn while it was hidden
        leave it the height they had before (three blank rows under it after 80x24 -> 120x40)."""
        table = self.query_one("#sync-stages", DataTable)
        if table.display:
            table.refresh(layout=True)

    def action_toggle_stages(self) -> None:
        self.stages_asked = not self.stages_asked
        self.show_stages()

    def role_changed(self) -> None:
        if self.running is None:
            self.set_status(self.idle_text())

    def idle_text(self) -> Text:
        if not self.permits("plan"):  # (engine.roles)
            return Text("Syncs need the operator role: the history shows what they did (h)")
        return Text.assemble(
            ("p", "bold"),
            " plans a sync (dry run, nothing changes)   ",
            ("s", "bold"),
            " syncs now (shows the plan first)",
        )

    def set_status(self, text: str | Text, style: str = "") -> None:
        status = self.query_one("#sync-status", Static)
        status.update(plain(text, style=style, lines=True) if isinstance(text, str) else text)

    # Stage rows ---------------------------------------------------------------------------

    def reset_stages(self, dry_run: bool | None, label: str = "pending") -> None:
        """Every stage row at LABEL; the write row says a dry run writes nothing (None: no
        run is shown, so it says nothing)."""
        self._stage_rows = {
            stage: [Text(label, style="dim"), Text("")] for stage in self.stage_names
        }
        self._stage_rows[WRITE_ROW] = (
            [Text("—", style="dim"), Text("dry run: nothing is written", "dim")]
            if dry_run
            else [Text(label, style="dim"), Text("")]
        )
        self._draw_stages()

    @staticmethod
    def _stage_columns(table: DataTable[Any], counts: int | None) -> None:
        table.add_column("Stage", key="stage", width=STAGE_WIDTH)
        table.add_column("State", key="state", width=STATE_WIDTH)
        # the counters count everything each stage looked at, as the CLI says ("looked at:"),
        # not only what it changed (the plan below lists the changes)
        table.add_column("Looked at", key="counts", width=counts)

    def set_stage(self, key: str, state: str, counts: str | Text | None = None) -> None:
        styles = {"running": "bold cyan", "done": "green", "cancelled": "yellow", "failed": "red"}
        row = self._stage_rows[key]
        row[0] = Text(state, style=styles.get(state, "dim"))
        if counts is not None:
            row[1] = counts if isinstance(counts, Text) else Text(counts)
        self._draw_stages()

    def _draw_stages(self) -> None:
        """The stage rows, each stage's counts wrapped at its separators to the table's width:
        a count past the right edge was cut with nothing to say so ("unmerged 2" of 20)."""
        table = self.query_one("#sync-stages", DataTable)
        # the body's width (the table's own follows what it was last given), less the Stage
        # and State columns, every column's padding (a cell on each side) and a scrollbar
        body = self.query_one("#sync-body", Vertical).content_size.width
        width = body - STAGE_WIDTH - STATE_WIDTH - 6 - 2 if body else 0
        # the Counts column is given that width: measured by the table, it could keep the
        # width of counts drawn earlier in the run and wrap the new ones again inside it
        table.clear(columns=True)
        self._stage_columns(table, width if width > 0 else None)
        for key, (state, counts) in self._stage_rows.items():
            wrapped = wrap_counts(counts, width) if width > 0 else counts
            table.add_row(
                plain(key), state, wrapped, key=key, height=max(1, len(wrapped.plain.split("\n")))
            )
        # the row under way in view: at 80x24 the counts' lines pushed the write row below
        # the table's height while every row in view said "done" (newcomer review)
        running = [
            i for i, (state, _) in enumerate(self._stage_rows.values()) if state.plain == "running"
        ]
        if running:
            table.call_after_refresh(self._show_stage_row, running[0])

    def _show_stage_row(self, index: int) -> None:
        table = self.query_one("#sync-stages", DataTable)
        region = table._get_row_region(index)  # (no public way: the table has no cursor)
        table.scroll_to_region(region, animate=False, spacing=table._get_fixed_offset(), force=True)

    def on_resize(self) -> None:
        # the detail describes the highlighted row: keep that row in view at any size
        tree = self.tree
        if tree.cursor_node is not None:
            tree.call_after_refresh(tree.scroll_to_node, tree.cursor_node, animate=False)
        if self._stage_rows:
            self._draw_stages()
            # the breakpoint's class (-short, -tall) may show or hide the table after this
            self.call_after_refresh(self._fit_stages)
        self.refresh_bindings()  # t only matters on a short terminal

    def show_stage_counts(self, counts: dict[str, Any], problems: dict[str, int]) -> None:
        for stage in self.stage_names:
            if stage in counts:
                self.set_stage(stage, "done", stage_text(counts[stage], problems.get(stage, 0)))

    # Starting runs ------------------------------------------------------------------------

    def action_plan(self) -> None:
        self.start(PLAN)

    def action_sync_now(self) -> None:
        plan = self.shown_plan
        # a plan of no changes has nothing to apply: sync now plans afresh (the data may have
        # changed since), as it does with no plan shown
        if plan is not None and self.running is None and (plan.planned or plan.held):
            self.set_status(
                f"Run {plan.run_id}'s plan: confirm in the dialog to apply it (the sync checks "
                "first that it still stands).",
                "bold",
            )
            self.confirm_apply(plan)
            return
        self.start(PREFLIGHT)

    def start(
        self, purpose: str, allow_deletes: bool = False, expect_plan: str | None = None
    ) -> None:
        if self.running is not None:
            self.notify("A run is already under way; esc cancels it.", severity="warning")
            return
        self.running = purpose
        self.refused = False
        self.shown_plan = None
        if purpose != APPLY:
            self.applying_plan = None
        self.writing = False
        self.cancel_requested = False
        self.stage_index = -1
        self.counted = set()
        self.reset_stages(dry_run=purpose != APPLY)
        self.show_stages()
        extra = " Deletions are allowed for this run." if allow_deletes else ""
        self.set_status(f"{DOING[purpose]}…  esc cancels.{extra}", "bold cyan")
        self.query_one("#sync-tabs", TabbedContent).active = "changes"
        self.tree.focus()
        self.tree.show_message(f"{DOING[purpose]}…")
        self.refresh_bindings()
        self.run_sync(purpose, allow_deletes, expect_plan)

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False, name="The sync")
    def run_sync(self, purpose: str, allow_deletes: bool, expect_plan: str | None) -> None:
        worker = get_current_worker()

        def progress(stage: str, done: int, total: int) -> None:
            self.post_message(self.Progress(stage, done, total))

        def stage_done(report: Any) -> None:
            first = report.name == self.stage_names[0]
            unread = list(dict.fromkeys(app for app, _ in report.failures)) if first else []
            counts = dict(report.counts)
            self.post_message(self.StageDone(report.name, counts, len(report.problems), unread))

        try:
            result = self.services.sync(
                dry_run=purpose != APPLY,
                allow_deletes=allow_deletes,
                progress=progress,
                cancelled=lambda: worker.is_cancelled,
                # the confirmation applies the plan it showed, or nothing
                expect_plan=expect_plan,
                plan_run=self.applying_plan if purpose == APPLY else None,
                stage_done=stage_done,
            )
        except SyncLocked as exc:
            self.post_message(self.Refused(purpose, exc.message))
            return
        if result.dry_run or result.status == "blocked-by-threshold":
            # counted here, off the screen's thread, for the confirmation (a first sync
            # plans 1.3 million changes: a second's work)
            result.plan_counts  # noqa: B018
        # Posted even when cancelled: the run is recorded and the screen must say how it ended.
        self.post_message(self.Finished(purpose, result))

    @work(
        thread=True,
        exclusive=True,
        group="sync-run",
        exit_on_error=False,
        name="Reading the run's changes",
    )
    def load_result_tree(self, result: Any) -> None:
        """RESULT's changes as the tree shows them, read from the run's journal (a first sync
        journals 1.3 million: a page at a time), with the stages' counters, problems and
        notes as the run has them; when the journal cannot be read, the run's own changes."""
        summary = None
        try:
            summary, _outline, stages = journal_tree(
                self.services, result.run_id, self.tree.page, result=result
            )
        except Exception:  # noqa: BLE001 - the run's own changes are shown instead
            stages = None
        if not get_current_worker().is_cancelled:
            self.post_message(self.ResultTreeLoaded(result, stages, summary))

    def on_sync_screen_result_tree_loaded(self, message: SyncScreen.ResultTreeLoaded) -> None:
        self.show_result_tree(message.result, message.stages, message.summary)

    def on_sync_screen_stage_done(self, message: SyncScreen.StageDone) -> None:
        """A stage's counters as soon as it is planned, not only when the run ends (a minute
        at 100,000 people): an app that could not be read is said while the run goes on."""
        if self.running is None or message.stage not in self._stage_rows:
            return
        self.counted.add(message.stage)
        self.set_stage(message.stage, "done", stage_text(message.counts, message.problems))
        if message.unread and not self.cancel_requested:  # "Cancelling…" stands
            self.set_status(
                f"{DOING[self.running]}…  {named(message.unread)} could not be read (the "
                "import's problems say why); the run goes on without "
                f"{'it' if len(message.unread) == 1 else 'them'}. esc cancels.",
                "bold yellow",
            )

    def on_sync_screen_progress(self, message: SyncScreen.Progress) -> None:
        if self.running is None:
            return
        with self.app.batch_update():
            if message.stage == "done":
                for stage in self.stage_names[self.stage_index if self.stage_index >= 0 else 0 :]:
                    if stage not in self.counted:
                        self.set_stage(stage, "done", Text("…", style="dim"))
                self.stage_index = len(self.stage_names)
                if self.running == APPLY:
                    self.writing = True
                    self.set_stage(WRITE_ROW, "running", Text("writing to the store…", "cyan"))
                return
            if self.writing:
                self.set_stage(
                    WRITE_ROW, "running", Text(f"writing the {message.stage} changes…", "cyan")
                )
                return
            names = self.stage_names
            if message.stage == "load":  # before the first stage: the import waits for it
                self.set_stage(names[0], "running", Text("reading the store…", style="cyan"))
                return
            index = names.index(message.stage) if message.stage in names else message.done
            for done in self.stage_names[max(self.stage_index, 0) : index]:
                if done not in self.counted:
                    self.set_stage(done, "done", Text("…", style="dim"))
            self.stage_index = index
            if index < len(self.stage_names):
                self.set_stage(self.stage_names[index], "running", Text("computing…", style="cyan"))

    def on_sync_screen_refused(self, message: SyncScreen.Refused) -> None:
        self.running = None
        self.refused = True
        self.show_stages()
        self.refresh_bindings()
        self.reset_stages(dry_run=None, label="—")
        self.set_status(label(("Not started. ", "bold red"), (message.message, "red")))
        self.tree.show_message("No run: another sync holds the lock.")
        self.notify(message.message, title="Sync refused", severity="error", timeout=10)
        self.load_history()

    def on_sync_screen_finished(self, message: SyncScreen.Finished) -> None:
        result = message.result
        purpose = message.purpose
        was_writing = self.writing
        self.running = None
        self.writing = False
        self.show_stages()
        self.refresh_bindings()
        self.store_changed("run", result.run_id)  # every other screen reloads what it shows
        counts = {stage.name: dict(stage.counts) for stage in result.stages}
        problems = {stage.name: len(stage.problems) for stage in result.stages}
        with self.app.batch_update():
            # plan-changed: the stages ran (the plan as the data stands now), nothing written
            shown = (*APPLIED_STATUSES, *PLANNED_STATUSES, "blocked-by-threshold", "plan-changed")
            if result.status in shown:
                self.show_stage_counts(counts, problems)
                if purpose == APPLY and result.status in APPLIED_STATUSES:
                    self.set_stage(WRITE_ROW, "done", Text("written", "green"))
                elif purpose == APPLY:
                    self.set_stage(WRITE_ROW, "—", Text("nothing was written", "yellow"))
            else:
                self.mark_stopped(result.status, purpose, was_writing)
            if result.status == "cancelled":
                self.tree.show_message(f"Run {result.run_id} cancelled; reading its journal…")
            else:
                self.tree.show_message(f"Run {result.run_id}: reading its changes…")
                self.load_result_tree(result)
        self.load_history()
        changes = len(result.planned)
        noun = f"{changes:,} change{'s' if changes != 1 else ''}"
        if result.not_applied:  # written means applied: the refused pushes were not
            noun = f"{changes - result.not_applied:,} of {noun} (the apps refused the rest)"
        status = result.status
        if status == "cancelled":
            # what was written before the cancel is in the run's journal (marked applied)
            self.set_status(f"{cancelled_text(result)} Reading what was applied…", "yellow")
            self.load_cancelled(purpose, result)
        elif status == "plan-changed":
            self.set_status(
                label(
                    (f"Run {result.run_id}: not applied. ", "bold yellow"),
                    (result.error, "yellow"),
                    " s plans again.",
                )
            )
        elif status == "failed":
            self.set_status(
                label(
                    (f"Run {result.run_id} failed: ", "bold red"),
                    (result.error or "no reason given", "red"),
                    " Nothing was applied; fix the cause and run again.",
                )
            )
        elif status == "blocked-by-threshold" and purpose == PREFLIGHT:
            self.set_status(
                f"Run {result.run_id} planned: the deletion threshold stops this sync. "
                "Review the deletions in the dialog.",
                "bold yellow",
            )
            self.confirm_apply(result)
        elif status == "blocked-by-threshold":
            self.shown_plan = result  # s shows its deletions and asks, as after its own plan
            self.set_status(
                label(
                    (f"Run {result.run_id} blocked by the deletion threshold. ", "bold yellow"),
                    result.error or "",
                    " s (sync now) shows the deletions and lets you allow them.",
                )
            )
        elif purpose == PREFLIGHT:
            failed = f" with failures ({failed_apps(result.failures)})" if result.failures else ""
            self.set_status(
                f"Run {result.run_id} planned{failed}: {noun}. Confirm in the dialog to apply.",
                "bold",
            )
            self.confirm_apply(result)
        elif status == "planned":
            if not result.failures:
                self.shown_plan = result
            if changes or result.failures:
                then = "s applies this plan (after checking that it still stands)."
            else:
                then = "The store already matches the apps."
            self.set_status(
                f"Run {result.run_id} planned: {noun}; nothing was applied. {then}", "bold cyan"
            )
        elif result.failures:
            # the apps and stages only: the reasons are the stages' problems in the tree (a
            # reason runs to several lines, and the status line cut it mid-sentence)
            applied = status in APPLIED_STATUSES
            if not applied and (changes or result.held):
                self.shown_plan = result  # s applies it, as any plan on screen
            then = (
                f"{noun} written; fix these and sync again."
                if applied
                else f"{noun}; s applies this plan (what failed stays as it is)."
                if changes or result.held
                else f"{noun}; fix these and plan again."
            )
            self.set_status(
                label(
                    (
                        f"Run {result.run_id} {'applied' if applied else 'planned'} with "
                        f"failures: {failed_apps(result.failures)}. ",
                        "bold red",
                    ),
                    "Why: the problems in the tree (v shows one whole). ",
                    then,
                )
            )
        else:
            of_plan = f" (the plan of run {self.applying_plan})" if self.applying_plan else ""
            self.set_status(f"Run {result.run_id} applied{of_plan}: {noun} written.", "bold green")

    def mark_stopped(self, status: str, purpose: str | None, writing: bool) -> None:
        """The stages a run that stopped (failed, cancelled) got through; PURPOSE and WRITING:
        the run's, since `running` and `writing` are cleared by then."""
        index = max(self.stage_index, 0)
        for stage in self.stage_names[:index]:
            self.set_stage(stage, "done", Text("not kept", style="dim"))
        if index < len(self.stage_names):
            self.set_stage(self.stage_names[index], status, "")
        if writing:  # what was written is in the journal; the next sync finishes the job
            self.set_stage(WRITE_ROW, status, Text("stopped while writing", "yellow"))
        elif purpose == APPLY:
            self.set_stage(WRITE_ROW, status, Text("nothing was written", "yellow"))

    def show_result_tree(
        self, result: Any, stages: list[StageChanges] | None, summary: Any = None
    ) -> None:
        if stages is None:
            stages = group_changes(
                result.changes,
                {stage.name: stage.counts for stage in result.stages},
                {stage.name: stage.problems for stage in result.stages},
                {stage.name: stage.notes for stage in result.stages},
            )
        changed = result.status == "plan-changed"
        extra = "not applied; the plan as the data stands now" if changed else ""
        if summary is not None:  # when and by whom, as the run opened from the history says
            extra = ", ".join(part for part in (extra, when_and_who(summary)) if part)
        title = run_title(result.run_id, result.dry_run, result.status, extra)
        self.tree.show_plan(title, stages, run_id=result.run_id)

    def confirm_apply(self, plan: Any) -> None:
        def chosen(choice: str | None) -> None:
            if choice is None:
                self.set_status(
                    f"Not applied. The plan (run {plan.run_id}) stays in the history.", "yellow"
                )
                return
            self.applying_plan = plan.run_id
            self.start(APPLY, allow_deletes=choice == "apply-deletes", expect_plan=plan.plan)

        self.app.push_screen(SyncConfirmModal(plan), chosen)

    # Cancel -------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="sync-run",
        exit_on_error=False,
        name="Reading the cancelled run",
    )
    def load_cancelled(self, purpose: str, result: Any) -> None:
        _summary, outline, stages = journal_tree(
            self.services, result.run_id, self.tree.page, unapplied=True
        )
        for stage in stages:  # the counters as the run has them (it stored none)
            found = next((s for s in result.stages if s.name == stage.name), None)
            stage.counts = dict(found.counts) if found is not None else {}
        self.post_message(self.CancelledLoaded(purpose, result, outline, stages))

    def on_sync_screen_cancelled_loaded(self, message: SyncScreen.CancelledLoaded) -> None:
        result = message.result
        applied = {stage.name: stage.applied for stage in message.outline if stage.applied}
        pending = sum(stage.changes - stage.applied for stage in message.outline)
        title = run_title(result.run_id, result.dry_run, result.status)
        empty = Text("No change was computed before the cancel.", "yellow")
        self.tree.show_plan(title, message.stages, empty=empty, run_id=result.run_id)
        head = cancelled_text(result)
        if not applied:
            self.set_status(f"{head} Nothing was applied.", "yellow")
            if message.purpose == APPLY:
                self.set_stage(WRITE_ROW, "cancelled", Text("nothing was written", "yellow"))
            return
        written = ", ".join(f"{name} {plural(count, 'change')}" for name, count in applied.items())
        rest = (
            f"; the other {plural(pending, 'planned change')} were not applied" if pending else ""
        )
        self.set_status(
            f"{head} Applied before the cancel: {written}{rest}. The next sync finishes the job.",
            "bold yellow",
        )
        for name in applied:
            if name in self.stage_names:
                self.set_stage(name, "done", Text("written before the cancel", "green"))
        self.set_stage(WRITE_ROW, "cancelled", Text(f"written: {', '.join(applied)}", "yellow"))

    def action_cancel(self) -> None:
        if self.running is None:
            return
        self.cancel_requested = True
        self.workers.cancel_group(self, "sync")
        self.set_status("Cancelling… the run stops before its next stage.", "yellow")
        self.refresh_bindings()

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.name == "Reading the cancelled run":
            self.set_status(
                "The run was cancelled; what it applied could not be read (the error dialog "
                "says why). `roster runs` lists its changes.",
                "bold red",
            )
            return
        if worker.group == "sync":
            purpose, writing = self.running, self.writing
            self.running = None
            self.writing = False
            self.show_stages()
            self.mark_stopped("failed", purpose, writing)
            self.set_status("The run failed; the error dialog says why.", "bold red")
            self.refresh_bindings()
            self.load_history()

    # History ------------------------------------------------------------------------------

    def action_reload_history(self) -> None:
        self.load_history()

    def reload(self) -> None:
        self.shown_plan = None  # the store changed elsewhere: `s` plans again
        self.load_history()

    def look_at_history(self) -> None:
        """While shown and running nothing itself: the history again (another process's
        runs), and, once the run that refused this screen's has ended, say so."""
        if self.running is None and self.is_current:
            self.load_history()

    @work(
        thread=True,
        exclusive=True,
        group="sync-history",
        exit_on_error=False,
        name="Loading the run history",
    )
    def load_history(self) -> None:
        locked = self.services.sync_running() if self.refused else None
        self.post_message(self.HistoryLoaded(self.services.runs(limit=HISTORY_LIMIT), locked))

    def on_sync_screen_history_loaded(self, message: SyncScreen.HistoryLoaded) -> None:
        if self.refused and message.locked is False:
            self.refused = False
            self.set_status(
                "The other sync has ended (its run is in History): p plans, s syncs.", "bold"
            )
            self.tree.show_message(self.no_run_text())
        table = self.query_one("#sync-history", DataTable)
        row = table.cursor_row
        # the cursor stays on its run, not its row: a new run comes in at the top; on the
        # newest run it follows the newest (kept on run 18, runs 19 and 20 were scrolled out
        # of sight above it, and looked lost: newcomer review)
        chosen = table.ordered_rows[row].key if 0 < row < table.row_count else None
        table.clear()
        for run in message.runs:
            changes = (run.counts or {}).get("changes")
            table.add_row(
                str(run.id),
                run_kind(run.kind, run.dry_run),
                status_text(run.status),
                Text(f"{changes:,}" if isinstance(changes, int) else "—", justify="right"),
                format_when(run.started_at),
                clip(run.started_by or "", 40),
                key=str(run.id),
            )
        if not message.runs:
            table.add_row("—", "", "No runs yet.", "", "", "")
        elif chosen is not None and chosen in table.rows:
            table.move_cursor(row=table.get_row_index(chosen))
        else:
            table.move_cursor(row=0)
            table.scroll_home(animate=False)

    @on(DataTable.RowSelected, "#sync-history")
    def _run_chosen(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None or not key.isdigit():
            return
        self.shown_plan = None  # the plan is no longer on screen: s plans afresh
        self.tree.show_message(f"Loading run {key}…")
        self.query_one("#sync-tabs", TabbedContent).active = "changes"
        self.tree.focus()
        self.load_run(int(key))

    @work(
        thread=True,
        exclusive=True,
        group="sync-run",
        exit_on_error=False,
        name="Loading the run's changes",
    )
    def load_run(self, run_id: int) -> None:
        summary, _outline, stages = journal_tree(self.services, run_id, self.tree.page)
        if not get_current_worker().is_cancelled:
            self.post_message(self.RunLoaded(summary, stages))

    def on_sync_screen_run_loaded(self, message: SyncScreen.RunLoaded) -> None:
        summary = message.summary
        stages = message.stages
        title = run_title(summary.id, summary.dry_run, summary.status, when_and_who(summary))
        if summary.error:
            title.append(f"  {safe(summary.error)}", style="red")
        self.tree.show_plan(title, stages, run_id=summary.id)
        if self.running is None:
            self.reset_stages(dry_run=summary.dry_run, label="—")
            self.show_stage_counts(summary.stage_counts, {})
            if not summary.dry_run and summary.status in APPLIED_STATUSES:
                self.set_stage(WRITE_ROW, "done", Text("written", "green"))
            self.set_status(
                Text.assemble(
                    f"Showing run {summary.id} from the history: ",
                    status_text(summary.status),
                    f" (the plan of run {summary.plan_run})" if summary.plan_run else "",
                    f" (applied by run {summary.carried_out_by})" if summary.carried_out_by else "",
                    # whether it left the store settled (runs recorded before say nothing)
                    {True: ", settled", False: ", not settled"}.get(summary.settled, ""),
                    f", {plural(sum(s.change_count for s in stages), 'change')} recorded.",
                )
            )

    # Tabs, keys ---------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#sync-tabs", TabbedContent).active = tab
        target = "#sync-tree" if tab == "changes" else "#sync-history"
        self.query_one(target).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action in ("plan", "sync_now"):
            return self.running is None
        if action == "cancel":
            return self.running is not None and not self.cancel_requested
        if action == "toggle_stages":
            return self.short  # a tall terminal always shows the stage table
        return True
