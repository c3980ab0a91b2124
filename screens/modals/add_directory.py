"""Choose the app a new directory reads: only apps that have accounts and are not directories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from screens.base import RosterModal
from screens.text import safe


@dataclass(frozen=True)
class AppChoice:
    id: str
    name: str
    accounts: int


class AddDirectoryModal(RosterModal["str | None"]):
    """Returns the chosen app's id, or None when cancelled."""

    DEFAULT_CSS = """
    AddDirectoryModal {
        align: center middle;
        & > Vertical {
            width: 70;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & .add-directory--intro { height: auto; margin-bottom: 1; }
        & OptionList { height: auto; max-height: 12; }
        & .add-directory--hint { height: auto; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without adding a directory"),
    ]

    def __init__(self, choices: list[AppChoice]) -> None:
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Add a directory"
            yield Static(
                "A directory's accounts become people (its filter decides which). Apps that "
                "have accounts and are not directories yet:",
                classes="add-directory--intro",
                markup=False,
            )
            options = OptionList(id="add-directory-apps")
            for choice in self.choices:
                label = Text()
                label.append(safe(choice.id, 40), style="bold")
                label.append(f"  {safe(choice.name, 40)}")
                label.append(f"  {choice.accounts:,} accounts", style="dim")
                options.add_option(Option(label, id=choice.id))
            yield options
            yield Static(
                "enter chooses (you write its filter and see the impact before saving), "
                "esc cancels",
                classes="add-directory--hint",
                markup=False,
            )

    def on_mount(self) -> None:
        options = self.query_one("#add-directory-apps", OptionList)
        options.focus()
        if self.choices:
            options.highlighted = 0

    @on(OptionList.OptionSelected, "#add-directory-apps")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
