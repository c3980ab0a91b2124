"""Attributes (key 4): the standard attributes (configured or not) and the custom ones, each with
its kind, its sources in order, its mode (fallback, union, or authority when it has flow rules),
how many people have a value and whether a source fails for some; the highlighted attribute's
sources, flow rules, push rules that use it and last change beside the list.

The counts and errors come from `Services.value_impact(None)` (the attribute stage over the
stored records, nothing written) in a worker, kept until the store changes. Adding and editing
open the attribute editor; deleting goes through the audited edit path, and a refusal (a push
rule still maps the attribute) is shown with the validator's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from engine.errors import RosterError
from engine.records import STANDARD_ATTRIBUTES
from engine.services import ConfigEdit
from screens.attribute_text import (
    MODE_WORDS,
    STANDARD_WORDS,
    flow_rule_words,
    is_multi,
    mode_name,
    push_uses,
    source_words,
    sources_text,
)
from screens.base import RosterScreen
from screens.modals.attribute_errors import AttributeErrorsModal
from screens.modals.confirm import ConfirmModal
from screens.modals.error import ErrorModal
from screens.rule_text import object_path
from screens.saving import EditRefused, EditSaved, offer_reload, problems_text, save_edit
from screens.text import clip, label, plain, safe
from screens.widgets.audit_line import LastChangeLoaded, change_diff, change_line, load_last_change

if TYPE_CHECKING:
    from engine.services import Services

NAME_WIDTH = 22


@dataclass(frozen=True)
class AttributeView:
    """One row: a configured attribute (its document) or a standard one not mapped yet."""

    name: str
    standard: bool
    document: dict[str, Any] | None  # None: a standard attribute that is not configured
    uses: list[str] = field(default_factory=list)  # push rules that use it

    @property
    def configured(self) -> bool:
        return self.document is not None

    @property
    def multi(self) -> bool:
        if self.document is None:
            return STANDARD_ATTRIBUTES.get(self.name, False)
        return is_multi(self.document)

    @property
    def path(self) -> str:
        return object_path("attributes", self.name)

    @property
    def sources(self) -> list[Any]:
        return list((self.document or {}).get("sources") or [])

    @property
    def flow_rules(self) -> list[Any]:
        return list((self.document or {}).get("flow_rules") or [])


def read_views(config: Any, documents: list[Any]) -> list[AttributeView]:
    """Standard attributes first (in their own order, configured or not), then the custom ones in
    the configuration's order."""
    by_name = {str(d.get("name", "")): d for d in documents if isinstance(d, dict)}
    views: list[AttributeView] = []
    for name in STANDARD_ATTRIBUTES:
        document = by_name.get(name)
        if document is not None and document.get("custom"):
            document = None
        views.append(AttributeView(name, True, document, push_uses(config, name)))
    for document in documents:
        if not isinstance(document, dict):
            continue
        name = str(document.get("name", ""))
        if name in STANDARD_ATTRIBUTES and not document.get("custom"):
            continue
        views.append(AttributeView(name, False, document, push_uses(config, name)))
    return views


