"""Push rules: each rule's target app, targeting and mappings; the push plan for the highlighted
rule (who gets which changes, old → new, computed from the store as it is, nothing is sent);
and the rule's execution history (success or the reason it failed).

Rules are added and edited in `PushRuleEditorScreen` (a, e), switched on and off (space) and
deleted (d) here; disabling and deleting say first what stops being pushed. Every change is one
audited configuration edit through `screens.saving`, made with the version the screen loaded.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, get_current_worker

from engine.errors import RosterError
from engine.text import one_line as flat
from engine.text import value_text
from screens.base import RosterScreen, cursor_key
from screens.dashboard import format_when
from screens.directory_filter import people
from screens.modals.confirm import ConfirmModal
from screens.push_rule_editor import PushRuleEditorScreen
from screens.rule_text import object_path
from screens.saving import EditRefused, EditSaved, offer_reload, problems_text, save_edit
from screens.text import clip, plain, safe, value
from screens.widgets.audit_line import LastChangeLoaded, change_line, load_last_change
from screens.widgets.plan_tree import format_counts, plural

if TYPE_CHECKING:
    from engine.services import (
        ConfigEdit,
        PushExecutionRow,
        PushMapping,
        PushPlan,
        PushRule,
        Services,
        Targeting,
        TargetingImpact,
    )

HISTORY_LIMIT = 200
PLAN_ROW_LIMIT = 2000
DEBOUNCE = 0.2
VALUE_WIDTH = 18


def targeting_words(targeting: Targeting) -> str:
    """Who a rule targets, as a sentence."""
    if targeting.kind == "everyone":
        return "Everyone"
    if targeting.kind == "cel":
        return f"People for whom this is true: {(targeting.cel or '').strip()}"
    parts: list[str] = []
    entitlements = [f"{e.app}:{e.entitlement}" for e in targeting.entitlements]
    if entitlements:
        parts.append("entitlement " + " and ".join(entitlements))
    for name, values in targeting.attributes.items():
        parts.append(f"{name} is {' or '.join(values)}")
    return "People with " + " and ".join(parts) if parts else "Everyone (an empty filter)"


def short_targeting(targeting: Targeting) -> str:
    kind = targeting.kind
    return {"everyone": "everyone", "filter": "filter", "cel": "CEL condition"}.get(kind, kind)


def mapping_source(mapping: PushMapping) -> tuple[str, str]:
    """(kind, what) of a mapping: ("attribute", "job_title") or ("CEL", "subject…")."""
    if mapping.attribute:
        return "attribute", mapping.attribute
    return "CEL", flat(mapping.cel or "")


def changes_text(changes: dict[str, Any]) -> str:
    """History changes {target: [old, new]} as "title: a → b; c: US → —"."""
    parts = []
    for target, pair in (changes or {}).items():
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        parts.append(f"{target}: {value_text(old)} → {value_text(new)}")
    return "; ".join(parts) or "—"


def when_text(at: datetime | str) -> str:
    if isinstance(at, datetime):
        return format_when(at)
    try:
        return format_when(datetime.fromisoformat(at))
    except ValueError:
        return at


class PushRulesScreen(RosterScreen):
    """The push rules, the highlighted rule's plan and its execution history."""

    TITLE_TEXT = "Push rules"
    CSS_PATH = Path(__file__).with_name("push_rules.tcss")
    AUTO_FOCUS = "#push-rules"

    NEEDS: ClassVar[dict[str, str]] = {
        "add": "admin",
        "edit": "admin",
        "toggle": "admin",
        "delete": "admin",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Add a push rule"),
        Binding("e", "edit", "Edit", tooltip="Edit the rule: targeting, mappings, its plan"),
        Binding("space", "toggle", "On/off", tooltip="Enable or disable the rule (asks first)"),
        Binding("d,delete", "delete", "Delete", tooltip="Delete the rule (asks first)"),
        Binding(
            "r",
            "refresh",
            "Refresh",
            tooltip="Read the rules again; recompute plan and history",
            show=False,
        ),
        Binding(
            "m",
            "show_tab('mappings')",
            "Mappings",
            tooltip="Show the rule's mappings",
            show=False,  # the tabs name their keys
        ),
        Binding(
            "p",
            "show_tab('plan')",
            "Plan",
            tooltip="Show the push plan: who gets which changes",
            show=False,
        ),
        Binding(
            "h",
            "show_tab('history')",
            "History",
            tooltip="Show the rule's executions",
            show=False,
        ),
        Binding("escape", "focus_rules", "Rules", show=False, tooltip="Back to the rules list"),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("↑ ↓", "In the rules: choose the rule to show"),
        ("enter", "In the rules: move to the open tab's table"),
        ("tab", "Move between the rules and the open tab's table"),
        (
            "",
            "a adds, e edits (with who it targets and its plan before saving), space "
            "switches a rule on or off, d deletes; each change is an audited configuration edit.",
        ),
    ]

    class ConfigLoaded(Message):
        def __init__(
            self,
            rules: list[PushRule],
            apps: dict[str, str],
            stamp: tuple[int, str],
            version: str,
        ) -> None:
            super().__init__()
            self.rules = rules
            self.apps = apps
            self.stamp = stamp  # the latest run and the rules: what the plan was computed from
            self.version = version

    class PlanLoaded(Message):
        def __init__(self, rule: str, plan: PushPlan) -> None:
            super().__init__()
            self.rule = rule
            self.plan = plan

    class Prepared(Message):
        """A disable or delete worked out before asking: who the rule pushes to today."""

        def __init__(
            self,
            what: str,
            rule: str,
            edit: ConfigEdit,
            impact: TargetingImpact | None,
            problem: str = "",
        ) -> None:
            super().__init__()
            self.what = what  # "disable" | "delete"
            self.rule = rule
            self.edit = edit
            self.impact = impact  # None: it could not be worked out (PROBLEM says why)
            self.problem = problem

    class HistoryLoaded(Message):
        def __init__(
            self, rule: str, rows: list[PushExecutionRow], counted: tuple[int, int]
        ) -> None:
            super().__init__()
            self.rule = rule
            self.rows = rows
            self.counted = counted  # (executions, failed) of the rule: more than are listed

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.rules: list[PushRule] = []
        self.apps: dict[str, str] = {}
        self.selected: str | None = None  # the highlighted rule
        self.planned: str | None = None  # the rule whose plan and history were asked for
        self.plan: PushPlan | None = None
        self.history: list[PushExecutionRow] = []
        self._debounce: Timer | None = None
        self._stamp: tuple[int, str] | None = None
        self.version: str | None = None  # the configuration version the rules were read at
        self._busy = False

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="push-body"):
            rules: DataTable[Any] = DataTable(id="push-rules", cursor_type="row")
            rules.add_column("Rule", key="name")
            rules.add_column("Target app", key="app")
            rules.add_column("On", key="enabled")
            rules.add_column("Targeting", key="targeting")
            rules.add_column("Mappings", key="mappings")
            rules.border_title = "Push rules"
            yield rules
            yield Static("Reading the push rules…", id="push-status")
            with TabbedContent(initial="plan", id="push-tabs"):
                with TabPane("Mappings (m)", id="mappings"):
                    yield Static("", id="push-last")
                    yield Static("", id="push-targeting")
                    mappings: DataTable[Any] = DataTable(id="push-mappings", cursor_type="row")
                    mappings.add_column("Target attribute", key="target")
                    mappings.add_column("From", key="kind")
                    mappings.add_column("Attribute or CEL", key="source")
                    yield mappings
                    yield Static("", id="push-mapping-detail")
                with TabPane("Plan (p)", id="plan"):
                    plan: DataTable[Any] = DataTable(id="push-plan", cursor_type="row")
                    plan.add_column("Account", key="account")
                    plan.add_column("Target", key="target")
                    plan.add_column("Old → new", key="change")
                    plan.add_column("Person", key="user")
                    yield plan
                    yield Static("", id="push-plan-notes")
                with TabPane("History (h)", id="history"):
                    history: DataTable[Any] = DataTable(id="push-history", cursor_type="row")
                    history.add_column("When", key="at")
                    history.add_column("Run", key="run")
                    history.add_column("Account", key="account")
                    history.add_column("Result", key="result")
                    history.add_column("Changes", key="changes")
                    yield history
                    yield Static("", id="push-history-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.load_config()

    def on_screen_resume(self) -> None:
        # Back from another screen: recompute only if a run finished or the rules changed.
        if self._stamp is not None and not self.store_is_stale():
            self.load_config(only_if_changed=True)

    def reload(self) -> None:
        # a link or pin changes who has which account, not the stamp: recompute the plan
        if self._stamp is not None:
            self.load_config()

    # Loading ------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="push-config",
        exit_on_error=False,
        name="Reading the push rules",
    )
    def load_config(self, fresh: bool = False, only_if_changed: bool = False) -> None:
        if fresh:
            self.services.invalidate()  # a sync or an import may have changed the store
        version = self.services.config_version()
        configured = self.services.push_rules()
        rules, apps = configured.rules, configured.apps
        stamp = (
            configured.latest_run,
            json.dumps([rules, apps], sort_keys=True, default=str),
        )
        if only_if_changed and stamp == self._stamp:
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.ConfigLoaded(rules, apps, stamp, version))

    def on_push_rules_screen_config_loaded(self, message: PushRulesScreen.ConfigLoaded) -> None:
        self.rules = message.rules
        self.apps = message.apps
        self._stamp = message.stamp
        self.version = message.version
        self.refresh_bindings()
        table = self.query_one("#push-rules", DataTable)
        shown = cursor_key(table)
        with self.app.batch_update():
            table.clear()
            for rule in self.rules:
                table.add_row(
                    clip(rule.name, 40),
                    clip(f"{rule.app} ({self.apps.get(rule.app, '?')})", 40),
                    Text("yes", style="green") if rule.enabled else Text("off", style="yellow"),
                    plain(short_targeting(rule.targeting)),
                    str(len(rule.mappings)),
                    key=rule.name,
                )
        table.border_subtitle = plural(len(self.rules), "rule")
        if not self.rules:
            self.selected = self.planned = None
            self.query_one("#push-status", Static).update("No push rules yet: press a to add one.")
            self.show_rule("")
            return
        names = [r.name for r in self.rules]
        keep = shown if shown in names else self.selected
        index = names.index(keep) if keep in names else 0
        table.move_cursor(row=index)
        self.select_rule(names[index], force=True)

    def rule(self, name: str | None) -> PushRule | None:
        return next((r for r in self.rules if r.name == name), None)

    @on(DataTable.RowHighlighted, "#push-rules")
    def _rule_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = str(event.row_key.value) if event.row_key is not None else None
        if name is None or name == self.planned:
            return
        if self._debounce is not None:
            self._debounce.stop()
        self.show_rule(name)
        self._debounce = self.set_timer(DEBOUNCE, lambda: self.select_rule(name))

    @on(DataTable.RowSelected, "#push-rules")
    def _rule_selected(self) -> None:
        tabs = self.query_one("#push-tabs", TabbedContent)
        self.query_one(f"#push-{tabs.active}", DataTable).focus()

    def select_rule(self, name: str, force: bool = False) -> None:
        if name == self.planned and not force:
            return
        self.planned = name
        self.show_rule(name)
        self.plan = None
        self.query_one("#push-status", Static).update(
            Text(f"Computing the push plan of {safe(name)}…", style="dim")
        )
        self.load_plan(name)
        self.load_history(name)
        self.load_last_change(name)

    def show_rule(self, name: str) -> None:
        """The rule's targeting and mappings (from the configuration already loaded)."""
        self.selected = name
        rule = self.rule(name)
        targeting = Text()
        if rule is not None:
            targeting.append("Targeting: ", style="dim")
            targeting.append(safe(targeting_words(rule.targeting), lines=True))
            targeting.append(" · pushes to ", style="dim")
            targeting.append(safe(f"{rule.app} ({self.apps.get(rule.app, '?')})"))
            if not rule.enabled:
                targeting.append(" · disabled", style="bold yellow")
        self.query_one("#push-targeting", Static).update(targeting)
        table = self.query_one("#push-mappings", DataTable)
        with self.app.batch_update():
            table.clear()
            for index, mapping in enumerate(rule.mappings if rule else []):
                kind, what = mapping_source(mapping)
                table.add_row(
                    clip(mapping.target, 40),
                    Text(kind, style="cyan" if kind == "attribute" else "magenta"),
                    clip(what, 60),
                    key=str(index),
                )
        self.show_mapping_detail()

    def show_mapping_detail(self) -> None:
        rule = self.rule(self.selected)
        mappings = rule.mappings if rule else []
        row = self.query_one("#push-mappings", DataTable).cursor_row
        detail = self.query_one("#push-mapping-detail", Static)
        if not 0 <= row < len(mappings):
            detail.update(Text("This rule has no mappings.", style="dim") if not mappings else "")
            return
        mapping = mappings[row]
        kind, what = mapping_source(mapping)
        text = Text()
        text.append(safe(mapping.target), style="bold")
        text.append(" ← ")
        if kind == "attribute":
            text.append("the person's attribute ")
            text.append(safe(what), style="cyan")
        else:
            text.append("CEL: ")
            text.append(safe((mapping.cel or "").strip(), lines=True), style="magenta")
        detail.update(text)

    @on(DataTable.RowHighlighted, "#push-mappings")
    def _mapping_highlighted(self) -> None:
        self.show_mapping_detail()

    @work(
        thread=True,
        exclusive=True,
        group="push-plan",
        exit_on_error=False,
        name="Computing the push plan",
    )
    def load_plan(self, rule: str) -> None:
        plan = self.services.push_plan(rule)
        if not get_current_worker().is_cancelled:
            self.post_message(self.PlanLoaded(rule, plan))

    def on_push_rules_screen_plan_loaded(self, message: PushRulesScreen.PlanLoaded) -> None:
        if message.rule != self.selected:
            return  # an older rule; the newer one's plan is on its way
        self.plan = plan = message.plan
        items = plan.rules.get(message.rule) or []
        table = self.query_one("#push-plan", DataTable)
        rows = 0
        with self.app.batch_update():
            table.clear()
            for index, item in enumerate(items):
                for target, change in item.changes.items():
                    if rows >= PLAN_ROW_LIMIT:
                        break
                    text = Text()
                    text.append_text(value(change.old, VALUE_WIDTH, "red", empty_style="dim"))
                    text.append(" → ")
                    text.append_text(value(change.new, VALUE_WIDTH, "green", empty_style="dim"))
                    table.add_row(
                        clip(item.account, 24),
                        clip(target, 28),
                        text,
                        clip(item.user, 40),
                        key=f"{index}:{target}",
                    )
                    rows += 1
        values = sum(len(item.changes) for item in items)
        table.border_title = (
            f"Plan — {plural(len(items), 'account')} to update, {plural(values, 'value')}"
            if items
            else "Plan — nothing to push"
        )
        table.border_subtitle = f"first {rows:,} shown" if rows < values else ""
        notes = self.notes_text(plan)
        if not items and not notes.plain:
            rule = self.rule(message.rule)
            notes = Text(
                "Every targeted account already has the values this rule would write."
                if rule is None or rule.enabled
                else "This rule is disabled: syncs push nothing for it.",
                style="dim",
            )
        self.query_one("#push-plan-notes", Static).update(notes)
        self.query_one("#push-status", Static).update(self.status_text(message.rule, plan))
        self.refresh_bindings()

    def status_text(self, name: str, plan: PushPlan) -> Text:
        rule = self.rule(name)
        text = Text()
        text.append(safe(name), style="bold")
        if rule is not None and not rule.enabled:
            text.append(": disabled, nothing is pushed. ", style="bold yellow")
            text.append("Space turns it on and shows its plan; a sync pushes it.", style="dim")
            return text
        counts = plan.counts
        items = plan.rules.get(name) or []
        if items:
            text.append(f": {plural(len(items), 'account')} to update", style="bold yellow")
        else:
            text.append(": nothing to push, every targeted account is up to date", style="green")
        text.append(f"  ({safe(format_counts(counts))})", style="dim")
        failed = counts.get("failed") or 0
        if failed:
            text.append(f"  {plural(failed, 'value')} would fail", style="bold red")
        return text

    @staticmethod
    def notes_text(plan: PushPlan) -> Text:
        text = Text()
        problems = [str(p) for p in plan.problems]
        notes = [str(n) for n in plan.notes]
        for problem in problems[:3]:
            text.append("✗ ", style="bold red")
            text.append(safe(problem) + "\n")
        if len(problems) > 3:
            text.append(f"… and {len(problems) - 3:,} more problems\n", style="red")
        for note in notes[:2]:
            text.append("i ", style="bold cyan")
            text.append(safe(note) + "\n", style="dim")
        if len(notes) > 2:
            text.append(f"… and {len(notes) - 2:,} more notes\n", style="dim")
        text.rstrip()
        return text

    @work(
        thread=True,
        exclusive=True,
        group="push-history",
        exit_on_error=False,
        name="Reading the push history",
    )
    def load_history(self, rule: str) -> None:
        rows = self.services.push_history(limit=HISTORY_LIMIT, rule=rule)
        counted = self.services.count_push_executions(rule)
        if not get_current_worker().is_cancelled:
            self.post_message(self.HistoryLoaded(rule, rows, counted))

    def on_push_rules_screen_history_loaded(self, message: PushRulesScreen.HistoryLoaded) -> None:
        if message.rule != self.selected:
            return
        self.history = message.rows
        table = self.query_one("#push-history", DataTable)
        with self.app.batch_update():
            table.clear()
            for index, row in enumerate(message.rows):
                result = (
                    Text("ok", style="green")
                    if row.success
                    else clip(f"failed: {row.reason}", 30, style="bold red")
                )
                table.add_row(
                    plain(when_text(row.at)),
                    plain(row.run_id or "—"),
                    clip(row.account or row.user or "—", 40),
                    result,
                    clip(changes_text(row.changes), 60),
                    key=str(index),
                )
        total, failed = message.counted
        table.border_title = (
            Text(f"Latest executions of {safe(message.rule, 60)}")
            if message.rows
            else "No executions yet"
        )
        listed = f" (the latest {len(message.rows):,} listed)" if len(message.rows) < total else ""
        table.border_subtitle = (
            f"{plural(total, 'execution')}, {failed:,} failed{listed}" if message.rows else ""
        )
        self.show_history_detail()

    def show_history_detail(self) -> None:
        row_index = self.query_one("#push-history", DataTable).cursor_row
        detail = self.query_one("#push-history-detail", Static)
        if not 0 <= row_index < len(self.history):
            detail.update(
                Text("Executions appear here after a sync pushes this rule.", style="dim")
            )
            return
        row = self.history[row_index]
        text = Text()
        text.append(safe(row.account or "—"), style="bold")
        if row.user:
            text.append(f" ({safe(row.user)})")
        text.append(safe(f" · run {row.run_id} · {when_text(row.at)} · "), style="dim")
        if row.success:
            text.append("pushed", style="green")
        else:
            text.append(f"failed: {safe(row.reason)}", style="bold red")
        text.append("\n" + safe(changes_text(row.changes)))
        detail.update(text)

    @on(DataTable.RowHighlighted, "#push-history")
    def _history_highlighted(self) -> None:
        self.show_history_detail()

    # The last change of the rule ------------------------------------------------------

    def load_last_change(self, rule: str) -> None:
        load_last_change(self, self.services, object_path("push_rules", rule), key=rule)

    def on_last_change_loaded(self, message: LastChangeLoaded) -> None:
        if message.key == self.selected:
            self.query_one("#push-last", Static).update(change_line(message.entry))

    # Editing ------------------------------------------------------------------------------

    def action_add(self) -> None:
        self.app.push_screen(PushRuleEditorScreen(self.services, None))

    def action_edit(self) -> None:
        if self.rule(self.selected) is not None:
            self.app.push_screen(PushRuleEditorScreen(self.services, self.selected))

    def action_toggle(self) -> None:
        from engine.services import ConfigEdit

        rule = self.rule(self.selected)
        if rule is None or self._busy or self.version is None:
            return
        path = object_path("push_rules", rule.name)
        self._busy = True
        if rule.enabled:
            self.prepare("disable", rule.name, ConfigEdit("disable", path))
        else:
            self.apply(ConfigEdit("enable", path), f"Enabled {rule.name}.")

    def action_delete(self) -> None:
        from engine.services import ConfigEdit

        rule = self.rule(self.selected)
        if rule is None or self._busy or self.version is None:
            return
        self._busy = True
        self.prepare(
            "delete", rule.name, ConfigEdit("delete", object_path("push_rules", rule.name))
        )

    @work(
        thread=True,
        exclusive=True,
        group="push-edit",
        exit_on_error=False,
        name="Working out what the rule pushes",
    )
    def prepare(self, what: str, rule: str, edit: ConfigEdit) -> None:
        # who the rule targets today, under the saved configuration
        config = self.services.config()
        try:
            impact = self.services.push_targeting(config, rule)
        except RosterError as error:  # the saved rule cannot run: say so, and still ask
            self.post_message(self.Prepared(what, rule, edit, None, error.message))
            return
        self.post_message(self.Prepared(what, rule, edit, impact))

    def on_push_rules_screen_prepared(self, message: PushRulesScreen.Prepared) -> None:
        rule = self.rule(message.rule)
        impact = message.impact
        verb = "Delete" if message.what == "delete" else "Disable"
        text = Text()
        text.append(f"{verb} the push rule ", style="bold")
        text.append(safe(message.rule, 60), style="bold")
        text.append("?\n\n")
        if impact is None:
            text.append("Who it pushes to could not be worked out: ", style="yellow")
            text.append(safe(message.problem, 300))
        elif rule is not None and rule.enabled:
            text.append("Syncs stop writing ")
            targets = [m.target for m in rule.mappings]
            shown = ", ".join(safe(t, 40) for t in targets[:8])
            more = len(targets) - 8
            text.append(shown + (f" and {more} more" if more > 0 else ""), style="bold")
            text.append(" to ")
            text.append(
                f"{plural(impact.with_account, 'account')} in {safe(rule.app, 30)}",
                style="bold red",
            )
            text.append(
                f" ({people(impact.targeted)} targeted today). "
                "Values already written stay as they are in the app."
            )
        else:
            text.append("It is disabled already: nothing is pushed by it today.")
        if message.what == "delete":
            text.append(
                "\n\nIts targeting and mappings are removed from the configuration; "
                "its history stays."
            )
        label = verb if rule is None or not rule.enabled else f"{verb}: stop pushing"

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                done = "Deleted" if message.what == "delete" else "Disabled"
                self.apply(message.edit, f"{done} {message.rule}.")
            else:
                self._busy = False

        self.app.push_screen(
            ConfirmModal(f"{verb} {safe(message.rule, 40)}?", text, label, destructive=True),
            answered,
        )

    def apply(self, edit: ConfigEdit, done: str) -> None:
        self._busy = True
        save_edit(self, self.services, edit, self.version, tag=done)

    def on_edit_saved(self, message: EditSaved) -> None:
        self._busy = False
        if message.result.applied:
            self.version = message.result.version
            self.notify(f"{message.tag} The next sync applies it.", title="Saved", markup=False)
            self.store_changed("configuration")
        self.load_config()

    def on_edit_refused(self, message: EditRefused) -> None:
        self._busy = False
        if message.conflict:
            offer_reload(self, message.error, self.action_refresh, keeps="nothing was changed")
            return
        self.notify(problems_text(message.error), title="Not saved", severity="error", timeout=10)

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group in ("push-edit", "config-save"):
            self._busy = False

    # Keys ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.load_config(fresh=True)

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#push-tabs", TabbedContent).active = tab

    def action_focus_rules(self) -> None:
        self.query_one("#push-rules", DataTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action in ("edit", "toggle", "delete"):
            return (self.rule(self.selected) is not None and self.version is not None) or None
        if action == "add":
            return self.version is not None or None
        if action == "focus_rules":
            return not self.query_one("#push-rules", DataTable).has_focus
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
