"""Stage 3, ownership: every account of a non-directory app looks for its one owner.

Narrow matches emails and usernames; Broad adds the person's name when Narrow finds nothing;
Custom runs ordered rules shaped like merge rules. Exactly one candidate links; none or several
leave the account unowned and listed. Pinned owners stay. Service and system accounts are never
linked by rules, only by an admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.cel import CelEngine, CelEvalError
from engine.config.model import App
from engine.records import AccountRecord, Population, UserRecord, norm_key, read_entitlements
from engine.store.deferred import read_whole
from engine.sync.key_memo import KeyMemo
from engine.sync.keys import KeyRule, compile_rule, walk_rules
from engine.sync.state import StageReport, WorkState

STAGE = "ownership"


def _narrow_account(account: AccountRecord) -> set[str]:
    values = [account.email, *account.emails, account.username, *account.usernames]
    return {k for k in (norm_key(v) for v in values) if k}


def _narrow_user(user: UserRecord) -> set[str]:
    values = [user.email, *user.emails, user.username, *user.usernames]
    return {k for k in (norm_key(v) for v in values) if k}


def _name_account(account: AccountRecord) -> set[str]:
    if account.given_name and account.family_name:
        name = f"{account.given_name} {account.family_name}"
    else:
        name = account.display_name
    key = " ".join(norm_key(name).split())
    return {key} if key else set()


def _name_user(user: UserRecord) -> set[str]:
    key = " ".join(norm_key(user.display_name).split())
    return {key} if key else set()


NARROW = KeyRule("narrow (emails and usernames)", _narrow_account, _narrow_user)
BY_NAME = KeyRule("broad (name)", _name_account, _name_user)
#: What `_walk` reads of an account itself, whatever its rules read: what it skips on
WALK_READS = frozenset(("status", "type"))
#: What the built-in strategies read of an account: its keys above, and what `_walk` reads
WALKED_FIELDS = (
    frozenset(
        ("email", "emails", "username", "usernames", "given_name", "family_name", "display_name")
    )
    | WALK_READS
)


def rules_for(app: App, cel: CelEngine, memo: KeyMemo | None = None) -> list[KeyRule]:
    """The strategy's rules (engine.config.model.OWNERSHIP_STRATEGIES), in order; `memo`:
    what custom rules' CEL gave unchanged records in an earlier run (see key_memo)."""
    ownership = app.ownership
    if ownership.strategy == "broad":
        return [NARROW, BY_NAME]
    if ownership.strategy == "custom":
        return [compile_rule(r, cel, i, memo) for i, r in enumerate(ownership.rules)]
    return [NARROW]


def run_ownership(
    state: WorkState,
    apps: list[App],
    directory_ids: set[str],
    cel: CelEngine,
    report: StageReport,
    everyone: bool = True,
    also: set[tuple[str, str]] | None = None,
    rewalk: set[tuple[str, str]] | None = None,
    memo: KeyMemo | None = None,
) -> None:
    """`everyone=False` (nothing but the apps' data changed since the last applied run, which
    finished): an app whose strategy is built in (narrow, broad) looks again only at its new
    and changed accounts while no person was created, removed or changed by identify in this
    run. Its rules read nothing but the account and the people's core fields, which only
    identify changes: an unchanged account then finds the owner it found last time. `also`:
    accounts to look at again all the same (those the last run created, linked to the person
    they were made for: the rules have not seen them yet; and those it pushed to, whose data
    changed after its stage); `rewalk`: of those, the ones a built-in strategy must look at
    (`rewalk_after_push`; None: all). `memo`: see `rules_for`."""
    live_users = [u for u in state.users.values() if u.status != "DELETED"]
    # (a custom rule's account side may read the entitlements: a grant is a change too)
    changed_accounts = (
        state.new_accounts | state.dirty_accounts | state.changed_grants | (also or set())
    )
    # Any changed person sends every account through the rules again: the walk goes on past a
    # rule that finds several people, so an account can change owner when a key disappears
    # from someone who was never its owner, and the keys people had before identify are gone.
    people_moved = bool(state.new_users or state.dirty_users)
    # a built-in strategy reads nothing of an account but WALKED_FIELDS: an account whose
    # title changed finds the owner it found (and a 1 % sync of title changes, in every app,
    # builds no index of everyone's keys)
    walked_changed = state.changed_in(WALKED_FIELDS) | (also or set() if rewalk is None else rewalk)
    shared: dict[str, dict[str, set[int]]] = {}  # the built-in rules' indexes serve every app

    def index_of(rule: KeyRule) -> dict[str, set[int]]:
        if rule is NARROW or rule is BY_NAME:
            if rule.name not in shared:
                shared[rule.name] = rule.index(live_users)
            return shared[rule.name]
        return rule.index(live_users)

    for app in apps:
        state.checkpoint()
        if app.id in directory_ids:
            continue
        if app.ownership.strategy == "custom":
            # custom rules may ask about other apps' links (c1.user.v1.*): let them see the
            # links this run has made so far, so one sync settles them
            cel.population = state.population()
            if memo is not None:
                memo.population = cel.population
                if not everyone:
                    memo.unchanged = _unchanged_since_last_run(state, also or set())
        accounts = state.accounts_of_app(app.id)
        custom = app.ownership.strategy == "custom"
        incremental = not everyone and not people_moved
        if incremental and not custom:
            accounts = _changed_only(app.id, accounts, walked_changed, report, [])
            if not accounts:
                continue
        rules = rules_for(app, cel, memo)
        if not custom:  # built-in rules read every account walked
            read_whole(a for a in accounts if not a.pinned and a.status != "DELETED")
        try:
            if incremental and custom and _keyed_as_last_run(rules, memo, live_users, state):
                # every person has the keys the last run matched with, and an unchanged
                # account its own: it would find the owner it found (at 100,000 people,
                # walking every badge again was a twentieth of a 1 % sync, and indexing
                # everyone's keys for no changed badge a tenth)
                carried = [rule.account_scope for rule in rules if rule.account_scope]
                changed = _changed_in_what_rules_read(rules, state, changed_accounts, also)
                accounts = _changed_only(app.id, accounts, changed, report, carried, memo)
                if not accounts:
                    continue
            if custom:  # what the memo's digests read of them, in a few queries
                read_entitlements(a for a in accounts if not a.pinned and a.status != "DELETED")
            indexes = [index_of(rule) for rule in rules]
            _walk(accounts, rules, indexes, state, report)
        finally:
            if memo is not None:
                memo.unchanged = None


