"""Value impact: what an attribute, flow-rule or push-rule edit does to people's values and to
what is pushed, before it is saved (docs/attributes.md, docs/push-rules.md).

The saved and the edited configuration are both run through the sync's own attribute decision
and push planning over the stored records (engine.sync.values), and compared person by person
and write by write. Without an edited configuration it reports the saved one's outcome: how
many people have a value, the distinct values, and every source that fails.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import String, cast, func, select

from engine.collector import collector_paused
from engine.config.model import Attribute, RosterConfig
from engine.errors import NotFound
from engine.records import Population, UserRecord
from engine.services.context import ServiceContext
from engine.services.records import RecordsService
from engine.store.models import App, AttributeValue, Person
from engine.sync.attributes import is_empty
from engine.sync.loading import load_attribute_states
from engine.sync.simulate import SimulationCancelled
from engine.sync.state import AttributeState, WorkState
from engine.sync.values import (
    AttributeValues,
    PushOutcome,
    Reader,
    cancelled_check,
    compute_attributes,
    live_users,
    plan,
    pushed_attributes,
    readers_of,
    with_values,
)
from engine.text import one_line

SAMPLES = 20
PEOPLE_SAMPLES = 10
DISTINCT = 20
ERRORS_KEPT = 200
_POSITION = re.compile(r"\b(line \d+, )?column \d+\b")


@dataclass(frozen=True)
class AttributeChange:
    """One person's attribute under the saved and the edited configuration."""

    person_id: int
    person: str
    attribute: str
    old: Any  # saved configuration ("" / [] when empty)
    new: Any  # edited configuration
    reason: str  # the decision's reason under the edited configuration, as `explain` says it
    source: str  # the source that won under the edited configuration ("" if none)


@dataclass(frozen=True)
class SourceError:
    person_id: int
    person: str
    attribute: str
    source: str  # "cel: …" or "hr.profile.department"
    message: str
    position: str  # "column 12", "line 2, column 5" or ""


@dataclass(frozen=True)
class AttributeOutcome:
    """One attribute under the edited configuration (the saved one when nothing is edited)."""

    name: str
    multi_valued: bool
    with_value: int
    empty: int
    distinct: list[tuple[Any, int]]  # most common first; each element of a multi-valued one
    errors: list[SourceError]  # up to ERRORS_KEPT
    error_count: int  # people with a failing source
    changed: int  # people whose value differs, saved -> edited
    samples: list[AttributeChange]
    # the edited attributes this one reads (directly or through others): reported because an
    # edit of those changes it (none when it is edited itself, or nothing is edited)
    reads: tuple[str, ...] = ()
    # when it reads none of them directly: the attributes it reads them through
    through: tuple[str, ...] = ()
    # in authority mode (flow rules) under the edited configuration: a value stays until a
    # source's value changes, so an edit of its sources or rules changes no one's at once
    authority: bool = False


@dataclass(frozen=True)
class PushWrite:
    rule: str
    account: str  # "app:external_id"
    person: str
    target: str
    current: Any  # what the app holds now
    saved: Any | None  # the value the saved configuration maintains (None: it does not)
    edited: Any | None  # the value the edited configuration maintains (None: it does not)


@dataclass(frozen=True)
class PushDifference:
    """One push rule, saved against edited."""

    rule: str
    app: str
    targeted: int  # people the edited rule targets
    entered: int  # targeted by the edited rule, not by the saved one
    left: int  # targeted by the saved rule, not by the edited one
    entered_samples: list[str]
    left_samples: list[str]
    writes_saved: int  # values (account, target) the saved rule maintains, up to date or not
    writes_edited: int  # ... the edited rule maintains
    pending: int  # of the edited rule's, those the next sync would send (the app differs)
    added: int  # values only the edited rule maintains, or with another value
    removed: int  # values the edited rule no longer maintains (pushes that disappear)
    failed: int  # accounts the edited rule fails on
    samples: list[PushWrite]
    errors: list[str]


@dataclass(frozen=True)
class ValueImpact:
    people: int
    attributes: dict[str, AttributeOutcome]
    push: dict[str, PushDifference]
    person: dict[str, AttributeChange] | None = None
    cancelled: bool = False

    @property
    def changed(self) -> int:
        return sum(o.changed for o in self.attributes.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "people": self.people,
            "cancelled": self.cancelled,
            "attributes": {
                name: {**asdict(o), "distinct": [[v, n] for v, n in o.distinct]}
                for name, o in self.attributes.items()
            },
            "push": {name: asdict(d) for name, d in self.push.items()},
            "person": None
            if self.person is None
            else {name: asdict(c) for name, c in self.person.items()},
        }

    @classmethod
    def stopped(cls) -> ValueImpact:
        return cls(0, {}, {}, None, cancelled=True)


