"""Change how a non-directory app's accounts find their owner: Narrow, Broad or Custom (with its
rules), showing owned / unowned / ambiguous before → after and how many accounts would change
owner, all computed in a worker before anything is saved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import RadioButton, RadioSet, Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine.errors import ConfigConflict, ConfigInvalid
from engine.services import ConfigEdit
from screens.base import RosterModal
from screens.modals.confirm import ConfirmModal
from screens.rule_text import (
    CUSTOM_START,
    STRATEGY_HELP,
    STRATEGY_WORDS,
    object_path,
    rule_pair,
)
from screens.saving import (
    SAVE_GROUP,
    EditRefused,
    EditSaved,
    offer_reload,
    problems_text,
    save_edit,
)
from screens.text import clip, safe

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.services import IdentityImpact, OwnershipCounts, Services

STRATEGIES = tuple(STRATEGY_WORDS)
SAMPLES = 3


def ownership_document(strategy: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """`apps.APP.ownership` in document form: Custom keeps (or starts) its rules, the others
    have none."""
    if strategy == "custom":
        return {"strategy": "custom", "rules": [dict(rule) for rule in rules or CUSTOM_START]}
    return {"strategy": strategy}


def arrow(before: int | None, after: int | None) -> Text:
    out = Text()
    out.append(f"{before:>7,}" if before is not None else "      …")
    out.append("  →  ", style="dim")
    if after is None:
        out.append("…", style="dim")
    else:
        changed = before is not None and after != before
        out.append(f"{after:,}", style="bold yellow" if changed else "")
    return out


class OwnershipModal(RosterModal["EditResult | None"]):
    """Returns the saved edit, or None when cancelled."""

    DEFAULT_CSS = """
    OwnershipModal {
        align: center middle;
        & > Vertical {
            width: 90;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & RadioSet { width: 100%; height: auto; border: none; padding: 0; }
        & .own--help { height: auto; color: $text-muted; }
        & .own--rules { height: auto; max-height: 5; }
        & .own--counts { height: auto; margin-top: 1; }
        & .own--error { height: auto; color: $text-error; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="Save the strategy", priority=True),
        Binding("escape", "cancel", "Cancel", tooltip="Close (asks when there are changes)"),
    ]

    class Counted(Message):
        def __init__(
            self,
            strategy: str,
            before: OwnershipCounts | None,
            after: OwnershipCounts | None,
            impact: IdentityImpact | None,
        ) -> None:
            super().__init__()
            self.strategy = strategy
            self.before = before
            self.after = after
            self.impact = impact

    def __init__(
        self,
        services: Services,
        *,
        app: str,
        title: str,
        strategy: str,
        rules: list[dict[str, Any]],
        version: str,
        reload: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.app_id = app
        self.app_title = title
        self.saved_strategy = strategy
        self.rules = rules
        self.version = version
        self.reload = reload
        self.choice = strategy
        self.before: OwnershipCounts | None = None
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(
                f"Ownership of {safe(self.app_id, 40)} ({safe(self.app_title, 40)})"
            )
            box.border_subtitle = "ctrl+s save · esc cancel"
            with RadioSet(id="own-strategy"):
                for strategy in STRATEGIES:
                    label = STRATEGY_WORDS[strategy]
                    if strategy == self.saved_strategy:
                        label += " (now)"
                    yield RadioButton(label, value=strategy == self.saved_strategy)
            yield Static("", classes="own--help", id="own-help")
            yield Static("", classes="own--rules", id="own-rules")
            yield Static("", classes="own--counts", id="own-counts")
            yield Static("", classes="own--error", id="own-error")

    def on_mount(self) -> None:
        self.query_one(RadioSet).focus()
        self.show_choice()

    @on(RadioSet.Changed)
    def _changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.choice = STRATEGIES[event.index]
        self.show_choice()

    def document(self) -> dict[str, Any]:
        return ownership_document(self.choice, self.rules)

    def show_choice(self) -> None:
        choice = self.choice
        self.query_one("#own-help", Static).update(
            Text(f"{STRATEGY_WORDS[choice]}: {STRATEGY_HELP[choice]}.")
        )
        rules = Text()
        if choice == "custom":
            shown = self.document()["rules"]
            if not self.rules:
                rules.append(
                    "Starts with these rules (what Narrow does); after saving, edit them in the "
                    "list (a adds, e edits, shift+↑/↓ moves):\n",
                    style="dim",
                )
            for index, rule in enumerate(shown):
                rules.append(f"{index + 1}. ", style="dim")
                rules.append_text(clip(rule.get("name", ""), 24))
                rules.append("  ")
                rules.append_text(rule_pair(rule, 60))
                rules.append("\n")
            rules.rstrip()
        elif self.rules:
            rules.append(
                f"Its {len(self.rules)} custom rule{'s' if len(self.rules) != 1 else ''} "
                "are removed.",
                style="yellow",
            )
        self.query_one("#own-rules", Static).update(rules)
        self.query_one("#own-error", Static).update("")
        self.show_counts(None, None, computing=True)
        self.count(choice, self.document())

    # Before → after -----------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="own-count",
        exit_on_error=False,
        name="Counting owners before and after",
    )
    def count(self, strategy: str, document: dict[str, Any]) -> None:
        worker = get_current_worker()
        before = self.before
        if before is None:
            now = self.services.merge_matrix(self.app_id)
            before = next((a for a in now.apps if a.app == self.app_id), None)
        if strategy == self.saved_strategy:
            if not worker.is_cancelled:
                self.post_message(self.Counted(strategy, before, before, None))
            return
        try:
            edited = self.services.config_edit(
                ConfigEdit("set", object_path("apps", self.app_id, "ownership"), value=document),
                expected_version=self.version,
                dry_run=True,
            )
        except (ConfigConflict, ConfigInvalid) as error:
            self.post_message(EditRefused(error, dry_run=True, tag="count"))
            return
        if worker.is_cancelled:
            return
        matrix = self.services.merge_matrix(self.app_id, config=edited.config)
        after = next((a for a in matrix.apps if a.app == self.app_id), None)
        impact = self.services.identity_impact(edited.config, cancelled=lambda: worker.is_cancelled)
        if not worker.is_cancelled:
            self.post_message(self.Counted(strategy, before, after, impact))

    def on_ownership_modal_counted(self, message: OwnershipModal.Counted) -> None:
        if message.before is not None:
            self.before = message.before
        if message.strategy != self.choice:
            return
        self.show_counts(message.after, message.impact)

    def show_counts(
        self,
        after: OwnershipCounts | None,
        impact: IdentityImpact | None,
        computing: bool = False,
    ) -> None:
        before = self.before
        text = Text()
        text.append(f"{'':<22}{'now':>7}     after\n", style="dim")
        for label, field in (
            ("Owned", "owned"),
            ("Unowned", "unowned"),
            ("Ambiguous", "ambiguous"),
        ):
            text.append(f"{label:<22}")
            text.append_text(
                arrow(
                    getattr(before, field) if before else None,
                    None if computing or after is None else getattr(after, field),
                )
            )
            text.append("\n")
        if computing:
            text.append("Counting…", style="italic dim")
        elif self.choice == self.saved_strategy:
            text.append("This is the saved strategy: nothing changes.", style="dim")
        elif impact is not None:
            text.append("Accounts changing owner: ", style="bold")
            text.append(
                f"{impact.owner_changed:,}", style="bold yellow" if impact.owner_changed else ""
            )
            samples = impact.samples.get("owner_changed") or []
            if samples:
                text.append("  e.g. ", style="dim")
                text.append(safe(", ".join(samples[:SAMPLES]), 160))
        self.query_one("#own-counts", Static).update(text)

    # Saving -------------------------------------------------------------------------------

    def action_save(self) -> None:
        if self.saving:
            return
        if self.choice == self.saved_strategy:
            self.dismiss(None)
            return
        self.saving = True
        edit = ConfigEdit("set", object_path("apps", self.app_id, "ownership"), self.document())
        save_edit(self, self.services, edit, self.version)

    def on_edit_saved(self, message: EditSaved) -> None:
        self.saving = False
        self.close(message.result)

    def on_edit_refused(self, message: EditRefused) -> None:
        self.saving = False
        self.query_one("#own-error", Static).update(problems_text(message.error, limit=3))
        if message.conflict:

            def reload() -> None:
                self.dismiss(None)
                if self.reload is not None:
                    self.reload()

            offer_reload(self, message.error, reload, keeps="your choice stays here")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == SAVE_GROUP and event.state is WorkerState.ERROR:
            self.saving = False

    def action_cancel(self) -> None:
        if self.choice == self.saved_strategy:
            self.dismiss(None)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmModal(
                "Discard changes",
                "The new strategy is not saved. Discard it?",
                "Discard",
                destructive=True,
            ),
            confirmed,
        )
