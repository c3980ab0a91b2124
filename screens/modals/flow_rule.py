"""Add or edit one flow rule of an attribute (docs/attributes.md): the app, the direction (inbound,
outbound, bidirectional, disabled) and the create, update and delete scores (0-100).

The dialog returns the rule's document; the attribute editor holds it until the attribute is
saved and shows, meanwhile, whose values and pushes the change would move.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Select, Static

from screens.attribute_text import DEFAULT_SCORE, DIRECTION_WORDS, DIRECTIONS, SCORES
from screens.base import RosterModal
from screens.text import plain, safe
from screens.widgets.text_input import TextInput


def score_problem(kind: str, text: str) -> str | None:
    """Why TEXT is not a score, or None."""
    text = text.strip()
    if not text:
        return f"{kind}: type a score from 0 to 100 (50 is the default)."
    if not text.isdigit() or not 0 <= int(text) <= 100:
        return f"{kind}: {safe(text, 20)} is not a score; type a whole number from 0 to 100."
    return None


class FlowRuleModal(RosterModal["dict[str, Any] | None"]):
    """Returns the flow rule's document, or None when cancelled."""

    DEFAULT_CSS = """
    FlowRuleModal {
        align: center middle;
        & > Vertical {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & Horizontal { height: auto; }
        & .flow--label { width: 12; padding: 0 1 0 0; }
        & Select { width: 1fr; }
        & Input { width: 10; }
        & .flow--words { height: auto; color: $text-muted; margin-bottom: 1; }
        & .flow--error { height: auto; color: $text-error; display: none; }
        & .flow--error.-visible { display: block; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "done", "Use", priority=True, tooltip="Use this flow rule"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing the rule"),
    ]

    def __init__(self, *, attribute: str, rule: dict[str, Any] | None, apps: list[str]) -> None:
        super().__init__()
        self.attribute = attribute
        self.rule = dict(rule) if rule else None
        self.apps = apps  # the apps a new rule may name (those without one yet)

    def compose(self) -> ComposeResult:
        rule = self.rule or {}
        with Vertical() as box:
            verb = "Edit the flow rule" if self.rule else "Add a flow rule"
            box.border_title = Text(f"{verb} · {safe(self.attribute, 50)}")
            box.border_subtitle = "ctrl+s use · esc cancel"
            with Horizontal():
                yield Static("App", classes="flow--label")
                if self.rule:
                    yield Static(plain(rule.get("app", ""), "bold"), id="flow-app-name")
                else:
                    yield Select(
                        [(safe(app, 40), app) for app in self.apps],
                        value=self.apps[0] if self.apps else Select.NULL,
                        allow_blank=not self.apps,
                        compact=True,
                        id="flow-app",
                    )
            with Horizontal():
                yield Static("Direction", classes="flow--label")
                direction = rule.get("direction", "inbound")
                yield Select(
                    [(d, d) for d in DIRECTIONS],
                    value=direction if direction in DIRECTIONS else "inbound",
                    allow_blank=False,
                    compact=True,
                    id="flow-direction",
                )
            yield Static("", classes="flow--words", id="flow-words")
            for kind in SCORES:
                with Horizontal():
                    yield Static(kind.capitalize(), classes="flow--label")
                    yield TextInput(
                        str(rule.get(kind, DEFAULT_SCORE)),
                        compact=True,
                        id=f"flow-{kind}",
                    )
            yield Static("", classes="flow--error", id="flow-error")

    def on_mount(self) -> None:
        self.show_words()
        self.query_one("#flow-direction", Select).focus()

    @on(Select.Changed, "#flow-direction")
    def _direction_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.show_words()

    def show_words(self) -> None:
        direction = self.direction
        words = Text(f"{direction}: {DIRECTION_WORDS.get(direction, '')}.")
        words.append(
            "\nScores: create wins among the sources when the person has no value yet; a "
            "change wins with an update score at least that of the source that set the value; "
            "a removal clears it with a delete score at least that.",
            style="dim",
        )
        self.query_one("#flow-words", Static).update(words)

    @property
    def direction(self) -> str:
        value = self.query_one("#flow-direction", Select).value
        return value if isinstance(value, str) else "inbound"

    def document(self) -> dict[str, Any] | None:
        """The rule, or None after showing why it cannot be used."""
        if self.rule:
            app = str(self.rule.get("app", ""))
        else:
            value = self.query_one("#flow-app", Select).value
            if not isinstance(value, str):
                self.show_error("Every configured app already has a flow rule here.")
                return None
            app = value
        rule: dict[str, Any] = {"app": app, "direction": self.direction}
        for kind in SCORES:
            text = self.query_one(f"#flow-{kind}", Input).value
            problem = score_problem(kind.capitalize(), text)
            if problem is not None:
                self.show_error(problem)
                self.query_one(f"#flow-{kind}", Input).focus()
                return None
            rule[kind] = int(text.strip())
        return rule

    def show_error(self, text: str) -> None:
        view = self.query_one("#flow-error", Static)
        view.update(plain(text, lines=True))
        view.add_class("-visible")

    def action_done(self) -> None:
        rule = self.document()
        if rule is not None:
            self.dismiss(rule)

    def action_cancel(self) -> None:
        self.dismiss(None)
