"""What a configuration would compute for people's attributes and push, without a sync.

The attribute stage's own `decide()` and the push stage's own `plan_push()` run in memory over
the stored records (no import, no write, no lock), so a preview can never disagree with the next
sync about the same data. `evaluate()` computes one configuration's outcome; the service compares
the saved configuration's outcome with an edited one's, so data that changed since the last sync
moves both sides and only the edit is blamed for the difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, NamedTuple

from engine.cel import CelEngine
from engine.cel.objects import names_of_attribute
from engine.config.model import RosterConfig
from engine.errors import InvalidInput
from engine.records import AccountRecord, Population, UserRecord
from engine.sync.attributes import (
    CATCH_UP,
    AttributeDef,
    SourceReader,
    attribute_reads,
    blank_of,
    compile_attributes,
    decide_or_hold,
    in_reading_order,
    reachable,
    removed_attributes,
)
from engine.sync.push import PushItem, plan_push
from engine.sync.simulate import SimulationCancelled
from engine.sync.state import AttributeState, StageReport, WorkState

# How often (in people) the simulation asks whether it was cancelled and reports progress.
CHECK_EVERY = 500

_USER_FIELDS = attrgetter(*(f.name for f in fields(UserRecord)))

WriteKey = tuple[str, str, str]  # rule, "app:external_id", target


class Decided(NamedTuple):
    """What a count over everyone keeps of one person's decision (engine.sync.attributes
    `Decision`): not its candidates or what each source showed (kept for 1.4 million values
    at 100,000 people, those were a gigabyte)."""

    value: Any
    source: str
    reason: str
    errors: tuple[tuple[str, str], ...]  # the sources that failed, each with why


@dataclass
class AttributeValues:
    """One attribute's decision for every live person under one configuration."""

    name: str
    multi: bool
    defined: bool  # False: the configuration has no such attribute (every value blank)
    decisions: dict[int, Decided] = field(default_factory=dict)

    def value(self, user_id: int) -> Any:
        decision = self.decisions.get(user_id)
        if decision is None or decision.value is None:
            return [] if self.multi else ""
        return decision.value


@dataclass
class PushOutcome:
    """One configuration's push plan: every write, every failure, who each rule targets."""

    # every value a rule maintains -> (what the app holds, what the rule wants), up to date or not
    writes: dict[WriteKey, tuple[Any, Any]] = field(default_factory=dict)
    pending: set[WriteKey] = field(default_factory=set)  # the writes the next sync would send
    people: dict[WriteKey, str] = field(default_factory=dict)  # write -> person label
    failures: dict[str, list[PushItem]] = field(default_factory=dict)  # rule -> failed items
    targeted: dict[str, set[int]] = field(default_factory=dict)  # rule -> person ids
    problems: list[str] = field(default_factory=list)


def live_users(population: Population) -> list[UserRecord]:
    return [user for user in population.users if user.status != "DELETED"]


def compute_attributes(
    config: RosterConfig,
    names: Iterable[str],
    users: list[UserRecord],
    owned: dict[int, list[AccountRecord]],
    previous: dict[tuple[int, str], AttributeState],
    cel: CelEngine,
    checkpoint: Callable[[int], None],
) -> dict[str, AttributeValues]:
    """Each named attribute's decision for every live person under CONFIG (blank when the
    configuration does not define it), as a sync computes them: a person's attributes in
    reading order, each reading the values computed before it, so the attributes the named
    ones read (and so on) are computed too (review: `badge` reading `team` was computed from
    the stored `team` after `team` was edited). The records given are never changed: a person
    whose value moves is read as a copy.

    When an attribute computed reads other people (the directory functions) and CEL's
    directory is a Population, everyone is read as the sync's stage reads them: a copy of
    each, holding the values computed so far, so that a report computed after their manager
    reads the manager's new value; then those attributes (and those that read them) are
    computed again over the copies, indexed anew, until no value moves, at most CATCH_UP
    times, as the sync catches up its readers (`pipeline._catch_up`). (Reading everyone as
    stored, an edited department showed no change to its reports' `manager_department`, and a
    chain of managers stopped a few levels down: review.) InvalidInput when a CEL source does
    not compile."""
    wanted = {name.casefold(): name for name in names}
    # values the store holds of attributes the configuration no longer defines read cleared,
    # as the sync clears them (`removed_attributes`)
    removed = removed_attributes(previous.items(), (a.name for a in config.attributes))
    order = _with_what_they_read(config, wanted, cel, removed)
    reads = _reads(order, itself=True)
    out: dict[str, AttributeValues] = {}
    for folded, name in wanted.items():
        definition = next((d for d in order if d.name.casefold() == folded), None)
        out[name] = (
            AttributeValues(name, False, defined=False)
            if definition is None
            else AttributeValues(definition.name, definition.multi, defined=True)
        )
    kept = [(d, out.get(wanted.get(d.name.casefold(), ""))) for d in order]
    reader = SourceReader(cel, owned)
    directory = cel.population
    others = {d.name for d in order if _reads_directory(d)}
    if not others or not isinstance(directory, Population):
        read = {name for found in reads.values() for name in found}  # values read by another
        _copied_when_moved(kept, users, previous, reader, cel, read, checkpoint)
        return out
    copies = {user.id: _copy(user) for user in directory.users}
    downstream = [
        (d, values)
        for d, values in kept
        if d.name in others or reachable(reads, reads[d.name]) & others
    ]
    try:
        for passes in range(CATCH_UP + 1):
            cel.population = with_people(directory, copies)  # indexed anew: an email may move
            cel.clear_cache()
            pass_over = kept if passes == 0 else downstream
            moved = _set_in_copies(pass_over, users, copies, previous, reader, cel, checkpoint)
            if not moved and passes:
                break
    finally:
        cel.population = directory
        cel.clear_cache()
    return out


