"""People and links: a person's attributes and accounts, why an attribute has its value, and
the manual decisions on accounts (link, unlink, pin). How a link happens is `set_link`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import EllipsisType
from typing import Any, cast

from sqlalchemy import func, select
from sqlmodel import col

from engine.errors import InvalidInput, NotFound
from engine.records import Population, UserRecord, record_label
from engine.roles import current_actor
from engine.services.care import Leavers, LostPrimary, directory_order, left_out_by_filter
from engine.services.context import ServiceContext
from engine.services.records import RecordsService
from engine.store.models import Account, App, AttributeValue, AuditEvent, Person
from engine.sync.attributes import Candidate
from engine.sync.by_hand import bump as bump_manual_generation
from engine.sync.loading import stored_last_seen
from engine.sync.lock import refuse_while_applying
from engine.sync.run_notes import load_held


@dataclass(frozen=True)
class Explanation:
    """Why a person's attribute has its value: the winner and every candidate."""

    user: str
    attribute: str
    mode: str  # "authority" (flow rules) | "fallback" (single-valued) | "union" (multi-valued)
    value: Any
    source: str
    set_at: datetime | None
    reason: str
    candidates: list[Candidate]
    #: a CEL source's label ("cel[1]", as `source` and the candidates name it) -> its text
    expressions: dict[str, str] = field(default_factory=dict)
    #: what the sources give now, when it is not the stored value: the next sync sets it (an
    #: app changed since, or the value reads another person's, who changed after it was set)
    pending: Any = None
    has_pending: bool = False
    #: whom and what of them its expressions read now (engine.sync.reads.describe): a sync
    #: computes the person again when one of those moves
    reads_others: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "attribute": self.attribute,
            "mode": self.mode,
            "value": self.value,
            "source": self.source,
            "set_at": self.set_at.isoformat() if self.set_at else None,
            "reason": self.reason,
            "candidates": [c.as_dict() for c in self.candidates],
            "expressions": self.expressions,
            "reads_others": self.reads_others,
            # the key is there only when the next sync changes the value
            **({"next_sync_sets": self.pending} if self.has_pending else {}),
        }


@dataclass(frozen=True)
class AttributeRow:
    name: str
    value: Any
    source: str
    mode: str  # engine.config.model.Attribute.mode: "authority" | "fallback" | "union"
    #: the vanished source accounts whose blank the last sync held back (see HeldBlank);
    #: empty when the value is not held
    held_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinkedAccount:
    key: str  # APP:EXTERNAL_ID
    app: str
    app_name: str
    display_name: str
    email: str
    status: str
    link_kind: str
    pinned: bool
    entitlements: list[str]


@dataclass(frozen=True)
class UserDetail:
    user: UserRecord
    attributes: list[AttributeRow]
    accounts: list[LinkedAccount]
    # what needs an admin's eye about this person ("lost their hr record (hr:E10003); kept by
    # idp"), from engine.services.care
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        u = self.user
        return {
            "id": u.id,
            "email": u.email,
            "emails": u.emails,
            "username": u.username,
            "display_name": u.display_name,
            "given_name": u.given_name,
            "family_name": u.family_name,
            "employee_id": u.employee_id,
            "status": u.status,
            "type": u.type,
            "flags": self.flags,
            "attributes": [
                {
                    "name": a.name,
                    "value": a.value,
                    "source": a.source,
                    "mode": a.mode,
                    "held_from": list(a.held_from),
                }
                for a in self.attributes
            ],
            "accounts": [
                {
                    "account": a.key,
                    "app": a.app,
                    "display_name": a.display_name,
                    "email": a.email,
                    "status": a.status,
                    "link_kind": a.link_kind,
                    "pinned": a.pinned,
                    "entitlements": a.entitlements,
                }
                for a in self.accounts
            ],
        }


@dataclass(frozen=True)
class LinkResult:
    account: str  # APP:EXTERNAL_ID
    owner: str | None  # the owner's email (or name), None when unlinked
    pinned: bool
    # whose it was before, when that was someone else (email or name), and whether by hand
    previous: str | None = None
    previous_manual: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "owner": self.owner,
            "pinned": self.pinned,
            "previous_owner": self.previous,
            "previous_manual": self.previous_manual,
        }


