"""A directory's filter editor: the shared CEL editor, the impact of the edit while typing, and a
spot-check of accounts with their decision now and after.

The filter decides, for every account of the directory's app, CREATE (also `true`: the account
becomes a person), MATCH_ONLY (it only enriches a person who exists) or IGNORE (also `false`).
While the admin types, a worker (exclusive, cancelled by the next change) validates the edited
configuration the way saving would (`config_edit(..., dry_run=True)`) and simulates identify and
ownership with it (`identity_impact`): the decision counts, how many people would be created and
removed, with samples. Saving goes through the same audited edit with the configuration version
the editor was opened with; a change that removes people must be acknowledged first.
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
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from engine.errors import ConfigInvalid, Problem, Stopped
from screens.base import RosterScreen
from screens.modals.confirm import ConfirmModal
from screens.modals.record_picker import RecordPicker
from screens.saving import SAVE_GROUP, EditRefused, EditSaved, offer_reload, save_edit
from screens.text import clip, literal, plain, safe
from screens.widgets.audit_line import change_line
from screens.widgets.cel_editor import CelEditor
from screens.widgets.plan_tree import plural

if TYPE_CHECKING:
    from engine.records import AccountRecord
    from engine.services import (
        AuditEntry,
        Completions,
        IdentityImpact,
        OnePreview,
        RecordRef,
        Services,
    )

CONTEXT = "directory_filter"
DECISIONS = ("CREATE", "MATCH_ONLY", "IGNORE")
PAGE = 50
# The impact simulates the whole population: wait for a real pause in typing before it runs.
PREVIEW_DEBOUNCE = 0.3
SAMPLES = 3
VALUE_WIDTH = 60


def decision_of(preview: OnePreview) -> str:
    """What a filter's value decides: CREATE, MATCH_ONLY, IGNORE, or "error"."""
    if not preview.ok:
        return "error"
    value = preview.value
    if value is True:
        return "CREATE"
    if value is False:
        return "IGNORE"
    return value if value in DECISIONS else "error"


DECISION_STYLES = {"CREATE": "green", "MATCH_ONLY": "cyan", "IGNORE": "yellow", "error": "bold red"}


def people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


def decision_text(decision: str) -> Text:
    return Text(decision, style=DECISION_STYLES.get(decision, ""))


def counts_text(counts: dict[str, int] | None) -> Text:
    text = Text()
    if counts is None:
        text.append("…", style="dim")
        return text
    for index, key in enumerate((*DECISIONS, "errors")):
        if index:
            text.append(" · ", style="dim")
        number = counts.get(key, 0)
        style = "bold red" if key == "errors" and number else DECISION_STYLES.get(key, "")
        text.append(f"{key} ", style="dim")
        text.append(f"{number:,}", style=style or "bold")
    return text


@dataclass(frozen=True)
class SpotRow:
    key: str  # APP:EXTERNAL_ID
    label: str
    now: str
    after: str


