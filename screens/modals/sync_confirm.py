"""Before a sync applies: what the dry run found, and apply or cancel.

When the plan is blocked by the deletion threshold, the dialog lists what would be deleted,
grouped by cause, and the apply button stays disabled until the admin ticks the box saying they
reviewed the deletions. When the plan holds attribute values back (blanks that only a vanished
source account causes, see engine.sync.state.HeldBlank), it lists them and offers the same box,
optional then: ticked, the run clears them too (allow deletes). The result is "apply",
"apply-deletes" or None (cancel).
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import DescendantFocus
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

from engine.services import deletion_lines, describe_stage_plan
from engine.text import literal_text
from screens.base import DismissOnce
from screens.modals.confirm import key_hint
from screens.text import safe
from screens.widgets.hanging import Hanging
from screens.widgets.plan_tree import plural

DELETION_SAMPLES = 3
#: The width of a stage's name in "What the plan changes, by stage"; its line wraps under
#: what follows the name.
STAGE_COLUMN = 11
#: Rows a line of the summary may wrap to (its texts are bounded to a few hundred characters).
SUMMARY_ROWS = 12


class SyncConfirmModal(DismissOnce, ModalScreen["str | None"]):
    """Shows a dry run's summary; returns "apply", "apply-deletes" or None."""

    DEFAULT_CSS = """
    SyncConfirmModal {
        align: center middle;
        & > Vertical {
            width: 90;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: thick $warning;
            background: $surface;
            padding: 0 1;
        }
        & VerticalScroll { height: auto; }
        & .confirm--summary { height: auto; }
        & #confirm-summary { margin-top: 1; }
        & .confirm--blocked { height: auto; color: $text-warning; margin-bottom: 1; }
        & Checkbox { margin-top: 1; }
        & Horizontal { height: auto; margin-top: 1; }
        & Button { width: 1fr; margin: 0 1; }
        & .confirm--keys { height: auto; color: $text-muted; margin: 0 1; }
        & .confirm--more { height: 1; color: $text-warning; text-style: bold; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without applying anything"),
        Binding("a", "apply", "Apply", tooltip="Apply the plan (as the Apply button)"),
        # the buttons and the box keep the focus; these scroll what they confirm
        Binding("down", "scroll_summary('down')", "Scroll", show=False),
        Binding("up", "scroll_summary('up')", "Scroll", show=False),
        Binding("pagedown", "scroll_summary('page_down')", "Scroll", show=False),
        Binding("pageup", "scroll_summary('page_up')", "Scroll", show=False),
    ]

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result
        self.blocked = result.status == "blocked-by-threshold"
        self.held = list(getattr(result, "held", None) or [])
        # focused as the dialog is composed, so that an enter typed right after `s` meets it:
        # the deletions' box, else Cancel. Applying writes to other people's systems, so it
        # takes a key of its own (a) or the Apply button, never an enter typed ahead of the
        # dialog (`s` enter applied and pushed; hostile review, as Unlink already was)
        self.AUTO_FOCUS = "#confirm-deletes" if self.blocked else "#cancel"  # type: ignore[misc]

    def compose(self) -> ComposeResult:
        result = self.result
        with Vertical() as box:
            box.border_title = (
                "Sync now — the deletion threshold stopped this run"
                if self.blocked
                else "Sync now — apply this plan?"
            )
            with VerticalScroll(id="confirm-scroll"):
                if self.blocked:
                    yield Static(
                        Text(
                            safe(
                                result.error
                                or "The run would delete more than the threshold allows.",
                                lines=True,
                            )
                            + " Here: tick the box below (space), then Apply with deletions."
                        ),
                        classes="confirm--blocked",
                    )
                # an app's failure wraps under its name; a long stage line under its
                # description, not at the left edge
                headline = Hanging(self.headline(), indent=4, rows=SUMMARY_ROWS, edge_indent=0)
                yield Static(headline, classes="confirm--summary", id="confirm-headline")
                details = Hanging(
                    self.details(), indent=STAGE_COLUMN, rows=SUMMARY_ROWS, edge_indent=0
                )
                yield Static(details, classes="confirm--summary", id="confirm-summary")
            yield Static(classes="confirm--more", id="confirm-more")
            if self.blocked:
                yield Checkbox(
                    "I reviewed the deletions above; apply them (allow deletes)",
                    id="confirm-deletes",
                )
            elif self.held:
                yield Checkbox(
                    "Also clear the held values above (allow deletes)",
                    id="confirm-deletes",
                )
            with Horizontal():
                yield Button(
                    "Apply with deletions" if self.blocked else "Apply",
                    variant="error" if self.blocked else "warning",
                    id="apply",
                    disabled=self.blocked,
                )
                yield Button("Cancel (esc)", id="cancel")
            yield Static(classes="confirm--keys", id="confirm-keys")

    def summary(self) -> Text:
        """The whole message: what the dialog shows above its buttons."""
        return Text("\n\n").join([self.headline(), self.details()])

    def headline(self) -> Text:
        """How many changes, and the apps that could not be read."""
        result = self.result
        text = Text()
        text.append(f"Run {result.run_id} (a dry run) found ")
        count = len(result.planned)
        text.append(f"{count:,} change{'s' if count != 1 else ''}", style="bold")
        if count:
            text.append(" to apply.")
        elif self.held:
            text.append(" — applying changes nothing unless you also clear the held values below.")
        else:
            text.append(" — applying records a run and changes nothing.")
        # an app that could not be read: the plan leaves its accounts as they were, which the
        # admin must know before applying ("0 changes" alone read as "all is well")
        unread = [f for f in result.failures if f["stage"] == "import"]
        if unread:
            text.append(
                f"\n\n{plural(len(unread), 'app')} could not be read; "
                f"{'its' if len(unread) == 1 else 'their'} accounts stay as they were:",
                style="bold yellow",
            )
            for failure in unread[:DELETION_SAMPLES]:
                reason = failure["reason"].removeprefix("failed to import: ").split("\n")[0]
                text.append(f"\n  {safe(failure['app'], 40)}: ", style="bold yellow")
                text.append(safe(reason, 300))
            if len(unread) > DELETION_SAMPLES:
                text.append(f"\n  and {len(unread) - DELETION_SAMPLES:,} more", style="dim")
        return text

    def details(self) -> Text:
        """What would be deleted, the held values, and the plan's changes by stage."""
        result = self.result
        text = Text()
        # deletions first: at 80x24 they must be on screen next to the box that confirms them
        deletions = result.deletions or {}
        if deletions:
            total = sum(len(ids) for ids in deletions.values())
            text.append(f"Deletions ({total:,}), by cause:", style="bold red")
            for line in deletion_lines(deletions):
                ids = line.objects
                text.append(f"\n  {line.count:>6,}  ", style="bold red")
                text.append(safe(line.text))
                sample = safe(", ".join(str(i) for i in ids[:DELETION_SAMPLES]), 300)
                more = (
                    f" and {len(ids) - DELETION_SAMPLES:,} more"
                    if len(ids) > DELETION_SAMPLES
                    else ""
                )
                text.append(f"\n          e.g. {sample}{more}", style="dim")
        else:
            text.append("No person, account or attribute value would be deleted.", "green")
        if self.held:
            text.append(
                f"\n\nHeld ({len(self.held):,}): values kept because only a source account gone "
                "from its app would clear them:",
                style="bold yellow",
            )
            for held in self.held[:DELETION_SAMPLES]:
                text.append("\n  ")
                text.append(
                    safe(f"{held.person}: {held.attribute} = {literal_text(held.value)}", 200)
                )
                text.append(f" ({safe(', '.join(held.accounts), 100)} gone)", style="dim")
            if len(self.held) > DELETION_SAMPLES:
                text.append(f"\n  and {len(self.held) - DELETION_SAMPLES:,} more", style="dim")
        text.append("\n\nWhat the plan changes, by stage:", style="bold")
        # the plan's own changes, not the stages' counters (which count all they looked at)
        planned = result.plan_counts
        for stage in result.stages:
            text.append(f"\n  {safe(stage.name):<{STAGE_COLUMN}}", style="bold")
            text.append(describe_stage_plan(planned.get(stage.name)))
            if stage.problems:
                text.append(f"  {plural(len(stage.problems), 'problem')}", style="yellow")
        return text

    def on_resize(self) -> None:
        # Keep the checkbox and the buttons on screen: the summary scrolls instead.
        fixed = 2 + 6 + (4 if self.blocked or self.held else 0)
        scroll = self.query_one("#confirm-scroll", VerticalScroll)
        scroll.styles.max_height = max(3, self.size.height - fixed)
        self.call_after_refresh(self._show_more)

    def _show_more(self, _: object = None) -> None:
        """Say when part of the summary is below its window: at 80x24 the plan's changes by
        stage (the pushes to the apps) were cut off under the deletions, with no sign."""
        scroll = self.query_one("#confirm-scroll", VerticalScroll)
        below = round(scroll.max_scroll_y - scroll.scroll_y)
        more = self.query_one("#confirm-more", Static)
        more.display = below > 0
        more.update(
            f"↓ {plural(below, 'more line')} below: ↓ or pgdn scrolls, read them before you apply"
            if below > 0
            else ""
        )

    def action_scroll_summary(self, how: str) -> None:
        scroll = self.query_one("#confirm-scroll", VerticalScroll)
        {
            "down": scroll.scroll_down,
            "up": scroll.scroll_up,
            "page_down": scroll.scroll_page_down,
            "page_up": scroll.scroll_page_up,
        }[how](animate=False)
        self._show_more()

    def on_mount(self) -> None:
        self.on_resize()
        scroll = self.query_one("#confirm-scroll", VerticalScroll)
        self.watch(scroll, "scroll_y", self._show_more, init=False)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self._show_keys(event.widget)

    def _show_keys(self, focused: Widget | None) -> None:
        hint = key_hint(focused)
        apply = self.query_one("#apply", Button)
        if not apply.disabled and focused is not apply:
            hint = f"a: {apply.label} · {hint}"  # "Apply with deletions" when it is that
        self.query_one("#confirm-keys", Static).update(hint)

    @on(Checkbox.Changed, "#confirm-deletes")
    def _confirmed(self, event: Checkbox.Changed) -> None:
        if self.blocked:
            self.query_one("#apply", Button).disabled = not event.value
            self._show_keys(self.focused)
        else:
            label = "Apply and clear held values" if event.value else "Apply"
            self.query_one("#apply", Button).label = label
            self._show_keys(self.focused)

    @on(Button.Pressed, "#apply")
    def _apply(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_apply()

    def action_apply(self) -> None:
        if self.query_one("#apply", Button).disabled:
            self.notify(
                "Tick the box first: the deletions it names are applied with the plan.",
                severity="warning",
            )
            return
        allowed = self.blocked or (
            bool(self.held) and self.query_one("#confirm-deletes", Checkbox).value
        )
        self.dismiss("apply-deletes" if allowed else "apply")

    @on(Button.Pressed, "#cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