#: The directory functions that find people by the manager's email people hold
_BY_MANAGER_EMAIL = ("GetManagers", "DirectReports")


def _reads(attributes: list[AttributeDef], itself: bool = False) -> dict[str, set[str]]:
    """`attribute_reads`, and what the directory's manager lookups read: an attribute calling
    GetManagers or DirectReports reads people's manager_email, which no expression names
    (review: an edit of manager_email showed no change to `manager_department` or a count of
    reports). A preview computes manager_email first, and the lookups read its new values;
    the sync catches those readers up through what they looked up (engine/sync/reads.py)."""
    reads = attribute_reads(attributes, itself)
    email = next((a.name for a in attributes if a.name == "manager_email"), None)
    if email is None:
        return reads
    for definition in attributes:
        texts = [s.program.text for s in definition.sources if s.program is not None]
        if definition.name != email and any(f in t for t in texts for f in _BY_MANAGER_EMAIL):
            reads[definition.name].add(email)
    return reads


def _reads_directory(definition: AttributeDef) -> bool:
    return any(s.program is not None and s.program.reads_directory for s in definition.sources)


def _copy(user: UserRecord) -> UserRecord:
    copy = UserRecord(*_USER_FIELDS(user))
    copy.attributes = dict(user.attributes)
    return copy


def with_people(directory: Population, people: Mapping[int, UserRecord]) -> Population:
    """DIRECTORY with PEOPLE (by id) in place of its records of them."""
    return Population(
        [people.get(user.id, user) for user in directory.users],
        directory.accounts,
        directory.entitlement_names,
        first_new_id=directory.first_new_id,
    )


def _decide(
    definition: AttributeDef,
    values: AttributeValues | None,
    person: UserRecord,
    state: AttributeState,
    reader: SourceReader,
) -> tuple[Any, bool]:
    """The person's new value of DEFINITION (as the next sync decides: a blank only a
    vanished account causes is held), kept in VALUES; and whether it differs from the value
    VALUES held for them."""
    decision = decide_or_hold(definition, person, state, reader)[0]
    moved = False
    if values is not None:
        was = values.decisions.get(person.id)
        moved = was is not None and was.value != decision.value
        values.decisions[person.id] = Decided(
            decision.value, decision.source, decision.reason, decision.errors
        )
    return (decision.value if decision.value is not None else blank_of(definition)), moved


def _copied_when_moved(
    kept: list[tuple[AttributeDef, AttributeValues | None]],
    users: list[UserRecord],
    previous: dict[tuple[int, str], AttributeState],
    reader: SourceReader,
    cel: CelEngine,
    read: set[str],
    checkpoint: Callable[[int], None],
) -> None:
    """One pass over USERS in which nobody reads anyone else: a person whose value of an
    attribute another reads (READ) moves is read on as a copy."""
    for done, user in enumerate(users):
        if done % CHECK_EVERY == 0:
            checkpoint(done)
        person = user
        for definition, values in kept:
            state = previous.get((user.id, definition.name)) or AttributeState()
            new = _decide(definition, values, person, state, reader)[0]
            if definition.name in read and person.attributes.get(definition.name) != new:
                if person is user:
                    person = _copy(user)
                person.attributes[definition.name] = new
                cel.forget_user(user.id)  # read from here on with this value
        if person is not user:
            cel.forget_user(user.id)  # the others read the record as stored