class AttributesScreen(RosterScreen):
    """Standard and custom attributes with their sources, values and errors."""

    TITLE_TEXT = "Attributes"
    CSS_PATH = Path(__file__).with_name("attributes.tcss")
    AUTO_FOCUS = "#attr-list"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (140, "-wide"),
    ]

    NEEDS: ClassVar[dict[str, str]] = {
        "add": "admin",
        "edit": "admin",
        "flow": "admin",
        "delete": "admin",
        "external": "admin",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add", tooltip="Add a custom attribute (or map a standard one)"),
        Binding("e", "edit", "Edit", tooltip="Edit the highlighted attribute's sources"),
        Binding(
            "f",
            "flow",
            "Flow",
            tooltip="Edit the highlighted attribute's flow rules (authority per app)",
        ),
        Binding("d,delete", "delete", "Delete", tooltip="Remove the attribute (asks first)"),
        Binding(
            "v",
            "errors",
            "Errors",
            tooltip="The people a source of the highlighted attribute fails for",
        ),
        Binding(
            "E",
            "external",
            "$EDITOR",
            show=False,
            tooltip="Edit the highlighted attribute in your $EDITOR (validated on save)",
        ),
        Binding(
            "r",
            "reload",
            "Reload",
            show=False,
            tooltip="Read the attributes and count their values again",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("enter", "Edit the highlighted attribute (a standard one not mapped yet: map it)"),
        (
            "",
            "People: how many people have a value now; ! marks a source failing for some. "
            "Until counted, dimmed: as the last sync left them.",
        ),
    ]

    class Loaded(Message):
        def __init__(self, version: str, views: list[AttributeView]) -> None:
            super().__init__()
            self.version = version
            self.views = views

    class OutcomesLoaded(Message):
        def __init__(self, impact: Any) -> None:
            super().__init__()
            self.impact = impact

    class StoredLoaded(Message):
        """How many people have a value as the last sync stored them: shown while the
        values are computed anew."""

        def __init__(self, counts: dict[str, int]) -> None:
            super().__init__()
            self.counts = counts

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.version: str | None = None
        self.views: list[AttributeView] = []
        self.impact: Any = None  # ValueImpact of the saved configuration, until the store changes
        self.stored: dict[str, int] | None = None  # the last sync's counts, until then
        self._want: str | None = None  # the attribute to highlight after a reload
        self._deleting = False

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="attr-body"):
            table: DataTable[Any] = DataTable(id="attr-list", cursor_type="row")
            _add_columns(table)
            table.border_title = "Attributes"
            yield table
            with VerticalScroll(id="attr-detail-box"):
                yield Static(Text("Reading the attributes…", style="dim"), id="attr-detail")
                yield Static("", id="attr-last")
        yield Footer()

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#attr-list", DataTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    def reload(self) -> None:
        """The store changed (a sync, a configuration edit): read and count again."""
        self.impact = None
        self.stored = None
        self.load()

    def action_reload(self) -> None:
        self.services.invalidate()
        self.reload()

    # Loading ------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="attr-load",
        exit_on_error=False,
        name="Reading the attributes",
    )
    def load(self) -> None:
        version = self.services.config_version()
        config = self.services.config()
        documents = self.services.config_get("attributes") or []
        views = read_views(config, documents)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(version, views))

    def on_attributes_screen_loaded(self, message: AttributesScreen.Loaded) -> None:
        self.version = message.version
        table = self.table
        keep = self._want or (self.selected.name if self.selected is not None else None)
        self._want = None
        self.views = message.views
        self.fill()
        index = next((i for i, v in enumerate(self.views) if v.name == keep), 0)
        if self.views:
            table.move_cursor(row=index)
            self.show_detail(self.views[index])
        if self.impact is None:
            self.count()
        self.refresh_bindings()

    @work(
        thread=True,
        exclusive=True,
        group="attr-count",
        exit_on_error=False,
        name="Counting the attributes' values",
    )
    def count(self) -> None:
        worker = get_current_worker()
        # the stored counts at once (a query), the computed ones when ready (most of a
        # minute at 100,000 people)
        stored = self.services.stored_value_counts()
        if not worker.is_cancelled:
            self.post_message(self.StoredLoaded(stored))
        impact = self.services.value_impact(None, cancelled=lambda: worker.is_cancelled, push=False)
        if not worker.is_cancelled and not getattr(impact, "cancelled", False):
            self.post_message(self.OutcomesLoaded(impact))

    def on_attributes_screen_stored_loaded(self, message: AttributesScreen.StoredLoaded) -> None:
        if self.impact is None:
            self.stored = message.counts
            self.fill()

    def on_attributes_screen_outcomes_loaded(
        self, message: AttributesScreen.OutcomesLoaded
    ) -> None:
        self.impact = message.impact
        self.fill()
        view = self.selected
        if view is not None:
            self.show_detail(view)
        self.refresh_bindings()

    def outcome(self, name: str) -> Any:
        if self.impact is None:
            return None
        return self.impact.attributes.get(name)

    def fill(self) -> None:
        table = self.table
        row = table.cursor_row
        width = self.sources_width()
        with self.app.batch_update():
            # the columns anew: a column keeps the width of its widest cell ever, and after the
            # terminal shrank, the wide sources pushed Mode, People and ! out of sight (review)
            table.clear(columns=True)
            _add_columns(table)
            for view in self.views:
                name = clip(view.name, NAME_WIDTH, "bold" if view.configured else "dim")
                kind = Text(self.kind_text(view), style="dim")
                if view.configured:
                    sources = sources_text(view.sources, width)
                    mode = Text(mode_name(view.document or {}))
                else:
                    sources = Text("(not mapped: enter maps it)", style="dim italic")
                    mode = Text("—", style="dim")
                outcome = self.outcome(view.name)
                if not view.configured:
                    people, errors = Text("—", style="dim"), Text("")
                elif outcome is None and self.stored is not None:
                    # the last sync's, dimmed until this screen's own count replaces it
                    stored = self.stored.get(view.name, 0)
                    people, errors = Text(f"{stored:,}", style="dim", justify="right"), Text("")
                elif outcome is None:
                    people, errors = Text("…", style="dim"), Text("")
                else:
                    people = Text(f"{outcome.with_value:,}", justify="right")
                    errors = Text("!", style="bold red") if outcome.error_count else Text("")
                table.add_row(name, kind, sources, mode, people, errors, key=view.name)
            if self.views:
                table.move_cursor(row=min(max(row, 0), len(self.views) - 1), animate=False)
        total = sum(1 for v in self.views if v.configured)
        table.border_subtitle = (
            f"{total} configured · {sum(1 for v in self.views if not v.standard)} custom"
        )
        if self.impact is not None:
            table.border_subtitle += f" · {self.impact.people:,} people"
        elif self.stored is not None:
            table.border_subtitle += " · people as the last sync left them; counting…"

    @staticmethod
    def kind_text(view: AttributeView) -> str:
        return ("std" if view.standard else "custom") + (" · multi" if view.multi else " · one")

    def sources_width(self) -> int:
        """What the sources column can show without a sideways scroll: the table's inside less
        the other columns (their widest cells), a cell of padding each side of every column
        and the vertical scrollbar."""
        table = self.table
        inside = (table.size.width or 78) - table.styles.scrollbar_size_vertical
        names = max((len(v.name) for v in self.views), default=10)
        kinds = max((len(self.kind_text(v)) for v in self.views), default=4)
        others = min(max(names, 9), NAME_WIDTH) + kinds + len("authority")
        others += len("People") + 1
        return max(inside - others - 2 * 6, 12)

    def on_resize(self) -> None:
        if self.views:
            self.call_after_refresh(self.fill)

    # The highlighted attribute ------------------------------------------------------------

    @property
    def selected(self) -> AttributeView | None:
        row = self.table.cursor_row
        return self.views[row] if 0 <= row < len(self.views) else None

    @on(DataTable.RowHighlighted, "#attr-list")
    def _highlighted(self) -> None:
        view = self.selected
        if view is not None:
            self.show_detail(view)
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#attr-list")
    def _chosen(self) -> None:
        self.action_edit()

    def show_detail(self, view: AttributeView) -> None:
        detail = Text()
        detail.append(safe(view.name, 80), style="bold")
        if view.standard:
            detail.append(f" · standard ({STANDARD_WORDS.get(view.name, view.name)})", style="dim")
        else:
            detail.append(" · custom", style="dim")
        detail.append(" · multi-valued" if view.multi else " · single-valued", style="dim")
        if not view.configured:
            detail.append("\nNot mapped: it stays empty for everyone. ", style="dim")
            detail.append("enter or e maps it (sources, flow rules).", style="dim")
            self.query_one("#attr-detail", Static).update(detail)
            self.query_one("#attr-last", Static).update("")
            return
        document = view.document or {}
        detail.append("\n")
        detail.append(MODE_WORDS[mode_name(document)], style="dim")
        for index, source in enumerate(view.sources):
            detail.append(f"\n  {index + 1}. ", style="dim")
            is_cel = isinstance(source, dict) and isinstance(source.get("cel"), str)
            detail.append(source_words(source, 200), style="magenta" if is_cel else "")
        if not view.sources:
            detail.append("\n  (no sources: it stays empty)", style="dim")
        if view.flow_rules:
            detail.append("\nFlow rules:", style="bold")
            for rule in view.flow_rules:
                detail.append("\n  ")
                detail.append_text(flow_rule_words(rule))
        outcome = self.outcome(view.name)
        if outcome is not None:
            detail.append("\nValues: ", style="bold")
            detail.append(f"{outcome.with_value:,} with a value, {outcome.empty:,} empty")
            if outcome.distinct:
                detail.append(" · most common: ", style="dim")
                for index, (value, count) in enumerate(outcome.distinct[:3]):
                    if index:
                        detail.append(", ", style="dim")
                    detail.append_text(clip(value, 30))
                    detail.append(f" ({count:,})", style="dim")
            if outcome.error_count:
                detail.append(
                    f"\n{outcome.error_count:,} people: a source fails (v lists them)",
                    style="bold red",
                )
        if view.uses:
            detail.append("\nPush rules: ", style="bold")
            detail.append_text(label(", ".join(view.uses[:6])))
            if len(view.uses) > 6:
                detail.append(f" and {len(view.uses) - 6} more", style="dim")
        self.query_one("#attr-detail", Static).update(detail)
        self.load_last_change(view.path)

    def load_last_change(self, path: str) -> None:
        load_last_change(self, self.services, path)

    def on_last_change_loaded(self, message: LastChangeLoaded) -> None:
        view = self.selected
        if view is None or view.path != message.key:
            return
        text = change_line(message.entry)
        diff = change_diff(message.entry, 4)
        if diff:
            text.append("\n")
            text.append_text(diff)
        self.query_one("#attr-last", Static).update(text)

    # Errors --------------------------------------------------------------------------------

    def action_errors(self) -> None:
        view = self.selected
        outcome = self.outcome(view.name) if view is not None else None
        if view is None or outcome is None:
            return
        if not outcome.error_count:
            self.notify(f"No source of {safe(view.name)} fails for anyone.", markup=False)
            return
        self.app.push_screen(
            AttributeErrorsModal(view.name, list(outcome.errors), outcome.error_count)
        )

    # Editing -------------------------------------------------------------------------------

    def open_editor(self, view: AttributeView | None, *, focus: str = "sources") -> None:
        from screens.attribute_editor import AttributeEditorScreen

        if self.version is None:
            return
        taken = [v.name for v in self.views if v.configured]

        def done(saved: str | None) -> None:
            if saved is not None:
                self._want = saved
                self.impact = None
                self.load()
            self.table.focus()

        standard_name = view.name if view is not None and not view.configured else None
        self.app.push_screen(
            AttributeEditorScreen(
                self.services,
                document=view.document if view is not None else None,
                standard=standard_name,
                taken=taken,
                version=self.version,
                focus=focus,
            ),
            done,
        )

    def action_add(self) -> None:
        self.open_editor(None)

    def action_edit(self) -> None:
        view = self.selected
        if view is not None:
            self.open_editor(view)

    def action_flow(self) -> None:
        view = self.selected
        if view is not None:
            self.open_editor(view, focus="flow")

    def action_delete(self) -> None:
        view = self.selected
        if view is None or not view.configured or self.version is None or self._deleting:
            return
        message = Text("Remove the attribute ")
        message.append(safe(view.name, 80), style="bold")
        message.append(" from the configuration. ")
        if view.standard:
            message.append("It stays a standard attribute, empty for everyone after the next sync.")
        else:
            message.append("Its values are dropped at the next sync.")
        outcome = self.outcome(view.name)
        if outcome is not None and outcome.with_value:
            message.append(f"\n\n{outcome.with_value:,} people have a value now.", style="bold")
        if view.uses:
            message.append("\n\nPush rules use it (the edit is refused until they do not):\n")
            for use in view.uses[:8]:
                message.append("  ")
                message.append_text(plain(use))
                message.append("\n")
        readers = self.readers_of(view.name)
        if readers:
            message.append("\n\nAttributes read it (from the next sync they read it cleared):\n")
            for name, reader in list(readers.items())[:8]:
                message.append("  ")
                message.append_text(plain(name))
                if reader.through:
                    message.append(f" (through {safe(', '.join(reader.through), 60)})", "dim")
                message.append("\n")
            if len(readers) > 8:
                message.append(f"  and {len(readers) - 8} more\n", style="dim")
        edit = ConfigEdit("delete", view.path)
        version = self.version

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._deleting = True
                save_edit(self, self.services, edit, version, tag=view.name)

        self.app.push_screen(
            ConfirmModal("Remove attribute", message, "Remove", destructive=True), confirmed
        )

    def readers_of(self, name: str) -> dict[str, Any]:
        """The saved attributes that read NAME; none when the configuration cannot say (its
        own problems are shown where it is edited)."""
        try:
            return self.services.attribute_readers(name)
        except RosterError:
            return {}

    def on_edit_saved(self, message: EditSaved) -> None:
        self._deleting = False
        result = message.result
        self.version = result.version
        self.notify(f"Removed the attribute {safe(message.tag)}.", title="Saved", markup=False)
        for warning in result.warnings[:3]:
            self.notify(str(warning), title="Warning", severity="warning", markup=False)
        self.store_changed("configuration")
        self.reload()

    def on_edit_refused(self, message: EditRefused) -> None:
        self._deleting = False
        if message.conflict:
            offer_reload(self, message.error, self.action_reload, keeps="nothing was removed")
            return
        text = problems_text(message.error, limit=8)
        self.query_one("#attr-detail", Static).update(text)
        self.app.push_screen(
            ErrorModal(
                f"{message.tag} was not removed",
                text.plain,
                "Remove or change the push rule mappings named above first (Push rules, key 5), "
                "then remove the attribute.",
            )
        )

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group.startswith("config-save"):
            self._deleting = False

    async def action_external(self) -> None:
        from screens.external_edit import edit_externally

        view = self.selected
        if view is None or not view.configured:
            return
        result = await edit_externally(self, view.path)
        if result is not None and result.applied:
            self.version = result.version
            self._want = view.name
            self.impact = None
        self.load()

    # Keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        view = self.selected
        ready = self.version is not None
        if action == "add":
            return ready
        if action in ("edit", "flow"):
            return ready and view is not None
        if action in ("delete", "external"):
            return ready and view is not None and view.configured
        if action == "errors":
            if view is None or not view.configured:
                return False
            outcome = self.outcome(view.name)
            return None if outcome is None or not outcome.error_count else True
        return True


def _add_columns(table: DataTable[Any]) -> None:
    for heading, key in (
        ("Attribute", "name"),
        ("Kind", "kind"),
        ("Sources", "sources"),
        ("Mode", "mode"),
        ("People", "people"),
        ("!", "errors"),
    ):
        table.add_column(heading, key=key)