def differing_attributes(saved: RosterConfig, edited: RosterConfig) -> list[str]:
    """Attributes added, removed or defined differently (flow rules included)."""
    before = {a.name.casefold(): a for a in saved.attributes}
    after = {a.name.casefold(): a for a in edited.attributes}
    names = []
    for folded in sorted(before.keys() | after.keys()):
        old, new = before.get(folded), after.get(folded)
        if old != new:
            names.append((new or old).name)  # type: ignore[union-attr]
    return names


def _readers(
    saved: RosterConfig, edited: RosterConfig, names: list[str], cel: Any
) -> dict[str, Reader]:
    """The attributes, not among NAMES, that read one of them in either configuration (those
    the edited one defines first, in its order; as the edited one reads, where both do)."""
    out: dict[str, Reader] = {}
    for config in (edited, saved):
        for name, reader in readers_of(config, names, cel).items():
            if all(n.casefold() != name.casefold() for n in out):
                out[name] = reader
    return out


def _source_label(definition: Attribute | None, key: str) -> str:
    """A decision's source key ("cel[1]", "hr:profile.department") in the admin's words."""
    if key.startswith("cel[") and definition is not None:
        index = int(key[4:-1])
        if index < len(definition.sources):
            return "cel: " + one_line(definition.sources[index].cel or "", 80)
    return key  # as the sources list, `roster explain` and the run's journal name it


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else repr(value)


def stored_attribute_states(
    ctx: ServiceContext, people: list[int] | None
) -> dict[tuple[int, str], AttributeState]:
    """The stored attribute states of PEOPLE (None: everyone's; authority mode decides from
    them), read as a sync reads them (everyone's straight from a SQLite store's driver: 7 s,
    not 10, for 1.4 million at 100,000 people)."""
    holder = WorkState([], [], {}, {})
    holder.attributes_for = set()
    with ctx.db.session() as session:
        load_attribute_states(session, holder, None if people is None else set(people))
    return holder.attributes


