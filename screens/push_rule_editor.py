"""Add or edit one push rule (docs/push-rules.md): its name, target app and switch; its
targeting (everyone, a filter of entitlements and attribute values, or a CEL condition); its
mappings, in order. What the rule would do is worked out while the admin edits, before anything
is saved: who it targets and, against the saved rule, who enters and who leaves; and the push
plan of the edited rule (the accounts and values a sync would write now).

How: every change (debounced) checks the whole edited rule the way saving would
(`config_edit(..., dry_run=True)`), then asks `push_targeting` and `push_plan(config=)` with the
edited configuration. Problems are shown under the field they are about. Saving is one audited
edit of the whole rule (`push_rules.NAME`) through `screens.saving`, with the configuration
version the editor was opened at; a conflict offers to reload.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Checkbox, Footer, Header, Input, Select, SelectionList, Static
from textual.widgets.selection_list import Selection
from textual.worker import Worker, get_current_worker

from engine.errors import ConfigInvalid, NotFound, Problem
from screens.base import RosterScreen
from screens.directory_filter import people
from screens.modals.confirm import ConfirmModal
from screens.modals.push_filter_attribute import FilterAttributeModal
from screens.modals.push_mapping import PushMappingModal
from screens.rule_text import object_path
from screens.saving import (
    SAVE_GROUP,
    EditRefused,
    EditSaved,
    offer_reload,
    problem_line,
    save_edit,
)
from screens.text import clip, one_line, plain, safe, value
from screens.widgets.audit_line import change_line
from screens.widgets.cel_editor import CelEditor
from screens.widgets.edit_table import EditTable
from screens.widgets.plan_tree import plural
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from engine.services import (
        AuditEntry,
        Completions,
        PushChoices,
        PushDifference,
        PushPlan,
        Services,
        TargetingImpact,
    )

CONDITION = "push_condition"
DEBOUNCE = 0.4
KINDS = (
    ("everyone", "everyone"),
    ("a filter: entitlements and attribute values", "filter"),
    ("a CEL condition", "cel"),
)
PLAN_ROWS = 4
SAMPLES = 4
VALUE_WIDTH = 24


def mapping_words(mapping: dict[str, Any]) -> tuple[str, str]:
    """(kind, what): ("attribute", "job_title") or ("CEL", "subject…")."""
    if isinstance(mapping.get("cel"), str):
        return "CEL", str(mapping["cel"])
    return "attribute", str(mapping.get("attribute") or "")


def path_parts(path: str) -> list[str]:
    """An object path's parts, quoted names unquoted: `push_rules."a.b".mappings.c`."""
    parts: list[str] = []
    current = ""
    quoted = escaped = False
    for char in path:
        if escaped:
            current += char
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def problem_place(path: str) -> tuple[str, str]:
    """Where a problem of the edited rule belongs: (field, the mapping's target when it is in
    one). Fields: name, app, enabled, condition, targeting, mappings, rule."""
    parts = path_parts(path)
    rest = parts[2:] if len(parts) >= 2 and parts[0] == "push_rules" else []
    if not rest:
        return "rule", ""
    if rest[0] in ("name", "app", "enabled"):
        return rest[0], ""
    if rest[0] == "targeting":
        return ("condition" if rest[1:2] == ["cel"] else "targeting"), ""
    if rest[0] == "mappings":
        return "mappings", rest[1] if len(rest) > 1 else ""
    return "rule", ""


