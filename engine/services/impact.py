"""Impact before saving and the match matrix: the identify and ownership stages over the
stored records, with the saved configuration or an edited one, and nothing written.

No lock is taken: a preview never waits for a sync (it reads the records as they are). The
saved configuration's outcome and the last matrices are kept until the records or the saved
configuration change, so an editor asking again while the admin types pays for one side only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from sqlalchemy import Result, func, select

from engine.cel import SWEEP_CACHE_LIMIT, CelEngine, CelEvalError
from engine.collector import collector_paused
from engine.config.model import RosterConfig
from engine.errors import InvalidInput, NotFound, Stopped
from engine.records import AccountRecord, Population, UserRecord
from engine.services.context import ServiceContext
from engine.store.models import Account
from engine.store.repo import load_accounts
from engine.sync.identify import directory_decider
from engine.sync.matrix import (
    KINDS,
    MatchMatrix,
    MatrixListing,
    MatrixMemo,
    MatrixResult,
    compute_matrix,
    listing,
    only,
)
from engine.sync.simulate import (
    _ACCOUNT_FIELDS,
    DECISIONS,
    IdentityImpact,
    Outcome,
    SimulationCancelled,
    compare,
    no_decisions,
    simulate,
)
from engine.sync.state import AccountKey, WorkState
from engine.text import value_text

ImpactProgress = Callable[[str, int, int], None]  # what, done, total
ListKind = Literal["ambiguous", "unmatched", "unowned"]
KEEP_MATRICES = 4


class ImpactService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._decisions: tuple[Population, dict[AccountKey, str]] | None = None
        self._baseline: tuple[Population, RosterConfig, Outcome] | None = None
        self._matrices: list[tuple[Population, RosterConfig, MatrixResult]] = []
        self._memo: tuple[Population, MatrixMemo] | None = None

    # --- the records and the stored decisions ----------------------------------------------
    def _records(self) -> tuple[Population, dict[AccountKey, str]]:
        """The cached records and the directory accounts' stored filter decisions (which an
        account whose filter fails keeps, as in a sync)."""
        population = self.ctx.population()
        with self._lock:
            if self._decisions is not None and self._decisions[0] is population:
                return self._decisions
        a = Account.__table__.c  # type: ignore[attr-defined]
        with self.ctx.db.session() as session:
            rows = cast(  # sqlmodel's Session.execute drops the row types
                "Result[str, str, str | None]",
                session.execute(select(a.app_id, a.external_id, a.filter_result)),
            )
            decisions = {(app, ext): d for app, ext, d in rows if d}
        with self._lock:
            self._decisions = (population, decisions)
        return population, decisions

    @collector_paused()  # hundreds of thousands of CEL values, kept until the end
    def decision_counts(
        self, config: RosterConfig, *, cancelled: Callable[[], bool] | None = None
    ) -> dict[str, dict[str, int]]:
        """What CONFIG's filters decide for each directory's living accounts today (app ->
        CREATE, MATCH_ONLY, IGNORE, errors), as `identity_impact(config).decision_counts`
        counts them: from the filters alone when they can (`filter_counts`: seconds at
        100,000 people, where identify and ownership took half a minute and 2.5 GB, issue
        11), else by `identity_impact`. Cancelled: Stopped.

        Not the decisions the store holds (`stored_decision_counts`): a sync decides again
        only the accounts whose data it imported changed, so those can lag."""
        counts = self.filter_counts(config, cancelled=cancelled)
        if counts is not None:
            return counts
        impact = self.identity_impact(config, cancelled=cancelled)
        if impact.cancelled:
            raise Stopped("the count was cancelled")
        return impact.decision_counts

    def filter_counts(
        self, config: RosterConfig, *, cancelled: Callable[[], bool] | None = None
    ) -> dict[str, dict[str, int]] | None:
        """`decision_counts` from each directory's filter run alone over its living
        accounts: a filter that reads only its account decides the same whatever identify
        and ownership do around it. None when a filter reads beyond its account (the clock,
        other people), does not compile, or the configuration is not one a sync runs (an
        app named twice, an unknown app). Cancelled: Stopped."""
        if cancelled is not None and cancelled():
            raise Stopped("the count was cancelled")
        apps = [d.app for d in config.directories]
        if len(set(apps)) != len(apps) or not set(apps) <= {a.id for a in config.apps}:
            return None  # not a configuration a sync runs: identity_impact says why
        cel = CelEngine(cache_limit=SWEEP_CACHE_LIMIT)
        deciders: dict[str, Callable[[AccountRecord], str]] = {}
        try:
            for directory in config.directories:
                decide, reads_beyond = directory_decider(directory, cel)
                if reads_beyond:
                    return None
                deciders[directory.app] = decide
        except ValueError:  # does not compile: identity_impact says where
            return None
        counts = no_decisions(list(deciders))
        loaded = self.ctx.directory()  # the population when an editor has loaded it
        if isinstance(loaded, Population):
            accounts = [
                x for x in loaded.accounts if x.app_id in deciders and x.status != "DELETED"
            ]
        else:
            a = Account.__table__.c  # type: ignore[attr-defined]
            with self.ctx.db.session() as session:
                accounts = load_accounts(
                    session, a.app_id.in_(list(deciders)), a.status != "DELETED", stop=cancelled
                )
        for position, account in enumerate(accounts):
            if position % 2000 == 0 and cancelled is not None and cancelled():
                raise Stopped("the count was cancelled")
            try:
                decision = deciders[account.app_id](account)
            except (CelEvalError, ValueError):
                decision = "errors"
            counts[account.app_id][decision] += 1
        return counts

    def stored_decision_counts(self, config: RosterConfig) -> dict[str, dict[str, int]]:
        """The decisions the store holds for CONFIG's directories' living accounts, counted
        by the store (a living directory account without one counts as an error): what the
        Directories screen shows, dimmed, while it counts today's (`decision_counts`). They
        can lag today's: a sync decides again only what changed, and only with the
        configuration it ran with."""
        apps = [d.app for d in config.directories]
        counts = no_decisions(apps)
        a = Account.__table__.c  # type: ignore[attr-defined]
        with self.ctx.db.session() as session:
            rows: Any = session.execute(
                select(a.app_id, a.filter_result, func.count())
                .where(a.app_id.in_(apps), a.status != "DELETED")
                .group_by(a.app_id, a.filter_result)
            )
            for app, decision, count in rows:
                tally = counts[app]
                key = decision if decision in DECISIONS else "errors"
                tally[key] += count
        return counts

    # --- impact ----------------------------------------------------------------------------
    @collector_paused()  # hundreds of thousands of CEL values, kept until the end
    def identity_impact(
        self,
        edited: RosterConfig,
        *,
        progress: ImpactProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> IdentityImpact:
        """EDITED's identify + ownership outcome against the saved configuration's, over the
        same stored records. Cancelled: an IdentityImpact with `cancelled=True`."""
        total = 4

        def step(what: str, done: int) -> Callable[[str], None]:
            def report(stage: str) -> None:
                if progress is not None:
                    progress(f"{what}: {stage}", done + (stage == "ownership"), total)

            return report

        try:
            population, decisions = self._records()
            saved = self.ctx.config()
            before = self._saved_outcome(population, decisions, saved, step("saved", 0), cancelled)
            if edited == saved:
                after = before
            else:
                after = simulate(
                    population, decisions, edited, cancelled=cancelled, progress=step("edited", 2)
                )
        except SimulationCancelled:
            return IdentityImpact.stopped()
        result = compare(before, after)
        if progress is not None:
            progress("done", total, total)
        return result

    def _saved_outcome(
        self,
        population: Population,
        decisions: dict[AccountKey, str],
        saved: RosterConfig,
        progress: Callable[[str], None],
        cancelled: Callable[[], bool] | None,
    ) -> Outcome:
        with self._lock:
            cached = self._baseline
        if cached is not None and cached[0] is population and cached[1] == saved:
            return cached[2]
        outcome = simulate(population, decisions, saved, cancelled=cancelled, progress=progress)
        with self._lock:
            self._baseline = (population, saved, outcome)
        return outcome

    def link_impact(
        self, account_key: str, person_id: int | None, *, pin: bool = True, release: bool = False
    ) -> LinkImpact:
        """What linking ACCOUNT_KEY to PERSON_ID (None: unlinking it) changes beyond it.
        `release`: what unpinning it changes instead (its link as it is, the rules free to
        change it; PERSON_ID its owner now): `after` is then whom the rules give it to."""
        population, decisions = self._records()
        saved = self.ctx.config()
        before = self._saved_outcome(population, decisions, saved, lambda stage: None, None)
        return link_impact(
            self.ctx, population, decisions, account_key, person_id, before, pin, release
        )

    # --- the match matrix ------------------------------------------------------------------
    def _matrix(
        self, config: RosterConfig | None, cancelled: Callable[[], bool] | None = None
    ) -> tuple[RosterConfig, MatrixResult]:
        population = self.ctx.population()
        config = config if config is not None else self.ctx.config()
        with self._lock:
            for known_population, known_config, result in self._matrices:
                if known_population is population and known_config == config:
                    return config, result
        with self._lock:
            if self._memo is None or self._memo[0] is not population:
                self._memo = (population, MatrixMemo())
            memo = self._memo[1]
        with collector_paused():  # hundreds of thousands of CEL values, kept until the end
            result = compute_matrix(population, config, cancelled=cancelled, memo=memo)
        with self._lock:
            kept = [m for m in self._matrices if m[0] is population][-(KEEP_MATRICES - 1) :]
            self._matrices = [*kept, (population, config, result)]
        return config, result

    def _check_app(self, config: RosterConfig, app: str | None) -> None:
        if app is not None and config.app(app) is None:
            names = ", ".join(a.id for a in config.apps) or "none"
            raise NotFound(f"No app {app!r} in the configuration; the apps are: {names}.")

    def merge_matrix(
        self, app: str | None = None, *, config: RosterConfig | None = None
    ) -> MatchMatrix:
        config, result = self._matrix(config)
        self._check_app(config, app)
        return only(result.matrix, app)

    def matrix_accounts(
        self,
        kind: ListKind,
        app: str | None = None,
        *,
        rule: str | None = None,
        config: RosterConfig | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> MatrixListing:
        if kind not in KINDS:  # before any work
            raise InvalidInput(f"Unknown list {kind!r}; use one of: {', '.join(KINDS)}.")
        config, result = self._matrix(config)
        self._check_app(config, app)
        return listing(result, kind, app, rule, offset, limit)


# --- what a link changes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Relink:
    """Another account whose person the link changes."""

    account: str  # APP:EXTERNAL_ID
    before: str | None  # person label, None when unowned
    after: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ValueChange:
    """OLD: what the next sync would give without the link; NEW: with it. SHOWN: the stored
    value (what the Users screen and `people show` show now) when it is not OLD: the data or
    the configuration changed since the last sync, and the next sync changes it anyway."""

    person: str
    attribute: str
    old: Any
    new: Any
    shown: tuple[Any, ...] = ()  # (the stored value,) when it differs from OLD
    # the person is not one the link moves an account between: their attribute reads one
    # who is (their manager, through the directory functions)
    reader: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "attribute": self.attribute,
            "old": self.old,
            "new": self.new,
            "stored": self.shown[0] if self.shown else self.old,
            "reader": self.reader,
        }

    def line(self, otherwise: str = "without the link") -> str:
        """From the value shown now: "a → b", and what the next sync gives OTHERWISE (without
        the link, if the account stays linked or pinned) when that is not the value shown (a
        newcomer read "Sales → IT" beside "Marketing")."""
        change = f"{value_text(self.old)} → {value_text(self.new)}"
        if self.shown:
            now = self.shown[0]
            change = (
                f"stays {value_text(now)}"
                if _same_value(now, self.new)
                else f"{value_text(now)} → {value_text(self.new)}"
            )
            change += f" ({otherwise}, the next sync gives {value_text(self.old)})"
        reads = " (reads someone it moves)" if self.reader else ""
        return f"{self.person} · {self.attribute}{reads}: {change}"


def _same_value(a: Any, b: Any) -> bool:
    """Whether two attribute values are alike, none, "" and [] all being no value."""
    empty: tuple[Any, ...] = (None, "", [])
    return a == b or (a in empty and b in empty)


@dataclass(frozen=True)
class PushChange:
    """A value the next sync would write to a push target because of the link."""

    account: str  # APP:EXTERNAL_ID
    person: str
    target: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "person": self.person,
            "target": self.target,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class LinkImpact:
    """What linking (or unlinking) one account changes beyond that account, as the next sync
    would decide with the link in place: other accounts re-linked or unlinked, people created
    or removed, and the attribute values of the people involved."""

    account: str
    before: str | None  # the account's person now
    after: str | None  # its person with the link
    relinked: list[Relink]
    people_created: list[str]
    people_removed: list[str]
    attributes: list[ValueChange]
    # what the next sync would then write to the push targets for the people involved, beyond
    # what it would write without the link
    pushes: list[PushChange] = field(default_factory=list)
    # the fields identify sets from the accounts (employee_ids, emails, status) that change
    identity: list[ValueChange] = field(default_factory=list)
    # the other live accounts of the account's app its person then holds (a second HR record
    # is not merged by any rule: it is worth a word before it is made by hand)
    same_app: list[str] = field(default_factory=list)
    # of those accounts and this one, the one the attributes' sources in that app then read
    # (the first of the person's accounts of the app: the one Roster has known longest)
    same_app_read: str = ""
    # the accounts of the app the account's person now keeps once it goes (None: it stays)
    before_same_app: list[str] | None = None
    # what not doing it is, as a value's line says what the next sync gives then
    otherwise: str = "without the link"
    # a link or unlink made unpinned that the next sync's rules undo: whom they give the
    # account to (None: nobody); `lasts` is False then
    lasts: bool = True
    rules_after: str | None = None

    @property
    def quiet(self) -> bool:
        return self.lasts and not (
            self.identity
            or self.relinked
            or self.people_created
            or self.people_removed
            or self.attributes
            or self.pushes
            or self.same_app
            or self.before_same_app == []
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "before": self.before,
            "after": self.after,
            "relinked": [r.as_dict() for r in self.relinked],
            "people_created": self.people_created,
            "people_removed": self.people_removed,
            "identity": [a.as_dict() for a in self.identity],
            "attributes": [a.as_dict() for a in self.attributes],
            "pushes": [p.as_dict() for p in self.pushes],
            "same_app": self.same_app,
            "same_app_read": self.same_app_read,
            "before_same_app": self.before_same_app,
            "lasts": self.lasts,
            "rules_after": self.rules_after,
        }

    def lines(self) -> list[str]:
        """How the CLI and the console's confirmation say it (data shown literally by them):
        who is who first, then what would be written to other apps, then the values."""
        out = []
        if not self.lasts:
            out.append(
                f"unpinned, it does not last: the next sync's rules give {self.account} "
                f"to {self.rules_after or 'nobody'}"
            )
        if self.same_app and self.after:
            app = self.account.partition(":")[0]
            held = ", ".join(self.same_app)
            read = f"; its {app} attributes are read from {self.same_app_read}"
            out.append(
                f"{self.after} then has {len(self.same_app) + 1} {app} accounts: "
                f"{self.account} and {held}{read if self.same_app_read else ''}"
            )
        if self.before_same_app == [] and self.before and self.before not in self.people_removed:
            app = self.account.partition(":")[0]
            out.append(f"{self.before} then has no {app} account")
        for r in self.relinked:
            out.append(f"{r.account}: {r.before or 'nobody'} → {r.after or 'nobody'}")
        out += [f"person created: {p}" for p in self.people_created]
        out += [f"person removed: {p}" for p in self.people_removed]
        out += [
            f"push {p.account} ({p.person}) · {p.target}: {value_text(p.old)} → {value_text(p.new)}"
            for p in self.pushes
        ]
        out += [change.line(self.otherwise) for change in (*self.identity, *self.attributes)]
        return out


LINK_SAMPLES = 20


def _person_label(state: WorkState, user_id: int | None) -> str | None:
    return state.owner_label(user_id) if user_id is not None else None


def link_impact(
    ctx: ServiceContext,
    population: Population,
    decisions: dict[AccountKey, str],
    account_key: str,
    person_id: int | None,
    before: Outcome,
    pin: bool = True,
    release: bool = False,
) -> LinkImpact:
    """Simulate identify and ownership with the link made (pinned, by hand) and compare with
    BEFORE (the saved configuration over the same records); then compute the attributes of the
    people whose accounts move, before and after."""
    config = ctx.config()
    app_id, _, external_id = account_key.partition(":")
    accounts = []
    stored_owner = None  # whom the store links it to now (the rules may undo it: below)
    for account in population.accounts:
        if (account.app_id, account.external_id) == (app_id, external_id):
            stored_owner = account.owner_id
            account = AccountRecord(*_ACCOUNT_FIELDS(account))
            if not release and (person_id is None or account.owner_id != person_id):
                account.owner_id = person_id  # (to its own person: as set_link, only pinned)
                account.link_kind = "manual" if person_id is not None else None
            account.pinned = pin
        accounts.append(account)
    edited = Population(population.users, accounts, population.entitlement_names)
    after = simulate(edited, decisions, config)
    relinked: list[Relink] = []
    involved: set[int] = {person_id} if person_id is not None else set()
    for key, account in after.state.accounts.items():
        old = before.state.accounts.get(key)
        if old is None:
            continue
        if before.person_key(old.owner_id) != after.person_key(account.owner_id):
            involved.update(i for i in (old.owner_id, account.owner_id) if i and i > 0)
            if key != (app_id, external_id):
                relinked.append(
                    Relink(
                        f"{key[0]}:{key[1]}",
                        _person_label(before.state, old.owner_id),
                        _person_label(after.state, account.owner_id),
                    )
                )
    relinked.sort(key=lambda r: r.account)
    impact = compare(before, after)
    mine = before.state.accounts.get((app_id, external_id))
    # released, the account goes where the rules put it; else to the person it is linked to
    theirs = after.state.accounts.get((app_id, external_id)) if release else None
    owner_after = theirs.owner_id if theirs is not None else person_id
    if owner_after is not None and owner_after > 0:
        involved.add(owner_after)
    attributes, pushes = _attribute_changes(ctx, config, before, after, sorted(involved))
    # linked unpinned, the account is the rules' again: they may give it to someone else
    ruled = after.state.accounts.get((app_id, external_id)) if not (pin or release) else None
    lasts = ruled is None or ruled.owner_id == person_id
    # a field of the person that is also an attribute (employee_id) is listed once when both
    # change alike; it is left out of neither (the person's own employee_id was never listed)
    stored = {u.id: u for u in population.users if u.id in involved}
    identity = _identity_changes(before, after, sorted(involved), stored)
    return LinkImpact(
        account_key,
        # (the store's link, not the one the next sync would leave without this decision: an
        # unpinned link by hand is the rules' to undo)
        _person_label(before.state, stored_owner),
        _person_label(after.state, owner_after),
        relinked[:LINK_SAMPLES],
        impact.samples["people_created"],
        impact.samples["people_removed"],
        attributes,
        pushes,
        identity=[c for c in identity if c not in attributes],
        same_app=_same_app(after, app_id, external_id, owner_after),
        same_app_read=_read_from(after, app_id, owner_after),
        before_same_app=(
            _same_app(after, app_id, external_id, mine.owner_id)
            if mine is not None and mine.owner_id is not None and mine.owner_id != owner_after
            else None
        ),
        otherwise=(
            "if it stays pinned"
            if release
            else "if it stays linked"
            if person_id is None
            else "without the link"
        ),
        lasts=lasts,
        rules_after=None if lasts or ruled is None else _person_label(after.state, ruled.owner_id),
    )


def _same_app(after: Outcome, app_id: str, external_id: str, owner: int | None) -> list[str]:
    """The other live accounts of APP that OWNER holds once the link is made."""
    if owner is None:
        return []
    return sorted(
        f"{app}:{external}"
        for (app, external), account in after.state.accounts.items()
        if app == app_id
        and external != external_id
        and account.owner_id == owner
        and account.status != "DELETED"
    )[:LINK_SAMPLES]


def _read_from(after: Outcome, app_id: str, owner: int | None) -> str:
    """The account of APP whose values OWNER's attribute sources read once the link is made
    (engine.sync.attributes.SourceReader: the first live one of the person's accounts)."""
    if owner is None:
        return ""
    for account in after.state.accounts_by_owner().get(owner, ()):
        if account.app_id == app_id and account.status != "DELETED":
            return f"{app_id}:{account.external_id}"
    return ""


def _attribute_changes(
    ctx: ServiceContext,
    config: RosterConfig,
    before: Outcome,
    after: Outcome,
    people: list[int],
) -> tuple[list[ValueChange], list[PushChange]]:
    """The attribute values of PEOPLE before and after, and what the push rules would then
    write for them that they would not write without the link."""
    from engine.cel import CelEngine, CelLimits
    from engine.services.values import stored_attribute_states
    from engine.sync.values import AttributeValues, compute_attributes

    names = [a.name for a in config.attributes]
    # and whoever reads them (their reports' manager_department): a link was listed without
    # them, and the sync then changed their values too (review: 24 of 138 changes)
    readers = _readers_of(ctx, config, before, after, people)
    people = sorted(set(people) | readers)
    previous = stored_attribute_states(ctx, people)
    changes: list[ValueChange] = []

    def computed(outcome: Outcome) -> dict[str, AttributeValues]:
        users = [outcome.state.users[i] for i in people if i in outcome.state.users]
        users = [u for u in users if u.status != "DELETED"]
        population = outcome.state.population()
        owned: dict[int, list[AccountRecord]] = {}
        for account in outcome.state.accounts.values():
            if account.owner_id in people:
                owned.setdefault(account.owner_id, []).append(account)
        cel = CelEngine(
            population, limits=CelLimits.of(config.settings.cel), cache_limit=SWEEP_CACHE_LIMIT
        )
        return compute_attributes(config, names, users, owned, previous, cel, lambda done: None)

    old, new = computed(before), computed(after)
    for user_id in people:
        gone = after.state.users.get(user_id)
        if gone is None or gone.status == "DELETED":
            continue  # a removed person's values are kept as they were (listed as removed)
        label = before.state.owner_label(user_id) or f"person {user_id}"
        for name in names:
            a, b = old[name].value(user_id), new[name].value(user_id)
            if a != b:
                stored = previous.get((user_id, name))
                shown = stored.value if stored is not None else None
                changes.append(
                    ValueChange(
                        label,
                        name,
                        a,
                        b,
                        () if _same_value(shown, a) else (shown,),
                        reader=user_id in readers,
                    )
                )
    without = _pushes(ctx, config, before, old, people)
    pushes = [
        change
        for key, change in _pushes(ctx, config, after, new, people).items()
        if without.get(key) != change
    ]
    return changes, pushes


def _readers_of(
    ctx: ServiceContext, config: RosterConfig, before: Outcome, after: Outcome, people: list[int]
) -> set[int]:
    """The people whose attributes read PEOPLE (through the directory functions), and those
    who read them in turn, as the last sync recorded who reads whom (engine/sync/reads.py);
    everyone when it recorded nothing (the sync then computes everyone too)."""
    from engine.cel import CelEngine
    from engine.store.repo import get_meta
    from engine.sync import reads
    from engine.sync.attributes import compile_attributes

    definitions = compile_attributes(config.attributes, CelEngine())
    if not any(
        source.program is not None and source.program.reads_directory
        for definition in definitions
        for source in definition.sources
    ):
        return set()
    with ctx.db.session() as session:
        graph = reads.load(get_meta(session, reads.META_KEY))
    if graph is None:
        return {user_id for user_id in after.state.users if user_id > 0} - set(people)
    names = [d.name for d in definitions]
    found: set[int] = set()
    reached = set(people)
    while reached:
        moved: set[str] = set()
        for user_id in reached:
            for outcome in (before, after):
                user = outcome.state.users.get(user_id)
                if user is not None:
                    moved |= reads.person_keys(user)
            moved.update(f"v:{user_id}:{name}" for name in names)
        reached = graph.readers_of(moved) - found - set(people)
        found |= reached
    return found


def _identity_changes(
    before: Outcome, after: Outcome, people: list[int], stored: dict[int, UserRecord]
) -> list[ValueChange]:
    """The fields identify sets from a person's accounts (employee_ids, emails, …) that the
    link changes: an unlink that clears an employee id said nothing of it (hostile review).
    STORED: the people as the store holds them (what is shown now)."""
    from engine.sync.identify import IDENTITY_FIELDS

    changes = []
    for user_id in people:
        old, new = before.state.users.get(user_id), after.state.users.get(user_id)
        if old is None or new is None or new.status == "DELETED":
            continue
        label = before.state.owner_label(user_id) or f"person {user_id}"
        shown_now = stored.get(user_id)
        for name in IDENTITY_FIELDS:
            a, b = getattr(old, name), getattr(new, name)
            if a != b:
                now = getattr(shown_now, name) if shown_now is not None else a
                changes.append(
                    ValueChange(label, name, a, b, () if _same_value(now, a) else (now,))
                )
    return changes


def _pushes(
    ctx: ServiceContext,
    config: RosterConfig,
    outcome: Outcome,
    values: dict[str, Any],
    people: list[int],
) -> dict[tuple[str, str], PushChange]:
    """What the push rules would write for PEOPLE in OUTCOME with their attribute VALUES:
    (account, target) -> the change."""
    from dataclasses import replace

    from engine.cel import CelEngine, CelLimits
    from engine.store.models import App
    from engine.sync.push import plan_push
    from engine.sync.state import StageReport

    if not config.push_rules or not people:
        return {}
    with ctx.db.session() as session:
        apps = {row.id: row for row in session.scalars(select(App))}
    state = outcome.state
    # c1.* functions in mappings see everyone, as in a sync
    cel = CelEngine(
        state.population(),
        limits=CelLimits.of(config.settings.cel),
        cache_limit=SWEEP_CACHE_LIMIT,
    )
    saved_users, saved_changes = state.users, state.changes
    # the people with the values the attributes stage would give them (copies: the outcome's
    # records are shared with the cached population)
    state.users = {
        uid: replace(
            user,
            attributes={**user.attributes, **{name: v.value(uid) for name, v in values.items()}},
        )
        for uid, user in saved_users.items()
        if uid in people
    }
    state.changes = []
    try:
        items = plan_push(state, config, apps, cel, StageReport("push"), people=set(people))
    finally:
        state.users, state.changes = saved_users, saved_changes
    return {
        (item.account_key, target): PushChange(item.account_key, item.user_label, target, o, n)
        for item in items
        if not item.error
        for target, (o, n) in item.changes.items()
    }