def _set_in_copies(
    kept: list[tuple[AttributeDef, AttributeValues | None]],
    users: list[UserRecord],
    copies: dict[int, UserRecord],
    previous: dict[tuple[int, str], AttributeState],
    reader: SourceReader,
    cel: CelEngine,
    checkpoint: Callable[[int], None],
) -> bool:
    """One pass over USERS setting each value in their copy as it is computed, where whoever
    comes after reads it (the directory holds the copies); whether any value moved."""
    moved = False
    for done, user in enumerate(users):
        if done % CHECK_EVERY == 0:
            checkpoint(done)
        person = copies.get(user.id) or copies.setdefault(user.id, _copy(user))
        for definition, values in kept:
            state = previous.get((user.id, definition.name)) or AttributeState()
            new, differs = _decide(definition, values, person, state, reader)
            moved = moved or differs
            if person.attributes.get(definition.name) != new:
                person.attributes[definition.name] = new
                moved = True
                cel.forget_user(user.id)  # read from here on with this value
    return moved


def attributes_computed_with(
    config: RosterConfig, names: Iterable[str], cel: CelEngine
) -> set[str]:
    """NAMES and the attributes `compute_attributes` computes with them (what they read, and
    so on): whose stored states a computation of NAMES reads."""
    wanted = {name.casefold(): name for name in names}
    return {d.name for d in _with_what_they_read(config, wanted, cel)}


def _with_what_they_read(
    config: RosterConfig,
    wanted: dict[str, str],
    cel: CelEngine,
    removed: list[AttributeDef] | None = None,
) -> list[AttributeDef]:
    """The attributes WANTED names (casefolded) and those they read, and so on, compiled, in
    reading order (`in_reading_order`). Only those are compiled: one nothing here reads may
    not compile, as it may in a sync's plan of what does."""
    gone = {d.name.casefold(): d for d in removed or ()}  # (they read nothing)
    compiled: dict[str, AttributeDef] = {f: gone[f] for f in set(wanted) & gone.keys()}
    needed = set(wanted)
    while True:
        more = [
            a
            for a in config.attributes
            if a.name.casefold() in needed and a.name.casefold() not in compiled
        ]
        if not more:
            break
        compiled.update((d.name.casefold(), d) for d in compile_attributes(more, cel))
        # the others by name alone: what the compiled ones read of them is asked of their names
        named = list(compiled.values()) + [
            AttributeDef(a.name, False, [], authority=False)
            for a in config.attributes
            if a.name.casefold() not in compiled
        ]
        named += [d for folded, d in gone.items() if folded not in compiled]
        reads = _reads(named)
        needed = {n.casefold() for d in compiled.values() for n in reads[d.name]}
        compiled.update((f, gone[f]) for f in needed & gone.keys())
    # in the configuration's order first, as the sync's: which of a cycle comes first is the
    # first listed (review: naming the second of a pair alone computed it first)
    position = {a.name.casefold(): i for i, a in enumerate(config.attributes)}
    last = len(position)
    return in_reading_order(
        sorted(compiled.values(), key=lambda d: position.get(d.name.casefold(), last))
    )


class Reader(NamedTuple):
    """An attribute that reads edited ones: those it reads (directly or not), and, when it
    reads none of them directly, the attributes it reads them through."""

    reads: tuple[str, ...]
    through: tuple[str, ...] = ()


def readers_of(config: RosterConfig, names: Iterable[str], cel: CelEngine) -> dict[str, Reader]:
    """The attributes of CONFIG that read any of NAMES, directly or through others, in the
    configuration's order: an edit of `team` changes `badge` too when badge's CEL reads team,
    and a preview that named only team showed no such change (review). NAMES themselves are
    not listed; an attribute whose CEL does not compile is taken to read nothing (the edit's
    own check names it)."""
    wanted = {name.casefold() for name in names}
    defined: list[AttributeDef] = []
    for attribute in config.attributes:
        try:
            defined += compile_attributes([attribute], cel)
        except InvalidInput:
            defined.append(AttributeDef(attribute.name, False, [], authority=False))
    reads = _reads(defined)
    position = {d.name: i for i, d in enumerate(defined)}
    found: dict[str, list[str]] = {}
    for definition in defined:
        if definition.name.casefold() in wanted:
            continue
        edited = [n for n in reachable(reads, reads[definition.name]) if n.casefold() in wanted]
        if edited:
            found[definition.name] = sorted(edited, key=position.__getitem__)
    out: dict[str, Reader] = {}
    for name, edited in found.items():
        direct = reads[name]
        through = (
            ()
            if any(n in direct for n in edited)
            else tuple(sorted((n for n in direct if n in found), key=position.__getitem__))
        )
        out[name] = Reader(tuple(edited), through)
    return out


def with_values(users: list[UserRecord], computed: dict[str, AttributeValues]) -> list[UserRecord]:
    """Copies of the people whose computed values differ from the stored ones, with those
    values (the others are shared: push planning never changes a person)."""
    out: list[UserRecord] = []
    for user in users:
        changed = {
            values.name: values.value(user.id)
            for values in computed.values()
            if user.attributes.get(values.name) != values.value(user.id)
        }
        if not changed:
            out.append(user)
            continue
        copy = UserRecord(*_USER_FIELDS(user))
        copy.attributes = {**user.attributes, **changed}
        out.append(copy)
    return out


