"""One attribute condition of a push rule's filter: an attribute and the values it accepts (a
person matches when their value, or one of their values, is any of them; case is ignored)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Select, Static

from screens.base import RosterModal
from screens.text import plain, safe
from screens.widgets.text_input import TextInput


def split_values(text: str) -> list[str]:
    """ "ACTIVE, LEAVE" -> ["ACTIVE", "LEAVE"]: comma-separated, blanks dropped, order kept."""
    values: list[str] = []
    for part in text.split(","):
        value = part.strip()
        if value and value not in values:
            values.append(value)
    return values


class FilterAttributeModal(RosterModal["tuple[str, list[str]] | None"]):
    """Returns (attribute, accepted values), or None when cancelled."""

    DEFAULT_CSS = """
    FilterAttributeModal {
        align: center middle;
        & > Vertical {
            width: 80;
            max-width: 100%;
            height: auto;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & Horizontal { height: auto; }
        & Horizontal > Static { width: 10; }
        & Horizontal > Select, & Horizontal > Input { width: 1fr; }
        & .filter--hint { height: auto; color: $text-muted; }
        & .filter--error { height: auto; color: $text-error; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "done", "Done", priority=True, tooltip="Keep this condition"),
        Binding("escape", "cancel", "Cancel", tooltip="Close without changing the filter"),
    ]

    def __init__(
        self, attributes: list[str], name: str | None, values: list[str], taken: list[str]
    ) -> None:
        super().__init__()
        self.attributes = attributes
        self.attribute = name
        self.values = values
        self.taken = [t.casefold() for t in taken]

    def compose(self) -> ComposeResult:
        options = [(plain(a), a) for a in self.attributes]
        if self.attribute is not None and self.attribute not in self.attributes:
            options.append((plain(f"{self.attribute} (not configured)"), self.attribute))
        with Vertical() as box:
            box.border_title = "Attribute condition of the filter"
            box.border_subtitle = "ctrl+s done · esc cancel"
            with Horizontal():
                yield Static("Attribute")
                yield Select(
                    options,
                    value=self.attribute if self.attribute is not None else Select.NULL,
                    prompt="choose an attribute",
                    compact=True,
                    id="filter-attribute",
                )
            with Horizontal():
                yield Static("Values")
                yield TextInput(
                    ", ".join(self.values),
                    placeholder="accepted values, comma-separated: ACTIVE, LEAVE",
                    compact=True,
                    id="filter-values",
                )
            yield Static(
                Text(
                    "A person matches when their value is any of these (case is ignored). "
                    "A value holding a comma: use roster config set.",
                    style="dim",
                ),
                classes="filter--hint",
            )
            yield Static("", classes="filter--error", id="filter-error")

    def on_mount(self) -> None:
        self.query_one("#filter-attribute", Select).focus()

    @on(Input.Submitted, "#filter-values")
    def _submitted(self) -> None:
        self.action_done()

    def action_done(self) -> None:
        error = self.query_one("#filter-error", Static)
        name = self.query_one("#filter-attribute", Select).value
        values = split_values(self.query_one("#filter-values", Input).value)
        if not isinstance(name, str):
            error.update("Choose the attribute the filter looks at.")
            return
        if name.casefold() in self.taken and name != self.attribute:
            error.update(plain(f"The filter has a condition on {name} already: edit that one."))
            return
        if not values:
            error.update(plain(f"Give the values of {safe(name)} that select a person."))
            self.query_one("#filter-values", Input).focus()
            return
        self.dismiss((name, values))

    def action_cancel(self) -> None:
        self.dismiss(None)
