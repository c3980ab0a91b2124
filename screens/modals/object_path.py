"""Ask which configuration object to open in $EDITOR (an object path, docs/configuration.md)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from screens.base import DismissOnce
from screens.text import plain
from screens.widgets.text_input import TextInput

EXAMPLES = (
    "Object paths name objects by their keys, e.g.\n"
    "  directories.hr   directories.hr.filter   directories.hr.merge_rules\n"
    "  apps.github.ownership   attributes.department.sources\n"
    "  push_rules.ad-core.condition   settings\n"
    "Leave it empty for the whole configuration."
)


class ObjectPathModal(DismissOnce, ModalScreen["str | None"]):
    """Returns the path typed (empty = the whole configuration), or None on cancel (esc)."""

    DEFAULT_CSS = """
    ObjectPathModal {
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
        & .object-path--examples { height: auto; color: $text-muted; margin: 1 0 0 0; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without opening anything"),
    ]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Edit a configuration object in $EDITOR"
            yield TextInput(self.path, placeholder="directories.hr", id="object-path")
            yield Static(plain(EXAMPLES, lines=True), classes="object-path--examples")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
