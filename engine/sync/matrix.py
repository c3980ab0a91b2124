"""The match matrix: what each merge rule and each ownership strategy finds over the records.

For every directory, the accounts its filter passes (CREATE or MATCH_ONLY; deleted and pinned
accounts aside) walk the merge rules in order against the people, with the very walk identify
uses (`engine.sync.keys.walk_rules`): each rule matched (the first to find exactly one person),
was ambiguous (found several), found nobody, or was not reached (decided by an earlier rule).
For every other app, each live account is owned, unowned (found nobody, found several, a
service or system account, or pinned with no owner) or pinned, with the ownership stage's own
rules (`engine.sync.ownership.rules_for`). Nothing is written.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.cel import SWEEP_CACHE_LIMIT, CelEngine, CelEvalError
from engine.config.model import RosterConfig
from engine.errors import InvalidInput
from engine.records import AccountRecord, Population, UserRecord
from engine.sync.identify import PASSING, directory_decider
from engine.sync.keys import KeyRule, RuleStep, compile_rule, walk_rules
from engine.sync.ownership import rules_for

KINDS = ("ambiguous", "unmatched", "unowned")


@dataclass(frozen=True)
class RuleCounts:
    rule: str
    matched: int  # the first rule to find exactly one person
    ambiguous: int  # found several people (the next rule is tried)
    unmatched: int  # found nobody, or failed (the next rule is tried)
    decided_earlier: int  # an earlier rule matched: this one was not tried

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "matched": self.matched,
            "ambiguous": self.ambiguous,
            "unmatched": self.unmatched,
            "decided_earlier": self.decided_earlier,
        }


@dataclass(frozen=True)
class DirectoryMatrix:
    app: str
    considered: int  # live, unpinned accounts the filter passes (CREATE or MATCH_ONLY)
    pinned: int  # passed by the filter but pinned: their link is the admin's
    errors: int  # the filter failed on them
    rules: list[RuleCounts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "considered": self.considered,
            "pinned": self.pinned,
            "errors": self.errors,
            "rules": [r.as_dict() for r in self.rules],
        }


@dataclass(frozen=True)
class OwnershipCounts:
    app: str
    strategy: str
    owned: int  # live accounts with an owner (pinned ones included)
    unowned: int  # live accounts with none (ambiguous and pinned ones included)
    ambiguous: int  # unowned because a rule found several people
    pinned: int  # owned or not, the admin's decision

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "strategy": self.strategy,
            "owned": self.owned,
            "unowned": self.unowned,
            "ambiguous": self.ambiguous,
            "pinned": self.pinned,
        }


@dataclass(frozen=True)
class MatchMatrix:
    directories: list[DirectoryMatrix]
    apps: list[OwnershipCounts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "directories": [d.as_dict() for d in self.directories],
            "apps": [a.as_dict() for a in self.apps],
        }


@dataclass(frozen=True)
class MatrixRow:
    key: str  # APP:EXTERNAL_ID
    label: str  # the account's name, email or username
    reason: str  # e.g. "MATCH_ONLY: 'email' found 2 people; 'employee-id' found nobody"

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "reason": self.reason}


@dataclass(frozen=True)
class MatrixListing:
    kind: str  # ambiguous | unmatched | unowned
    total: int  # every account of that kind (rows is one page of them)
    rows: list[MatrixRow]
    offset: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "total": self.total,
            "offset": self.offset,
            "rows": [r.as_dict() for r in self.rows],
        }


@dataclass
class Entry:
    """One account the matrix looked at, with what its walk found."""

    account: AccountRecord
    directory: bool
    outcome: str  # directories: matched | ambiguous | unmatched; apps: owned | unowned
    steps: list[RuleStep]
    reason: str
    ambiguous: bool = False

    def tried(self, rule: str) -> RuleStep | None:
        return next((s for s in self.steps if s.rule == rule), None)


@dataclass
class MatrixResult:
    matrix: MatchMatrix
    entries: list[Entry] = field(default_factory=list)
    rules: dict[str, list[str]] = field(default_factory=dict)  # app -> its rules' names


def _who(population: Population, user_id: int | None) -> str:
    user = population.user_by_id(user_id) if user_id is not None else None
    if user is None:
        return f"person {user_id}"
    name = user.email or user.display_name or f"person {user.id}"
    return name + (" (removed)" if user.status == "DELETED" else "")


def account_name(account: AccountRecord) -> str:
    return account.display_name or account.email or account.username


@dataclass
class MatrixMemo:
    """What several matrices over the same records share: each rule's index of people and
    each filter's decisions do not depend on the rest of the configuration, so an edit that
    changes one rule recomputes that rule only. Valid for one Population."""

    indexes: dict[str, dict[str, set[int]]] = field(default_factory=dict)
    decisions: dict[str, list[str | None]] = field(default_factory=dict)


def compute_matrix(
    population: Population,
    config: RosterConfig,
    *,
    cancelled: Callable[[], bool] | None = None,
    memo: MatrixMemo | None = None,
) -> MatrixResult:
    """The matrix of every directory and every other app of CONFIG over POPULATION."""
    memo = memo if memo is not None else MatrixMemo()
    cel = CelEngine(population, cache_limit=SWEEP_CACHE_LIMIT)
    by_app: dict[str, list[AccountRecord]] = {}
    for account in population.accounts:
        if account.status != "DELETED":
            by_app.setdefault(account.app_id, []).append(account)
    for accounts in by_app.values():
        accounts.sort(key=lambda a: a.external_id)
    result = MatrixResult(MatchMatrix([], []))
    directory_ids = {d.app for d in config.directories}

    def index_of(key: str, rule: KeyRule, people: list[UserRecord]) -> dict[str, set[int]]:
        if key not in memo.indexes:
            memo.indexes[key] = rule.index(people)
        return memo.indexes[key]

    for directory in config.directories:
        _stop(cancelled)
        accounts = by_app.get(directory.app, [])
        enabled = directory.enabled
        merge_rules = directory.effective_merge_rules()
        try:
            decide, _ = directory_decider(directory, cel)
            rules = [compile_rule(r, cel, i) for i, r in enumerate(merge_rules)]
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        result.rules[directory.app] = [r.name for r in rules]
        decided = f"{directory.app}\0{enabled}\0{directory.filter}"
        if decided not in memo.decisions:
            memo.decisions[decided] = [
                _decision(decide, a) if enabled else "IGNORE" for a in accounts
            ]
        # identify indexes every person it knows, removed ones too (a returning account finds
        # its old person again): the matrix asks the same index
        indexes = [
            index_of("all\0" + r.model_dump_json(exclude={"name"}), rule, population.users)
            for r, rule in zip(merge_rules, rules, strict=True)
        ]
        _directory(
            result, population, directory.app, accounts, memo.decisions[decided], rules, indexes
        )
    live = [u for u in population.users if u.status != "DELETED"]
    for app in config.apps:
        if app.id in directory_ids:
            continue
        _stop(cancelled)
        rules = rules_for(app, cel)
        result.rules[app.id] = [r.name for r in rules]
        if app.ownership.strategy == "custom":
            keys = ["live\0" + r.model_dump_json(exclude={"name"}) for r in app.ownership.rules]
        else:  # the built-in rules (as the ownership stage: one index for every app)
            keys = ["builtin\0" + rule.name for rule in rules]
        indexes = [index_of(k, rule, live) for k, rule in zip(keys, rules, strict=True)]
        _ownership(
            result,
            population,
            app.id,
            app.ownership.strategy,
            by_app.get(app.id, []),
            rules,
            indexes,
        )
    return result


def _decision(decide: Callable[[AccountRecord], str], account: AccountRecord) -> str | None:
    """The filter's decision, or None when it fails on this account."""
    try:
        return decide(account)
    except (CelEvalError, ValueError):
        return None