class PushRuleEditorScreen(RosterScreen):
    """Edit one push rule (or write a new one): targeting and mappings with their effect."""

    TITLE_TEXT = "Push rule"
    CSS_PATH = Path(__file__).with_name("push_rule_editor.tcss")
    AUTO_FOCUS = "#pe-name"

    NEEDS: ClassVar[dict[str, str]] = {"save": "admin"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="Save the rule (audited)"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the rules (asks if unsaved)"),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("tab", "Move between the fields"),
        ("a / enter / d", "In the mappings or the attribute filters: add, edit, remove"),
        ("shift+↑ / ↓", "In the mappings: move the highlighted mapping"),
        ("space", "In the entitlements: select or unselect one"),
        (
            "",
            "Who the rule targets and its push plan follow your edits; nothing is saved "
            "until ctrl+s.",
        ),
    ]

    class Setup(Message):
        def __init__(
            self,
            version: str,
            choices: PushChoices,
            rule: dict[str, Any] | None,
            completions: Completions,
            last: AuditEntry | None,
        ) -> None:
            super().__init__()
            self.version = version
            self.choices = choices
            self.rule = rule
            self.completions = completions
            self.last = last

    class Checked(Message):
        """The edited rule checked: problems (not valid) or who it targets (valid)."""

        def __init__(
            self,
            document: dict[str, Any],
            problems: list[Problem],
            warnings: list[Problem],
            impact: TargetingImpact | None,
        ) -> None:
            super().__init__()
            self.document = document
            self.problems = problems
            self.warnings = warnings
            self.impact = impact

    class Planned(Message):
        def __init__(
            self,
            document: dict[str, Any],
            plan: PushPlan,
            difference: PushDifference | None,
        ) -> None:
            super().__init__()
            self.document = document
            self.plan = plan
            self.difference = difference  # the values maintained, against the saved rule

    def __init__(self, services: Services, rule: str | None = None) -> None:
        super().__init__(services)
        self.saved_name = rule  # None: a new rule
        self.version: str | None = None
        self.choices: PushChoices | None = None
        self.mappings: list[dict[str, Any]] = []
        self.filter_attributes: dict[str, list[str]] = {}
        self._initial: dict[str, Any] | None = None
        self._ready = False
        self._refill = False  # the next setup puts the saved rule in the form (after a conflict)
        self._saving = False
        self._debounce: Timer | None = None
        self._valid_for: dict[str, Any] | None = None  # the document last found valid
        self._invalid_for: dict[str, Any] | None = None  # the document last refused

    # Layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="pe-body"):
            yield Static(self._title_text(), id="pe-title")
            yield Static(Text("Reading the rule…", style="dim"), id="pe-last")
            with Horizontal(classes="pe--row"):
                yield Static("Name", classes="pe--label")
                yield TextInput(placeholder="e.g. ad-core", compact=True, id="pe-name")
                yield Checkbox("enabled", value=True, compact=True, id="pe-enabled")
            yield Static("", classes="pe--error", id="pe-name-error")
            with Horizontal(classes="pe--row"):
                yield Static("Target app", classes="pe--label")
                yield Select(
                    [], prompt="an app whose connector can push", compact=True, id="pe-app"
                )
            yield Static("", classes="pe--error", id="pe-app-error")
            with Horizontal(classes="pe--row"):
                yield Static("Targets", classes="pe--label")
                yield Select(KINDS, value="everyone", allow_blank=False, compact=True, id="pe-kind")
            with Vertical(id="pe-filter"):
                entitlements: SelectionList[tuple[str, str]] = SelectionList(id="pe-entitlements")
                entitlements.border_title = "Holders of every selected entitlement (space)"
                yield entitlements
                attributes = EditTable(movable=False, id="pe-attributes")
                attributes.add_column("Attribute", key="attribute")
                attributes.add_column("Accepted values", key="values")
                attributes.border_title = "…whose attribute is one of (a add, enter edit, d remove)"
                yield attributes
            condition = CelEditor("", debounce=DEBOUNCE, id="pe-condition")
            condition.border_title = "Condition (push_condition): true selects the person"
            yield condition
            yield Static("", classes="pe--error", id="pe-targeting-error")
            yield Static(Text("Working out who this targets…", style="dim"), id="pe-impact")
            mappings = EditTable(id="pe-mappings")
            mappings.add_column("Target attribute", key="target")
            mappings.add_column("From", key="kind")
            mappings.add_column("Attribute or CEL", key="source")
            mappings.border_title = "Mappings (a add, enter edit, d remove, shift+↑↓ move)"
            yield mappings
            yield Static("", id="pe-mapping-detail")
            yield Static("", classes="pe--error", id="pe-mappings-error")
            with Vertical(id="pe-plan-box") as box:
                box.border_title = "Push plan if saved (nothing is sent)"
                yield Static(Text("…", style="dim"), id="pe-plan")
            yield Static("", classes="pe--error", id="pe-rule-error")
        yield Footer()

    def _title_text(self) -> Text:
        text = Text()
        if self.saved_name is None:
            text.append("New push rule", style="bold")
        else:
            text.append("Push rule ", style="dim")
            text.append(safe(self.saved_name, 60), style="bold")
        return text

    @property
    def condition(self) -> CelEditor:
        return self.query_one("#pe-condition", CelEditor)

    @property
    def mappings_table(self) -> EditTable:
        return self.query_one("#pe-mappings", EditTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.show_kind()
        self.load_setup()

    # Loading ------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="pe-setup",
        exit_on_error=False,
        name="Reading the push rule",
    )
    def load_setup(self) -> None:
        services = self.services
        version = services.config_version()
        choices = services.push_choices()
        rule = None
        if self.saved_name is not None:
            try:
                rule = services.config_get(object_path("push_rules", self.saved_name))
            except NotFound:
                raise NotFound(
                    f"There is no push rule {self.saved_name!r} any more (it was deleted or "
                    "renamed); press escape to go back."
                ) from None
        completions = services.completions(CONDITION)
        last = (
            services.last_change(object_path("push_rules", self.saved_name))
            if self.saved_name is not None
            else None
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self.Setup(version, choices, rule, completions, last))

    def on_push_rule_editor_screen_setup(self, message: PushRuleEditorScreen.Setup) -> None:
        first = not self._ready
        self.version = message.version
        self.choices = choices = message.choices
        self.condition.set_completions(message.completions, "user")
        self.query_one("#pe-last", Static).update(
            change_line(message.last)
            if self.saved_name is not None
            else Text("Not saved yet: ctrl+s adds the rule.", style="dim")
        )
        refill = first or self._refill
        self._refill = False
        if refill:
            self.fill(message.rule, choices)
        self._ready = True
        self._initial = self.document() if refill else self._initial
        if first and self.saved_name is not None and self.focused is self.query_one("#pe-name"):
            # a rule that exists is opened to edit its mappings, as an attribute opens on its
            # sources: its `a` adds one (on the name, it typed into the name: newcomer review)
            self.mappings_table.focus()
        self.refresh_bindings()
        self.changed()

    def fill(self, rule: dict[str, Any] | None, choices: PushChoices) -> None:
        """Put the rule (document data) into the form."""
        rule = rule or {}
        targets = [(plain(f"{t.app} ({t.name})"), t.app) for t in choices.targets]
        app = rule.get("app")
        if isinstance(app, str) and app not in [t.app for t in choices.targets]:
            targets.append((plain(f"{app} (cannot push)"), app))
        select = self.query_one("#pe-app", Select)
        select.set_options(targets)
        if isinstance(app, str):
            select.value = app
        elif len(choices.targets) == 1:
            select.value = choices.targets[0].app
        self.query_one("#pe-name", Input).value = str(rule.get("name", ""))
        self.query_one("#pe-enabled", Checkbox).value = rule.get("enabled", True) is not False
        targeting = rule.get("targeting") if isinstance(rule.get("targeting"), dict) else {}
        kind = targeting.get("kind", "everyone")
        known_kind = kind in [k for _, k in KINDS]
        self.query_one("#pe-kind", Select).value = kind if known_kind else "everyone"
        self.condition.text = str(targeting.get("cel") or "")
        wanted = {
            (str(e.get("app")), str(e.get("entitlement")))
            for e in targeting.get("entitlements") or []
            if isinstance(e, dict)
        }
        known = {(e.app, e.id) for e in choices.entitlements}
        entitlements = self.query_one("#pe-entitlements", SelectionList)
        entitlements.clear_options()
        options = [
            Selection(
                plain(f"{e.app}: {e.name or e.id}" + (f" ({e.id})" if e.name else ""), limit=120),
                (e.app, e.id),
                (e.app, e.id) in wanted,
            )
            for e in choices.entitlements
        ]
        options += [
            Selection(plain(f"{a}: {i} (not in the store)"), (a, i), True)
            for a, i in sorted(wanted - known)
        ]
        entitlements.add_options(options)
        attributes = targeting.get("attributes") or {}
        self.filter_attributes = {
            str(k): [v] if isinstance(v, str) else [str(x) for x in v]
            for k, v in attributes.items()
        }
        self.mappings = [dict(m) for m in rule.get("mappings") or [] if isinstance(m, dict)]
        self.show_attributes()
        self.show_mappings()
        self.show_kind()

    def reload_saved(self) -> None:
        """After a conflict: the form shows the rule as saved now (the other change included),
        so a save can never quietly undo it."""
        self._refill = True
        self.load_setup()

    def reload(self) -> None:
        # the store changed (a sync, another edit): work out the targeting and plan again; the
        # version stays the one the admin opened, so a save over someone else's edit is refused
        if self._ready:
            self.changed()

    # The form as a document ---------------------------------------------------------------

    @property
    def kind(self) -> str:
        value = self.query_one("#pe-kind", Select).value
        return value if isinstance(value, str) else "everyone"

    @property
    def app_id(self) -> str:
        value = self.query_one("#pe-app", Select).value
        return value if isinstance(value, str) else ""

    @property
    def rule_name(self) -> str:
        return self.query_one("#pe-name", Input).value.strip()

    def document(self) -> dict[str, Any]:
        """The rule as configuration data (what `push_rules.NAME` holds)."""
        kind = self.kind
        targeting: dict[str, Any] = {"kind": kind}
        if kind == "filter":
            selected = self.query_one("#pe-entitlements", SelectionList).selected
            if selected:
                targeting["entitlements"] = [{"app": a, "entitlement": i} for a, i in selected]
            if self.filter_attributes:
                targeting["attributes"] = {k: list(v) for k, v in self.filter_attributes.items()}
        elif kind == "cel":
            targeting["cel"] = self.condition.text
        return {
            "name": self.rule_name,
            "app": self.app_id,
            "enabled": self.query_one("#pe-enabled", Checkbox).value,
            "targeting": targeting,
            "mappings": [dict(m) for m in self.mappings],
        }

    def edit_path(self, document: dict[str, Any]) -> str:
        return object_path("push_rules", self.saved_name or str(document["name"]))

    @property
    def unsaved(self) -> bool:
        if not self._ready:
            return False
        return self.saved_name is None or self.document() != self._initial

    # Showing ------------------------------------------------------------------------------

    def show_kind(self) -> None:
        kind = self.kind
        self.query_one("#pe-filter").display = kind == "filter"
        self.condition.display = kind == "cel"

    def show_attributes(self) -> None:
        table = self.query_one("#pe-attributes", EditTable)
        row = table.cursor_row
        table.clear()
        for name, values in self.filter_attributes.items():
            table.add_row(clip(name, 30), clip(", ".join(values), 60), key=name)
        if self.filter_attributes:
            table.move_cursor(row=min(max(row, 0), len(self.filter_attributes) - 1))

    def show_mappings(self, row: int | None = None) -> None:
        table = self.mappings_table
        row = table.cursor_row if row is None else row
        table.clear()
        for index, mapping in enumerate(self.mappings):
            kind, what = mapping_words(mapping)
            table.add_row(
                clip(mapping.get("target", ""), 30),
                Text(kind, style="cyan" if kind == "attribute" else "magenta"),
                one_line(what, 60),
                key=str(index),
            )
        if self.mappings:
            table.move_cursor(row=min(max(row, 0), len(self.mappings) - 1))
        self.show_mapping_detail()

    def show_mapping_detail(self) -> None:
        """The highlighted mapping whole: a long CEL transform is wrapped, never cut."""
        row = self.mappings_table.cursor_row
        detail = self.query_one("#pe-mapping-detail", Static)
        if not 0 <= row < len(self.mappings):
            detail.update(
                Text("No mappings yet: press a in the table to add one.", style="dim")
                if not self.mappings
                else ""
            )
            return
        mapping = self.mappings[row]
        kind, what = mapping_words(mapping)
        text = Text()
        text.append(safe(mapping.get("target", "")), style="bold")
        text.append(" ← ")
        if kind == "attribute":
            text.append("the person's attribute ")
            text.append(safe(what), style="cyan")
        else:
            text.append("CEL: ")
            text.append(safe(what.strip(), lines=True), style="magenta")
        detail.update(text)

    def show_error(self, where: str, text: str | Text) -> None:
        view = self.query_one(f"#pe-{where}-error", Static)
        view.update(text if isinstance(text, Text) else plain(text, lines=True))
        view.set_class(bool(str(text)), "-visible")

    def clear_errors(self) -> None:
        for where in ("name", "app", "targeting", "mappings", "rule"):
            self.show_error(where, "")

    # While editing -------------------------------------------------------------------

    def changed(self) -> None:
        """Something in the form changed: check it and work out its effect after a pause."""
        if not self._ready:
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE, self._check_now)
        self.query_one("#pe-impact", Static).add_class("-stale")
        self.query_one("#pe-plan-box").add_class("-stale")

    def _check_now(self) -> None:
        self._debounce = None
        document = self.document()
        if not document["name"]:
            self.show_error(
                "name", "Name the rule, e.g. ad-core: it is how paths and the history refer to it."
            )
            self.query_one("#pe-impact", Static).update(
                Text("Name the rule to see who it targets.", style="dim")
            )
            return
        self.check(document, self.edit_path(document), self.saved_name)

    @work(
        thread=True,
        exclusive=True,
        group="pe-check",
        exit_on_error=False,
        name="Working out what the rule does",
    )
    def check(self, document: dict[str, Any], path: str, saved: str | None) -> None:
        from engine.services import ConfigEdit

        worker = get_current_worker()
        try:
            result = self.services.config_edit(ConfigEdit("set", path, document), dry_run=True)
        except ConfigInvalid as error:
            if not worker.is_cancelled:
                self.post_message(self.Checked(document, list(error.problems), [], None))
            return
        if worker.is_cancelled:
            return
        name = str(document["name"])
        impact = self.services.push_targeting(
            result.config, name, saved_rule=saved, cancelled=lambda: worker.is_cancelled
        )
        if impact.cancelled or worker.is_cancelled:
            return
        self.post_message(self.Checked(document, [], list(result.warnings), impact))
        plan = self.services.push_plan(name, config=result.config)
        if worker.is_cancelled:
            return
        difference = None
        if saved is not None:
            # what the rule keeps written, against the saved rule (the sync's own stages, over
            # the stored records): the pushes that appear and those that disappear
            values = self.services.value_impact(
                result.config,
                cancelled=lambda: worker.is_cancelled,
                renamed={name: saved},  # a renamed rule is compared with what it was
            )
            if values.cancelled or worker.is_cancelled:
                return
            difference = values.push.get(name)
        self.post_message(self.Planned(document, plan, difference))

    def on_push_rule_editor_screen_checked(self, message: PushRuleEditorScreen.Checked) -> None:
        if message.document != self.document():
            return  # an older state of the form; the newer one's check is on its way
        self.query_one("#pe-impact", Static).remove_class("-stale")
        self.clear_errors()
        self.condition.clear_problem()
        if message.impact is None:
            self._invalid_for, self._valid_for = message.document, None
            self.show_problems(message.problems)
            self.query_one("#pe-impact", Static).update(
                Text("The rule cannot be saved as it is: see the problems in red.", "bold red")
            )
            self.query_one("#pe-plan", Static).update(
                Text("No plan until the rule is valid.", style="dim")
            )
            self.query_one("#pe-plan-box").remove_class("-stale")
            return
        self._invalid_for, self._valid_for = None, message.document
        self.show_problems(message.warnings)
        self.query_one("#pe-impact", Static).update(self.impact_text(message.impact))

    def impact_text(self, impact: TargetingImpact) -> Text:
        out = Text()
        out.append("Targets ", style="dim")
        out.append(f"{impact.targeted:,}", style="bold")
        out.append(f" of {impact.people:,} people", style="dim")
        app = self.app_id
        out.append(" · ", style="dim")
        out.append(f"{impact.with_account:,}", style="bold")
        out.append(f" with an account in {safe(app, 30)} (those are pushed to)", style="dim")
        if impact.errors:
            out.append(
                f"\n{people(impact.errors)} not targeted: the condition fails",
                style="bold red",
            )
            out.append(" — " + safe(impact.error_samples[0], 120))
        if not impact.compared:
            out.append("\nA new rule: everyone it targets is new to it.", style="dim")
            return out
        out.append("\nAgainst the saved rule: ", style="dim")
        if not impact.entered and not impact.left:
            out.append("the same people", style="green")
            return out
        out.append(f"{impact.entered:,} enter", style="bold green" if impact.entered else "")
        out.append(", ")
        out.append(f"{impact.left:,} leave", style="bold red" if impact.left else "")
        for label, samples, more, style in (
            ("Enter", impact.entered_samples, impact.entered, "green"),
            ("Leave", impact.left_samples, impact.left, "red"),
        ):
            if samples:
                out.append(f"\n{label}: ", style=style)
                shown = ", ".join(safe(s, 40) for s in samples[:SAMPLES])
                rest = more - min(len(samples), SAMPLES)
                out.append(shown + (f" and {rest:,} more" if rest > 0 else ""))
        return out

    def on_push_rule_editor_screen_planned(self, message: PushRuleEditorScreen.Planned) -> None:
        if message.document != self.document():
            return
        self.query_one("#pe-plan-box").remove_class("-stale")
        text = self.plan_text(message.plan)
        if message.difference is not None:
            text.append_text(self.difference_text(message.difference))
        self.query_one("#pe-plan", Static).update(text)

    def difference_text(self, difference: PushDifference) -> Text:
        out = Text()
        out.append("\nAgainst the saved rule: ", style="dim")
        if not difference.added and not difference.removed:
            out.append("the same values are kept written", style="green")
            return out
        out.append(f"{plural(difference.added, 'value')} appear or change", style="bold green")
        out.append(", ")
        out.append(
            f"{difference.removed:,} disappear",
            style="bold red" if difference.removed else "",
        )
        out.append(
            f" ({difference.writes_saved:,} → {difference.writes_edited:,} values kept written)",
            style="dim",
        )
        for write in difference.samples[:2]:
            out.append("\n")
            out.append(safe(write.account, 28), style="cyan")
            out.append(f" {safe(write.target, 28)}: ")
            out.append_text(value(write.saved, VALUE_WIDTH, "red", empty_style="dim"))
            out.append(" → ")
            out.append_text(value(write.edited, VALUE_WIDTH, "green", empty_style="dim"))
        return out

    def plan_text(self, plan: PushPlan) -> Text:
        name = self.rule_name
        out = Text()
        if not self.query_one("#pe-enabled", Checkbox).value:
            out.append("The rule is disabled: syncs push nothing for it.", style="yellow")
            return out
        items = plan.rules.get(name) or []
        values = sum(len(item.changes) for item in items)
        failed = plan.counts.get("failed", 0)
        updating = [item for item in items if not item.error]
        if updating:
            out.append(
                f"{plural(len(updating), 'account')} to update, {plural(values, 'value')}",
                style="bold yellow",
            )
        else:
            out.append("Nothing to push: every targeted account has these values", style="green")
        if failed:
            out.append(f" · {plural(failed, 'account')} would fail", style="bold red")
        shown = 0
        for item in updating:
            for target, change in item.changes.items():
                if shown >= PLAN_ROWS:
                    break
                out.append("\n")
                out.append(safe(item.account, 28), style="cyan")
                out.append(f" {safe(target, 28)}: ")
                out.append_text(value(change.old, VALUE_WIDTH, "red", empty_style="dim"))
                out.append(" → ")
                out.append_text(value(change.new, VALUE_WIDTH, "green", empty_style="dim"))
                shown += 1
        if values > shown:
            out.append(
                f"\n… and {values - shown:,} more (the rules list's Plan tab shows all "
                "after saving)",
                style="dim",
            )
        for problem in plan.problems[:2]:
            out.append("\n✗ ", style="bold red")
            out.append(safe(problem, 200))
        for note in plan.notes[:2]:
            out.append("\ni ", style="bold cyan")
            out.append(safe(note, 200), style="dim")
        return out

    def show_problems(self, problems: list[Problem]) -> None:
        """Each problem under the field it is about; a CEL problem of the condition under it."""
        found: dict[str, list[str]] = {}
        for problem in problems:
            field, target = problem_place(problem.path)
            if field == "condition" and self.kind == "cel":
                if problem.severity == "error" or not self.condition.problem_text:
                    self.condition.show_problem(problem)
                continue
            where = {"enabled": "rule", "condition": "targeting"}.get(field, field)
            line = problem_line(problem)
            if target:
                line = f"mapping {target}: {line}"
            if problem.severity != "error":
                line = f"warning: {line}"
            found.setdefault(where, []).append(line)
        for where, lines in found.items():
            self.show_error(
                where,
                "\n".join(lines[:4]) + (f"\n… and {len(lines) - 4} more" if len(lines) > 4 else ""),
            )

    # Events ----------------------------------------------------------------------------

    @on(Input.Changed, "#pe-name")
    @on(Checkbox.Changed, "#pe-enabled")
    @on(Select.Changed, "#pe-app")
    @on(SelectionList.SelectedChanged, "#pe-entitlements")
    def _form_changed(self) -> None:
        self.changed()

    @on(Select.Changed, "#pe-kind")
    def _kind_changed(self) -> None:
        self.show_kind()
        self.changed()

    @on(CelEditor.Changed, "#pe-condition")
    def _condition_changed(self, event: CelEditor.Changed) -> None:
        event.stop()
        self.changed()

    @on(EditTable.RowHighlighted, "#pe-mappings")
    def _mapping_highlighted(self) -> None:
        self.show_mapping_detail()

    @on(EditTable.Action, "#pe-mappings")
    def _mapping_action(self, event: EditTable.Action) -> None:
        event.stop()
        if event.what == "add":
            self.edit_mapping(None)
        elif event.what == "edit":
            self.edit_mapping(event.row)
        elif event.what == "remove":
            self.remove_mapping(event.row)
        else:
            self.move_mapping(event.row, -1 if event.what == "up" else 1)

    @on(EditTable.Action, "#pe-attributes")
    def _attribute_action(self, event: EditTable.Action) -> None:
        event.stop()
        names = list(self.filter_attributes)
        if event.what == "remove":
            if 0 <= event.row < len(names):
                del self.filter_attributes[names[event.row]]
                self.show_attributes()
                self.changed()
            return
        if event.what not in ("add", "edit"):
            return
        old = names[event.row] if event.what == "edit" and 0 <= event.row < len(names) else None
        attributes = sorted(self.choices.attributes) if self.choices is not None else []

        def done(result: tuple[str, list[str]] | None) -> None:
            self.query_one("#pe-attributes", EditTable).focus()
            if result is None:
                return
            name, values = result
            if old is not None and old != name:
                self.filter_attributes = {
                    (name if k == old else k): (values if k == old else v)
                    for k, v in self.filter_attributes.items()
                }
            else:
                self.filter_attributes[name] = values
            self.show_attributes()
            self.changed()

        self.app.push_screen(
            FilterAttributeModal(
                attributes,
                old,
                self.filter_attributes.get(old, []) if old is not None else [],
                [n for n in names if n != old],
            ),
            done,
        )

    # Mappings --------------------------------------------------------------------------

    def edit_mapping(self, row: int | None) -> None:
        if self.choices is None:
            return
        if not self.app_id:
            self.show_error(
                "app",
                "Choose the target app first: its push schema lists the "
                "attributes a mapping can write.",
            )
            self.query_one("#pe-app", Select).focus()
            return
        mapping = self.mappings[row] if row is not None else None
        taken = [str(m.get("target", "")) for i, m in enumerate(self.mappings) if i != row]

        def done(result: dict[str, Any] | None) -> None:
            self.mappings_table.focus()
            if result is None:
                return
            if row is None:
                self.mappings.append(result)
                where = len(self.mappings) - 1
            else:
                self.mappings[row] = result
                where = row
            self.show_mappings(where)
            self.changed()

        self.app.push_screen(
            PushMappingModal(
                self.services,
                app=self.app_id,
                target=self.choices.target(self.app_id),
                mapping=mapping,
                attributes=sorted(self.choices.attributes),
                taken=taken,
                rule=self.rule_name or "new rule",
            ),
            done,
        )

    def remove_mapping(self, row: int) -> None:
        if not 0 <= row < len(self.mappings):
            return
        del self.mappings[row]
        self.show_mappings(row)
        self.changed()

    def move_mapping(self, row: int, step: int) -> None:
        to = row + step
        if not (0 <= row < len(self.mappings) and 0 <= to < len(self.mappings)):
            return
        self.mappings.insert(to, self.mappings.pop(row))
        self.show_mappings(to)
        self.changed()

    # Saving ----------------------------------------------------------------------------

    def action_save(self) -> None:
        from engine.services import ConfigEdit

        if not self._ready or self._saving or self.version is None:
            return
        document = self.document()
        if not document["name"]:
            self.show_error("name", "Name the rule before saving it, e.g. ad-core.")
            self.query_one("#pe-name", Input).focus()
            return
        if not self.unsaved:
            self.notify("The rule is as saved; nothing to save.")
            return
        if document == self._invalid_for:
            self.notify("The rule has problems (in red); fix them before saving.", severity="error")
            return
        self._saving = True
        save_edit(
            self, self.services, ConfigEdit("set", self.edit_path(document), document), self.version
        )

    def on_edit_saved(self, message: EditSaved) -> None:
        self._saving = False
        result = message.result
        if not result.applied:
            self.notify("The configuration already says this; nothing was changed.")
            self.close()
            return
        who = f" by {message.last.actor}" if message.last is not None else ""
        self.notify(
            f"Saved the push rule {self.rule_name}{who}. The next sync pushes with it.",
            title="Saved",
            markup=False,
        )
        for warning in result.warnings[:2]:
            self.notify(str(warning), title="Warning", severity="warning", markup=False)
        self.store_changed("configuration")
        self.close()

    def on_edit_refused(self, message: EditRefused) -> None:
        self._saving = False
        if message.conflict:
            offer_reload(
                self,
                message.error,
                self.reload_saved,
                keeps="your edits stay in the form to copy; Reload replaces them with the rule "
                "as saved now",
            )
            return
        self.clear_errors()
        self.show_problems(message.problems)
        if not message.problems:
            self.show_error("rule", message.message)
        self.notify(message.message, title="Not saved", severity="error", markup=False)

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == SAVE_GROUP:
            self._saving = False

    # Leaving ---------------------------------------------------------------------------

    def action_cancel(self) -> None:
        if not self.unsaved:
            self.dismiss()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss()

        what = "the new rule" if self.saved_name is None else "your changes to the rule"
        self.app.push_screen(
            ConfirmModal(
                "Discard the unsaved rule?",
                f"Leave without saving {what}? Nothing has been saved.",
                "Discard",
                destructive=True,
            ),
            answered,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action == "save":
            return self._ready or None
        return True