def _changed_in_what_rules_read(
    rules: list[KeyRule],
    state: WorkState,
    changed: set[tuple[str, str]],
    also: set[tuple[str, str]] | None,
) -> set[tuple[str, str]]:
    """Of the CHANGED accounts, those that changed in what the RULES' account sides read of
    them (`KeyRule.account_fields`) or in what the walk reads itself (a badge that became a
    service account loses its owner: hostile review); all of them when a rule may read
    beyond its account. ALSO (the last run's pushed and created accounts) are kept whole."""
    fields = WALK_READS
    for rule in rules:
        if rule.account_fields is None:
            return changed
        fields |= rule.account_fields
    narrowed = state.changed_in(fields) | (also or set())
    if "entitlements" in fields:
        narrowed |= state.changed_grants
    return narrowed


def rewalk_after_push(state: WorkState) -> set[tuple[str, str]]:
    """The accounts this run created or read back after a push whose data changed in what the
    built-in strategies read: the next run's ownership stage looks at them again (a push of a
    title changes no owner)."""
    return state.read_back_in(WALKED_FIELDS)


def _changed_only(
    app_id: str,
    accounts: list[AccountRecord],
    changed: set[tuple[str, str]],
    report: StageReport,
    carried: list[str],
    memo: KeyMemo | None = None,
) -> list[AccountRecord]:
    """The accounts of ACCOUNTS that changed; the others keep their owners, counted as they
    are, and their keys under the memo's CARRIED scopes are kept for the next run."""
    considered = []
    kept: list[int] = []
    owned = unowned = non_human = 0
    for account in accounts:
        if (app_id, account.external_id) in changed:
            considered.append(account)
            continue
        kept.append(account.id)
        if account.pinned or account.status == "DELETED":
            continue
        if account.type != "USER":
            non_human += 1
        if account.owner_id is not None:
            owned += 1
        else:
            unowned += 1
    if memo is not None:
        for scope in carried:
            memo.carry(scope, kept)
    for count, by in (("non_human_unowned", non_human), ("owned", owned), ("unowned", unowned)):
        if by:
            report.bump(count, by)
    if owned + unowned:
        report.bump("unchanged", owned + unowned)
    return considered


def _keyed_as_last_run(
    rules: list[KeyRule], memo: KeyMemo | None, people: list[UserRecord], state: WorkState
) -> bool:
    """Whether an index of the rules' keys of PEOPLE (the live people) would be the one the
    last run matched with, in a run in which no person was created, removed or changed by
    identify: each rule reads nothing beyond its records, a preset user side reads only the
    people's core fields (unchanged), and a CEL one gives what the memo stored. Only the
    people this run touched are keyed to tell (`memo.unchanged` answers for the others, as
    it would for the index); the others' stored keys are carried to the next run."""
    scopes = []
    for rule in rules:
        if not rule.own_record:
            return False
        if rule.user_preset:
            continue
        if memo is None or rule.user_scope is None:
            return False
        scopes.append((rule, rule.user_scope))
    if not scopes:
        return True
    assert memo is not None
    touched = state.touched_users()
    memo.read_ahead(user for user in people if user.id in touched)
    for rule, scope in scopes:
        if scope in memo.moved or scope in memo.stored_unsettled:
            return False
        if memo.stored_count(scope) != len(people):
            return False
        for user in people:
            if user.id in touched:
                try:
                    rule.user_keys(user)
                except CelEvalError:
                    pass  # kept by the memo as the record's error
        if scope in memo.moved:
            return False
        others = [user.id for user in people if user.id not in touched]
        if memo.carry(scope, others) != len(others):
            return False  # someone has no stored keys: not the people the memo knew
    return True