def _stop(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        from engine.sync.simulate import SimulationCancelled

        raise SimulationCancelled("the match matrix was cancelled")


def _directory(
    result: MatrixResult,
    population: Population,
    app_id: str,
    accounts: list[AccountRecord],
    decisions: list[str | None],
    rules: list[KeyRule],
    indexes: list[dict[str, set[int]]],
) -> None:
    counts = [[0, 0, 0, 0] for _ in rules]  # matched, ambiguous, unmatched, decided earlier
    who = functools.partial(_who, population)  # names whom an ambiguous rule found
    considered = pinned = errors = 0
    for account, decision in zip(accounts, decisions, strict=True):
        if decision is None:
            errors += 1
            continue
        if decision not in PASSING:
            continue
        if account.pinned:
            pinned += 1
            continue
        considered += 1
        walk = walk_rules(account, rules, indexes)
        for position, step in enumerate(walk.steps):
            if walk.user_id is not None and position == len(walk.steps) - 1:
                counts[position][0] += 1
            elif step.found > 1:
                counts[position][1] += 1
            else:
                counts[position][2] += 1
        for position in range(len(walk.steps), len(rules)):
            counts[position][3] += 1
        if walk.user_id is not None:
            outcome = "matched"
        elif walk.ambiguous:
            outcome = "ambiguous"
        else:
            outcome = "unmatched"
        reason = f"{decision}: " + "; ".join(s.describe(who) for s in walk.steps)
        if account.owner_id is not None:
            reason += f"; linked to {_who(population, account.owner_id)}"
        elif outcome == "unmatched" and decision == "MATCH_ONLY":
            reason += "; MATCH_ONLY creates nobody, so it stays unmerged"
        result.entries.append(
            Entry(account, True, outcome, walk.steps, reason, outcome == "ambiguous")
        )
    result.matrix.directories.append(
        DirectoryMatrix(
            app_id,
            considered,
            pinned,
            errors,
            [RuleCounts(rule.name, *c) for rule, c in zip(rules, counts, strict=True)],
        )
    )


def _ownership(
    result: MatrixResult,
    population: Population,
    app_id: str,
    strategy: str,
    accounts: list[AccountRecord],
    rules: list[KeyRule],
    indexes: list[dict[str, set[int]]],
) -> None:
    owned = unowned = ambiguous = pinned = 0
    who = functools.partial(_who, population)  # names whom an ambiguous rule found
    for account in accounts:
        steps: list[RuleStep] = []
        is_ambiguous = False
        if account.pinned:
            pinned += 1
            owner = account.owner_id
            reason = "pinned with no owner: link it by hand (roster link)"
        elif account.type != "USER":
            owner = None
            kind = account.type.lower().replace("_", " ")
            reason = f"a {kind}: rules never link one, an admin does (roster link)"
        else:
            walk = walk_rules(account, rules, indexes)
            owner, steps = walk.user_id, walk.steps
            is_ambiguous = bool(walk.ambiguous)
            reason = "; ".join(s.describe(who) for s in steps) or "no rule to try"
        if owner is not None:
            owned += 1
            result.entries.append(Entry(account, False, "owned", steps, reason))
            continue
        unowned += 1
        ambiguous += is_ambiguous
        result.entries.append(Entry(account, False, "unowned", steps, reason, is_ambiguous))
    result.matrix.apps.append(OwnershipCounts(app_id, strategy, owned, unowned, ambiguous, pinned))


def listing(
    result: MatrixResult,
    kind: str,
    app: str | None = None,
    rule: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> MatrixListing:
    """One page of the accounts behind a number of the matrix."""
    if kind not in KINDS:
        raise InvalidInput(f"Unknown list {kind!r}; use one of: {', '.join(KINDS)}.")
    if offset < 0 or limit < 1:
        raise InvalidInput("offset must be 0 or more and limit 1 or more.")
    if app is not None and app not in result.rules:
        raise InvalidInput(
            f"{app!r} is not in the matrix; its apps are: {', '.join(result.rules) or 'none'}."
        )
    directories = {d.app for d in result.matrix.directories}
    if app is not None and kind == "unmatched" and app not in directories:
        raise InvalidInput(
            f"{app} is not a directory: its accounts are owned, not merged; "
            f"list --list unowned or --list ambiguous."
        )
    if app is not None and kind == "unowned" and app in directories:
        raise InvalidInput(
            f"{app} is a directory: its accounts are merged, not owned; "
            f"list --list unmatched or --list ambiguous."
        )
    if rule is not None:
        scope = [app] if app is not None else list(result.rules)
        names = sorted({n for a in scope for n in result.rules[a]})
        if rule not in names:
            where = app or "any directory or app"
            raise InvalidInput(
                f"No rule {rule!r} in {where}; the rules are: {', '.join(names) or 'none'}."
            )

    def wanted(entry: Entry) -> bool:
        """Without a rule, the account's outcome; with one, what that rule found (the
        numbers of its row of the matrix)."""
        if app is not None and entry.account.app_id != app:
            return False
        if kind == "unowned" and (entry.directory or entry.outcome != "unowned"):
            return False
        if kind == "unmatched" and not entry.directory:
            return False
        if rule is None:
            if kind == "ambiguous":
                return entry.ambiguous
            return kind == "unowned" or entry.outcome == "unmatched"
        step = entry.tried(rule)
        if step is None:
            return False
        if kind == "ambiguous":
            return step.found > 1
        if kind == "unmatched":
            return step.found == 0
        return True

    chosen = [e for e in result.entries if wanted(e)]
    rows = [
        MatrixRow(f"{e.account.app_id}:{e.account.external_id}", account_name(e.account), e.reason)
        for e in chosen[offset : offset + limit]
    ]
    return MatrixListing(kind, len(chosen), rows, offset)


def only(matrix: MatchMatrix, app: str | None) -> MatchMatrix:
    if app is None:
        return matrix
    return MatchMatrix(
        [d for d in matrix.directories if d.app == app], [a for a in matrix.apps if a.app == app]
    )