def plan(
    config: RosterConfig,
    users: list[UserRecord],
    accounts: list[AccountRecord],
    apps: dict[str, Any],
    cel: CelEngine,
    rules: set[str] | None = None,
) -> PushOutcome:
    """Every enabled push rule's plan under CONFIG for these people (or only RULES); the
    rules' lookups of other people read these people's values too (review: a mapping of the
    manager's department planned from the stored one while the edit changed it)."""
    directory = cel.population
    if isinstance(directory, Population):
        held = {user.id: user for user in directory.users}
        given = {user.id: user for user in users if held.get(user.id) is not user}
        if given:
            cel.population = with_people(directory, given)
            cel.clear_cache()
    try:
        return _plan(config, users, accounts, apps, cel, rules)
    finally:
        if cel.population is not directory:
            cel.population = directory
            cel.clear_cache()


def _plan(
    config: RosterConfig,
    users: list[UserRecord],
    accounts: list[AccountRecord],
    apps: dict[str, Any],
    cel: CelEngine,
    rules: set[str] | None,
) -> PushOutcome:
    state = WorkState(accounts, users, {}, {})
    outcome = PushOutcome()
    for rule in config.push_rules:
        if rules is not None and rule.name not in rules:
            continue
        report = StageReport("push")
        targeted: set[int] = set()
        every: list[PushItem] = []
        plan_push(
            state, config, apps, cel, report, only_rule=rule.name, targeted=targeted, every=every
        )
        outcome.targeted[rule.name] = targeted
        outcome.problems.extend(report.problems)
        for item in every:
            if item.error:
                outcome.failures.setdefault(rule.name, []).append(item)
                continue
            for target, change in item.desired.items():
                key = (rule.name, item.account_key, target)
                outcome.writes[key] = change
                outcome.people[key] = item.user_label
                if target in item.changes:
                    outcome.pending.add(key)
    return outcome


def cancelled_check(
    cancelled: Callable[[], bool] | None,
    progress: Callable[[str, int, int], None] | None,
    what: str,
    total: int,
) -> Callable[[int], None]:
    def check(done: int) -> None:
        if cancelled is not None and cancelled():
            raise SimulationCancelled("the preview was cancelled")
        if progress is not None:
            progress(what, done, total)

    return check


_ATTRIBUTE_NAME = re.compile(r"""attributes\s*(?:\.\s*(\w+)|\[\s*["'](\w+)["']\s*\])""")


def pushed_attributes(config: RosterConfig, rules: Iterable[str] | None = None) -> set[str]:
    """The attributes the push rules (all, or RULES) read: mapped by name, named in their
    targeting, or read in their CEL as `attributes.NAME` / `attributes["NAME"]`, as the person's
    field that shows one (`subject.jobTitle`) or by any name CEL reads it by
    (`subject.profile.NAME`): any word of the expression that is one of those names counts (a
    word that only looks like one costs computing an attribute for nothing). CEL that reads
    `attributes` any other way (an index computed at run time) may read any of them."""
    wanted = None if rules is None else set(rules)
    every = {a.name for a in config.attributes}
    shown_as = {name: names_of_attribute(name) for name in every}
    names: set[str] = set()
    for rule in config.push_rules:
        if wanted is not None and rule.name not in wanted:
            continue
        names |= set(rule.targeting.attributes)
        texts = [rule.targeting.cel or ""]
        for mapping in rule.mappings:
            if mapping.attribute:
                names.add(mapping.attribute)
            texts.append(mapping.cel or "")
        for text in texts:
            found = _ATTRIBUTE_NAME.findall(text)
            names |= {a or b for a, b in found}
            if text.count("attributes") > len(found):
                return every
            words = set(_WORD.findall(text))
            # (a missed one was planned from its stored value: a changed source of
            # employment_type, read as subject.employmentType, showed no push: review)
            names |= {name for name, shown in shown_as.items() if shown & words}
    return names & every


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def refresh_attributes(
    config: RosterConfig,
    names: Iterable[str],
    users: list[UserRecord],
    owned: dict[int, list[AccountRecord]],
    previous: dict[tuple[int, str], AttributeState],
    cel: CelEngine,
) -> list[UserRecord]:
    """The people with NAMES computed as the next sync's attribute stage would (before it
    pushes): a push planned from stored values alone misses an attribute saved since the last
    sync. Copies where a value differs; the others are the records given."""
    computed = compute_attributes(config, names, users, owned, previous, cel, lambda done: None)
    return with_values(users, computed)
