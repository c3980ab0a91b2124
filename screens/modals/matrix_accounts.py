"""The accounts behind a match-matrix number (ambiguous, unmatched, unowned), a page at a time,
each with the reason; from a row the admin links the account to a person (search, confirm,
optionally pin), after which the numbers are counted again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from screens.base import RosterModal, role_permits
from screens.modals.link_person import LinkPersonModal
from screens.modals.record_picker import RecordPicker
from screens.text import clip, safe

if TYPE_CHECKING:
    from engine.services import MatrixListing, MatrixRow, RecordRef, Services

PAGE = 50

KIND_WORDS = {
    "ambiguous": "ambiguous (several people found)",
    "unmatched": "unmatched (no rule found anyone)",
    "unowned": "unowned (no owner found)",
}


class MatrixAccountsModal(RosterModal[None]):
    """A paged list of accounts with the reason; `l` (or enter) links one to a person."""

    DEFAULT_CSS = """
    MatrixAccountsModal {
        align: center middle;
        & > Vertical {
            width: 100%;
            max-width: 140;
            height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & DataTable { height: 1fr; }
        & .accounts--status { height: auto; max-height: 3; }
        & .accounts--reason { height: auto; max-height: 3; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "link", "Link", tooltip="Link the highlighted account to a person"),
        Binding("n", "page(1)", "Next page", tooltip="Show the next page of accounts"),
        Binding("p", "page(-1)", "Previous page", tooltip="Show the previous page"),
        Binding("escape", "close", "Close", tooltip="Back to the match matrix"),
    ]

    class PageLoaded(Message):
        def __init__(self, offset: int, listing: MatrixListing) -> None:
            super().__init__()
            self.first = offset
            self.listing = listing

    class Linked(Message):
        def __init__(self, done: str) -> None:
            super().__init__()
            self.done = done

    def __init__(
        self,
        services: Services,
        owner: Any,
        kind: str,
        app: str | None,
        rule: str | None = None,
        config: Any = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.owner = owner  # the screen: told when a link changed the numbers
        self.kind = kind
        self.app_id = app
        self.rule = rule
        self.config = config
        self.first = 0
        self.total: int | None = None
        self.rows: list[MatrixRow] = []

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            title = Text(f"Accounts {KIND_WORDS.get(self.kind, self.kind)}")
            title.append(f" · {safe(self.app_id, 40)}" if self.app_id else " · every app")
            if self.rule:
                title.append(f" · rule {safe(self.rule, 40)}")
            box.border_title = title
            box.border_subtitle = (
                "l link · n/p page · esc close" if self.may_link() else "n/p page · esc close"
            )
            table: DataTable[Any] = DataTable(id="accounts-table", cursor_type="row")
            table.add_column("Account", key="key")
            table.add_column("Name", key="label")
            table.add_column("Why", key="reason")
            yield table
            yield Static("", classes="accounts--reason", id="accounts-reason")
            yield Static("Reading the accounts…", classes="accounts--status", id="accounts-status")

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load(self.first)

    @work(
        thread=True,
        exclusive=True,
        group="accounts-page",
        exit_on_error=False,
        name="Listing the accounts",
    )
    def load(self, offset: int) -> None:
        listing = self.services.matrix_accounts(
            self.kind,  # type: ignore[arg-type]
            self.app_id,
            rule=self.rule,
            config=self.config,
            offset=offset,
            limit=PAGE,
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self.PageLoaded(offset, listing))

    def on_matrix_accounts_modal_page_loaded(self, message: MatrixAccountsModal.PageLoaded) -> None:
        listing = message.listing
        if message.first and message.first >= listing.total and listing.total:
            # the last page emptied (an account was linked): show the page before it
            self.first = max(0, ((listing.total - 1) // PAGE) * PAGE)
            self.load(self.first)
            return
        self.first = message.first
        self.total = listing.total
        self.rows = list(listing.rows)
        table = self.query_one(DataTable)
        row = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for index, item in enumerate(self.rows):
                table.add_row(
                    clip(item.key, 30),
                    clip(item.label, 22),
                    clip(item.reason, 200),
                    key=str(index),
                )
        if self.rows:
            table.move_cursor(row=min(max(row, 0), len(self.rows) - 1))
        status = Text()
        if not listing.total:
            status.append("No accounts: nothing to resolve here.", style="green")
        else:
            first, last = self.first + 1, self.first + len(self.rows)
            status.append(f"{first:,}–{last:,} of {listing.total:,}", style="bold")
            if self.may_link():
                status.append(" · l links the highlighted account to a person", style="dim")
        self.query_one("#accounts-status", Static).update(status)
        self._highlighted()
        self.refresh_bindings()

    def action_page(self, step: int) -> None:
        if self.total is None:
            return
        offset = self.first + step * PAGE
        if 0 <= offset < self.total:
            self.load(offset)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        account = self.selected()
        reason = Text()
        if account is not None:
            reason.append(safe(account.key, 60), style="bold")
            if account.label:
                reason.append(f" ({safe(account.label, 80)})")
            reason.append(": ")
            reason.append(safe(account.reason, 400))
        self.query_one("#accounts-reason", Static).update(reason)

    # Linking ------------------------------------------------------------------------------

    def selected(self) -> MatrixRow | None:
        row = self.query_one(DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    @on(DataTable.RowSelected)
    def _chosen(self) -> None:
        self.action_link()

    def action_link(self) -> None:
        account = self.selected()
        if account is None:
            return

        def person_chosen(person: RecordRef | None) -> None:
            if person is not None:
                self.confirm_link(account, person)

        self.app.push_screen(RecordPicker(self.services, "user"), person_chosen)

    def confirm_link(self, account: MatrixRow, person: RecordRef) -> None:
        text = Text("Link ")
        text.append(safe(account.key, 80), style="bold")
        if account.label:
            text.append(f" ({safe(account.label, 60)})")
        text.append(" to ")
        text.append(safe(person.label, 80), style="bold")
        text.append(".\n")
        text.append(f"Now: {safe(account.reason, 120)}", style="dim")

        def confirmed(pin: bool | None) -> None:
            if pin is not None:
                self.link(account.key, person.id, pin, person.label)

        self.app.push_screen(LinkPersonModal(text), confirmed)

    @work(
        thread=True,
        exclusive=True,
        group="accounts-link",
        exit_on_error=False,
        name="Linking the account",
    )
    def link(self, key: str, person: int, pin: bool, label: str) -> None:
        self.services.set_link(key, person, pin=pin)
        pinned = " (pinned)" if pin else " (the next sync's rules may change it)"
        self.post_message(self.Linked(f"Linked {key} to {label}{pinned}."))

    def on_matrix_accounts_modal_linked(self, message: MatrixAccountsModal.Linked) -> None:
        self.app.notify(message.done, title="Saved")
        changed = getattr(self.owner, "accounts_changed", None)
        if changed is not None:
            changed()
        self.load(self.first)

    def action_close(self) -> None:
        self.dismiss(None)

    def may_link(self) -> bool:
        return role_permits(self, {"link": "admin"}, "link")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "link":
            return bool(self.rows) and self.may_link()
        if action == "page":
            step = parameters[0] if parameters and isinstance(parameters[0], int) else 0
            if self.total is None:
                return False
            offset = self.first + step * PAGE
            return True if 0 <= offset < self.total else None
        return True