class DirectoryFilterScreen(RosterScreen):
    """Edit one directory's filter (or write the first filter of a directory being added)."""

    TITLE_TEXT = "Directory filter"
    CSS_PATH = Path(__file__).with_name("directory_filter.tcss")
    AUTO_FOCUS = "#filter-editor CelTextArea"

    NEEDS: ClassVar[dict[str, str]] = {"save": "admin"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="Save the filter (audited)"),
        Binding("escape", "cancel", "Cancel", tooltip="Back to the directories (asks if unsaved)"),
        Binding(
            "ctrl+o",
            "choose_account",
            "Account",
            tooltip="Choose the account whose value is shown",
        ),
        Binding("right_square_bracket", "page(1)", "Next page", tooltip="Next accounts"),
        Binding("left_square_bracket", "page(-1)", "Prev page", tooltip="Previous accounts"),
        Binding("e", "edit", "Edit", tooltip="Put the cursor in the filter"),
        Binding(
            "c",
            "changed_only",
            "Changed only",
            show=False,  # the footer is full at 80 columns; the accounts' border names it
            tooltip="In the accounts: only those whose decision the edit changes, or all again",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("", 'The filter returns "CREATE" (or true), "MATCH_ONLY", or "IGNORE" (or false).'),
        ("tab", "Move between the filter and the accounts"),
        ("f7", "In the filter: select all of it (what you type replaces it)"),
        ("] / [", "In the accounts: the next / previous 50"),
        ("c", "In the accounts: only those whose decision the edit changes (c again: all)"),
        ("ctrl+space", "In the filter: show completions at the cursor"),
    ]

    class Setup(Message):
        def __init__(
            self,
            version: str,
            saved: str | None,
            enabled: bool,
            position: int,
            total: int,
            accounts: int,
            completions: Completions,
            counts: dict[str, int] | None,
            last: AuditEntry | None,
        ) -> None:
            super().__init__()
            self.version = version
            self.saved = saved
            self.enabled = enabled
            self.position = position
            self.total = total
            self.accounts = accounts
            self.completions = completions
            self.counts = counts
            self.last = last

    class ImpactReady(Message):
        def __init__(
            self,
            text: str,
            impact: IdentityImpact | None,
            problems: list[Problem],
            warnings: list[Problem],
        ) -> None:
            super().__init__()
            self.text = text
            self.impact = impact
            self.problems = problems  # the edit is refused (ConfigInvalid): no impact
            self.warnings = warnings

    class ValueReady(Message):
        def __init__(self, text: str, key: str, label: str, preview: OnePreview) -> None:
            super().__init__()
            self.text = text
            self.key = key
            self.label = label
            self.preview = preview

    class SpotReady(Message):
        def __init__(
            self, text: str, offset: int, total: int, rows: list[SpotRow], changed_only: bool
        ) -> None:
            super().__init__()
            self.text = text
            self.offset = offset
            self.total = total
            self.rows = rows
            self.changed_only = changed_only

    class SaveChecked(Message):
        def __init__(
            self, text: str, impact: IdentityImpact | None, problems: list[Problem]
        ) -> None:
            super().__init__()
            self.text = text
            self.impact = impact
            self.problems = problems

    def __init__(
        self,
        services: Services,
        app_id: str,
        *,
        app_name: str = "",
        adding: bool = False,
        text: str | None = None,
    ) -> None:
        super().__init__(services)
        self.app_id = app_id
        self.app_name = app_name
        self.adding = adding  # a new directory: saving adds it
        self.version: str | None = None  # the configuration version the editor was opened at
        self.saved: str | None = None  # the saved filter (None: none, CREATE for everyone)
        self.enabled = True
        self._initial_text = text
        self.impact: IdentityImpact | None = None
        self._impact_for: str | None = None  # the text `impact` was computed for
        self._problems_for: str | None = None  # the text whose edit was refused
        self.page_offset = 0
        self.total = 0
        self.spot: list[SpotRow] = []
        self.changed_only = False  # the accounts table lists only changed decisions
        self.account: tuple[str, str] | None = None  # (key, label) whose value is shown
        self._ready = False
        self._saving = False
        self.path = f"directories.{app_id}"
        self.saved_counts: dict[str, int] | None = None

    # Layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="filter-body"):
            yield Static(self._title_text(), id="filter-title")
            yield Static(Text("Reading the directory…", style="dim"), id="filter-last")
            editor = CelEditor(
                self._initial_text or "", debounce=PREVIEW_DEBOUNCE, id="filter-editor"
            )
            editor.border_title = "Filter: CREATE / MATCH_ONLY / IGNORE (true / false)"
            yield editor
            with Vertical(id="filter-impact-box") as box:
                box.border_title = "If saved"
                yield Static(Text("Computing the impact…", style="dim"), id="filter-impact")
            yield Static("", id="filter-value")
            table: DataTable[Any] = DataTable(id="filter-spot", cursor_type="row")
            table.add_column("Account", key="account")
            table.add_column("Now", key="now")
            table.add_column("After", key="after")
            yield table
        yield Footer()

    def _title_text(self) -> Text:
        text = Text()
        text.append("New directory " if self.adding else "Filter of ", style="dim")
        text.append(safe(self.app_id, 40), style="bold")
        if self.app_name:
            text.append(f" ({safe(self.app_name, 40)})")
        return text

    @property
    def editor(self) -> CelEditor:
        return self.query_one("#filter-editor", CelEditor)

    def on_mount(self) -> None:
        super().on_mount()
        if self._initial_text is None:  # the saved filter replaces the box's text when read:
            self.editor.text_area.read_only = True  # nothing typed before then is lost
        self.load_setup()

    # The edit this text makes ------------------------------------------------------------

    def edit_for(self, text: str) -> Any:
        from engine.services import ConfigEdit

        if self.adding:
            return ConfigEdit("set", self.path, {"filter": text} if text.strip() else {})
        if not text.strip():
            return ConfigEdit("delete", f"{self.path}.filter")  # no filter: CREATE for all
        return ConfigEdit("set", f"{self.path}.filter", text)

    @property
    def unsaved(self) -> bool:
        if not self._ready:
            return False
        return self.adding or self.editor.text.strip() != (self.saved or "").strip()

    # Loading ----------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="filter-setup",
        exit_on_error=False,
        name="Reading the directory",
    )
    def load_setup(self) -> None:
        services = self.services
        version = services.config_version()
        config = services.config()
        apps = [d.app for d in config.directories]
        directory = next((d for d in config.directories if d.app == self.app_id), None)
        if directory is None and not self.adding:
            from engine.errors import NotFound

            raise NotFound(
                f"There is no directory {self.app_id!r} any more (it was deleted); "
                "press escape to go back."
            )
        completions = services.completions(CONTEXT, app_id=self.app_id)
        accounts = len(services.records_in_scope(CONTEXT, self.app_id))
        # the saved filter's counts (identify and ownership around the filters took half a
        # minute at 100,000 people before the box opened)
        worker = get_current_worker()
        try:
            every = services.decision_counts(config, cancelled=lambda: worker.is_cancelled)
        except Stopped:  # the screen was left
            return
        counts = every.get(self.app_id)
        last = None if self.adding else services.last_change(self.path)
        if not get_current_worker().is_cancelled:
            self.post_message(
                self.Setup(
                    version,
                    directory.filter if directory is not None else None,
                    directory.enabled if directory is not None else True,
                    apps.index(self.app_id) + 1 if self.app_id in apps else len(apps) + 1,
                    len(apps) + (1 if self.adding else 0),
                    accounts,
                    completions,
                    counts,
                    last,
                )
            )

    def on_directory_filter_screen_setup(self, message: DirectoryFilterScreen.Setup) -> None:
        first = not self._ready
        self.version = message.version
        self.saved = message.saved
        self.enabled = message.enabled
        self.saved_counts = message.counts
        self.editor.set_completions(message.completions, "account")
        if first and self._initial_text is None:
            self.editor.text = message.saved or ""
            self.editor.text_area.read_only = False
        title = self._title_text()
        title.append(
            f" · directory {message.position} of {message.total}"
            f" · {plural(message.accounts, 'account')}",
            style="dim",
        )
        if not message.enabled:
            title.append(" · disabled: it decides IGNORE for everyone", style="bold yellow")
        self.query_one("#filter-title", Static).update(title)
        self.show_last(message.last)
        self._ready = True
        self.refresh_bindings()
        self.changed()

    def show_last(self, entry: AuditEntry | None) -> None:
        view = self.query_one("#filter-last", Static)
        if self.adding:
            view.update(Text("Not saved yet: ctrl+s adds the directory.", style="dim"))
        else:
            view.update(change_line(entry))

    def reload(self) -> None:
        # the store changed (a sync, another edit): the impact and the accounts again; the
        # version stays the one the admin opened, so a save after someone else's edit is refused
        if self._ready:
            self.changed()

    # While typing ---------------------------------------------------------------------

    @on(CelEditor.Changed, "#filter-editor")
    def _filter_changed(self, event: CelEditor.Changed) -> None:
        self.changed()

    def changed(self) -> None:
        if not self._ready:
            return
        text = self.editor.text
        box = self.query_one("#filter-impact-box")
        box.add_class("-stale")
        # the numbers below are the previous text's until the simulation of this one ends
        box.border_subtitle = "working out this text's impact…"
        self.compute_impact(text)
        self.load_spot(text, self.page_offset)
        if not text.strip():
            self.workers.cancel_group(self, "filter-value")
            self.query_one("#filter-value", Static).update(
                Text("No filter: every account becomes a person (CREATE).", style="dim")
            )
        elif self.account is not None:
            self.preview_value(text, *self.account)

    @work(
        thread=True,
        exclusive=True,
        group="filter-impact",
        exit_on_error=False,
        name="Computing the impact of the filter",
    )
    def compute_impact(self, text: str) -> None:
        worker = get_current_worker()
        try:
            result = self.services.config_edit(self.edit_for(text), dry_run=True)
        except ConfigInvalid as error:
            if not worker.is_cancelled:
                self.post_message(self.ImpactReady(text, None, list(error.problems), []))
            return
        if worker.is_cancelled:
            return
        impact = self.services.identity_impact(result.config, cancelled=lambda: worker.is_cancelled)
        if not impact.cancelled and not worker.is_cancelled:
            self.post_message(self.ImpactReady(text, impact, [], list(result.warnings)))

    def on_directory_filter_screen_impact_ready(
        self, message: DirectoryFilterScreen.ImpactReady
    ) -> None:
        if message.text != self.editor.text:
            return  # an older text; the newer one's impact is on its way
        box = self.query_one("#filter-impact-box")
        box.remove_class("-stale")
        box.border_subtitle = ""
        view = self.query_one("#filter-impact", Static)
        if message.impact is None:
            self.impact = None
            self._impact_for = None
            self._problems_for = message.text
            self.show_problems(message.problems)
            out = Text("The filter cannot be saved as it is", style="bold red")
            out.append(": no impact until the problem under it is fixed.", style="")
            view.update(out)
            return
        self._problems_for = None
        self.impact = impact = message.impact
        self._impact_for = message.text
        if message.warnings:
            self.editor.show_problem(message.warnings[0])
        else:
            self.editor.clear_problem()  # the edit is valid: nothing to show under it
        view.update(self.impact_text(impact))

    def impact_text(self, impact: IdentityImpact) -> Text:
        out = Text()
        out.append("Saved  ", style="dim")
        out.append_text(counts_text(None if self.adding else self.saved_counts))
        out.append("\nEdited ", style="dim")
        out.append_text(counts_text(impact.decision_counts.get(self.app_id)))
        out.append("\n")
        # against the saved filter, on one line at 80 columns: the people named under it
        # must be on screen at 80x24 (the box shows about four lines there)
        created, removed = impact.people_created, impact.people_removed
        out.append(
            f"{people(created)} would be created",
            style="bold green" if created else "",
        )
        out.append(", ")
        out.append(f"{removed:,} removed", style="bold red" if removed else "")
        out.append(
            f" · {plural(impact.decisions_changed, 'decision')}, "
            f"{plural(impact.owner_changed, 'owner')} change",
            style="dim",
        )
        # each list on one line, its names as many as fit and then how many more: wrapped, its
        # end ("and 14 more") fell below the box (newcomer review, 80×24)
        width = self.query_one("#filter-impact", Static).size.width or 74
        for kind, label, style in (
            ("people_removed", "Removed", "red"),
            ("people_created", "Created", "green"),
        ):
            samples = impact.samples.get(kind) or []
            if samples:
                out.append(f"\n{label}: ", style=style)
                # of everyone the impact counts, not of the few names it carries
                out.append(names_line(samples[:SAMPLES], getattr(impact, kind), width - 9))
        if impact.decisions_changed > created + removed:
            out.append(
                # one line at 80 columns (the accounts' box says "c: only those")
                "\nOther changed decisions create no one: another directory made them.",
                style="dim",
            )
        return out

    def show_problems(self, problems: list[Problem]) -> None:
        if not problems:
            return
        own = [p for p in problems if p.path.startswith(f"{self.path}.filter")]
        problem = (own or problems)[0]
        caret = ""
        if own and problem.line is not None and problem.column is not None:
            lines = self.editor.text.splitlines() or [""]
            if 0 < problem.line <= len(lines):
                caret = lines[problem.line - 1] + "\n" + " " * (problem.column - 1) + "^"
        if not own:
            problem = Problem(
                f"{problem.path}: {problem.message}" if problem.path else problem.message,
                hint=problem.hint,
                severity=problem.severity,
            )
        self.editor.show_problem(problem, caret)

    # The accounts: a page, their decision now and after --------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="filter-spot",
        exit_on_error=False,
        name="Checking the filter on accounts",
    )
    def load_spot(self, text: str, offset: int) -> None:
        worker = get_current_worker()
        services = self.services
        records: list[AccountRecord] = services.records_in_scope(CONTEXT, self.app_id)  # type: ignore[assignment]
        changed_only = self.changed_only
        if not changed_only:
            offset = max(0, min(offset, max(len(records) - 1, 0) // PAGE * PAGE))
        saved = self.saved if not self.adding else None
        rows: list[SpotRow] = []
        # changed only: every account is decided twice, then the page is taken from those
        # whose decision changes (in a worker: the next keystroke cancels it)
        for record in records if changed_only else records[offset : offset + PAGE]:
            if worker.is_cancelled:
                return
            if not self.enabled:
                now = "IGNORE"
            elif self.adding:
                now = "—"  # not a directory yet: its accounts decide nothing
            elif saved is None or not saved.strip():
                now = "CREATE"
            else:
                now = decision_of(services.preview_one(CONTEXT, saved, record))
            if not self.enabled:
                after = "IGNORE"
            elif not text.strip():
                after = "CREATE"
            else:
                after = decision_of(services.preview_one(CONTEXT, text, record))
            if changed_only and (after == now or now == "—"):
                continue
            rows.append(
                SpotRow(f"{record.app_id}:{record.external_id}", services.label(record), now, after)
            )
        total = len(records)
        if changed_only:
            total = len(rows)
            offset = max(0, min(offset, max(total - 1, 0) // PAGE * PAGE))
            rows = rows[offset : offset + PAGE]
        if not worker.is_cancelled:
            self.post_message(self.SpotReady(text, offset, total, rows, changed_only))

    def on_directory_filter_screen_spot_ready(
        self, message: DirectoryFilterScreen.SpotReady
    ) -> None:
        if message.text != self.editor.text or message.changed_only != self.changed_only:
            return
        self.page_offset, self.total, self.spot = message.offset, message.total, message.rows
        table = self.query_one("#filter-spot", DataTable)
        row = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for spot in message.rows:
                after = decision_text(spot.after)
                if spot.after != spot.now and spot.now != "—":
                    after.stylize("reverse")
                table.add_row(clip(spot.label, 44), decision_text(spot.now), after, key=spot.key)
        if message.rows:
            table.move_cursor(row=min(max(row, 0), len(message.rows) - 1))
        last = min(message.offset + PAGE, message.total)
        changed = sum(1 for s in message.rows if s.after != s.now and s.now != "—")
        if message.changed_only:
            table.border_title = (
                f"Changed decisions {message.offset + 1:,}–{last:,} of {message.total:,}"
                if message.total
                else "No account's decision changes"
            )
            table.border_subtitle = "c: all accounts · [ ] pages"
        else:
            table.border_title = (
                f"Accounts {message.offset + 1:,}–{last:,} of {message.total:,}"
                if message.total
                else "This app has no accounts"
            )
            table.border_subtitle = (
                f"{changed} changed on this page · c: only those · [ ] pages"
                if changed
                else "c: only the changed · [ ] pages"
            )
        if self.account is None and message.rows:
            self._choose_row(0)
        self.refresh_bindings()

    @on(DataTable.RowHighlighted, "#filter-spot")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._choose_row(event.cursor_row)

    def _choose_row(self, index: int) -> None:
        if 0 <= index < len(self.spot):
            spot = self.spot[index]
            if self.account is None or self.account[0] != spot.key:
                self.account = (spot.key, spot.label)
                self.preview_value(self.editor.text, spot.key, spot.label)

    def action_changed_only(self) -> None:
        self.changed_only = not self.changed_only
        table = self.query_one("#filter-spot", DataTable)
        table.border_subtitle = "deciding every account…" if self.changed_only else ""
        self.load_spot(self.editor.text, 0)

    def action_page(self, step: int) -> None:
        offset = self.page_offset + step * PAGE
        if 0 <= offset < self.total:
            self.load_spot(self.editor.text, offset)

    # One account's value ---------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="filter-value",
        exit_on_error=False,
        name="Previewing the filter",
    )
    def preview_value(self, text: str, key: str, label: str) -> None:
        if not text.strip():
            return
        record = self.services.account_by_key(key)
        preview = self.services.preview_one(CONTEXT, text, record)
        if not get_current_worker().is_cancelled:
            self.post_message(self.ValueReady(text, key, label, preview))

    def on_directory_filter_screen_value_ready(
        self, message: DirectoryFilterScreen.ValueReady
    ) -> None:
        if message.text != self.editor.text:
            return
        preview = message.preview
        out = Text()
        out.append(safe(message.label, 40), style="bold")
        out.append(": ")
        if preview.ok:
            out.append_text(literal(preview.value, VALUE_WIDTH))
            out.append(" → ", style="dim")
            out.append_text(decision_text(decision_of(preview)))
        else:
            out.append("error", style="bold red")
            if preview.error is not None:
                if preview.caret:  # a compile error: shown under the text, where it is
                    self.editor.show_problem(preview.error, preview.caret)
                    out.append(" (shown under the filter)", style="dim")
                else:
                    out.append(": " + safe(preview.error.message, 120))
        self.query_one("#filter-value", Static).update(out)

    def action_choose_account(self) -> None:
        def chosen(ref: RecordRef | None) -> None:
            if ref is not None:
                key = ref.detail or ""
                self.account = (key, ref.label)
                self.preview_value(self.editor.text, key, ref.label)
            self.editor.focus()

        self.app.push_screen(RecordPicker(self.services, "account"), chosen)

    # Saving ---------------------------------------------------------------------------

    def action_save(self) -> None:
        if not self._ready or self._saving:
            return
        text = self.editor.text
        if not self.unsaved:
            self.notify("The filter is as saved; nothing to save.")
            return
        if self._problems_for == text:
            self.notify(
                "The filter has a problem (shown under it); fix it before saving.",
                severity="error",
            )
            return
        self._saving = True
        if self._impact_for == text and self.impact is not None:
            self.confirm_and_save(text, self.impact)
        else:
            self.notify("Working out what this filter does before saving…", timeout=3)
            self.check_save(text)

    @work(
        thread=True,
        exclusive=True,
        group="filter-save",
        exit_on_error=False,
        name="Checking the filter before saving",
    )
    def check_save(self, text: str) -> None:
        try:
            result = self.services.config_edit(self.edit_for(text), dry_run=True)
        except ConfigInvalid as error:
            self.post_message(self.SaveChecked(text, None, list(error.problems)))
            return
        impact = self.services.identity_impact(result.config)
        self.post_message(self.SaveChecked(text, impact, []))

    def on_directory_filter_screen_save_checked(
        self, message: DirectoryFilterScreen.SaveChecked
    ) -> None:
        if message.impact is None:
            self._saving = False
            self.show_problems(message.problems)
            self.notify("The filter cannot be saved: see the problem under it.", severity="error")
            return
        self.confirm_and_save(message.text, message.impact)

    def confirm_and_save(self, text: str, impact: IdentityImpact) -> None:
        removed = impact.people_removed
        if not removed:
            self.save(text)
            return
        samples = impact.samples.get("people_removed") or []
        message = Text()
        message.append(
            f"Compared with the saved filter, this removes {people(removed)} on the next sync",
            style="bold",
        )
        message.append(
            ": no directory account of theirs would pass any more (they are kept as DELETED, "
            "for the record)."
        )
        if samples:
            message.append("\n\nFor example: ", style="dim")
            message.append(", ".join(safe(s, 40) for s in samples[:5]))
        created = impact.people_created
        if created:  # the whole of what saving does, not only its removals
            message.append(f"\n\nIt also creates {people(created)}", style="bold")
            made = impact.samples.get("people_created") or []
            if made:
                message.append(": " + ", ".join(safe(s, 40) for s in made[:5]))
            message.append(".")
        message.append("\n\nSave anyway?")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.save(text)
            else:
                self._saving = False
                self.editor.focus()

        self.app.push_screen(
            ConfirmModal(
                f"Remove {people(removed)}?",
                message,
                f"Save and remove {removed:,}",
                destructive=True,
            ),
            answered,
        )

    def save(self, text: str) -> None:
        save_edit(self, self.services, self.edit_for(text), self.version)

    def on_edit_saved(self, message: EditSaved) -> None:
        self._saving = False
        result = message.result
        self.saved = self.editor.text
        self.version = result.version
        self.adding = False
        self.show_last(message.last)
        who = f" by {message.last.actor}" if message.last is not None else ""
        self.notify(
            f"Saved {result.path}{who}. The next sync applies it.", title="Saved", markup=False
        )
        self.store_changed("configuration")
        self.close()

    def on_edit_refused(self, message: EditRefused) -> None:
        self._saving = False
        if not message.conflict:
            self.show_problems(message.problems)
            self.notify(message.message, title="Not saved", severity="error")
            return

        offer_reload(
            self,
            message.error,
            self.load_setup,
            keeps="your text stays in the editor; ctrl+s then saves it over the new version",
        )

    # Leaving ----------------------------------------------------------------------------

    def action_cancel(self) -> None:
        if not self.unsaved:
            self.dismiss()
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss()
            else:
                self.editor.focus()

        what = "the new directory" if self.adding else "your changes to the filter"
        self.app.push_screen(
            ConfirmModal(
                "Discard the unsaved filter?",
                f"Leave without saving {what}? Nothing has been saved.",
                "Discard",
                destructive=True,
            ),
            answered,
        )

    def action_edit(self) -> None:
        self.editor.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        if action == "page":
            table = self.query_one("#filter-spot", DataTable)
            if not table.has_focus:
                return False
            step = parameters[0] if parameters else 1
            offset = self.page_offset + (step if isinstance(step, int) else 1) * PAGE
            return 0 <= offset < self.total or None
        if action == "edit":
            return not self.editor.text_area.has_focus
        if action == "changed_only":  # a letter: typed into the filter when it has focus
            return not self.editor.text_area.has_focus and not self.adding
        if action == "save":
            return self._ready or None
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group in ("filter-save", SAVE_GROUP):
            self._saving = False
        elif worker.group == "filter-impact":
            self.query_one("#filter-impact", Static).update(
                plain("The impact could not be computed (see the error).", "bold red")
            )


def names_line(names: list[str], total: int, width: int) -> str:
    """NAMES (of TOTAL) joined, as many as fit in WIDTH with "and N more" after them; at
    least one, cut to fit."""
    shown: list[str] = []
    for count, name in enumerate(names, 1):
        candidate = [*shown, safe(name, 40)]
        more = total - count
        text = ", ".join(candidate) + (f" and {more:,} more" if more > 0 else "")
        if shown and len(text) > width:
            break
        shown = candidate
    more = total - len(shown)
    tail = f" and {more:,} more" if more > 0 else ""
    head = ", ".join(shown)
    if len(head) + len(tail) > width:  # one name too long for the line: cut it
        head = head[: max(1, width - len(tail) - 1)] + "…"
    return head + tail
