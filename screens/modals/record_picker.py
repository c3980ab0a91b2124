"""Choose the user or account a preview runs against: type to search, enter to choose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from screens.base import RosterModal
from screens.text import plain, safe
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from engine.services import RecordRef, Services


class RecordPicker(RosterModal["RecordRef | None"]):
    """Search users or accounts and return the chosen `RecordRef` (None when cancelled)."""

    DEFAULT_CSS = """
    RecordPicker {
        align: center middle;
        & > Vertical {
            width: 90;
            max-width: 100%;
            height: 80%;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & OptionList { height: 1fr; }
        & .picker--status { height: 1; color: $text-muted; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "focus_list", "List", show=False),
    ]

    class Found(Message):
        def __init__(self, query: str, refs: list[RecordRef]) -> None:
            super().__init__()
            self.query = query
            self.refs = refs

    def __init__(self, services: Services, kind: str, limit: int = 50) -> None:
        super().__init__()
        self.services = services
        self.kind = kind
        self.limit = limit
        self.refs: list[RecordRef] = []
        self.answered: str | None = None  # the search the list shows the answer to
        # enter pressed before the search answered: choose its first match when it does
        self.choose_first = False

    def compose(self) -> ComposeResult:
        noun = "user" if self.kind == "user" else "account"
        with Vertical() as box:
            box.border_title = f"Choose {'a user' if noun == 'user' else 'an account'}"
            yield TextInput(
                placeholder=f"Search {noun}s by name, email or id",
                id="record-search",
            )
            yield OptionList(id="record-list")
            yield Static("Searching…", classes="picker--status", id="record-status")

    def on_mount(self) -> None:
        self.query_one("#record-search", Input).focus()
        self.search("")

    @on(Input.Changed, "#record-search")
    def _query_changed(self, event: Input.Changed) -> None:
        self.choose_first = False
        # the list shown answers an earlier search until this one answers: never its count
        self.query_one("#record-status", Static).update("Searching…")
        self.search(event.value)

    @work(
        thread=True,
        exclusive=True,
        group="record-search",
        exit_on_error=False,
        name="Searching records",
    )
    def search(self, query: str) -> None:
        refs = self.services.find_records(self.kind, query, limit=self.limit)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Found(query, refs))

    def on_record_picker_found(self, message: RecordPicker.Found) -> None:
        if message.query != self.query_one("#record-search", Input).value:
            return  # the answer to an earlier search, posted before it was cancelled
        self.refs, self.answered = message.refs, message.query
        options = self.query_one("#record-list", OptionList)
        options.clear_options()
        for index, ref in enumerate(message.refs):
            label = plain(ref.label, limit=200)
            if ref.detail:
                label.append("  " + safe(ref.detail, 100), style="dim")
            if ref.kind == "account":  # whose it is now: linking takes it from them
                owner = f"linked to {safe(ref.owner, 100)}" if ref.owner else "no owner"
                label.append(f"  ({owner})", style="dim" if not ref.owner else "yellow")
            options.add_option(Option(label, id=str(index)))
        if message.refs:
            options.highlighted = 0
        count = len(message.refs)
        status = self.query_one("#record-status", Static)
        if count == 0:
            status.update(
                Text(f"Nothing matches “{safe(message.query, 60)}”.")
                if message.query
                else Text("No records.")
            )
        elif count >= self.limit:
            status.update(
                f"First {count} matches; type more to narrow. enter chooses, esc cancels."
            )
        else:
            status.update(
                Text(f"{count} match{'es' if count != 1 else ''}. enter chooses, esc cancels.")
            )
        if self.choose_first:
            self.choose_first = False
            if self.is_current:  # else the admin went elsewhere meanwhile: nothing is chosen
                self._choose(0)

    def _answered(self) -> bool:
        """Whether the list answers what the search box says; if not, enter waits for the
        answer and then chooses its first match (never a record of the earlier search)."""
        query = self.query_one("#record-search", Input).value
        if query == self.answered:
            return True
        status = self.query_one("#record-status", Static)
        if query.strip():
            self.choose_first = True
            status.update("Searching…; the first match will be chosen.")
        else:  # nothing asked yet: no first match to take unseen
            status.update("Still listing the records…")
        return False

    @on(Input.Submitted, "#record-search")
    def _submitted(self) -> None:
        if not self._answered():
            return
        options = self.query_one("#record-list", OptionList)
        if self.refs:
            self._choose(options.highlighted or 0)

    @on(OptionList.OptionSelected, "#record-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if self._answered():
            self._choose(event.option_index)

    def _choose(self, index: int) -> None:
        if 0 <= index < len(self.refs):
            self.close(self.refs[index])

    def action_focus_list(self) -> None:
        self.query_one("#record-list", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        if action == "focus_list":
            return isinstance(self.focused, Input)
        return True
