"""Why a person's attribute has its value: the winning source, the mode, every candidate."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from screens.attribute_text import MODE_SHORT
from screens.base import RosterModal
from screens.dashboard import format_when
from screens.text import clip, safe, value
from screens.widgets.hanging import Hanging

if TYPE_CHECKING:
    from engine.services import Explanation, Services

EMPTY_VALUE = "(empty)"
EXPRESSION_LINES = 12  # of a CEL source shown under its candidate
CANDIDATE_ROWS = 12  # a candidate's line (its reason) wraps to at most this many rows
OUTCOME_STYLES = {
    "won": "bold green",
    "added": "bold green",
    "rejected": "bold red",
    "lost": "bold yellow",
    "ignored": "dim",
}


class ExplainModal(RosterModal[None]):
    """Loads `services.explain(person, attribute)` in a worker and shows it; esc closes."""

    DEFAULT_CSS = """
    ExplainModal {
        align: center middle;
        & > Vertical {
            width: 110;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & #explain-summary { height: auto; margin-bottom: 1; }
        & #explain-scroll { height: auto; max-height: 20; }
        & #explain-candidates { height: auto; }
        & .explain--hint { height: auto; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,w", "close", "Close"),
    ]

    class Loaded(Message):
        def __init__(self, answer: Explanation) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, services: Services, person: str | int, attribute: str) -> None:
        super().__init__()
        self.services = services
        self.person = person
        self.attribute = attribute

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(f"Why — {safe(self.attribute, 80)}")
            with VerticalScroll(id="explain-scroll"):
                yield Static("Working out why…", id="explain-summary")
                yield Static("", id="explain-candidates")
            yield Static("↑↓ scroll, esc closes.", id="explain-hint", classes="explain--hint")

    def on_mount(self) -> None:
        self.query_one("#explain-scroll").focus()
        self.load()

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False, name="Explaining")
    def load(self) -> None:
        self.post_message(self.Loaded(self.services.explain(self.person, self.attribute)))

    def on_explain_modal_loaded(self, message: ExplainModal.Loaded) -> None:
        answer = message.answer
        summary = Text()
        summary.append("Value: ", style="dim")
        summary.append_text(value(answer.value, style="bold", empty=EMPTY_VALUE))
        summary.append("\nSource: ", style="dim")
        summary.append(safe(answer.source or "none (no source gave a value)"), style="bold cyan")
        if answer.set_at is not None:
            summary.append("   Set: ", style="dim")
            summary.append(format_when(answer.set_at))
        summary.append("\nMode: ", style="dim")
        # the same words as the attribute's editor, so the mode reads as its decision does
        summary.append(safe(MODE_SHORT.get(answer.mode, answer.mode)), style="bold")
        summary.append("\nDecision now: ", style="dim")
        summary.append(safe(answer.reason or "—", lines=True))
        if answer.has_pending:
            summary.append("\nNext sync sets: ", style="dim")
            summary.append_text(value(answer.pending, style="bold yellow", empty=EMPTY_VALUE))
            summary.append(" (what its sources give now)", style="dim")
        if answer.reads_others:  # a sync computes the value again when one of these moves
            summary.append("\nReads: ", style="dim")
            summary.append(safe("; ".join(answer.reads_others[:12]), 600))
            if len(answer.reads_others) > 12:
                summary.append(f"; and {len(answer.reads_others) - 12} more", style="dim")
        self.query_one("#explain-summary", Static).update(summary)
        candidates = answer.candidates
        text = Text()
        text.append(f"Candidates ({len(candidates)})", style="bold")
        for candidate in candidates:
            outcome = candidate.outcome
            text.append("\n• ")
            text.append(safe(candidate.source), style="bold cyan")
            expression = answer.expressions.get(candidate.source)
            text.append("  ")
            text.append(safe(outcome or "—"), style=OUTCOME_STYLES.get(outcome, "bold"))
            if candidate.reason:
                text.append(f" — {safe(candidate.reason)}")
            if expression is not None:
                text.append("\n    CEL", style="dim")
                # line by line (a `//` comment ends at its line), each cut at 80 columns
                lines = expression.strip("\n").split("\n")
                for line in lines[:EXPRESSION_LINES]:
                    text.append("\n      ")
                    text.append_text(clip(line.rstrip(), 70, "magenta"))
                if len(lines) > EXPRESSION_LINES:
                    more = len(lines) - EXPRESSION_LINES
                    text.append(f"\n      … {more} more lines (roster explain shows them)", "dim")
            text.append("\n    value ", style="dim")
            text.append_text(value(candidate.value, empty=EMPTY_VALUE))
            if candidate.direction:
                text.append(" · direction ", style="dim")
                text.append(safe(candidate.direction))
            scores = candidate.scores
            if scores:
                text.append(" · scores ", style="dim")
                text.append(
                    safe("/".join(str(scores.get(k, "—")) for k in ("create", "update", "delete")))
                )
        if not candidates:
            text.append("\nNo source holds a value for this person.", style="dim")
        # a long reason wraps under its candidate's source, not at the left edge
        self.query_one("#explain-candidates", Static).update(Hanging(text, rows=CANDIDATE_ROWS))
        if answer.mode == "authority":
            self.query_one("#explain-hint", Static).update(
                "Scores are create/update/delete (0–100). ↑↓ scroll, esc closes."
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.query_one("#explain-summary", Static).update(
                Text("Roster could not work out why; the error dialog says what failed.", "red")
            )
        super().on_worker_state_changed(event)

    def action_close(self) -> None:
        self.dismiss(None)
