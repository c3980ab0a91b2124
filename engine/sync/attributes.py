"""Stage 4, attributes (docs/attributes.md): mapping mode (fallback and additional sources) and
authority mode (flow rules with create/update/delete scores over per-source last-seen values).

`decide()` is the single place a value is chosen; the sync stage and `roster explain` both call it,
so the "why" an admin reads is exactly the reasoning the sync applied."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from engine.cel import CelCompileError, CelEngine, CelEvalError, to_python
from engine.cel.objects import names_of_attribute
from engine.config.model import (
    DEFAULT_DIRECTION,
    DEFAULT_SCORE,
    INBOUND_DIRECTIONS,
    SCORE_KINDS,
    Attribute,
    Direction,
    FlowRule,
    ScoreKind,
)
from engine.errors import InvalidInput
from engine.records import (
    ACCOUNT_SOURCE_FIELDS,
    ANY_PROFILE_KEY,
    AccountRecord,
    UserRecord,
    account_order,
)
from engine.store.deferred import read_whole
from engine.sync.reads import WatchedDirectory, manager_keys
from engine.sync.state import AttributeState, HeldBlank, StageReport, WorkState

STAGE = "attributes"
INBOUND = INBOUND_DIRECTIONS
#: Why an authority-mode value stays (explain's "why"): no source it listens to changed
UNCHANGED = "unchanged: no source's value changed since the last sync"


@dataclass
class Source:
    key: str  # "hr:profile.department" or "cel[2]"
    app: str | None
    field: str | None
    program: Any = None
    rule: FlowRule | None = None  # the app's flow rule; None = the defaults
    # kind -> score, one mapping shared by every candidate of this source (read-only): built
    # per candidate, a first sync at 100,000 people made (and kept) millions of them
    scores: dict[str, int] = dataclasses.field(init=False)
    # what it reads of the person's accounts (of its app, for a direct source), as a change
    # names it (engine.sync.state.moved_fields); None: it may read anything of them
    reads: frozenset[str] | None = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        rule = self.rule
        self.scores = {k: rule.score(k) if rule else DEFAULT_SCORE for k in SCORE_KINDS}
        program = self.program
        if program is None:
            self.reads = _field_reads(self.field or "")
        elif (
            program.reads_directory  # (its readers are computed again: engine/sync/reads.py)
            or program.reads_clock
            or program.reads_own_account_data  # a list of accounts is not told field by field
            or program.account_reads is None
        ):
            self.reads = None
        else:  # the accounts it selects fields of, whichever app's
            self.reads = program.account_reads | {"status"}

    @property
    def direction(self) -> Direction:
        return self.rule.direction if self.rule is not None else DEFAULT_DIRECTION

    def score(self, kind: ScoreKind) -> int:
        return self.scores[kind]


@dataclass
class AttributeDef:
    name: str
    multi: bool
    sources: list[Source]
    authority: bool  # has flow rules


@dataclass
class Candidate:
    source: str
    value: Any
    outcome: str  # "won", "added" (to a union), "lost", "ignored", "error", "empty"
    reason: str
    direction: str = ""
    scores: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "value": self.value,
            "outcome": self.outcome,
            "reason": self.reason,
            "direction": self.direction,
            "scores": dict(self.scores),
        }


class Decision:
    """A value chosen for one person's attribute: the value, the source it came from and why;
    `seen`, every source's value (what the next run compares with); `errors`, the sources
    that failed, in their order, each with why (what the sync reports, and `explain`'s error
    candidates say).

    `candidates` (every source's part in the decision, as `roster explain` shows it) may be
    given as a function that builds them when first read: a sync or an impact count decides
    millions of values and reads the candidates of none of them (kept by the count over
    everyone, they were a gigabyte at 100,000 people)."""

    __slots__ = ("value", "source", "reason", "seen", "ever_set", "errors", "_candidates")

    def __init__(
        self,
        value: Any,
        source: str,
        reason: str,
        candidates: list[Candidate] | Callable[[], list[Candidate]],
        seen: dict[str, Any],
        ever_set: bool,
        errors: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.value = value
        self.source = source
        self.reason = reason
        self._candidates = candidates
        self.seen = seen
        self.ever_set = ever_set
        self.errors = errors

    @property
    def candidates(self) -> list[Candidate]:
        candidates = self._candidates  # read once: another thread may build them meanwhile
        if callable(candidates):
            candidates = self._candidates = candidates()
        return candidates

    def __repr__(self) -> str:
        return (
            f"Decision(value={self.value!r}, source={self.source!r}, reason={self.reason!r}, "
            f"ever_set={self.ever_set!r}, errors={self.errors!r})"
        )


#: How many times the attributes stage computes again the readers it left (a value they read
#: set after them); whoever is still left after that, the next run computes. A preview's
#: passes over everyone are bounded alike (engine.sync.values.compute_attributes).
CATCH_UP = 3


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def compile_attributes(definitions: list[Attribute], cel: CelEngine) -> list[AttributeDef]:
    compiled: list[AttributeDef] = []
    for definition in definitions:
        name = definition.name
        multi = definition.is_multi_valued
        sources: list[Source] = []
        for i, raw in enumerate(definition.sources):
            if raw.cel:
                try:
                    program = cel.compile("attribute_source", raw.cel)
                except CelCompileError as exc:
                    raise InvalidInput(
                        f"attribute {name!r}, source {i + 1}: {exc.problem}"
                    ) from exc
                sources.append(Source(f"cel[{i}]", None, None, program))
            else:
                app, fld = raw.app, raw.field or ""
                rule = definition.flow_rule_for(app) if app is not None else None
                sources.append(Source(f"{app}:{fld}", app, fld, rule=rule))
        compiled.append(AttributeDef(name, multi, sources, authority=definition.authority_mode))
    return in_reading_order(compiled)


def removed_attributes(
    states: Iterable[tuple[tuple[int, str], AttributeState]], configured: Iterable[str]
) -> list[AttributeDef]:
    """The attributes STATES hold values of that the configuration no longer defines (removed
    or renamed), each as an attribute with no source: computed, its values are cleared, and
    whoever reads it reads them cleared (review: a reader of a removed attribute kept reading
    its last values, while the preview and `roster explain` said it read "")."""
    defined = set(configured)
    held: dict[str, bool] = {}  # name -> whether a value is a list (multi-valued)
    for (_, name), state in states:
        if name not in defined and not is_empty(state.value):
            held[name] = held.get(name, False) or isinstance(state.value, list)
    return [AttributeDef(name, multi, [], authority=False) for name, multi in sorted(held.items())]


def in_reading_order(attributes: list[AttributeDef]) -> list[AttributeDef]:
    """ATTRIBUTES, each after the person's attributes its expressions read, in the given order
    otherwise. A person is computed attribute by attribute, and an expression reads the values
    computed before it: one listed ahead of what it reads would read last run's value (and the
    next run would change it again). Attributes that read each other keep their order."""
    reads = attribute_reads(attributes)
    ordered: list[AttributeDef] = []
    left = list(attributes)
    while left:
        done = {a.name for a in ordered}
        ready = next((a for a in left if reads[a.name] <= done), None)
        if ready is None:  # a cycle: the first of those in one, as listed
            ready = next(a for a in left if a.name in reachable(reads, reads[a.name] - done))
        ordered.append(ready)
        left.remove(ready)
    return ordered


def read_before_set(attributes: list[AttributeDef]) -> set[str]:
    """Of ATTRIBUTES, in the order a person is computed (`in_reading_order`), those that an
    attribute computed before them reads: only in a cycle (two that read each other). When one
    of them changes, its reader holds the value it read before: the person is computed again
    by the next run (engine.sync.run_notes.READ_EARLY), and the run does not settle."""
    reads = attribute_reads(attributes, itself=True)
    position = {a.name: i for i, a in enumerate(attributes)}
    # (one that reads itself reads its own value as the last run left it: review)
    return {
        read for a in attributes for read in reads[a.name] if position[read] >= position[a.name]
    }


def attribute_reads(attributes: list[AttributeDef], itself: bool = False) -> dict[str, set[str]]:
    """Attribute name -> the other attributes of the person its expressions may read (with
    `itself`: and itself, when it reads its own value by its name). An expression that uses
    the person's attributes or profile map whole (`subject.attributes.exists(…)`:
    `reads_attributes_whole`) may read any: a cycle through one went unseen (review).

    Its own value counts only as read of the person (`Program.person_names`), or by a key
    computed at run time: `accounts.x.emails` in `additional_email`'s own sources is an
    account's field of the same name, and taking it for its own would leave every run that
    changes it unsettled."""
    reads: dict[str, set[str]] = {}
    for attribute in attributes:
        programs = [s.program for s in attribute.sources if s.program is not None]
        names = {n for program in programs for n in program.names}
        if any(program.reads_attributes_whole for program in programs):
            names.add("*")
        found = {
            other.name
            for other in attributes
            if other is not attribute and ("*" in names or names & names_of_attribute(other.name))
        }
        own = {n for program in programs for n in program.person_names}
        if itself and ("*" in names or own & names_of_attribute(attribute.name)):
            found.add(attribute.name)
        reads[attribute.name] = found
    return reads


def reachable(reads: dict[str, set[str]], start: set[str]) -> set[str]:
    """The attributes read from START, directly or through others."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(reads[name])
    return seen


