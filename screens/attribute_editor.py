"""Add or edit one attribute: its name (a standard one from the list, or a custom one), single or
multi-valued, its ordered sources, its flow rules, and a live preview of what the edit does.

While the admin edits, a worker (debounced, exclusive: the next change cancels it) checks the
edited configuration the way saving would (`config_edit(..., dry_run=True)`: problems are shown
under the part they name, warnings under the preview) and runs `value_impact` with it: the value
for a chosen person with its reason, the distinct values, how many are empty, how many people's
values change against the saved definition (samples old → new, with why) and which push rules
would then write more or less. Saving is one audited `ConfigEdit("set", "attributes.NAME")`
through `screens/saving.py`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Footer, Header, Input, Select, Static
from textual.worker import Worker, get_current_worker

from engine.errors import ConfigInvalid, Problem, RosterError
from engine.records import STANDARD_ATTRIBUTES
from engine.services import ConfigEdit
from screens.attribute_text import (
    DEFAULT_SCORE,
    DIRECTION_STYLES,
    DIRECTIONS,
    MODE_SHORT,
    STANDARD_WORDS,
    mode_name,
    source_words,
)
from screens.base import RosterScreen
from screens.modals.attribute_source import SourceModal
from screens.modals.confirm import ConfirmModal
from screens.modals.flow_rule import FlowRuleModal
from screens.modals.record_picker import RecordPicker
from screens.rule_text import object_path
from screens.saving import (
    SAVE_GROUP,
    EditRefused,
    EditSaved,
    offer_reload,
    problem_line,
    save_edit,
)
from screens.text import clip, literal, plain, safe, value
from screens.widgets.audit_line import change_line
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from engine.services import RecordRef, Services

CUSTOM = "custom"
STANDARD = "standard"
PREVIEW_DEBOUNCE = 0.4
SAMPLES = 5
VALUE_WIDTH = 40
# A custom attribute's name is used in CEL (`subject.attributes.NAME`): the validator's rule.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def name_problem(name: str, custom: bool, taken: list[str], old: str | None) -> str | None:
    """Why NAME cannot be used, in words, or None (the validator says the same on save)."""
    if not name:
        return "Give the attribute a name, e.g. cost_center_label."
    if custom:
        if name.casefold() in STANDARD_ATTRIBUTES:
            return f"{name} is a standard attribute: choose Standard, or pick another name."
        if not NAME_PATTERN.match(name):
            return (
                f"{name} cannot be used in CEL (subject.attributes.NAME): start with a letter "
                "and use only letters, digits and _."
            )
    others = [n.casefold() for n in taken if old is None or n.casefold() != old.casefold()]
    if name.casefold() in others:
        return f"An attribute named {name} exists already (names are unique regardless of case)."
    return None


class AttributeEditorScreen(RosterScreen):
    """Dismissed with the saved attribute's name, or None."""

    TITLE_TEXT = "Attribute editor"
    CSS_PATH = Path(__file__).with_name("attribute_editor.tcss")
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (140, "-wide"),
    ]
    # at 24 rows the form gets more of the screen, so that three flow rules show whole (the
    # third was below the fold, behind a scroll bar: newcomer review)
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [(0, "-short"), (32, "-tall")]

    NEEDS: ClassVar[dict[str, str]] = {"save": "admin"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="Save the attribute (audited)"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the attributes (asks if unsaved)"),
        # The tables' own keys are written under each table: the footer keeps to what is global.
        Binding(
            "a",
            "add",
            "Add",
            show=False,
            tooltip="Add a source, or a flow rule in the flow rules",
        ),
        Binding(
            "d,delete",
            "remove",
            "Remove",
            show=False,
            tooltip="Remove the highlighted source or rule",
        ),
        Binding(
            "space",
            "cycle_direction",
            "Direction",
            show=False,
            tooltip="In the flow rules: the next direction for the highlighted app",
        ),
        Binding(
            "shift+up",
            "move(-1)",
            "Up",
            show=False,
            tooltip="Move the highlighted source up (tried earlier)",
        ),
        Binding(
            "shift+down",
            "move(1)",
            "Down",
            show=False,
            tooltip="Move the highlighted source down (tried later)",
        ),
        Binding(
            "ctrl+o",
            "choose_person",
            "Person",
            tooltip="Choose the person whose value the preview shows",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("enter", "On a source or flow rule: edit it"),
        ("tab", "Move between the name, the sources, the flow rules and the preview"),
        ("", "Nothing is saved until ctrl+s; the preview shows what saving would do."),
    ]

    class PreviewReady(Message):
        def __init__(
            self,
            document: dict[str, Any],
            impact: Any,
            warnings: list[Problem],
            problems: list[Problem],
        ) -> None:
            super().__init__()
            self.document = document
            self.impact = impact
            self.warnings = warnings
            self.problems = problems

    class Setup(Message):
        def __init__(
            self, apps: list[tuple[str, str]], person: RecordRef | None, last: Any
        ) -> None:
            super().__init__()
            self.apps = apps
            self.person = person
            self.last = last

    def __init__(
        self,
        services: Services,
        *,
        document: dict[str, Any] | None,
        standard: str | None,
        taken: list[str],
        version: str,
        focus: str = "sources",
    ) -> None:
        super().__init__(services)
        self.old_name: str | None = str(document["name"]) if document else None
        if document is None:
            document = {"name": standard or "", "sources": []}
            if standard is None:
                document["custom"] = True
                document["multi_valued"] = False
        self.initial = self._normal(document)
        self.sources: list[dict[str, Any]] = [dict(s) for s in document.get("sources") or []]
        self.flow_rules: list[dict[str, Any]] = [dict(r) for r in document.get("flow_rules") or []]
        self.taken = taken
        self.version = version
        self.focus_on = focus
        self.apps: list[tuple[str, str]] = []
        self.person: RecordRef | None = None
        self._debounce: Timer | None = None
        self._saving = False
        self._ready = False
        self._start = document

    @staticmethod
    def _normal(document: dict[str, Any]) -> dict[str, Any]:
        """A document in the form `document()` builds, to tell whether anything changed."""
        custom = bool(document.get("custom"))
        normal: dict[str, Any] = {"name": str(document.get("name", ""))}
        if custom:
            normal["custom"] = True
            normal["multi_valued"] = bool(document.get("multi_valued"))
        normal["sources"] = [dict(s) for s in document.get("sources") or []]
        if document.get("flow_rules"):
            normal["flow_rules"] = [dict(r) for r in document.get("flow_rules") or []]
        return normal

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        start = self._start
        custom = bool(start.get("custom")) or not start.get("name")
        name = str(start.get("name", ""))
        yield Header()
        with Horizontal(id="ed-body"):
            with VerticalScroll(id="ed-form"):
                yield Static(self._title(), id="ed-title")
                with Horizontal(id="ed-name-row"):
                    yield Select(
                        [("Custom", CUSTOM), ("Standard", STANDARD)],
                        value=CUSTOM if custom else STANDARD,
                        allow_blank=False,
                        compact=True,
                        id="ed-kind",
                    )
                    yield TextInput(
                        name if custom else "",
                        placeholder="name, e.g. cost_center_label",
                        compact=True,
                        id="ed-name",
                    )
                    choices = [
                        (f"{n} ({STANDARD_WORDS[n]})", n)
                        for n in STANDARD_ATTRIBUTES
                        if n == name or n.casefold() not in {t.casefold() for t in self.taken}
                    ]
                    yield Select(
                        choices,
                        value=name if not custom and name in STANDARD_ATTRIBUTES else Select.NULL,
                        prompt="Choose a standard attribute",
                        compact=True,
                        id="ed-standard",
                    )
                    yield Checkbox(
                        "multi-valued",
                        value=bool(start.get("multi_valued")),
                        compact=True,
                        id="ed-multi",
                    )
                yield Static("", classes="ed--error", id="ed-name-error")
                yield Static("", id="ed-mode")
                sources: DataTable[Any] = DataTable(id="ed-sources", cursor_type="row")
                sources.add_column("#", key="n")
                sources.add_column("Source", key="source")
                sources.border_title = "Sources, in order"
                sources.border_subtitle = "a add · enter edit · shift+↑↓ move · d remove"
                yield sources
                yield Static("", classes="ed--error", id="ed-sources-error")
                flow: DataTable[Any] = DataTable(id="ed-flow", cursor_type="row")
                for label, key in (
                    ("App", "app"),
                    ("Direction", "direction"),
                    ("Create", "create"),
                    ("Update", "update"),
                    ("Delete", "delete"),
                ):
                    flow.add_column(label, key=key)
                flow.border_title = "Flow rules (none: mapping mode)"
                flow.border_subtitle = "a add · enter edit · space direction · d remove"
                yield flow
                yield Static("", classes="ed--error", id="ed-flow-error")
            with VerticalScroll(id="ed-preview-box") as box:
                box.border_title = "If saved"
                yield Static(Text("Working out the values…", style="dim"), id="ed-preview")
        yield Footer()

    def _title(self) -> Text:
        text = Text()
        if self.old_name is None:
            text.append("New attribute", style="bold")
        else:
            text.append("Attribute ", style="dim")
            text.append(safe(self.old_name, 60), style="bold")
        text.append(" · nothing is saved until ctrl+s", style="dim")
        return text

    def on_mount(self) -> None:
        super().on_mount()
        self.show_kind()
        self.fill_sources()
        self.fill_flow()
        if self.focus_on == "flow":
            self.query_one("#ed-flow", DataTable).focus()
        elif self.kind == CUSTOM and not self.name_value:
            self.query_one("#ed-name", Input).focus()
        elif self.kind == STANDARD and not self.name_value:
            self.query_one("#ed-standard", Select).focus()
        else:
            self.query_one("#ed-sources", DataTable).focus()
        self.load_setup()

    @work(
        thread=True,
        exclusive=True,
        group="ed-setup",
        exit_on_error=False,
        name="Reading the apps",
    )
    def load_setup(self) -> None:
        config = self.services.config()
        apps = [(app.id, app.title) for app in config.apps]
        people = self.services.find_records("user", "", limit=1)
        last = self.services.last_change(self.path) if self.old_name is not None else None
        if not get_current_worker().is_cancelled:
            self.post_message(self.Setup(apps, people[0] if people else None, last))

    def on_attribute_editor_screen_setup(self, message: AttributeEditorScreen.Setup) -> None:
        self.apps = message.apps
        if self.old_name is not None:
            title = self._title()
            title.append("\n")
            title.append_text(change_line(message.last))
            self.query_one("#ed-title", Static).update(title)
        if self.person is None:
            self.person = message.person
        self._ready = True
        self.changed()

    # The document being edited ------------------------------------------------------------

    @property
    def kind(self) -> str:
        value = self.query_one("#ed-kind", Select).value
        return value if isinstance(value, str) else CUSTOM

    @property
    def name_value(self) -> str:
        if self.kind == CUSTOM:
            return self.query_one("#ed-name", Input).value.strip()
        chosen = self.query_one("#ed-standard", Select).value
        return chosen if isinstance(chosen, str) else ""

    @property
    def multi(self) -> bool:
        if self.kind == STANDARD:
            return STANDARD_ATTRIBUTES.get(self.name_value, False)
        return self.query_one("#ed-multi", Checkbox).value

    @property
    def path(self) -> str:
        return object_path("attributes", self.old_name or self.name_value or "new")

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"name": self.name_value}
        if self.kind == CUSTOM:
            document["custom"] = True
            document["multi_valued"] = self.multi
        document["sources"] = [dict(s) for s in self.sources]
        if self.flow_rules:
            document["flow_rules"] = [dict(r) for r in self.flow_rules]
        return document

    @property
    def unsaved(self) -> bool:
        return self.is_mounted and self.document() != self.initial

    def show_kind(self) -> None:
        custom = self.kind == CUSTOM
        self.query_one("#ed-name", Input).display = custom
        self.query_one("#ed-multi", Checkbox).display = custom
        self.query_one("#ed-standard", Select).display = not custom
        self.show_mode()

    def show_mode(self) -> None:
        document = self.document()
        mode = mode_name(document)
        text = Text()
        text.append("single-valued · " if not self.multi else "multi-valued · ", style="bold")
        text.append(MODE_SHORT[mode], style="dim")
        self.query_one("#ed-mode", Static).update(text)

    @on(Select.Changed, "#ed-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.show_kind()
        self.changed()

    @on(Select.Changed, "#ed-standard")
    @on(Checkbox.Changed, "#ed-multi")
    def _shape_changed(self, event: Message) -> None:
        event.stop()
        self.show_mode()
        self.changed()

    @on(Input.Changed, "#ed-name")
    def _name_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.changed()

    # Sources --------------------------------------------------------------------------------

    def fill_sources(self, row: int | None = None) -> None:
        table = self.query_one("#ed-sources", DataTable)
        keep = table.cursor_row if row is None else row
        table.clear()
        # cut to the table's width (an ellipsis, never a sideways scroll); enter shows it whole
        width = max((table.size.width or 60) - 12, 24)
        for index, source in enumerate(self.sources):
            is_cel = isinstance(source.get("cel"), str)
            table.add_row(
                Text(f"{index + 1}.", style="dim"),
                Text(source_words(source, width), style="magenta" if is_cel else ""),
                key=str(index),
            )
        if not self.sources:
            table.border_subtitle = "no sources yet: a adds one"
        else:
            table.border_subtitle = "a add · enter edit · shift+↑↓ move · d remove"
        if self.sources:
            table.move_cursor(row=min(max(keep, 0), len(self.sources) - 1))

    def open_source(self, index: int | None) -> None:
        source = self.sources[index] if index is not None else None

        def done(document: dict[str, Any] | None) -> None:
            if document is not None:
                if index is None:
                    self.sources.append(document)
                    row = len(self.sources) - 1
                else:
                    self.sources[index] = document
                    row = index
                self.fill_sources(row)
                self.changed()
            self.query_one("#ed-sources", DataTable).focus()

        self.app.push_screen(
            SourceModal(
                self.services,
                attribute=self.name_value or "the new attribute",
                source=source,
                apps=self.apps,
                multi=self.multi,
                person=self.person,
            ),
            done,
        )

    @on(DataTable.RowSelected, "#ed-sources")
    def _source_chosen(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.sources):
            self.open_source(event.cursor_row)

    # Flow rules -----------------------------------------------------------------------------

    def fill_flow(self, row: int | None = None) -> None:
        table = self.query_one("#ed-flow", DataTable)
        keep = table.cursor_row if row is None else row
        table.clear()
        for rule in self.flow_rules:
            direction = str(rule.get("direction", "inbound"))
            table.add_row(
                clip(rule.get("app", ""), 24, "bold"),
                Text(direction, style=DIRECTION_STYLES.get(direction, "")),
                *(
                    Text(str(rule.get(kind, DEFAULT_SCORE)), justify="right")
                    for kind in ("create", "update", "delete")
                ),
                key=str(rule.get("app", "")),
            )
        table.border_title = (
            "Flow rules (authority mode)" if self.flow_rules else "Flow rules (none: mapping mode)"
        )
        if self.flow_rules:
            table.move_cursor(row=min(max(keep, 0), len(self.flow_rules) - 1))

    def open_flow(self, index: int | None) -> None:
        rule = self.flow_rules[index] if index is not None else None
        used = {str(r.get("app")) for r in self.flow_rules}
        free = [app for app, _ in self.apps if app not in used]
        if rule is None and not free:
            self.notify("Every configured app has a flow rule here already.", severity="warning")
            return

        def done(document: dict[str, Any] | None) -> None:
            if document is not None:
                if index is None:
                    self.flow_rules.append(document)
                    row = len(self.flow_rules) - 1
                else:
                    self.flow_rules[index] = document
                    row = index
                self.fill_flow(row)
                self.show_mode()
                self.changed()
            self.query_one("#ed-flow", DataTable).focus()

        self.app.push_screen(
            FlowRuleModal(attribute=self.name_value or "the new attribute", rule=rule, apps=free),
            done,
        )

    @on(DataTable.RowSelected, "#ed-flow")
    def _flow_chosen(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.flow_rules):
            self.open_flow(event.cursor_row)

    def action_cycle_direction(self) -> None:
        table = self.query_one("#ed-flow", DataTable)
        row = table.cursor_row
        if not table.has_focus or not 0 <= row < len(self.flow_rules):
            return
        rule = self.flow_rules[row]
        current = str(rule.get("direction", "inbound"))
        index = DIRECTIONS.index(current) if current in DIRECTIONS else -1
        rule["direction"] = DIRECTIONS[(index + 1) % len(DIRECTIONS)]
        self.fill_flow(row)
        self.changed()

    # Keys on the focused table --------------------------------------------------------------

    def focused_table(self) -> str:
        focused = self.focused
        if focused is not None and focused.id == "ed-flow":
            return "flow"
        return "sources"

    def action_add(self) -> None:
        if self.focused_table() == "flow":
            self.open_flow(None)
        else:
            self.open_source(None)

    def action_remove(self) -> None:
        if self.focused_table() == "flow":
            table = self.query_one("#ed-flow", DataTable)
            if 0 <= table.cursor_row < len(self.flow_rules):
                del self.flow_rules[table.cursor_row]
                self.fill_flow()
                self.show_mode()
                self.changed()
            return
        table = self.query_one("#ed-sources", DataTable)
        if 0 <= table.cursor_row < len(self.sources):
            del self.sources[table.cursor_row]
            self.fill_sources()
            self.changed()

    def action_move(self, step: int) -> None:
        table = self.query_one("#ed-sources", DataTable)
        row = table.cursor_row
        to = row + step
        count = len(self.sources)
        if not table.has_focus or not 0 <= row < count or not 0 <= to < count:
            return
        self.sources[row], self.sources[to] = self.sources[to], self.sources[row]
        self.fill_sources(to)
        self.changed()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        focused = self.focused
        typing = isinstance(focused, Input) or (
            focused is not None and focused.id in ("ed-kind", "ed-standard")
        )
        if action in ("add", "remove"):
            if typing:
                return False
            if action == "remove":
                items = self.flow_rules if self.focused_table() == "flow" else self.sources
                return bool(items) or None
            return True
        if action == "cycle_direction":
            return focused is not None and focused.id == "ed-flow" and bool(self.flow_rules)
        if action == "move":
            table = self.query_one("#ed-sources", DataTable)
            if not table.has_focus:
                return False
            step = parameters[0] if parameters and isinstance(parameters[0], int) else 0
            return 0 <= table.cursor_row + step < len(self.sources) or None
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    # The preview ----------------------------------------------------------------------------

    def changed(self) -> None:
        """Something changed: preview the edited attribute after a pause."""
        self.clear_errors()
        if self._debounce is not None:
            self._debounce.stop()
        if not self._ready:
            return
        box = self.query_one("#ed-preview-box")
        box.border_subtitle = "working out this edit…"
        self._debounce = self.set_timer(PREVIEW_DEBOUNCE, self._preview_now)

    def _preview_now(self) -> None:
        self._debounce = None
        document = self.document()
        problem = name_problem(document["name"], self.kind == CUSTOM, self.taken, self.old_name)
        if self.kind == STANDARD and not document["name"]:
            problem = "Choose the standard attribute to map."
        if problem is not None:
            self.workers.cancel_group(self, "ed-preview")
            self.show_error("name", problem)
            self.query_one("#ed-preview", Static).update(
                Text("The preview starts once the attribute has a name it can have.", "dim")
            )
            self.query_one("#ed-preview-box").border_subtitle = ""
            return
        self.preview(document, self.person)

    @work(
        thread=True,
        exclusive=True,
        group="ed-preview",
        exit_on_error=False,
        name="Previewing the attribute",
    )
    def preview(self, document: dict[str, Any], person: RecordRef | None) -> None:
        worker = get_current_worker()
        edit = ConfigEdit("set", self.path, value=document)
        try:
            result = self.services.config_edit(edit, dry_run=True)
        except ConfigInvalid as error:
            if not worker.is_cancelled:
                self.post_message(self.PreviewReady(document, None, [], list(error.problems)))
            return
        except RosterError as error:  # a path or value the edit cannot take
            if not worker.is_cancelled:
                self.post_message(self.PreviewReady(document, None, [], [Problem(error.message)]))
            return
        impact = self.services.value_impact(
            result.config,
            attributes=[document["name"]],
            person=person.id if person is not None else None,
            cancelled=lambda: worker.is_cancelled,
        )
        if not worker.is_cancelled and not impact.cancelled:
            self.post_message(self.PreviewReady(document, impact, list(result.warnings), []))

    def on_attribute_editor_screen_preview_ready(
        self, message: AttributeEditorScreen.PreviewReady
    ) -> None:
        if message.document != self.document():
            return  # an older edit's outcome
        box = self.query_one("#ed-preview-box")
        box.border_subtitle = ""
        view = self.query_one("#ed-preview", Static)
        if message.impact is None:
            self.place_problems(message.problems)
            text = Text("Not valid yet: ", style="bold red")
            text.append("the problems are shown under the part they concern.")
            view.update(text)
            return
        view.update(self.preview_text(message.document["name"], message.impact, message.warnings))
        # the gist in the box's border, seen at any height (at 24 rows the box shows five
        # lines, and what changes came below the person's value: second review)
        box.border_subtitle = self.preview_gist(
            message.document["name"], message.impact, message.warnings
        )

    def preview_gist(self, name: str, impact: Any, warnings: list[Problem]) -> str:
        outcome = impact.attributes.get(name)
        parts = []
        if outcome is not None:
            who = "1 person" if outcome.changed == 1 else f"{outcome.changed:,} people"
            if self.old_name is None:
                parts.append(f"{who} get{'s' if outcome.changed == 1 else ''} a value")
            elif outcome.changed:
                parts.append(f"{who} change{'s' if outcome.changed == 1 else ''}")
            else:
                parts.append("no value changes")
            if outcome.error_count:
                parts.append(f"{outcome.error_count:,} errors")
        readers = [o for o in impact.attributes.values() if o.reads and o.changed]
        if readers:
            one = len(readers) == 1
            parts.append(
                f"{len(readers)} attribute{'' if one else 's'} reading it change{'s' * one}"
            )
        moved = [d for d in impact.push.values() if d.added or d.removed or d.entered or d.left]
        if moved:
            parts.append(f"{len(moved)} push rule{'s' if len(moved) != 1 else ''} change")
        if warnings:
            parts.append(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}")
        return " · ".join(parts)

    def preview_text(self, name: str, impact: Any, warnings: list[Problem]) -> Text:
        out = Text()
        outcome = impact.attributes.get(name)
        mine = (impact.person or {}).get(name)
        adding = self.old_name is None  # nothing is saved yet to compare with
        if mine is not None and self.person is not None:
            out.append_text(clip(self.person.label, 50, "bold"))
            out.append(": ")
            out.append_text(literal(mine.new, VALUE_WIDTH, "bold"))
            if mine.old != mine.new and not adding:
                out.append(" (saved: ", style="dim")
                out.append_text(literal(mine.old, VALUE_WIDTH // 2, "dim"))
                out.append(")", style="dim")
            if mine.source:
                out.append(f"\n  from {safe(mine.source, 60)}", style="dim")
            if mine.reason:
                out.append(f": {safe(mine.reason, 160)}", style="dim")
            out.append("  ctrl+o: another person", style="dim")
            out.append("\n")
        if outcome is not None:
            out.append("Values: ", style="bold")
            out.append(f"{outcome.with_value:,} people with a value, ")
            out.append(f"{outcome.empty:,} empty", style="yellow" if outcome.empty else "")
            out.append(f" of {impact.people:,}", style="dim")
            for index, (shown, count) in enumerate(outcome.distinct[:6]):
                out.append("\n  " if index == 0 else ", ")
                out.append_text(value(shown, 30))
                out.append(f" ({count:,})", style="dim")
            if len(outcome.distinct) > 6:
                out.append(f", … {len(outcome.distinct) - 6} more values", style="dim")
            if outcome.error_count:
                out.append(f"\nErrors: {outcome.error_count:,} people", style="bold red")
                for error in outcome.errors[:2]:
                    out.append("\n  ")
                    out.append_text(clip(error.person, 30))
                    out.append(": ")
                    out.append_text(clip(error.message, 80, "red"))
            out.append("\nIf added: " if adding else "\nAgainst the saved definition: ", "bold")
            if outcome.changed:
                who = "person" if outcome.changed == 1 else "people"
                out.append(
                    f"{outcome.changed:,} {who} {'get a value' if adding else 'change'}",
                    style="bold yellow",
                )
                for change in outcome.samples[:SAMPLES]:
                    out.append_text(_change_line(change, "\n  ", 28, 24))
                    if change.reason:
                        out.append(f"  {safe(change.reason, 80)}", style="dim")
            else:
                out.append("no one gets a value" if adding else "no one's value changes", "dim")
                if outcome.authority and not adding:
                    out.append(
                        "\n  (authority mode: a value stays until a source's value changes; "
                        "the edit applies from then on)",
                        style="dim",
                    )
        out.append_text(self.readers_text(impact))
        out.append_text(self.push_text(impact))
        for warning in warnings[:4]:
            out.append("\nWarning: ", style="bold yellow")
            out.append_text(plain(problem_line(warning, with_path=True), lines=True, limit=400))
        return out

    def readers_text(self, impact: Any) -> Text:
        """The attributes that read the edited one: the edit changes their values too."""
        out = Text()
        readers = [o for o in impact.attributes.values() if o.reads]
        if not readers:
            return out
        out.append("\nAttributes that read it: ", style="bold")
        for outcome in readers:
            out.append("\n  ")
            out.append(safe(outcome.name, 40), style="bold")
            if outcome.through:
                out.append(f" (through {safe(', '.join(outcome.through), 60)})", style="dim")
            if outcome.changed:
                who = "person changes" if outcome.changed == 1 else "people change"
                out.append(f": {outcome.changed:,} {who}", style="yellow")
                for change in outcome.samples[:2]:
                    out.append_text(_change_line(change, "\n    ", 28, 24))
            else:
                out.append(": no one's value changes", style="dim")
        return out

    def push_text(self, impact: Any) -> Text:
        out = Text()
        moved = [d for d in impact.push.values() if d.added or d.removed or d.entered or d.left]
        out.append("\nPush rules: ", style="bold")
        if not moved:
            out.append("no push changes", style="dim")
            return out
        for difference in moved:
            out.append("\n  ")
            out.append(safe(difference.rule, 40), style="bold")
            out.append(f" ({safe(difference.app, 20)}): ", style="dim")
            parts = []
            if difference.added:
                parts.append((f"{difference.added:,} writes added or changed", "green"))
            if difference.removed:
                parts.append((f"{difference.removed:,} pushes disappear", "bold red"))
            if difference.entered:
                parts.append((f"{difference.entered:,} people enter", "green"))
            if difference.left:
                parts.append((f"{difference.left:,} leave", "red"))
            for index, (words, style) in enumerate(parts):
                if index:
                    out.append(", ", style="dim")
                out.append(words, style=style)
            for write in difference.samples[:3]:
                out.append("\n    ")
                out.append_text(clip(write.person, 24))
                out.append(f" {safe(write.target, 24)}: ", style="dim")
                out.append_text(
                    literal(write.saved, 18, "red") if write.saved is not None else Text("—")
                )
                out.append(" → ", style="dim")
                if write.edited is None:
                    out.append("no longer pushed", style="red")
                else:
                    out.append_text(literal(write.edited, 18, "green"))
        return out

    def action_choose_person(self) -> None:
        def chosen(record: RecordRef | None) -> None:
            if record is not None:
                self.person = record
                self.changed()

        self.app.push_screen(RecordPicker(self.services, "user"), chosen)

    # Problems under their part --------------------------------------------------------------

    def clear_errors(self) -> None:
        for view in self.query(".ed--error"):
            view.update("")
            view.remove_class("-visible")

    def show_error(self, part: str, text: str) -> None:
        view = self.query_one(f"#ed-{part}-error", Static)
        shown = str(view.content)
        view.update(plain((shown + "\n" if shown else "") + text, lines=True))
        view.add_class("-visible")

    def place_problems(self, problems: list[Problem]) -> None:
        for problem in problems[:8]:
            rest = problem.path.split(".", 2)[-1] if problem.path.startswith("attributes.") else ""
            if ".sources" in problem.path or rest.startswith("sources"):
                part = "sources"
            elif ".flow_rules" in problem.path or rest.startswith("flow_rules"):
                part = "flow"
            else:
                part = "name"
            self.show_error(part, problem_line(problem, with_path=part != "name"))

    # Saving ---------------------------------------------------------------------------------

    def action_save(self) -> None:
        if self._saving:
            return
        document = self.document()
        self.clear_errors()
        problem = name_problem(document["name"], self.kind == CUSTOM, self.taken, self.old_name)
        if self.kind == STANDARD and not document["name"]:
            problem = "Choose the standard attribute to map."
        if problem is not None:
            self.show_error("name", problem)
            return
        if self.old_name is not None and not self.unsaved:
            self.notify("The attribute is as saved; nothing to save.")
            return
        self._saving = True
        save_edit(self, self.services, ConfigEdit("set", self.path, value=document), self.version)

    def on_edit_saved(self, message: EditSaved) -> None:
        self._saving = False
        result = message.result
        name = self.name_value
        self.initial = self._normal(self.document())
        who = f" by {message.last.actor}" if message.last is not None else ""
        self.notify(
            f"Saved {result.path}{who}. The next sync applies it.", title="Saved", markup=False
        )
        for warning in result.warnings[:3]:
            self.notify(str(warning), title="Warning", severity="warning", markup=False)
        self.store_changed("configuration")
        self.close(name)

    def on_edit_refused(self, message: EditRefused) -> None:
        self._saving = False
        if message.conflict:

            def reload() -> None:
                self.dismiss(None)

            offer_reload(
                self, message.error, reload, keeps="your edit stays here; nothing was saved"
            )
            return
        self.place_problems(message.problems)
        self.notify(message.message, title="Not saved", severity="error")

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == SAVE_GROUP:
            self._saving = False
        elif worker.group == "ed-preview":
            self.query_one("#ed-preview", Static).update(
                plain("The preview could not be computed (see the error).", "bold red")
            )

    def action_cancel(self) -> None:
        if not self.unsaved:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmModal(
                "Discard the changes?",
                "The attribute has changes that are not saved. Leave without saving them?",
                "Discard",
                destructive=True,
            ),
            answered,
        )


def _change_line(change: Any, indent: str, person: int, value: int) -> Text:
    """One sample of a preview: the person, their value saved → edited (literal, clipped)."""
    out = Text(indent)
    out.append_text(clip(change.person, person))
    out.append(": ")
    out.append_text(literal(change.old, value, "red"))
    out.append(" → ", style="dim")
    out.append_text(literal(change.new, value, "green"))
    return out
