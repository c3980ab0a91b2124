"""Users: find a person, read their core fields, attributes (with "why") and linked accounts,
and link, unlink or pin accounts.

Every manual decision asks first, saying what will happen, and is pinned: the rules of later
syncs leave a pinned link (or a pinned unlink) alone until an admin unpins it.
"""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, get_current_worker

from engine.errors import InvalidInput, RosterError
from engine.records import LINK_KINDS, link_label, link_meaning
from screens.base import RosterScreen
from screens.modals.confirm import ConfirmModal
from screens.modals.explain import ExplainModal
from screens.modals.link_account import LinkAccountModal
from screens.modals.text_view import TextViewModal
from screens.text import clip, middle, plain, safe, value
from screens.widgets.fit import Fit, natural_width
from screens.widgets.hanging import Hanging
from screens.widgets.plan_tree import plural
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from engine.records import AccountRecord
    from engine.services import LinkedAccount, RecordRef, Services, UserDetail

SEARCH_LIMIT = 100
#: The most characters of a name a result row holds; the row ellipsises to its width anyway.
ROW_CHARS = 200
#: The attributes' Value column: as wide as its values (up to VALUE_MAX) when the sources fit
#: beside them; on a narrow terminal down to VALUE_WIDTH, then the sources shorten
#: (hr:…department), then down to VALUE_MIN.
VALUE_WIDTH = 22
VALUE_MAX = 40
VALUE_MIN = 12
DEBOUNCE = 0.25
DIRECTORY_LINKS = ("directory-create", "directory-match")
NEXT_SYNC = "What else follows (other accounts, attributes, pushes) comes with the next sync (8)."
PIN_NOTE = (
    "Manual links are pinned: syncs leave them alone until you unpin (p) and hand them back "
    "to the rules."
)
#: (column, narrowest width) of the accounts table, in the order they narrow to fit.
ACCOUNT_SHRINK = ((6, len("Entitlements")), (5, 8), (6, 6))
#: The accounts table's columns kept however narrow the screen (App … Pinned).
ACCOUNT_KEPT = 5
#: The narrowest the accounts table's Account id column gets (a longer id loses its middle).
ACCOUNT_ID_NARROWEST = 12
SHORT_PIN_NOTE = "Manual links are pinned: syncs leave them alone."

#: Lines of a link's impact its confirmation shows (the CLI's `--dry-run` shows them all).
LINK_IMPACT_LINES = 8


def result_labels(refs: list[RecordRef]) -> list[Text]:
    """A row of the search results for each person: their name (and status unless enabled);
    a name that more than one of them has gets a dim second row telling them apart, the local
    part of their email (the whole email if that repeats too, the person's id with none)."""
    split = []
    for ref in refs:
        name, _, email = ref.label.partition(" <")  # "Name <email>"
        split.append((name, email.removesuffix(">")))
    names = Counter(name.casefold() for name, _ in split)
    locals_ = Counter((name.casefold(), email.partition("@")[0]) for name, email in split)
    labels = []
    for ref, (name, email) in zip(refs, split, strict=True):
        label = plain(name, limit=ROW_CHARS)
        if ref.detail and ref.detail != "ENABLED":
            label.append(f" {safe(ref.detail, ROW_CHARS)}", style="yellow")
        if names[name.casefold()] > 1:
            local = email.partition("@")[0]
            tell = local if locals_[(name.casefold(), local)] == 1 else email
            label.append(f"\n  {safe(tell or f'person {ref.id}', ROW_CHARS)}", style="dim")
        labels.append(label)
    return labels


#: Rows one line of a link's message may wrap to (a changed value is bounded to 200 characters)
LINK_LINE_ROWS = 8


def impact_text(text: Text, impact: Any, command: str) -> None:
    """What a link or an unlink changes beyond its account (engine LinkImpact), onto TEXT:
    LINK_IMPACT_LINES of it, then where the rest is (COMMAND)."""
    if impact.quiet:
        text.append("\n\nNothing else changes: no other account, person or value.")
        return
    text.append("\n\nIt also changes, at the next sync:", style="bold yellow")
    lines = impact.lines()
    for line in lines[:LINK_IMPACT_LINES]:
        text.append("\n  ")
        text.append(safe(line, 200))
    if len(lines) > LINK_IMPACT_LINES:
        more = len(lines) - LINK_IMPACT_LINES
        text.append(f"\n  … and {more} more ({safe(command, 200)})", style="dim")


def hanging(text: Text) -> Hanging:
    """A link's or an unlink's message: each changed value wraps under itself, not at the
    dialog's left edge ("manager_email: linda.carter@example.com →" then "—" below)."""
    return Hanging(text, indent=4, rows=LINK_LINE_ROWS, edge_indent=0)