def _field_reads(fld: str) -> frozenset[str]:
    """What a direct source of field FLD reads of its app's accounts (see `_account_value`):
    the field, and their status, which decides which of several accounts counts (account_order)
    and whether a vanished one holds the value."""
    if fld in ACCOUNT_SOURCE_FIELDS:
        return frozenset((fld, "status"))
    key = fld.removeprefix("profile.")
    return frozenset((f"profile:{key}", ANY_PROFILE_KEY, "status"))


#: app -> the fields of a person's accounts there that moved (None: any, or which accounts)
Moves = dict[str, frozenset[str] | None]


class Narrowing:
    """Which of a person's attributes read what moved of their accounts (`of`)."""

    def __init__(self, definitions: list[AttributeDef]) -> None:
        self.definitions = definitions
        self.reads = attribute_reads(definitions)
        for definition in definitions:  # the person's attributes read whole: any of them
            if any(
                s.program is not None and s.program.reads_person_whole for s in definition.sources
            ):
                self.reads[definition.name] = {d.name for d in definitions} - {definition.name}
        self._known: dict[frozenset[Any], frozenset[str]] = {}  # most people move alike

    def of(self, moves: Moves) -> frozenset[str]:
        """The names of the attributes with a source that reads what MOVED (a direct source:
        of its app's accounts; an expression: of any), and of those that read their values
        (`attribute_reads`), and so on."""
        key = frozenset(moves.items())
        found = self._known.get(key)
        if found is None:
            names = {
                definition.name
                for definition in self.definitions
                if any(_source_reads(source, moves) for source in definition.sources)
            }
            grew = bool(names)
            while grew:
                grew = False
                for definition in self.definitions:
                    if definition.name not in names and self.reads[definition.name] & names:
                        names.add(definition.name)
                        grew = True
            found = self._known[key] = frozenset(names)
        return found