class ValuesService:
    def __init__(self, ctx: ServiceContext, records: RecordsService) -> None:
        self.ctx = ctx
        self.records = records
        self._lock = threading.Lock()
        self._previous: tuple[Population, dict[tuple[int, str], AttributeState]] | None = None
        self._apps: tuple[Population, dict[str, Any]] | None = None

    def _stored(self, population: Population) -> tuple[dict[tuple[int, str], AttributeState], Any]:
        """Each person's stored attribute state (authority mode decides from it) and the store's
        apps (their push schemas), cached with the records."""
        with self._lock:
            if self._previous is not None and self._previous[0] is population and self._apps:
                return self._previous[1], self._apps[1]
        previous = stored_attribute_states(self.ctx, None)
        with self.ctx.db.session() as session:
            apps = {row.id: row for row in session.scalars(select(App))}
            for row in apps.values():
                session.expunge(row)
        with self._lock:
            self._previous = (population, previous)
            self._apps = (population, apps)
        return previous, apps

    def stored_value_counts(self) -> dict[str, int]:
        """Per attribute, how many living people have a value as the last sync stored them
        (a count in the store: no record read). What the Attributes screen shows while it
        computes them anew, which takes most of a minute at 100,000 people."""
        v = AttributeValue.__table__.c  # type: ignore[attr-defined]
        p = Person.__table__.c  # type: ignore[attr-defined]
        with self.ctx.db.session() as session:
            rows: Any = session.execute(
                select(v.attribute, func.count())
                .join(Person.__table__, p.id == v.user_id)  # type: ignore[attr-defined]
                .where(
                    p.status != "DELETED",
                    v.value.is_not(None),
                    # an empty value as stored: "", [] or JSON null
                    cast(v.value, String).not_in(['""', "[]", "null"]),
                )
                .group_by(v.attribute)
            )
            return {str(name): int(count) for name, count in rows}

    def attribute_readers(self, name: str) -> dict[str, Reader]:
        """The saved attributes that read the attribute NAME, directly or through others."""
        return readers_of(self.ctx.config(), [name], self.ctx.cel_for_one())

    @collector_paused()  # hundreds of thousands of CEL values, kept until the end
    def value_impact(
        self,
        edited: RosterConfig | None = None,
        *,
        attributes: list[str] | None = None,
        person: str | int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        push: bool = True,
        renamed: Mapping[str, str] | None = None,
    ) -> ValueImpact:
        """What EDITED (None: the saved configuration) does to people's values and to what
        the push rules keep written, against the saved one. `renamed`: push rules the edit
        renames (edited name -> saved name), compared with the rule they were (a renamed rule
        read as new: "every value appears", newcomer review)."""
        saved = self.ctx.config()
        target = edited if edited is not None else saved
        if attributes is None:
            names = (
                [a.name for a in saved.attributes]
                if edited is None
                else differing_attributes(saved, edited)
            )
        else:
            known = {a.name.casefold() for a in saved.attributes + target.attributes}
            unknown = [n for n in attributes if n.casefold() not in known]
            if unknown:
                raise NotFound(
                    f"No attribute {unknown[0]!r}; the configured ones are: "
                    f"{', '.join(a.name for a in target.attributes) or 'none'}."
                )
            names = list(attributes)
        population = self.ctx.population()
        cel = self.ctx.sweep_cel(population)
        readers = _readers(saved, target, names, cel) if edited is not None else {}
        names += list(readers)
        chosen: UserRecord | None = self.records.person(person) if person is not None else None
        previous, apps = self._stored(population)
        users = live_users(population)
        owned: dict[int, list[Any]] = {}
        for account in population.accounts:
            if account.owner_id is not None:
                owned.setdefault(account.owner_id, []).append(account)
        total = len(users)
        # the attributes the push rules read are computed too, as the next sync computes them
        # before it pushes: the stored values miss an attribute saved since the last sync
        compute = list(names)
        if edited is not None and (
            edited.push_rules != saved.push_rules or edited.attributes != saved.attributes
        ):
            pushed = pushed_attributes(saved) | pushed_attributes(target)
            compute += sorted(pushed - {n.casefold() for n in names} - set(names))
        try:
            before = compute_attributes(
                saved,
                compute,
                users,
                owned,
                previous,
                cel,
                cancelled_check(cancelled, progress, "saved values", total),
            )
            after = (
                before
                if edited is None or edited.attributes == saved.attributes
                else compute_attributes(
                    target,
                    compute,
                    users,
                    owned,
                    previous,
                    cel,
                    cancelled_check(cancelled, progress, "edited values", total),
                )
            )
            differences: dict[str, PushDifference] = {}
            if push:
                check = cancelled_check(cancelled, progress, "push plan", total)
                check(0)
                differences = self._push(
                    _renamed(saved, renamed or {}),
                    target,
                    before,
                    after,
                    users,
                    population,
                    apps,
                    cel,
                )
        except SimulationCancelled:
            return ValueImpact.stopped()
        if progress is not None:
            progress("done", total, total)
        outcomes = {
            name: self._outcome(
                target.attribute(name), before[name], after[name], users, readers.get(name)
            )
            for name in names
        }
        mine = None
        if chosen is not None:
            mine = {
                name: self._change(target.attribute(name), before[name], after[name], chosen)
                for name in names
            }
        return ValueImpact(len(users), outcomes, differences, mine)

    # --- attributes ----------------------------------------------------------------------------
    def _change(
        self,
        definition: Attribute | None,
        before: AttributeValues,
        after: AttributeValues,
        user: UserRecord,
    ) -> AttributeChange:
        decision = after.decisions.get(user.id)
        return AttributeChange(
            user.id,
            user.email or user.display_name or f"user {user.id}",
            after.name,
            before.value(user.id),
            after.value(user.id),
            decision.reason if decision is not None else "the attribute is not defined",
            _source_label(definition, decision.source) if decision and decision.source else "",
        )

    def _outcome(
        self,
        definition: Attribute | None,
        before: AttributeValues,
        after: AttributeValues,
        users: list[UserRecord],
        reader: Reader | None = None,
    ) -> AttributeOutcome:
        counts: Counter[Any] = Counter()
        with_value = changed = error_count = 0
        errors: list[Any] = []
        samples: list[AttributeChange] = []
        for user in users:
            value = after.value(user.id)
            if not is_empty(value):
                with_value += 1
                for item in value if isinstance(value, list) else [value]:
                    counts[_hashable(item)] += 1
            decision = after.decisions.get(user.id)
            failed = decision.errors if decision else ()
            if failed:
                error_count += 1
                label = user.email or user.display_name or f"user {user.id}"
                for source, message in failed:
                    if len(errors) < ERRORS_KEPT:
                        found = _POSITION.search(message)
                        errors.append(
                            SourceError(
                                user.id,
                                label,
                                after.name,
                                _source_label(definition, source),
                                message,
                                found.group(0) if found else "",
                            )
                        )
            if before.value(user.id) != value:
                changed += 1
                if len(samples) < SAMPLES:
                    samples.append(self._change(definition, before, after, user))
        return AttributeOutcome(
            after.name,
            after.multi,
            with_value,
            len(users) - with_value,
            counts.most_common(DISTINCT),
            errors,
            error_count,
            changed,
            samples,
            reader.reads if reader else (),
            reader.through if reader else (),
            bool(definition is not None and definition.flow_rules),
        )

    # --- push ------------------------------------------------------------------------------------
    def _push(
        self,
        saved: RosterConfig,
        edited: RosterConfig,
        before: dict[str, AttributeValues],
        after: dict[str, AttributeValues],
        users: list[UserRecord],
        population: Population,
        apps: dict[str, Any],
        cel: Any,
    ) -> dict[str, PushDifference]:
        accounts = list(population.accounts)
        saved_users = with_values(users, before)
        values_differ = before is not after and any(
            before[n].value(u.id) != after[n].value(u.id) for n in after for u in users
        )
        rules = {r.name for r in saved.push_rules} | {r.name for r in edited.push_rules}
        # A rule the edit does not touch, over values the edit does not change, plans the
        # same on both sides: plan it once.
        same = {
            name
            for name in rules
            if not values_differ
            and saved.push_rule(name) == edited.push_rule(name)
            and saved.attributes == edited.attributes
        }
        old = plan(saved, saved_users, accounts, apps, cel, rules - same)
        new_users = saved_users if before is after else with_values(users, after)
        new = plan(edited, new_users, accounts, apps, cel)
        for name in same:
            old.targeted[name] = new.targeted.get(name, set())
        for key in new.writes:
            if key[0] in same:
                old.writes[key] = new.writes[key]
        old.pending |= {key for key in new.pending if key[0] in same}
        labels = {u.id: u.email or u.display_name or f"user {u.id}" for u in users}
        out: dict[str, PushDifference] = {}
        for name in sorted(rules):
            rule = edited.push_rule(name) or saved.push_rule(name)
            assert rule is not None
            out[name] = self._difference(name, rule.app, old, new, labels)
        return out

    @staticmethod
    def _difference(
        name: str, app: str, old: PushOutcome, new: PushOutcome, labels: dict[int, str]
    ) -> PushDifference:
        was, now = old.targeted.get(name, set()), new.targeted.get(name, set())
        entered, left = now - was, was - now
        saved_writes = {k: v for k, v in old.writes.items() if k[0] == name}
        edited_writes = {k: v for k, v in new.writes.items() if k[0] == name}
        added = [k for k, v in edited_writes.items() if saved_writes.get(k) != v]
        removed = [k for k in saved_writes if k not in edited_writes]
        # samples show real values first: a blank a rule keeps blank says little
        added.sort(key=lambda k: is_empty(edited_writes[k][1]))
        removed.sort(key=lambda k: is_empty(saved_writes[k][1]))
        samples = []
        for key in (added + removed)[:SAMPLES]:
            current = (edited_writes.get(key) or saved_writes[key])[0]
            samples.append(
                PushWrite(
                    name,
                    key[1],
                    new.people.get(key) or old.people.get(key, ""),
                    key[2],
                    current,
                    saved_writes[key][1] if key in saved_writes else None,
                    edited_writes[key][1] if key in edited_writes else None,
                )
            )
        failures = new.failures.get(name, [])
        return PushDifference(
            name,
            app,
            len(now),
            len(entered),
            len(left),
            sorted(labels.get(i, str(i)) for i in entered)[:PEOPLE_SAMPLES],
            sorted(labels.get(i, str(i)) for i in left)[:PEOPLE_SAMPLES],
            len(saved_writes),
            len(edited_writes),
            sum(1 for key in new.pending if key[0] == name),
            len(added),
            len(removed),
            len(failures),
            samples,
            [f"{item.account_key} ({item.user_label}): {item.error}" for item in failures][
                :SAMPLES
            ],
        )


def _renamed(config: RosterConfig, renamed: Mapping[str, str]) -> RosterConfig:
    """CONFIG with its push rules named as the edit names them (RENAMED: edited name -> saved
    name), so that a renamed rule is compared with itself."""
    if not renamed:
        return config
    names = {saved: edited for edited, saved in renamed.items() if edited != saved}
    return config.model_copy(
        update={
            "push_rules": [
                rule.model_copy(update={"name": names[rule.name]}) if rule.name in names else rule
                for rule in config.push_rules
            ]
        }
    )