def short_source(source: str) -> str:
    """A source for a narrow column: each `app:field.path` keeps its app and the last part of
    the path ("hr:profile.department" → "hr:…department"); anything else stays as it is."""
    parts = []
    for part in source.split(","):
        app, colon, path = part.partition(":")
        if colon and "." in path and " " not in part:
            part = f"{app}:…{path.rsplit('.', 1)[1]}"
        parts.append(part)
    return ",".join(parts)


def value_width(free: int, values: int, sources: int, short_sources: int) -> int:
    """The attributes' Value column when `free` cells are left for it and the Source column:
    what the values need (`values`, at most VALUE_MAX) if the sources fit beside them, else
    down to VALUE_WIDTH; then the sources take their short form and the values go down to
    VALUE_MIN."""
    if values + sources <= free:
        return values
    if min(values, VALUE_WIDTH) + sources <= free:
        return free - sources
    return max(min(values, free - short_sources), min(values, VALUE_MIN))


def held_source(accounts: tuple[str, ...]) -> Text:
    """The source cell of a value the last sync held: its source account is gone, the value
    stays until a sync with --allow-deletes (or the confirmation's box) clears it."""
    return plain(f"held: {', '.join(accounts)} gone", style="bold yellow")


class UsersScreen(RosterScreen):
    """Search people; a person's attributes, "why", and linked accounts; link, unlink, pin."""

    TITLE_TEXT = "Users"
    CSS_PATH = Path(__file__).with_name("users.tcss")
    AUTO_FOCUS = "#users-search"

    NEEDS: ClassVar[dict[str, str]] = {"link": "admin", "unlink": "admin", "pin": "admin"}
    BINDINGS: ClassVar[list[BindingType]] = [
        # / stays out of the footer (in help and the palette) so the global keys fit at 80 columns
        Binding(
            "slash",
            "search",
            "Search",
            show=False,
            tooltip="Put the cursor in the search field",
        ),
        Binding(
            "escape", "leave_search", "Results", tooltip="Leave the search field for the results"
        ),
        Binding("down", "leave_search", "Results", show=False),
        Binding(
            "w",
            "why",
            "Why",
            tooltip="Why the highlighted attribute has its value: source and every candidate",
        ),
        Binding("u", "unlink", "Unlink", tooltip="Unlink the highlighted account (asks first)"),
        Binding(
            "p",
            "pin",
            "Pin/unpin",
            tooltip="Pin the highlighted account's link, or hand it back to the rules (asks first)",
        ),
        Binding(
            "v",
            "view_account",
            "View account",
            show=False,
            tooltip="The highlighted account whole: a long id is cut in the table and its border",
        ),
        Binding(
            "l",
            "link",
            "Link",
            tooltip="Link another account (APP:EXTERNAL_ID) to this person (asks first)",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        (
            "",
            "The search takes a name or email, and has:APP (a live account in APP), no:APP "
            "(no linked account there; an unowned one may still exist), status:disabled, as "
            "in “no:slack status:enabled”",
        ),
        ("enter", "On an attribute: why it has its value (same as w)"),
        ("tab", "Move between search, results, attributes and accounts"),
        *(("", f"Linked by {link_meaning(kind)}.") for kind in LINK_KINDS),
        ("", PIN_NOTE),
    ]

    class Found(Message):
        def __init__(
            self, query: str, refs: list[RecordRef], keep: bool = False, problem: str = ""
        ) -> None:
            super().__init__()
            self.query = query
            self.refs = refs
            self.keep = keep  # a reload: keep the person shown if they are still found
            self.problem = problem  # why the search could not be made (an unknown app)

    class DetailLoaded(Message):
        def __init__(self, detail: UserDetail) -> None:
            super().__init__()
            self.detail = detail

    class LinkChecked(Message):
        """The account the admin typed, the email of its current owner (if any), and what
        else the link would change (engine LinkImpact)."""

        def __init__(self, account: AccountRecord, owner: str | None, impact: Any) -> None:
            super().__init__()
            self.account = account
            self.owner = owner
            self.impact = impact

    class UnpinChecked(Message):
        """The pinned account to release and what unpinning it would change (engine
        LinkImpact, `after` the owner the rules would give it), or None."""

        def __init__(self, account: Any, impact: Any) -> None:
            super().__init__()
            self.account = account
            self.impact = impact

    class UnlinkChecked(Message):
        """The account to unlink (as the person's detail lists it) and what else unlinking it
        would change (engine LinkImpact), or None when that could not be worked out."""

        def __init__(self, account: Any, impact: Any) -> None:
            super().__init__()
            self.account = account
            self.impact = impact

    class Done(Message):
        def __init__(self, what: str) -> None:
            super().__init__()
            self.what = what

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.refs: list[RecordRef] = []
        self.detail: UserDetail | None = None
        self._debounce: Timer | None = None
        self._want: int | None = None  # the person whose detail is loading
        # / was typed and the search has not had the focus yet: the keys typed meanwhile are
        # the search's, not the table's (on_key)
        self._search_pending = False
        # l was typed and its dialog is not open yet: the keys typed meanwhile are its field's
        self._link_typed: list[events.Key] | None = None
        self._found_for: str | None = None  # the search whose results are listed
        self._submit_when_found = False  # enter came before them
        self._widths: dict[str, tuple[int | None, ...]] = {}  # the fitted columns, by table
        self._ids_cut = False  # the accounts table shows some account id cut short

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="users-body"):
            with Vertical(id="users-left"):
                yield TextInput(placeholder="Name or email", id="users-search")
                yield OptionList(id="users-results")
                yield Static("Searching…", id="users-count")
            with Vertical(id="users-right"):
                yield Static("Search for a person on the left.", id="users-person")
                attributes: DataTable[Any] = DataTable(id="users-attributes", cursor_type="row")
                self.add_columns(attributes, self.ATTRIBUTE_COLUMNS, None)
                attributes.border_title = "Attributes — enter or w: why"
                yield attributes
                accounts: DataTable[Any] = DataTable(id="users-accounts", cursor_type="row")
                self.add_columns(accounts, self.ACCOUNT_COLUMNS, None)
                accounts.border_title = self.accounts_title()
                yield accounts
                yield Static(SHORT_PIN_NOTE, id="users-note")
        yield Footer()

    def accounts_title(self) -> str:
        if self.permits("link"):
            return "Linked accounts — u unlink · p pin · l add one"
        return "Linked accounts — v shows one whole"

    def role_changed(self) -> None:
        self.query_one("#users-accounts", DataTable).border_title = self.accounts_title()

    def on_mount(self) -> None:
        self.search("")

    # Search -------------------------------------------------------------------------------

    @on(Input.Changed, "#users-search")
    def _query_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value
        self._debounce = self.set_timer(DEBOUNCE, lambda: self.search(value))

    @work(thread=True, exclusive=True, group="users-search", exit_on_error=False, name="Searching")
    def search(self, query: str, keep: bool = False) -> None:
        try:
            refs = self.services.find_records("user", query, limit=SEARCH_LIMIT)
        except InvalidInput as exc:  # "no:sla" while "no:slack" is being typed: no dialog
            if not get_current_worker().is_cancelled:
                self.post_message(self.Found(query, [], keep, problem=str(exc)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Found(query, refs, keep))

    def reload(self) -> None:
        """The store changed (a sync, a decision): search again and show the same person's
        current values."""
        self.search(self.query_one("#users-search", Input).value, keep=True)

    def on_users_screen_found(self, message: UsersScreen.Found) -> None:
        if message.query != self.query_one("#users-search", Input).value:
            return  # an older query; the newer one is on its way
        self.refs = message.refs
        self._found_for = message.query
        if self._submit_when_found:
            self._submit_when_found = False
            self.call_after_refresh(self._submitted)
        options = self.query_one("#users-results", OptionList)
        options.clear_options()
        for index, label in enumerate(result_labels(message.refs)):
            options.add_option(Option(label, id=str(index)))
        count = self.query_one("#users-count", Static)
        found = len(message.refs)
        count.set_class(bool(message.problem), "-problem")
        if message.problem:
            count.update(plain(message.problem, style="yellow"))
        elif not found:
            count.update(
                Text(f"Nobody matches “{safe(message.query)}”.")
                if message.query
                else Text("No people.")
            )
        elif found >= SEARCH_LIMIT:  # the line is 20 characters wide at 80 columns
            count.update(Text(f"First {found}: type more"))
        else:
            count.update(Text(f"{found} {'person' if found == 1 else 'people'}. ↓ to pick"))
        if not message.refs:
            # nobody matches: show nobody, so unlink/pin/link cannot act on a person that the
            # search no longer shows
            self.detail = None
            self._want = None
            self.sub_title = self.TITLE_TEXT  # the header named the person no longer shown
            with self.app.batch_update():
                self.query_one("#users-person", Static).update(
                    Text("Nobody to show: change the search on the left.", style="dim")
                )
                self.query_one("#users-attributes", DataTable).clear()
                self.query_one("#users-accounts", DataTable).clear()
                self.show_entitlements()  # its border named the last person's grants
                self.show_source()
            self.refresh_bindings()
            return
        ids = [ref.id for ref in message.refs]
        if message.keep and self._want in ids:
            assert self._want is not None
            index = ids.index(self._want)
            options.highlighted = index
            self.load_person(self._want)  # the same person, read again
        else:
            options.highlighted = 0
            self.load_person(message.refs[0].id)

    @on(OptionList.OptionHighlighted, "#users-results")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        index = event.option_index
        if 0 <= index < len(self.refs) and self.refs[index].id != self._want:
            self.load_person(self.refs[index].id)

    @on(OptionList.OptionSelected, "#users-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#users-attributes").focus()

    @on(Input.Submitted, "#users-search")
    def _submitted(self) -> None:
        if self._found_for != self.query_one("#users-search", Input).value:
            # typed faster than the search: go on once the results of what was typed are in
            self._submit_when_found = True
            return
        # one person found: straight to their attributes (↑↓ then move there), else the list
        if len(self.refs) == 1:
            self.query_one("#users-attributes").focus()
        elif self.refs:
            self.query_one("#users-results").focus()

    def action_search(self) -> None:
        self.query_one("#users-search", Input).focus()

    def _type_into_search(self, event: events.Key, search: Input) -> None:
        """A key typed after / and before the search has the focus: it goes to the search as
        if the focus had been there (a new search: the first letter replaces the old one)."""
        if event.key not in ("enter", "backspace") and not event.is_printable:
            self._search_pending = False  # tab, esc, arrows: the admin went elsewhere
            return
        event.stop()
        event.prevent_default()
        if search.select_on_focus:  # the first key: it replaces the search, as / selected it
            search.select_on_focus = False
            search.value = ""
        if event.key == "enter":
            search.post_message(Input.Submitted(search, search.value))
        elif event.key == "backspace":
            search.value = search.value[:-1]
        else:
            search.insert_text_at_cursor(event.character or "")

    def on_key(self, event: events.Key) -> None:
        """Typing in the results list goes on with the search: a name typed there went letter by
        letter to the list, its l opened the link dialog, its q quit (newcomer and hostile
        reviews). Every printable character but the screen numbers and ? goes on the end of
        the search, backspace shortens it: a stray key is undone as in the field itself (it
        replaced the search, which was then lost); w u p l act from the attributes and the
        accounts."""
        search = self.query_one("#users-search", Input)
        if event.key == "slash" and self.focused is not search:
            # the binding moves the focus after the keys already typed have passed here: the
            # next ones are the search's from now (a / and a name in one burst pinned and linked)
            self._search_pending = True
            return
        if self._search_pending and self.focused is not search:
            self._type_into_search(event, search)
            return
        if self._link_typed is not None:
            # typed after l, before its dialog opened (one burst): the dialog's, not ours
            event.stop()
            event.prevent_default()
            self._link_typed.append(event)
            return
        typing = self.focused in (search, self.query_one("#users-results", OptionList))
        if event.key == "l" and not typing and self.check_action("link", ()):
            self._link_typed = []  # the binding opens the dialog after the keys queued now
            return
        if self.focused is not self.query_one("#users-results", OptionList):
            return
        if event.key == "backspace":  # the search shortened, as in the field itself
            event.stop()
            event.prevent_default()
            search = self.query_one("#users-search", Input)
            search.value = search.value[:-1]
            search.select_on_focus = False
            search.focus()
            search.cursor_position = len(search.value)
            return
        character = event.character or ""
        if not event.is_printable or character.isdigit() or character == "?":
            return
        event.stop()
        event.prevent_default()
        search = self.query_one("#users-search", Input)
        # typed by the field itself; its focus arrives after the key and would select the
        # search (the letter replacing it): on_descendant_focus selects on focus again
        search.select_on_focus = False
        search.focus()
        search.cursor_position = len(search.value)
        search.post_message(events.Key(event.key, event.character))

    def action_leave_search(self) -> None:
        self.query_one("#users-results", OptionList).focus()

    # One person ---------------------------------------------------------------------------

    def load_person(self, user_id: int) -> None:
        self._want = user_id
        self.load_detail(user_id)

    @work(
        thread=True,
        exclusive=True,
        group="users-detail",
        exit_on_error=False,
        name="Loading the person",
    )
    def load_detail(self, user_id: int) -> None:
        detail = self.services.user_detail(user_id)
        if not get_current_worker().is_cancelled:
            self.post_message(self.DetailLoaded(detail))

    def on_users_screen_detail_loaded(self, message: UsersScreen.DetailLoaded) -> None:
        detail = message.detail
        if detail.user.id != self._want:
            return
        self.detail = detail
        user = detail.user
        with self.app.batch_update():
            self.query_one("#users-person", Static).update(self.person_text(detail))
            self.show_attributes(detail)
            self.show_accounts(detail)
        self.sub_title = f"{self.TITLE_TEXT} — {safe(user.display_name or user.email, 80)}"
        self.refresh_bindings()

    # The tables, fitted to the width there is --------------------------------------------

    ATTRIBUTE_COLUMNS = (("Attribute", "name"), ("Value", "value"), ("Source", "source"))
    ACCOUNT_COLUMNS = (
        ("App", "app"),
        ("Account id", "id"),
        ("Status", "status"),
        ("Linked by", "link"),
        ("Pinned", "pinned"),
        ("Name", "name"),
        ("Entitlements", "entitlements"),
    )

    @staticmethod
    def add_columns(
        table: DataTable[Any],
        columns: tuple[tuple[str, str], ...],
        widths: tuple[int | None, ...] | None,
    ) -> None:
        for index, (label, key) in enumerate(columns):
            table.add_column(label, key=key, width=widths[index] if widths else None)

    @staticmethod
    def room(table: DataTable[Any], columns: int) -> int | None:
        """The cells `table` shows beside `columns` columns' padding (a long table scrolls:
        its scrollbar is counted as there), None before it is laid out."""
        if not table.size.width:
            return None
        inner = table.size.width - table.styles.scrollbar_size_vertical
        return inner - 2 * table.cell_padding * columns

    @staticmethod
    def fill(
        table: DataTable[Any],
        columns: tuple[tuple[str, str], ...],
        widths: tuple[int | None, ...],
        rows: list[tuple[Any, ...]],
    ) -> None:
        """The rows (key first) under columns of these widths, the cursor kept."""
        cursor = table.cursor_row
        table.clear(columns=True)
        UsersScreen.add_columns(table, columns, widths)
        for key, *cells in rows:
            table.add_row(*cells, key=key)
        if 0 <= cursor < table.row_count:
            table.move_cursor(row=cursor)

    def show_attributes(self, detail: UserDetail, *, refit: bool = False) -> None:
        """The attributes, the Value column as wide as there is room for beside the sources
        (which shorten to hr:…department on a narrow terminal; the cell keeps the whole)."""
        table = self.query_one("#users-attributes", DataTable)
        rows = []
        for attribute in detail.attributes:
            shown = value(attribute.value, VALUE_MAX)
            shown.overflow = "ellipsis"
            if attribute.held_from:
                source = held_source(attribute.held_from)
                short = source
            else:
                style = "cyan" if attribute.source else "dim"
                source = plain(attribute.source or "none", style=style)
                short = plain(short_source(attribute.source or "none"), style=style)
            rows.append((attribute.name, plain(attribute.name), shown, Fit(source, short)))
        names, values, sources = (
            natural_width(label, [row[index + 1] for row in rows])
            for index, (label, _) in enumerate(self.ATTRIBUTE_COLUMNS)
        )
        widths = (names, min(values, VALUE_WIDTH), sources)
        room = self.room(table, 3)
        if room is not None:
            shorts = natural_width("Source", [row[3].short for row in rows])
            width = value_width(room - names, values, sources, shorts)
            widths = (names, width, max(room - names - width, len("Source")))
        if refit and widths == self._widths.get("attributes"):
            return
        self.fill(table, self.ATTRIBUTE_COLUMNS, widths, rows)
        self._widths["attributes"] = widths
        self.show_source()

    def show_accounts(self, detail: UserDetail, *, refit: bool = False) -> None:
        """The linked accounts, Linked by with the labels the CLI prints (engine.records)."""
        table = self.query_one("#users-accounts", DataTable)
        rows = []
        for account in detail.accounts:
            status = account.status
            rows.append(
                (
                    account.key,
                    plain(account.app),
                    clip(account.key.partition(":")[2], 40),
                    plain(status, style="" if status == "ENABLED" else "yellow"),
                    plain(link_label(account.link_kind)),
                    Text("pinned", style="bold magenta") if account.pinned else "",
                    Text(
                        safe(account.display_name or account.email or "", 40),
                        no_wrap=True,
                        overflow="ellipsis",
                    ),
                    Text(
                        safe(", ".join(account.entitlements) or "—", 60),
                        no_wrap=True,
                        overflow="ellipsis",
                    ),
                )
            )
        widths = [
            natural_width(label, [row[index + 1] for row in rows])
            for index, (label, _) in enumerate(self.ACCOUNT_COLUMNS)
        ]
        room = self.room(table, len(widths))
        if room is not None:
            # the entitlements (then the names) give up what does not fit, their cells ending
            # with …: cut at the table's right edge they read as whole names (newcomer
            # review); the border says the highlighted account's whole
            for column, narrowest in ACCOUNT_SHRINK:
                over = sum(widths) - room
                if over <= 0:
                    break
                widths[column] = max(narrowest, widths[column] - over)
            # still too wide (80 columns): the entitlements, then the names, go whole; cut at
            # the edge, the table read "Pinn" with two columns out of sight
            while len(widths) > ACCOUNT_KEPT and sum(widths) > room + 2 * table.cell_padding * (
                len(self.ACCOUNT_COLUMNS) - len(widths)
            ):
                widths.pop()
            # and then a long id gives up its middle (the border names the highlighted one whole)
            over = (
                sum(widths)
                - room
                - 2 * table.cell_padding * (len(self.ACCOUNT_COLUMNS) - len(widths))
            )
            if over > 0:
                widths[1] = max(ACCOUNT_ID_NARROWEST, widths[1] - over)
        columns = self.ACCOUNT_COLUMNS[: len(widths)]
        if refit and tuple(widths) == self._widths.get("accounts"):
            return
        # an id clipped at 40 characters (at any width) is cut as much as one the column cuts
        self._ids_cut = any(len(row[0].partition(":")[2]) > 40 for row in rows)
        for at, row in enumerate(rows):
            external_id = row[0].partition(":")[2]
            if row[2].cell_len > widths[1]:
                self._ids_cut = True
                rows[at] = (row[0], row[1], middle(external_id, widths[1]), *row[3:])
        self.fill(table, columns, tuple(widths), [row[: len(columns) + 1] for row in rows])
        self._widths["accounts"] = tuple(widths)
        self.show_entitlements()

    @on(DataTable.RowHighlighted, "#users-accounts")
    def show_entitlements(self) -> None:
        """The highlighted account's entitlements whole on the table's border, beside the
        count: the column is cut on all but wide terminals."""
        table = self.query_one("#users-accounts", DataTable)
        count = plural(len(self.detail.accounts), "account") if self.detail else ""
        account = self.selected_account()
        # an id the table cuts is named whole here, in place of the app's name
        whose = safe(account.key if self._ids_cut else account.app, 80) if account else ""
        grants = " grants: " if account and account.entitlements else ""
        if account and len(f"{count} · {whose}{grants}") > table.size.width - 4:
            # an id longer than the border was cut at its end, with no way to read it
            whose, grants = "v shows it whole", " · grants: " if grants else ""
        # Text, never a str: Textual reads a str subtitle as markup, and an account id is data
        # (`a[/]b` stopped the console; hostile review). The count first: a long list of
        # grants is cut at the border's end, the count not.
        if account is None or not account.entitlements:
            shown = f"{count} · {whose}" if self._ids_cut and whose else count
            table.border_subtitle = Text(shown)
            return
        held = safe(", ".join(account.entitlements), 200)
        table.border_subtitle = Text.assemble((f"{count} · {whose}{grants}", "dim"), held)

    def on_resize(self) -> None:
        self.call_after_refresh(self._refit)  # once the tables have their new width

    def _refit(self) -> None:
        if self.detail is not None:
            with self.app.batch_update():
                self.show_attributes(self.detail, refit=True)
                self.show_accounts(self.detail, refit=True)

    @staticmethod
    def person_text(detail: UserDetail) -> Text:
        user = detail.user
        text = Text()
        text.append(safe(user.display_name or "(no name)"), style="bold")
        text.append(f"  <{safe(user.email)}>" if user.email else "  (no email)")
        text.append("\n")
        text.append(safe(user.status), style="green" if user.status == "ENABLED" else "bold yellow")
        text.append(f" {safe(user.type)}", style="dim")
        for flag in detail.flags:
            text.append("\n! ", style="bold yellow")
            text.append(safe(flag), style="bold yellow")
        parts = [
            ("employee id", user.employee_id),
            ("username", user.username),
            ("given", user.given_name),
            ("family", user.family_name),
        ]
        for name, part in parts:
            if part:
                text.append(f" · {name} ", style="dim")
                text.append(safe(part))
        others = [email for email in user.emails if email != user.email]
        if others:
            text.append("\nother emails: ", style="dim")
            text.append(safe(", ".join(others)))
        return text

    # Why ----------------------------------------------------------------------------------

    def selected_attribute(self) -> str | None:
        if self.detail is None or not self.detail.attributes:
            return None
        table = self.query_one("#users-attributes", DataTable)
        row = table.cursor_row
        if 0 <= row < len(self.detail.attributes):
            return self.detail.attributes[row].name
        return None

    @on(DataTable.RowHighlighted, "#users-attributes")
    def show_source(self) -> None:
        """The highlighted attribute's whole source under the table: a narrow Source column
        shows it shortened (hr:…employment_status) or cut."""
        table = self.query_one("#users-attributes", DataTable)
        row = table.cursor_row
        if not (0 <= row < table.row_count):
            table.border_subtitle = ""
            return
        source = table.get_cell_at(Coordinate(row, 2))
        shown = source.full if isinstance(source, Fit) else plain(source)
        table.border_subtitle = Text.assemble(("from ", "dim"), shown)

    @on(DataTable.RowSelected, "#users-attributes")
    def _attribute_chosen(self) -> None:
        self.action_why()

    def action_why(self) -> None:
        attribute = self.selected_attribute()
        if attribute is None or self.detail is None:
            return
        self.app.push_screen(ExplainModal(self.services, self.detail.user.id, attribute))

    # Accounts -----------------------------------------------------------------------------

    def selected_account(self) -> LinkedAccount | None:
        if self.detail is None or not self.detail.accounts:
            return None
        row = self.query_one("#users-accounts", DataTable).cursor_row
        if 0 <= row < len(self.detail.accounts):
            return self.detail.accounts[row]
        return None

    def action_view_account(self) -> None:
        account = self.selected_account()
        if account is None:
            return
        rows = [
            ("account", account.key),
            ("app", f"{account.app_name} ({account.app})"),
            ("name", account.display_name or "—"),
            ("email", account.email or "—"),
            ("status", account.status),
            ("linked by", link_meaning(account.link_kind)),
            ("pinned", "yes: syncs leave this link alone" if account.pinned else "no"),
            ("grants", ", ".join(account.entitlements) or "none"),
        ]
        text = Text()
        for label, shown in rows:
            text.append(f"{label:<10}", style="bold")
            text.append(safe(shown, 20_000))
            text.append("\n")
        text.rstrip()
        whole = Hanging(text, indent=10, rows=20)
        self.app.push_screen(TextViewModal("The highlighted account, whole", whole))

    def person_name(self) -> str:
        assert self.detail is not None
        user = self.detail.user
        if user.display_name and user.email:
            return f"{user.display_name} <{user.email}>"
        return user.display_name or user.email or f"person {user.id}"

    def action_unlink(self) -> None:
        account = self.selected_account()
        if account is not None:
            self.check_unlink(account)

    @work(
        thread=True,
        exclusive=True,
        group="users-link-check",
        exit_on_error=False,
        name="Working out what unlinking changes",
    )
    def check_unlink(self, account: Any) -> None:
        try:
            impact = self.services.link_impact(account.key, None)
        except RosterError:
            impact = None  # the dialog says what an unlink can do, without the particulars
        self.post_message(self.UnlinkChecked(account, impact))

    def on_users_screen_unlink_checked(self, message: UsersScreen.UnlinkChecked) -> None:
        account = message.account
        text = Text()
        text.append("Unlink ")
        text.append(safe(account.key), style="bold")
        text.append(safe(f" ({account.display_name or account.email}, {account.app_name})"))
        text.append(" from ")
        text.append(safe(self.person_name()), style="bold")
        text.append(".")
        impact = message.impact
        if impact is not None:
            impact_text(text, impact, f"roster unlink {shlex.quote(account.key)} --dry-run")
        elif account.link_kind in DIRECTORY_LINKS:
            text.append(
                "\n\nThis is one of the person's directory accounts: their core fields come from "
                "it. If no other directory account of theirs still passes its filter, the next "
                "sync removes the person (status DELETED).",
                style="bold yellow",
            )
        text.append("\n\nThe account is pinned as unlinked: later syncs will not link it to ")
        text.append("anyone again until you unpin it. To give it to someone else, open that ")
        text.append("person and link it there (l).")
        key = account.key
        assert self.detail is not None
        seen = self.detail.user.id  # refused if another admin changed the link meanwhile

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.change_link(key, None, f"Unlinked {key}; l links it again.", seen)

        # an unlink stops what the account gives the person (a directory account may remove
        # them) and pins it: a stray `u` followed by enter, as when a name is typed into the
        # accounts pane, must not do it, so the dialog starts on Cancel
        self.app.push_screen(
            ConfirmModal("Unlink account", hanging(text), "Unlink", destructive=True), confirmed
        )

    def action_pin(self) -> None:
        account = self.selected_account()
        if account is None:
            return
        if account.pinned:
            self.check_unpin(account)  # the dialog says whom the rules would give it to
            return
        self.confirm_pin(account, None)

    @work(
        thread=True,
        exclusive=True,
        group="users-link-check",
        exit_on_error=False,
        name="Working out what unpinning changes",
    )
    def check_unpin(self, account: Any) -> None:
        try:
            impact = self.services.unpin_impact(account.key)
        except RosterError:
            impact = None  # the dialog says what an unpin can do, without the particulars
        self.post_message(self.UnpinChecked(account, impact))

    def on_users_screen_unpin_checked(self, message: UsersScreen.UnpinChecked) -> None:
        self.confirm_pin(message.account, message.impact)

    def confirm_pin(self, account: Any, impact: Any) -> None:
        """Pin ACCOUNT, or unpin it (it is pinned) after saying what IMPACT the release has."""
        key = account.key
        message = Text()
        if account.pinned:
            message.append("Unpin ")
            message.append(safe(key), style="bold")
            message.append(" (now linked to ")
            message.append(safe(self.person_name()), style="bold")
            message.append(").\n\n")
            if impact is None:
                message.append(
                    "The next sync's rules decide its owner again: they may keep this link, "
                    "link it to someone else, or unlink it."
                )
            elif impact.after == impact.before:
                message.append("The next sync's rules keep it with ")
                message.append(safe(impact.before or "nobody"), style="bold")
                message.append(".")
            else:
                message.append("The next sync's rules give it to ", style="bold yellow")
                message.append(safe(impact.after or "nobody"), style="bold yellow")
                message.append(".", style="bold yellow")
            if impact is not None:
                impact_text(message, impact, f"roster pin {shlex.quote(key)} --off --dry-run")
            title, button, pinned = "Unpin account", "Unpin", False
            done = f"Unpinned {key}; the next sync's rules decide its owner."
        else:
            message.append("Pin ")
            message.append(safe(key), style="bold")
            message.append(" to ")
            message.append(safe(self.person_name()), style="bold")
            message.append(
                ".\n\nSyncs leave this link alone (even if a rule would change it) until you "
                "unpin it."
            )
            title, button, pinned = "Pin account", "Pin", True
            done = f"Pinned {key} to {self.person_name()}."

        assert self.detail is not None
        seen = self.detail.user.id  # refused if another admin changed the link meanwhile

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.set_pin(key, pinned, done, seen)

        # started on Cancel: a p and an enter typed into the wrong place pinned (hostile review)
        modal = ConfirmModal(title, hanging(message), button, start_on_cancel=True)
        self.app.push_screen(modal, confirmed)

    def action_link(self) -> None:
        if self.detail is None:
            return

        def chosen(key: str | None) -> None:
            if key:
                self.check_link(key)

        typed, self._link_typed = self._link_typed or [], None
        modal = LinkAccountModal(self.person_name(), self.services, typed=typed)
        self.app.push_screen(modal, chosen)

    @work(
        thread=True,
        exclusive=True,
        group="users-link-check",
        exit_on_error=False,
        name="Looking up the account",
    )
    def check_link(self, key: str) -> None:
        account = self.services.account_by_key(key)
        owner = None
        if account.owner_id is not None:
            user = self.services.population().user_by_id(account.owner_id)
            owner = self.services.label(user) if user is not None else None
        person = self.detail.user.id if self.detail is not None else None
        impact = self.services.link_impact(key, person) if person is not None else None
        self.post_message(self.LinkChecked(account, owner, impact))

    def on_users_screen_link_checked(self, message: UsersScreen.LinkChecked) -> None:
        if self.detail is None:
            return
        account = message.account
        key = f"{account.app_id}:{account.external_id}"
        person = self.detail.user
        text = Text()
        text.append("Link ")
        text.append(safe(key), style="bold")
        described = ", ".join(v for v in (account.display_name, account.email, account.status) if v)
        if described:
            text.append(f" ({safe(described)})")
        text.append(" to ")
        text.append(safe(self.person_name()), style="bold")
        text.append(".\n\n")
        if message.owner is None:
            text.append("It has no owner now.")
        elif account.owner_id == person.id:
            text.append("It is already linked to this person; linking again pins the link.")
        else:
            text.append("It is linked to ", style="bold yellow")
            text.append(safe(message.owner), style="bold yellow")
            text.append(f" now ({link_meaning(account.link_kind)})")
            text.append(": that link is replaced.", style="bold yellow")
        if message.impact is not None:
            who = shlex.quote(person.email or str(person.id))
            command = f"roster link {shlex.quote(key)} {who} --dry-run"
            impact_text(text, message.impact, command)
        text.append("\n\n" + PIN_NOTE)

        seen = account.owner_id  # the owner the dialog names, or none

        def confirmed(yes: bool | None) -> None:
            if yes:
                done = f"Linked {key} to {self.person_name()} (pinned)."
                self.change_link(key, person.id, done, seen)

        self.app.push_screen(
            ConfirmModal("Link account", hanging(text), "Link and pin", start_on_cancel=True),
            confirmed,
        )

    @work(
        thread=True,
        exclusive=True,
        group="users-change",
        exit_on_error=False,
        name="Changing the link",
    )
    def change_link(self, key: str, person: int | None, done: str, seen: int | None) -> None:
        self.services.set_link(key, person, pin=True, seen_owner=seen)
        self.post_message(self.Done(done))

    @work(
        thread=True,
        exclusive=True,
        group="users-change",
        exit_on_error=False,
        name="Pinning the account",
    )
    def set_pin(self, key: str, pinned: bool, done: str, seen: int | None) -> None:
        self.services.pin(key, pinned, seen_owner=seen)
        self.post_message(self.Done(done))

    def on_users_screen_done(self, message: UsersScreen.Done) -> None:
        # (said as the CLI says it: the rest of what follows is the next sync's)
        self.notify(f"{message.what} {NEXT_SYNC}", title="Saved")
        self.store_changed("decision")  # the other screens reload
        if self._want is not None:
            self.load_detail(self._want)

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == "users-change" and self._want is not None:
            self.load_detail(self._want)  # show what the store holds now

    # Keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        in_search = isinstance(self.focused, Input)
        if action == "leave_search":
            return in_search
        if action == "search":
            return not in_search
        if action == "why":
            ok = self.detail is not None and bool(self.detail.attributes)
        elif action in ("unlink", "pin", "view_account"):
            ok = self.detail is not None and bool(self.detail.accounts)
        elif action == "link":
            ok = self.detail is not None
        else:
            return True
        typing = in_search or self.focused is self.query_one("#users-results", OptionList)
        if ok and typing:
            return None  # shown, but letters are text there (on_key): tab to the person first
        return ok

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        search = self.query_one("#users-search", Input)
        search.select_on_focus = True  # see on_key
        if event.widget is search:
            self._search_pending = False
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()