def _unchanged_since_last_run(
    state: WorkState, also: set[tuple[str, str]]
) -> Callable[[str, Any], bool]:
    """For `KeyMemo.unchanged`, in a run in which nothing but the apps' data changed since the
    last one: a person is as the memo knew them unless this run touched them or their
    accounts (links made so far included: asked anew for each app), an account unless this
    run changed it."""
    touched = state.touched_users()
    changed = state.new_accounts | state.dirty_accounts | state.changed_grants | also

    def unchanged(side: str, record: Any) -> bool:
        if side == "user":
            return record.id not in touched
        return (record.app_id, record.external_id) not in changed

    return unchanged


def _walk(
    accounts: list[AccountRecord],
    rules: list[KeyRule],
    indexes: list[dict[str, set[int]]],
    state: WorkState,
    report: StageReport,
) -> None:
    """Each of ACCOUNTS looks for its owner with the rules."""
    for account in sorted(accounts, key=lambda a: a.external_id):
        if account.pinned or account.status == "DELETED":
            continue
        if account.type != "USER":
            # a service or system account that shares a human's alias is not that human's:
            # rules never assign it; an admin links it by hand (roster link), pinned
            owner, reason = None, f"{account.type.lower()}s are only linked by hand"
            report.bump("non_human_unowned")
        else:
            owner, reason = _find_owner(account, rules, indexes, state, report)
        if owner != account.owner_id:
            # this run's changes, beside the totals below
            if owner is None:
                report.bump("unlinked")
            else:
                report.bump("linked" if account.owner_id is None else "relinked")
            state.set_owner(STAGE, account, owner, "ownership-rule", reason)
        report.bump("owned" if owner is not None else "unowned")


def keep_keys(
    state: WorkState, apps: list[App], cel: CelEngine, memo: KeyMemo, people: set[int]
) -> None:
    """After an applied run, key again what changed after its ownership stage (new people
    now have their stored ids; pushes, read-backs and attributes changed records the rules
    read), so that the next sync finds them in `memo`. Evaluates only records whose digest
    moved: in a run that changed 1 % of the store, 1 % of the records."""
    users = [
        user
        for user_id in sorted(people)
        if (user := state.users.get(user_id)) is not None and user.status != "DELETED"
    ]
    # what a kept expression reads of them: their own accounts (it reads nobody else's), in
    # id order, as the next run loads them (an expression may read a person's accounts in
    # order, and a person's digest follows that order); not the whole store, which a 1 %
    # sync sorted and grouped again for the few people it keys here
    owned = state.accounts_by_owner()
    theirs = sorted((a for user in users for a in owned.get(user.id, ())), key=lambda a: a.id)
    cel.population = memo.population = Population(users, theirs)
    memo.read_ahead(users)
    changed = state.new_accounts | state.dirty_accounts | state.read_back
    read_back = state.read_back
    memo.as_staged = lambda account: (account.app_id, account.external_id) not in read_back
    # the user scopes in which someone's keys now differ from those the stage matched with
    # (a later app linked them an account, a push changed one): the next run cannot take
    # the stage's matches as still standing there (`KeyMemo.same_as_stored`)
    unsettled: set[str] = set()
    try:
        for app in apps:
            if app.ownership.strategy != "custom":
                continue
            accounts = [
                a
                for a in state.accounts_of_app(app.id)
                if (app.id, a.external_id) in changed
                and a.type == "USER"
                and a.status != "DELETED"
                and not a.pinned
            ]
            for rule in rules_for(app, cel, memo):
                # only the sides the memo keeps: the others are evaluated by every run anyway
                scope = rule.user_scope
                if scope is not None:
                    memo.unsettled.add(scope)  # until shown settled (this may run out of time)
                    for user in users:
                        matched = memo.matched_with(scope, user)
                        _keys_of(rule.user_keys, user)
                        if matched is None or memo.matched_with(scope, user) != matched:
                            unsettled.add(scope)
                if rule.account_scope is not None:
                    for account in accounts:
                        _keys_of(rule.account_keys, account)
        memo.unsettled = unsettled
    finally:
        cel.population = None
        memo.as_staged = None


def _keys_of(keys: Callable[[Any], set[str]], record: Any) -> None:
    try:
        keys(record)
    except CelEvalError:
        pass  # kept with its message; the stage reports it when it walks the account


def _find_owner(
    account: AccountRecord,
    rules: list[KeyRule],
    indexes: list[dict[str, set[int]]],
    state: WorkState,
    report: StageReport,
) -> tuple[int | None, str]:
    walk = walk_rules(account, rules, indexes)
    label = state.account_label(account)
    for step in walk.steps:
        if step.error:
            report.problems.append(f"{label}: rule {step.rule!r}: {step.error}")
        elif step.found > 1:
            report.bump("ambiguous")
    if walk.user_id is not None:
        return walk.user_id, f"ownership rule {walk.steps[-1].rule!r}"
    return None, ("; ".join(walk.ambiguity(state.owner_label)) or "no rule found an owner")