def _source_reads(source: Source, moves: Moves) -> bool:
    reads = source.reads
    if reads is None:
        return True
    if source.app is None:  # an expression: any app's accounts
        return any(_meets(moved, reads) for moved in moves.values())
    return source.app in moves and _meets(moves[source.app], reads)


def _meets(moved: frozenset[str] | None, reads: frozenset[str]) -> bool:
    return moved is None or not moved.isdisjoint(reads)


def account_moves(
    state: WorkState, changed: dict[tuple[str, str], frozenset[str] | None]
) -> dict[int, Moves]:
    """Person -> app -> what moved of their accounts there, from CHANGED (account key -> its
    fields that moved; None: the account is new, linked or unlinked, or any field moved)."""
    moves: dict[int, Moves] = {}
    for key, fields in changed.items():
        account = state.accounts.get(key)
        if account is None or account.owner_id is None:
            continue
        theirs = moves.setdefault(account.owner_id, {})
        app = key[0]
        if app not in theirs:
            theirs[app] = fields
        elif fields is None or theirs[app] is None:
            theirs[app] = None
        else:
            theirs[app] = theirs[app] | fields  # type: ignore[operator]
    return moves


def narrowed(
    state: WorkState, definitions: list[AttributeDef], besides: set[int]
) -> dict[int, frozenset[str]]:
    """For each person this run touched only through their accounts' data (not created,
    renamed, relinked away from, nor in BESIDES): the attributes that read what moved of those
    accounts (`Narrowing`). Every other of their values is what the last applied run decided
    from the same inputs (an unfinished run, or another configuration, has the run compute
    everyone: engine.sync.incremental.why_everyone), and deciding again gives it again.

    A 1 % sync at 100,000 people computed all 15 attributes of 4,200 people whose title
    changed in one app (issue 11)."""
    changed: dict[tuple[str, str], frozenset[str] | None] = {
        key: state.changed_fields.get(key) for key in state.dirty_accounts
    }
    for key in state.new_accounts | state.dirty_links | state.changed_grants:
        changed[key] = None
    whole = (
        state.new_users
        | state.dirty_users
        | state.previous_owners
        | state.disabled_backing
        | besides
    )
    narrowing = Narrowing(definitions)
    return {
        person: narrowing.of(moves)
        for person, moves in account_moves(state, changed).items()
        if person not in whole
    }


def _account_value(account: AccountRecord, fld: str) -> Any:
    if fld.startswith("profile."):
        return account.profile.get(fld[len("profile.") :])
    if fld in ACCOUNT_SOURCE_FIELDS:
        return getattr(account, fld)
    return account.profile.get(fld)


