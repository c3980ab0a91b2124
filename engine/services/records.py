"""Records and search: find people and accounts, and fetch one by reference, email or key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any

from engine.errors import InvalidInput, NotFound
from engine.records import AccountRecord, Directory, UserRecord, record_label
from engine.text import printable, whole_number

if TYPE_CHECKING:
    from engine.services.context import ServiceContext


@dataclass(frozen=True)
class RecordRef:
    kind: str  # "user" | "account"
    id: int
    label: str
    detail: str = ""  # a person's status; an account's key (APP:EXTERNAL_ID)
    owner: str = ""  # an account's owner (their email or name), "" when it has none


#: How many people a "did you mean" ranks (by likeness to what was asked) before naming three.
SIMILAR_POOL = 200
#: The longest search text: past it a LIKE pattern costs more than any name can need.
SEARCH_CHARS = 200


def bounded_search(query: str) -> str:
    """QUERY without its outer spaces; InvalidInput past SEARCH_CHARS."""
    text = query.strip()
    if len(text) > SEARCH_CHARS:
        raise InvalidInput(
            f"A search is at most {SEARCH_CHARS} characters (this one has {len(text):,}); "
            "search for part of the name or email."
        )
    return text


def like_pattern(query: str) -> str:
    """A LIKE pattern finding QUERY anywhere, as typed: `%` and `_` are not wildcards (an
    email's `_` is a character)."""
    text = bounded_search(query)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def holds(sqlite: bool, column: Any, needle: str) -> Any:
    """COLUMN holds the LIKE pattern NEEDLE, in any case: on SQLite through roster_fold
    (engine/store/db.py), since its own folding knows only ASCII; PostgreSQL's ILIKE folds all."""
    from sqlalchemy import func

    if sqlite:
        return func.roster_fold(column).like(needle.casefold(), escape="\\")
    return column.ilike(needle, escape="\\")


#: The words a people search takes beside a name or email (`has:slack no:ad status:disabled`).
QUALIFIERS = ("has", "no", "status")
PERSON_STATUSES = ("ENABLED", "DISABLED", "DELETED")
_QUALIFIER = re.compile(rf"^({'|'.join(QUALIFIERS)}):(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class PeopleQuery:
    """A people search: the text a name or email holds, and its qualifiers: `has:APP` (a live
    account in APP), `no:APP` (none: who still needs one), `status:STATUS`."""

    text: str
    has: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    @classmethod
    def parse(cls, query: str, apps: list[str]) -> PeopleQuery:
        """Raises InvalidInput, naming what is known, for an app or status it does not know."""
        if ":" not in query:
            return cls(query)
        by_case = {app.casefold(): app for app in apps}
        words: list[str] = []
        has: list[str] = []
        lacks: list[str] = []
        statuses: list[str] = []
        for word in query.split():
            found = _QUALIFIER.match(word)
            if found is None:
                words.append(word)
                continue
            kind, value = found.group(1).lower(), found.group(2)
            if kind == "status":
                if value.upper() not in PERSON_STATUSES:
                    raise InvalidInput(
                        f"No status {value!r}: status: takes {', '.join(PERSON_STATUSES)}."
                    )
                statuses.append(value.upper())
                continue
            # app ids are lower case; "has:AD" is what a person types
            app = value if value in apps else by_case.get(value.casefold())
            if app is None:
                known = ", ".join(apps) or "none yet"
                raise InvalidInput(f"No app {value!r} for {kind}:; the apps are {known}.")
            (has if kind == "has" else lacks).append(app)
        return cls(" ".join(words), tuple(has), tuple(lacks), tuple(statuses))


@dataclass(frozen=True)
class PersonRow:
    """One person as a search lists them (`roster people list`, the Users screen)."""

    id: int
    display_name: str
    email: str
    status: str

    @property
    def label(self) -> str:
        if self.email:
            return f"{self.display_name} <{self.email}>"
        return self.display_name or f"user {self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "email": self.email,
            "status": self.status,
        }


class RecordsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def find_people(self, query: str = "", limit: int = 50) -> list[PersonRow]:
        """People whose email or display name holds QUERY (case-insensitive; everyone when it
        is empty), by display name, at most LIMIT; read from the store, not the population."""
        from sqlalchemy import select
        from sqlmodel import col

        from engine.store.models import Person

        statement = select(
            col(Person.id), col(Person.display_name), col(Person.email), col(Person.status)
        ).where(*self._people_holding(query))
        with self.ctx.db.session() as session:
            rows = session.execute(
                statement.order_by(col(Person.display_name), col(Person.id)).limit(limit)
            ).all()
        return [PersonRow(r[0], r[1] or "", r[2] or "", r[3] or "") for r in rows]

    def count_people(self, query: str = "") -> int:
        """How many people `find_people(QUERY)` would find without a limit."""
        from sqlalchemy import func, select

        from engine.store.models import Person

        statement = select(func.count()).select_from(Person).where(*self._people_holding(query))
        with self.ctx.db.session() as session:
            return int(session.execute(statement).scalar_one())

    def _people_holding(self, query: str) -> list[Any]:
        """The conditions of `find_people` (`PeopleQuery`): none for an empty QUERY."""
        from sqlalchemy import exists, not_, or_, select
        from sqlmodel import col

        from engine.store.models import Account, App, Person

        if not bounded_search(query):  # qualifiers too: each is a subquery
            return []
        wanted = PeopleQuery(query)
        if ":" in query:
            with self.ctx.db.session() as session:
                apps = list(session.scalars(select(col(App.id)).order_by(col(App.id))))
            wanted = PeopleQuery.parse(query, apps)
        conditions: list[Any] = []
        if wanted.text.strip():
            needle = like_pattern(wanted.text)
            sqlite = self.ctx.db.is_sqlite
            conditions.append(
                or_(
                    holds(sqlite, col(Person.email), needle),
                    holds(sqlite, col(Person.display_name), needle),
                )
            )

        def live_account_in(app_id: str) -> Any:
            return exists().where(
                col(Account.owner_id) == col(Person.id),
                col(Account.app_id) == app_id,
                col(Account.status) != "DELETED",
            )

        conditions += [live_account_in(app) for app in wanted.has]
        conditions += [not_(live_account_in(app)) for app in wanted.lacks]
        if wanted.statuses:
            conditions.append(col(Person.status).in_(wanted.statuses))
        return conditions

    def find_records(
        self,
        kind: str,
        query: str = "",
        limit: int = 50,
        app_id: str | None = None,
        live: bool = False,
    ) -> list[RecordRef]:
        """People, or accounts (of APP_ID only, when given), whose names hold QUERY; `live`:
        leave out the DELETED ones."""
        from sqlalchemy import or_, select
        from sqlmodel import col

        from engine.store.models import Account, Person

        if kind == "user":
            people = self.find_people(query, limit + 50 if live else limit)
            return [
                RecordRef("user", p.id, p.label, p.status)
                for p in people
                if not live or p.status != "DELETED"
            ][:limit]
        needle = like_pattern(query)
        with self.ctx.db.session() as session:
            accounts = select(
                col(Account.id),
                col(Account.app_id),
                col(Account.external_id),
                col(Account.display_name),
                col(Account.email),
                col(Person.email),
                col(Person.display_name),
            ).outerjoin(Person, col(Person.id) == col(Account.owner_id))
            if app_id is not None:
                accounts = accounts.where(col(Account.app_id) == app_id)
            if live:
                accounts = accounts.where(col(Account.status) != "DELETED")
            if query.strip():
                sqlite = self.ctx.db.is_sqlite
                accounts = accounts.where(
                    or_(
                        holds(sqlite, col(Account.email), needle),
                        holds(sqlite, col(Account.display_name), needle),
                        holds(sqlite, col(Account.external_id), needle),
                        holds(sqlite, col(Account.app_id), needle),
                    )
                )
            rows = session.execute(
                accounts.order_by(col(Account.app_id), col(Account.external_id)).limit(limit)
            ).all()
            return [
                RecordRef(
                    "account", r[0], r[3] or r[4] or r[2], f"{r[1]}:{r[2]}", r[5] or r[6] or ""
                )
                for r in rows
            ]

    def record(self, ref: RecordRef) -> UserRecord | AccountRecord:
        population = self.ctx.directory()
        if ref.kind == "user":
            user = population.user_by_id(ref.id)
            if user is not None:
                return user
        else:
            account = population.account_by_id(ref.id)
            if account is not None:
                return account
        raise NotFound(f"The {ref.kind} {ref.label or ref.id} no longer exists; pick another.")

    def user_by_email(self, email: str) -> UserRecord:
        try:
            return user_by_email(self.ctx.directory(), email)
        except NotFound as exc:
            close = self.similar_emails(email)
            if not close:
                raise
            raise NotFound(f"{exc.message} Did you mean {', '.join(close)}?") from None

    def similar_emails(self, email: str, limit: int = 3) -> list[str]:
        """Emails of people close to EMAIL (a typo, another domain, a nickname): those holding
        its local part, else one of the local part's words (ann in ann.lee)."""
        local = email.strip().partition("@")[0]
        words = [w for w in re.split(r"[._+\-\s]+", local) if len(w) >= 3]
        for needle in dict.fromkeys([local, *sorted(words, key=len, reverse=True)]):
            if not 3 <= len(needle) <= SEARCH_CHARS:
                continue
            found = [p.email for p in self.find_people(needle, SIMILAR_POOL) if p.email]
            if found:  # the closest first: amara.martinez before amara.jones for amara.martinz
                wanted = email.strip().lower()
                found.sort(key=lambda e: -SequenceMatcher(None, wanted, e.lower()).ratio())
                return found[:limit]
        return []

    def person(self, who: str | int) -> UserRecord:
        """A person by email, or by id (people without an email have only their id)."""
        return self.user_by_email(str(who))

    def account_by_key(self, key: str) -> AccountRecord:
        return account_by_key(self.ctx.directory(), key)

    def label(self, record: UserRecord | AccountRecord) -> str:
        return record_label(record)


def user_by_email(directory: Directory, email: str) -> UserRecord:
    """The person with EMAIL (a live one before a deleted one), or, given a number, the
    person with that id: people without an email have only their id, and every command that
    names a person by email must reach them too (no email is all digits). NotFound saying
    how to search."""
    if whole_number(email.strip()) is not None:
        user = directory.user_by_id(email.strip())
        named = [u for u in directory.users_by_email(email.strip()) if u.status != "DELETED"]
        if named and (user is None or named[0].id != user.id):
            # an email that is all digits (nothing forbids it in an app): say which is which
            who = "nobody's id" if user is None else f"the id of {user.display_name or user.id}"
            holder = named[0].display_name or "a person"
            raise NotFound(
                f"{email.strip()!r} is {who} and the email of {holder} (id {named[0].id}): "
                "give that person's id instead."
            )
        if user is None:
            raise NotFound(
                f"There is no person {email.strip()}. Search people by name or email with "
                "`roster people list TEXT` or in the console's Users screen (7)."
            )
        return user
    matches = [u for u in directory.users_by_email(email) if u.status != "DELETED"]
    matches = matches or directory.users_by_email(email)
    if not matches:
        raise NotFound(
            f"No person has the email {printable(email, 80, one_line=True)!r}. Search people by "
            "name or email with "
            "`roster people list TEXT` or in the console's Users screen (7); a person's id "
            "does wherever an email does (people without an email have only their id)."
        )
    return matches[0]


def account_by_key(directory: Directory, key: str) -> AccountRecord:
    """The account KEY names as APP:EXTERNAL_ID; NotFound giving the form."""
    app_id, sep, external_id = key.partition(":")
    account = directory.account(app_id, external_id) if sep else None
    if account is None:
        apps = directory.app_ids()
        if sep and app_id not in apps:
            raise NotFound(
                f"No account {key!r}: no account is in an app {app_id!r}; the apps are "
                f"{', '.join(sorted(apps)) or 'none yet'}."
            )
        if sep:
            raise NotFound(
                f"No account {key!r}: app {app_id!r} has no account with the id "
                f"{external_id!r}. A person's accounts are in `roster people show EMAIL` and "
                "the console's Users screen (7)."
            )
        raise NotFound(f"No account {key!r}; give it as APP:EXTERNAL_ID, e.g. hr:E10001.")
    return account