class PeopleService:
    def __init__(self, ctx: ServiceContext, records: RecordsService) -> None:
        self.ctx = ctx
        self.records = records

    def explain(self, who: str | int, attribute: str) -> Explanation:
        """Why a person's attribute has its value: the winner and every candidate."""
        from engine.cel import CelEngine
        from engine.sync.attributes import SourceReader, compile_attributes, decide_or_hold
        from engine.sync.reads import WatchedDirectory, describe
        from engine.sync.state import AttributeState

        user = self.records.person(who)
        definitions = self.ctx.config().attributes
        with self.ctx.db.session() as session:
            row = (
                session.execute(
                    select(AttributeValue).where(
                        col(AttributeValue.user_id) == user.id,
                        func.lower(AttributeValue.attribute) == attribute.lower(),
                    )
                )
                .scalars()
                .first()
            )
        names = [d.name for d in definitions]
        match = [d for d in definitions if d.name.lower() == attribute.lower()]
        if not match:
            raise NotFound(
                f"No attribute {attribute!r}; the configured ones are: "
                f"{', '.join(names) or 'none'}."
            )
        cel = self.ctx.cel()
        definition = compile_attributes(match, cel)[0]
        previous = (
            AttributeState(
                row.value,
                row.source,
                stored_last_seen(row.last_seen, user.id, row.attribute),
                row.ever_set,
            )
            if row
            else AttributeState()
        )
        population = self.ctx.population()
        watched = None
        if any(s.program is not None and s.program.reads_directory for s in definition.sources):
            # an engine of its own: the shared one's population is the console's, unwatched
            watched = WatchedDirectory(population, lambda: 0)
            cel = CelEngine(watched, limits=cel.limits)
            definition = compile_attributes(match, cel)[0]
            watched.start(user.id)
        reader = SourceReader(cel, {user.id: population.accounts_of(user.id)})
        decision, _ = decide_or_hold(definition, user, previous, reader)
        reads_others: list[str] = []
        if watched is not None:

            def label(person_id: int) -> str:
                found = population.user_by_id(person_id)
                if found is None:
                    return f"person {person_id} (nobody now)"
                return found.email or found.display_name or f"person {person_id}"

            reads_others = describe(watched.stop()[0], label)
        blank: Any = [] if definition.multi else ""
        now = decision.value if decision.value is not None else blank
        stored = row.value if row is not None and row.value is not None else blank
        return Explanation(
            user=record_label(user),  # people without an email have their name
            attribute=definition.name,
            mode=match[0].mode,
            value=row.value if row else None,
            source=row.source if row else "",
            set_at=row.set_at if row else None,
            reason=decision.reason,
            candidates=list(decision.candidates),
            expressions={
                compiled.key: source.cel
                for compiled, source in zip(definition.sources, match[0].sources, strict=True)
                if source.cel
            },
            pending=now if now != stored else None,
            has_pending=now != stored,
            reads_others=reads_others,
        )

    def user_detail(self, user_id: int) -> UserDetail:
        """A person with every configured attribute (value and source) and linked account.
        Read from the store a query at a time until the population is loaded: showing one
        person loaded everyone first (8 s and 1.2 GB at 100,000 people, issue 11)."""
        population = self.ctx.directory()
        user = population.user_by_id(user_id)
        if user is None:
            raise NotFound(f"There is no person {user_id}; search again.")
        definitions = self.ctx.config().attributes
        with self.ctx.db.session() as session:
            states = {
                row.attribute: row
                for row in session.scalars(
                    select(AttributeValue).where(col(AttributeValue.user_id) == user_id)
                )
            }
            app_names: dict[str, str] = dict(
                session.execute(select(col(App.id), col(App.name))).all()
            )
            held = {h.attribute: h.accounts for h in load_held(session) if h.user_id == user_id}
        attributes = []
        for definition in definitions:
            row = states.get(definition.name)
            attributes.append(
                AttributeRow(
                    definition.name,
                    row.value if row else None,
                    row.source if row else "",
                    definition.mode,
                    held.get(definition.name, ()),
                )
            )
        accounts = [
            LinkedAccount(
                key=f"{a.app_id}:{a.external_id}",
                app=a.app_id,
                app_name=app_names.get(a.app_id, a.app_id),
                display_name=a.display_name,
                email=a.email,
                status=a.status,
                link_kind=a.link_kind or "",
                pinned=a.pinned,
                entitlements=list(a.entitlements),
            )
            for a in sorted(
                population.accounts_of(user_id), key=lambda a: (a.app_id, a.external_id)
            )
        ]
        config = self.ctx.config()
        mine = population.accounts_of(user_id)
        directories = directory_order(config)
        with self.ctx.db.session() as session:
            left_out = left_out_by_filter(session, config)
        everyone = cast("Population", _Everyone(self.ctx.population))
        flags = [
            flag
            for flag in (
                LostPrimary(everyone, directories, left_out).flag(user, mine),
                Leavers(everyone, directories).flag(user, mine),
            )
            if flag
        ]
        return UserDetail(user, attributes, accounts, flags)

    def set_link(
        self,
        account_key: str,
        who: str | int | None,
        *,
        pin: bool = True,
        actor: str | None = None,
        seen_owner: int | None | EllipsisType = ...,
    ) -> LinkResult:
        """Link an account to a person (email or id) or unlink it (None). Manual decisions are
        pinned so the next sync's rules leave them alone; `pin=False` hands it back to them.
        The link is audited, and the next sync reconsiders the account (manual generation).
        `seen_owner`: the owner the admin saw (the console's); refused if it changed meanwhile."""
        account = self.records.account_by_key(account_key)
        user = self.records.person(who) if who is not None else None
        with self.ctx.db.session() as session, session.begin():
            what = f"Linking {account_key}" if user else f"Unlinking {account_key}"
            refuse_while_applying(self.ctx.db, session, what)
            row = session.get(Account, account.id)
            if row is None:
                raise NotFound(f"No account {account_key!r}.")
            _check_owner(row, seen_owner, account_key)
            owner_before = row.owner_id
            before = {"owner_id": row.owner_id, "link_kind": row.link_kind, "pinned": row.pinned}
            # another admin's link (made a moment ago, perhaps) is replaced: said, not silent
            was = session.get(Person, row.owner_id) if row.owner_id is not None else None
            if was is not None and user is not None and was.id == user.id:
                was = None
            previous = (was.email or was.display_name or f"person {was.id}") if was else None
            previous_manual = was is not None and row.link_kind == "manual"
            if user is None or row.owner_id != user.id:
                row.owner_id = user.id if user else None
                row.link_kind = "manual" if user else None
            # linked to the person who has it already: the link stays as it was made (a
            # directory's record made manual would stop lending them its identifiers), pinned
            row.pinned = pin
            session.add(row)
            after = {"owner_id": row.owner_id, "link_kind": row.link_kind, "pinned": row.pinned}
            bump_manual_generation(session, [(row.app_id, row.external_id, owner_before)])
            session.add(
                AuditEvent(
                    actor=actor or current_actor(),
                    action="link" if user else "unlink",
                    object_kind="account",
                    object_name=account_key,
                    before=before,
                    after=after,
                )
            )
        self.ctx.invalidate()
        owner = (user.email or user.display_name or f"person {user.id}") if user else None
        return LinkResult(account_key, owner, pin, previous, previous_manual)

    def pin(
        self,
        account_key: str,
        pinned: bool = True,
        actor: str | None = None,
        seen_owner: int | None | EllipsisType = ...,
    ) -> LinkResult:
        """Pin (or release) an account's current link as it is; `seen_owner` as for set_link."""
        account = self.records.account_by_key(account_key)
        with self.ctx.db.session() as session, session.begin():
            refuse_while_applying(
                self.ctx.db, session, f"{'Pinning' if pinned else 'Unpinning'} {account_key}"
            )
            row = session.get(Account, account.id)
            if row is None:
                raise NotFound(f"No account {account_key!r}.")
            _check_owner(row, seen_owner, account_key)
            session.add(
                AuditEvent(
                    actor=actor or current_actor(),
                    action="pin" if pinned else "unpin",
                    object_kind="account",
                    object_name=account_key,
                    before={"pinned": row.pinned},
                    after={"pinned": pinned},
                )
            )
            row.pinned = pinned
            session.add(row)
            bump_manual_generation(session, [(row.app_id, row.external_id, row.owner_id)])
            owner = session.get(Person, row.owner_id) if row.owner_id else None
            owner_email = owner.email if owner else None
        self.ctx.invalidate()
        return LinkResult(account_key, owner_email, pinned)


def _check_owner(row: Account, owner: int | None | EllipsisType, account_key: str) -> None:
    """Refuse a decision taken on a link that changed since the admin saw it: another admin
    unlinked the account, and Pin then said "Pin it to Paul" of a link that was gone."""
    if owner is not ... and row.owner_id != owner:
        raise InvalidInput(
            f"{account_key!r} is no longer linked as it was shown: someone changed its link "
            "meanwhile. Nothing was changed; the screen now shows it as it is."
        )


class _Everyone:
    """The population, loaded when first read: a person's care flags look beyond their own
    accounts only when their primary-directory record is missing or they were removed."""

    def __init__(self, load: Callable[[], Population]) -> None:
        self._load = load

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load(), name)