def _shape(value: Any, multi: bool) -> Any:
    """Normalise a source's raw value to the attribute's shape: a string, or a list of strings."""
    if value is None:
        return [] if multi else ""
    # a map or bytes has no text form an admin would want stored (Python's repr is not one)
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict | bytes | list):
            kind = (
                "a map"
                if isinstance(item, dict)
                else "bytes"
                if isinstance(item, bytes)
                else "a list inside a list"
            )
            raise CelEvalError(
                f"an attribute's value is text or a list of text; this source gave {kind}"
            )
    if isinstance(value, list):
        items = [str(v).strip() for v in value if v is not None and str(v).strip()]
        if multi:
            return items
        if len(items) > 1:
            raise CelEvalError(f"a single-valued attribute got {len(items)} values: {items!r}")
        return items[0] if items else ""
    text = (
        value
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
    text = text.strip()
    return ([text] if text else []) if multi else text


class SourceReader:
    """Reads every source's current value for one user. `vanished=True` reads a source app's
    DELETED account as if it were still there (its last imported values): what the value would
    be had the account not vanished."""

    def __init__(
        self,
        cel: CelEngine,
        accounts_by_owner: dict[int, list[AccountRecord]],
        *,
        vanished: bool = False,
    ) -> None:
        self.cel = cel
        self.accounts_by_owner = accounts_by_owner
        self.vanished = vanished

    def as_if_present(self) -> SourceReader:
        """The same reader, reading vanished accounts as if they were still listed."""
        return SourceReader(self.cel, self.accounts_by_owner, vanished=True)

    def vanished_accounts(self, user: UserRecord) -> list[AccountRecord]:
        """The user's accounts that are gone from their app (DELETED) where the user has no
        live account of that app left."""
        accounts = self.accounts_by_owner.get(user.id, ())
        live = {a.app_id for a in accounts if a.status != "DELETED"}
        return [a for a in accounts if a.status == "DELETED" and a.app_id not in live]

    def read(self, attribute: AttributeDef, source: Source, user: UserRecord) -> Any:
        if source.program is not None:
            value = self.cel.evaluate(
                source.program,
                self.cel.activation_for("attribute_source", user, program=source.program),
            )
            return _shape(to_python(value), attribute.multi)
        accounts = [a for a in self.accounts_by_owner.get(user.id, ()) if a.app_id == source.app]
        if len(accounts) == 1 and accounts[0].status != "DELETED":  # most people, most apps
            return _shape(_account_value(accounts[0], source.field or ""), attribute.multi)
        live = [a for a in accounts if a.status != "DELETED"]
        return _from_accounts(live or (accounts if self.vanished else []), attribute, source)


def _from_accounts(accounts: list[AccountRecord], attribute: AttributeDef, source: Source) -> Any:
    """A direct source's value from the person's accounts of its app: a multi-valued
    attribute takes every account's values, a single-valued one the first account's (enabled
    first, then by id: the same account whichever order they were loaded in)."""
    ordered = sorted(accounts, key=account_order)
    if not attribute.multi:
        return _shape(_account_value(ordered[0], source.field or ""), False) if ordered else ""
    values: dict[str, None] = {}
    for account in ordered:
        values.update(dict.fromkeys(_shape(_account_value(account, source.field or ""), True)))
    return list(values)


def decide(
    attribute: AttributeDef, user: UserRecord, previous: AttributeState, reader: SourceReader
) -> Decision:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for source in attribute.sources:
        try:
            values[source.key] = reader.read(attribute, source, user)
        except (CelEvalError, ValueError) as exc:
            errors[source.key] = str(exc)
    if attribute.authority:
        decision = _authority(attribute, previous, values, errors)
    else:
        decision = _mapping(attribute, previous, values, errors)
    if errors:  # each source that failed, as its candidates show it: a mapping shows a
        # source listed twice twice, authority mode once (its candidates are by source)
        failed = [(s.key, errors[s.key]) for s in attribute.sources if s.key in errors]
        decision.errors = tuple(dict.fromkeys(failed) if attribute.authority else failed)
    return decision


def decide_or_hold(
    attribute: AttributeDef,
    user: UserRecord,
    previous: AttributeState,
    reader: SourceReader,
    hold: bool = True,
) -> tuple[Decision, list[AccountRecord]]:
    """`decide()`, except that a value about to be cleared only because a source account
    vanished from its app (an HR record deleted) is held: the decision keeps the value, its
    source and what was last seen (so the next run finds the same removal again), and the
    vanished accounts are returned. Had the accounts still been there, the value would not be
    blank: that is what "only" means. `hold=False` (--allow-deletes) lets the blank through."""
    decision = decide(attribute, user, previous, reader)
    if not hold or not is_empty(decision.value) or is_empty(previous.value):
        return decision, []
    vanished = [
        a
        for a in reader.vanished_accounts(user)
        if any(s.app == a.app_id for s in attribute.sources)
    ]
    if not vanished:
        return decision, []
    if is_empty(decide(attribute, user, previous, reader.as_if_present()).value):
        return decision, []  # blank even with the vanished accounts: a real removal
    names = ", ".join(f"{a.app_id}:{a.external_id}" for a in vanished)
    return (
        Decision(
            previous.value,
            previous.source,
            f"held: clearing it comes only from {names}, which is gone from its app; "
            "`roster sync --allow-deletes` clears it",
            partial(getattr, decision, "candidates"),
            previous.last_seen,
            previous.ever_set,
            decision.errors,
        ),
        vanished,
    )


def _mapping(
    attribute: AttributeDef,
    previous: AttributeState,
    values: dict[str, Any],
    errors: dict[str, str],
) -> Decision:
    """The first source with a value wins (a multi-valued attribute: the union of every
    source's values), as `_explained_mapping` decides, without building the candidates until
    they are read. A failed source is rare: its decision is explained at once."""
    if errors:
        return _explained_mapping(attribute, previous, values, errors)
    explain = partial(_mapping_candidates, attribute, previous, values)
    if attribute.multi:
        merged: list[str] = []
        folded: set[str] = set()
        contributing: list[str] = []
        for source in attribute.sources:
            value = values.get(source.key)
            if value:
                contributing.append(source.key)
            for item in value or []:
                if item.casefold() not in folded:
                    folded.add(item.casefold())
                    merged.append(item)
        return Decision(
            merged,
            ",".join(contributing),
            UNION,
            explain,
            values,
            bool(merged) or previous.ever_set,
        )
    for source in attribute.sources:
        value = values.get(source.key)
        if not is_empty(value):
            return Decision(value, source.key, FIRST_WITH_VALUE, explain, values, True)
    return Decision("", "", NO_VALUE, explain, values, previous.ever_set)


#: The reasons of a mapping's decision
UNION = "union of every source, in order"
FIRST_WITH_VALUE = "first source in order with a value"
NO_VALUE = "no source has a value"


def _mapping_candidates(
    attribute: AttributeDef, previous: AttributeState, values: dict[str, Any]
) -> list[Candidate]:
    return _explained_mapping(attribute, previous, values, {}).candidates


def _explained_mapping(
    attribute: AttributeDef,
    previous: AttributeState,
    values: dict[str, Any],
    errors: dict[str, str],
) -> Decision:
    candidates: list[Candidate] = []
    if attribute.multi:
        merged: list[str] = []
        folded: set[str] = set()
        for source in attribute.sources:
            value = values.get(source.key)
            if source.key in errors:
                candidates.append(Candidate(source.key, None, "error", errors[source.key]))
                continue
            for item in value or []:
                if item.casefold() not in folded:
                    folded.add(item.casefold())
                    merged.append(item)
            candidates.append(
                Candidate(
                    source.key,
                    value,
                    "added" if value else "empty",
                    "its values are in the union" if value else "no value",
                )
            )
        if errors:
            return _kept(previous, candidates, values)
        contributing = [c.source for c in candidates if c.outcome == "added"]
        return Decision(
            merged,
            ",".join(contributing),
            UNION,
            candidates,
            values,
            bool(merged) or previous.ever_set,
        )
    winner: Candidate | None = None
    failed_first = False  # a source before the winner failed: it might have won
    last = attribute.sources[-1] if attribute.sources else None
    for source in attribute.sources:
        if source.key in errors:
            candidates.append(Candidate(source.key, None, "error", errors[source.key]))
            failed_first = failed_first or winner is None
            continue
        value = values.get(source.key)
        if winner is None and not is_empty(value):
            winner = Candidate(source.key, value, "won", FIRST_WITH_VALUE)
            candidates.append(winner)
        elif winner is None:
            then = "no source comes after it" if source is last else "fell back to the next"
            candidates.append(Candidate(source.key, value, "empty", f"no value; {then}"))
        else:
            candidates.append(
                Candidate(
                    source.key,
                    value,
                    "lost",
                    f"a source earlier in the order ({winner.source}) has a value",
                )
            )
    if failed_first:
        return _kept(previous, candidates, values)
    if winner is None:
        return Decision("", "", NO_VALUE, candidates, values, previous.ever_set)
    return Decision(winner.value, winner.source, winner.reason, candidates, values, True)


def _kept(
    previous: AttributeState, candidates: list[Candidate], values: dict[str, Any]
) -> Decision:
    """A source failed to evaluate: keep the value rather than let a failure change it."""
    return Decision(
        previous.value,
        previous.source,
        "a source failed to evaluate; the previous value is kept until it works again",
        candidates,
        {**previous.last_seen, **values},
        previous.ever_set,
    )


def _authority(
    attribute: AttributeDef,
    previous: AttributeState,
    values: dict[str, Any],
    errors: dict[str, str],
) -> Decision:
    by_key = {s.key: s for s in attribute.sources}
    current_source = by_key.get(previous.source)
    holder_update = current_source.score("update") if current_source else 0
    if previous.source and current_source is None:  # (a source removed from the attribute)
        held_by = f"0: {previous.source}, which set the value, is no longer one of its sources"
    else:
        held_by = f"{holder_update} of the current holder ({previous.source or 'none'})"
    candidates: dict[str, Candidate] = {}
    for source in attribute.sources:
        scores = source.scores
        if source.key in errors:
            candidates[source.key] = Candidate(
                source.key, None, "error", errors[source.key], source.direction, scores
            )
        else:
            candidates[source.key] = Candidate(
                source.key,
                values.get(source.key),
                "ignored",
                "no change since the last sync",
                source.direction,
                scores,
            )
    seen = {**previous.last_seen, **values}
    # Create: the attribute never had a value.
    if not previous.ever_set:
        eligible = [
            s
            for s in attribute.sources
            if s.direction in (*INBOUND, "disabled")
            and s.key not in errors
            and not is_empty(values.get(s.key))
        ]
        for source in attribute.sources:
            # (a failed one says why it failed, as the sync reports it)
            if source.direction == "outbound" and source.key not in errors:
                candidates[source.key].reason = "outbound: the console's value flows out, not in"
        if not eligible:
            return Decision(
                previous.value if previous.value is not None else blank_of(attribute),
                "",
                "no source has a value yet",
                list(candidates.values()),
                seen,
                False,
            )
        best = max(eligible, key=lambda s: (s.score("create"), -attribute.sources.index(s)))
        for source in eligible:
            c = candidates[source.key]
            if source is best:
                c.outcome, c.reason = "won", f"highest create score ({best.score('create')})"
            else:
                c.outcome = "lost"
                c.reason = (
                    f"create score {source.score('create')} < {best.score('create')}"
                    if source.score("create") < best.score("create")
                    else f"same create score; {best.key} comes first"
                )
        return Decision(
            values[best.key],
            best.key,
            candidates[best.key].reason,
            list(candidates.values()),
            seen,
            True,
        )

    changed = [
        s
        for s in attribute.sources
        if s.direction in INBOUND
        and s.key not in errors
        and s.key in previous.last_seen
        and values.get(s.key) != previous.last_seen[s.key]
        and not is_empty(values.get(s.key))
        # a source that now holds the console's own value (usually a read-back of what was
        # pushed to it) agrees with it: that is not a change to accept or reject
        and values.get(s.key) != previous.value
    ]
    # A source seen for the first time (a newly linked account) counts as a change too.
    changed += [
        s
        for s in attribute.sources
        if s.direction in INBOUND
        and s.key not in errors
        and s.key not in previous.last_seen
        and not is_empty(values.get(s.key))
        and values.get(s.key) != previous.value
    ]
    value, source_key, reason = previous.value, previous.source, UNCHANGED
    accepted = False
    if changed:
        best = max(changed, key=lambda s: (s.score("update"), -attribute.sources.index(s)))
        for source in changed:
            c = candidates[source.key]
            if source is not best:
                c.outcome, c.reason = (
                    "lost",
                    (
                        f"changed too, but update score {source.score('update')} < "
                        f"{best.score('update')}"
                        if source.score("update") < best.score("update")
                        else f"changed too, same update score; {best.key} comes first"
                    ),
                )
        c = candidates[best.key]
        if best.score("update") >= holder_update:
            value, source_key = values[best.key], best.key
            accepted = True
            c.outcome = "won"
            c.reason = reason = f"changed; update score {best.score('update')} ≥ {held_by}"
        else:
            c.outcome = "lost"
            c.reason = reason = (
                f"change rejected: update score {best.score('update')} < "
                f"{holder_update} of {previous.source}, which set the value"
            )
    if not accepted:  # a rejected change must not hide a removal another source made
        deleted = [
            s
            for s in attribute.sources
            if s.direction in INBOUND
            and s.key not in errors
            and not is_empty(previous.last_seen.get(s.key))
            and is_empty(values.get(s.key))
        ]
        for source in deleted:
            c = candidates[source.key]
            if source.score("delete") >= holder_update:
                value, source_key = blank_of(attribute), ""
                c.outcome = "won"
                c.reason = reason = (
                    f"value removed; delete score {source.score('delete')} ≥ {held_by}"
                )
                break
            c.outcome = "lost"
            c.reason = (
                f"value removed, but delete score {source.score('delete')} < "
                f"{holder_update} of {previous.source}, which set the value"
            )
    if source_key and source_key in candidates and candidates[source_key].outcome == "ignored":
        holder = candidates[source_key]
        if is_empty(holder.value) and not is_empty(value):
            # the source that set the value holds nothing now (its account is gone, or it
            # removed the value) yet the value stays: say so, never that "" won
            holder.reason = (
                f"set the current value earlier and holds none now; its removal did not "
                f"clear it (delete score {by_key[source_key].score('delete')} < "
                f"{holder_update})"
                if by_key[source_key].score("delete") < holder_update
                else "set the current value earlier and holds none now"
            )
        else:
            holder.outcome = "won"
            holder.reason = "set the current value"
    for source in attribute.sources:
        c = candidates[source.key]
        if c.outcome != "ignored":
            continue
        if source.direction not in (*INBOUND, "disabled"):
            c.reason = f"{source.direction}: does not flow into the console"
        elif (
            not is_empty(c.value)
            and c.value == value
            and previous.last_seen.get(source.key) != c.value
        ):
            c.reason = "now holds the current value (as pushed to it): not a change"
        elif not is_empty(c.value) and c.value != value:
            c.outcome = "lost"
            if source.score("update") < holder_update:
                c.reason = (
                    f"holds a different value, but update score {source.score('update')}"
                    f" < {holder_update} of {source_key or 'the current holder'}"
                )
            else:
                c.reason = (
                    "holds a different value, unchanged since the last sync; only a "
                    "new change from it replaces the current value"
                )
    return Decision(value, source_key, reason, list(candidates.values()), seen, True)


#: The reason of the one change that carries a new person's attribute values.
NEW_PERSON = "the new person's attributes (`roster explain` tells where each value came from)"


def blank_of(attribute: AttributeDef) -> Any:
    """What a person holds of ATTRIBUTE when it has no value."""
    return [] if attribute.multi else ""


def _reads_accounts(program: Any) -> bool:
    """Whether the program may read its person's accounts' data (`accounts`, or a function
    listing them)."""
    names = program.variables
    return names is None or "accounts" in names or program.reads_own_account_data


def _amend(state: WorkState, key: tuple[int, str | None], new: Any, reason: str) -> bool:
    """Whether the person's attribute (KEY) was journalled already in this run (the stage
    computes a reader again when someone it read changed after it): then that change is
    made the one to NEW, and no other is journalled. One back to where it started is marked
    undone (old == new), and dropped when the stage is over (`drop_undone`)."""
    change = state.amendable.get(key) if state.amendable is not None else None
    if change is None:
        return False
    if key[1] is None:  # a new person's values: one change carrying them all (blank: unset)
        merged = {**change.new, **new}
        change.new = {name: value for name, value in merged.items() if not is_empty(value)}
    else:
        change.new, change.reason = new, reason
    return True


def _say(state: WorkState, report: StageReport, user_id: int, line: str) -> None:
    """A problem of the person's, kept by person while the stage may compute them again (what
    a second computation says replaces what the first said)."""
    report.problems.append(line)
    if state.amendable is not None:
        state.said.setdefault(user_id, []).append(line)


def _keep_amendable(state: WorkState, key: tuple[int, str | None]) -> None:
    if state.amendable is not None:
        state.amendable[key] = state.changes[-1]


def drop_undone(state: WorkState, report: StageReport) -> None:
    """The attribute changes a second computation took back (`_amend`) leave the plan, and
    the values set and cleared are counted from what is left (a value amended may have
    moved from one to the other)."""
    state.changes = [
        c
        for c in state.changes
        if not (
            c.stage == STAGE
            and c.object_type == "user"
            and c.field != "attributes"
            and c.old == c.new
        )
    ]
    counts = {"set": 0, "cleared": 0}
    for change in state.changes:
        if change.stage != STAGE or change.object_type != "user":
            continue
        values = change.new.values() if change.field == "attributes" else [change.new]
        for value in values:
            counts["cleared" if is_empty(value) else "set"] += 1
    for name, count in counts.items():
        if count:
            report.counts[name] = count
        else:
            report.counts.pop(name, None)


def _set_value(state: WorkState, cel: CelEngine, user: UserRecord, name: str, new: Any) -> None:
    """Set the person's value, and note that it moved for those who read it (a run that
    notes who reads whom: a first sync sets a million values, and no key of theirs is read)."""
    if state.reads is not None:
        state.moves += 1
        moved = state.moved_at
        moved[f"i:{user.id}"] = moved[f"v:{user.id}:{name}"] = state.moves
        if name == "manager_email":  # whose direct reports they are, and whom they look up
            moved[f"m:{user.id}"] = state.moves
            for key in manager_keys(user.attributes.get(name)) | manager_keys(new):
                moved[key] = state.moves
    user.attributes[name] = new
    state.dirty_users.add(user.id)
    cel.forget_user(user.id)  # read from now on with this value


def run_attributes(
    state: WorkState,
    definitions: list[AttributeDef],
    cel: CelEngine,
    report: StageReport,
    only: set[int] | None = None,
    hold: bool = True,
    narrow: dict[int, frozenset[str]] | None = None,
) -> None:
    """Compute every attribute of every live user, or only of the users in `only`; of a person
    in `narrow`, only the attributes it names (`narrowed`). With `hold`, blanks caused only by
    a vanished source account are held (`state.held`). With `state.reads`, the lookups of
    other people each person's expressions make are noted there (engine/sync/reads.py),
    replacing what was noted of them before."""
    watched = None
    if state.reads is not None and cel.population is not None:
        watched = WatchedDirectory(cel.population, lambda: state.moves)
        cel.population = watched
    try:
        _compute(state, definitions, cel, report, only, hold, watched, narrow or {})
    finally:
        if watched is not None:
            cel.population = watched.inner


def _compute(
    state: WorkState,
    definitions: list[AttributeDef],
    cel: CelEngine,
    report: StageReport,
    only: set[int] | None,
    hold: bool,
    watched: WatchedDirectory | None,
    narrow: dict[int, frozenset[str]],
) -> None:
    reader = SourceReader(cel, state.accounts_by_owner())
    if only is not None:  # the accounts of the source apps are read next
        sources = [s for d in definitions for s in d.sources]
        apps = {s.app for s in sources if s.app is not None}
        every = any(s.program is not None and _reads_accounts(s.program) for s in sources)
        owned = reader.accounts_by_owner
        read_whole(a for u in only for a in owned.get(u, ()) if every or a.app_id in apps)
    for user in state.users.values():
        if user.status == "DELETED" or (only is not None and user.id not in only):
            continue
        report.bump("users_considered")
        if report.counts["users_considered"] % 1000 == 0:
            state.checkpoint()
        # a new person's values are journalled as one change carrying them all (a first sync
        # creates every person: one row per value would be most of its journal)
        created: dict[str, Any] | None = {} if user.id in state.new_users else None
        if watched is not None:
            # every CEL value anew: what one keeps once converted (another person's fields,
            # their `managerId`) would not be noted as this person's read
            cel.clear_cache()
            watched.start(user.id)
        names = narrow.get(user.id)
        for attribute in definitions:
            if names is not None and attribute.name not in names:
                continue  # nothing it reads moved: it is what it was
            key = (user.id, attribute.name)
            previous = state.attributes.get(key) or AttributeState()
            decision, vanished = decide_or_hold(attribute, user, previous, reader, hold)
            if vanished:
                held = HeldBlank(
                    user.id,
                    state.user_label(user),
                    attribute.name,
                    previous.value,
                    tuple(state.account_label(a) for a in vanished),
                )
                state.held.append(held)
                report.bump("held")
                _say(state, report, user.id, held.line)
            for failed, message in decision.errors:
                report.bump("errors")
                _say(
                    state,
                    report,
                    user.id,
                    f"{state.user_label(user)}: {attribute.name} from {failed}: {message}",
                )
            old = previous.value if previous.value is not None else blank_of(attribute)
            new = decision.value if decision.value is not None else blank_of(attribute)
            if (
                old != new
                or decision.source != previous.source
                or decision.seen != previous.last_seen
                or decision.ever_set != previous.ever_set
            ):
                kept = old == new  # the same value: it was set when it was set
                stamp = previous
                if state.amendable is not None:  # computed again: as the store held it?
                    if previous.run_id is not None or previous.set_at is not None:
                        state.first_states.setdefault(key, previous)  # (a stored value)
                    first = state.first_states.get(key)
                    if not kept and first is not None and first.value == new:
                        kept, stamp = True, first
                state.attributes[key] = AttributeState(
                    new,
                    decision.source,
                    decision.seen,
                    decision.ever_set,
                    stamp.set_at if kept else None,
                    stamp.run_id if kept else None,
                )
                state.dirty_attributes.add(key)
            if old != new and created is not None:
                created[attribute.name] = new
                report.bump("cleared" if is_empty(new) else "set")
                _set_value(state, cel, user, attribute.name, new)
            elif old != new:
                reason = decision.reason + (
                    f" ({decision.source})" if decision.source not in decision.reason else ""
                )
                if not _amend(state, (user.id, attribute.name), new, reason):
                    state.journal(
                        STAGE, "user", state.user_label(user), attribute.name, old, new, reason
                    )
                    _keep_amendable(state, (user.id, attribute.name))
                    report.bump("cleared" if is_empty(new) else "set")
                _set_value(state, cel, user, attribute.name, new)
            elif user.attributes.get(attribute.name) != new:
                # the person's copy of a value the store holds: no change is journalled,
                # but another person's attribute may have read the copy
                _set_value(state, cel, user, attribute.name, new)
        if watched is not None and state.reads is not None:
            state.reads.record(user.id, *watched.stop())
        if created and not _amend(state, (user.id, None), created, NEW_PERSON):
            state.journal(
                STAGE, "user", state.user_label(user), "attributes", None, created, NEW_PERSON
            )
            _keep_amendable(state, (user.id, None))
