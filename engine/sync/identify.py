"""Stage 2, identify: directory filters decide which accounts become people, ordered merge rules
find the person an account belongs to, and people no directory account passes are removed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from engine.cel import CelCompileError, CelEngine, CelEvalError, normalize_filter_result
from engine.cel.results import filter_result_problem
from engine.config.model import Directory
from engine.records import AccountRecord, UserRecord
from engine.store.deferred import read_whole
from engine.sync.keys import KeyRule, compile_rule, walk_rules
from engine.sync.reads import renamed_keys
from engine.sync.state import AccountKey, PlannedChange, StageReport, WorkState

STAGE = "identify"
PASSING = ("CREATE", "MATCH_ONLY")
CORE_FIELDS = ("email", "username", "display_name", "given_name", "family_name", "employee_id")
#: The fields of a person that identify sets from their accounts.
IDENTITY_FIELDS = (
    *CORE_FIELDS,
    "emails",
    "usernames",
    "employee_ids",
    "status",
    "type",
)


def run_identify(
    state: WorkState,
    directories: list[Directory],
    cel: CelEngine,
    report: StageReport,
    everyone: bool = True,
) -> None:
    """`everyone=False` (the directories' configuration did not change since the last applied
    run) reuses the stored filter decisions of unchanged accounts and refreshes only the
    people whose directory accounts changed; a filter that reads other records is always
    evaluated again, and so is one that reads the clock."""
    order = {d.app: i for i, d in enumerate(directories)}
    unlinked: list[tuple[PlannedChange, int]] = []  # filter unlinks, and whom from
    # directory -> how many people had moved when its walk began: someone the walk itself
    # creates may hold the key of an account it found nobody for earlier in the walk
    walked_at: dict[str, int] = {}
    for position, directory in enumerate(directories):
        before = _links_of(state, directory.app) if everyone and position > 0 else None
        walked_at[directory.app] = state.people_moves
        _identify_directory(state, directory, cel, report, everyone, unlinked)
        if not everyone:
            only: set[int] | None = _touched(state, order)
        elif before is None:  # the first directory: everyone
            only = None
        else:
            # a person's core fields follow from their passing directory accounts alone, and
            # this pass moved only its own directory's: the others are as the last refresh
            # left them (refreshing everyone after every directory was a sixth of a first
            # sync's identify)
            only = _moved(state, directory.app, before)
        _refresh_users(state, order, report, only)
    _walk_found_nobody_again(state, directories, cel, report, order, walked_at)
    disabled = [d.app for d in directories if not d.enabled]
    # a person loses what keeps them only with a directory account of theirs: an incremental
    # run looks at the people this run touched (looking at everyone was two fifths of a
    # 1 % sync's identify at 100,000 people)
    only = None if everyone else _touched(state, order)
    backing = _passing_directory_accounts(state, order, ("CREATE",), owners=only)
    _remove_unbacked_users(state, backing, report, disabled, only)
    _say_who_keeps(state, backing, unlinked)


def _walk_found_nobody_again(
    state: WorkState,
    directories: list[Directory],
    cel: CelEngine,
    report: StageReport,
    order: dict[str, int],
    walked_at: dict[str, int],
) -> None:
    """A MATCH_ONLY account the rules found nobody for, in a directory walked before someone
    was created or changed (a later directory's refresh gave Olga the address of a leaver's
    disabled IdP account; the walk itself created someone after it), is walked again against
    the people as they are now: else the run would settle with it unlinked, and a sync on the
    same data, which does nothing, would never link it. The people it links are refreshed at
    once, and what that changes is walked again, until a round links nobody (each round
    links someone: it ends). Then every account found nobody for was last walked against the
    people as identify leaves them (`incremental.save_found_nobody` keeps them)."""
    while True:
        linked_any = False
        for directory in directories:
            if walked_at.get(directory.app, state.people_moves) == state.people_moves:
                continue
            walked_at[directory.app] = state.people_moves
            waiting = [
                account
                for key in sorted(k for k in state.found_nobody if k[0] == directory.app)
                if (account := state.accounts.get(key)) is not None and account.owner_id is None
            ]
            if not waiting:
                continue
            state.checkpoint()
            rules = [
                compile_rule(r, cel, i) for i, r in enumerate(directory.effective_merge_rules())
            ]
            indexes = [rule.index(state.users.values()) for rule in rules]
            holders = _holders(state, directory.app)
            linked: set[int] = set()
            for account in waiting:
                state.found_nobody.discard((account.app_id, account.external_id))
                report.bump("unmerged", -1)  # counted again by what the walk finds now
                _merge(state, account, "MATCH_ONLY", rules, indexes, report, holders)
                if account.owner_id is not None:
                    linked.add(account.owner_id)
            if linked:  # their core fields follow from the account too
                _refresh_users(state, order, report, linked)
                linked_any = True
        if not linked_any:
            return


def _holders(state: WorkState, app_id: str) -> dict[int, AccountRecord]:
    """Who already holds a live account of the directory: a second one never merges into
    them."""
    return {
        a.owner_id: a
        for a in state.accounts_of_app(app_id)
        if a.owner_id is not None and a.status != "DELETED"
    }


def _touched(state: WorkState, order: dict[str, int]) -> set[int]:
    """The people whose directory accounts (of the apps in ORDER) this run changed, linked
    or unlinked, or who lost an account: a person's core fields and backing follow from
    their directory accounts alone (a changed Slack account was a fifth of the people a
    1 % sync refreshed three times, once after each directory)."""
    keys = state.new_accounts | state.dirty_accounts | state.dirty_links | state.written_before
    accounts = state.accounts
    owners = {accounts[k].owner_id for k in keys if k[0] in order and k in accounts}
    return {o for o in owners if o is not None} | state.previous_owners | state.new_users


_Link = tuple[int | None, str | None, str | None]  # owner, link kind, filter decision


def _links_of(state: WorkState, app_id: str) -> dict[str, _Link]:
    decisions = state.filter_results
    return {
        a.external_id: (a.owner_id, a.link_kind, decisions.get((app_id, a.external_id)))
        for a in state.accounts_of_app(app_id)
    }


def _moved(state: WorkState, app_id: str, before: dict[str, _Link]) -> set[int]:
    """The people, before and after, of the accounts of APP whose owner, link kind or filter
    decision differs from BEFORE (`_links_of`)."""
    people: set[int] = set()
    now = _links_of(state, app_id)
    for external_id, link in now.items():
        was = before.get(external_id)
        if was != link:
            if was is not None and was[0] is not None:
                people.add(was[0])
            if link[0] is not None:
                people.add(link[0])
    return people


def _identify_directory(
    state: WorkState,
    directory: Directory,
    cel: CelEngine,
    report: StageReport,
    everyone: bool = True,
    unlinked: list[tuple[PlannedChange, int]] | None = None,
) -> None:
    """`unlinked`: where to note each account the filter took from its person (the change
    journalled, the person), for `_say_who_keeps`."""
    app_id = directory.app
    decide, reads_beyond = directory_decider(directory, cel)
    # a filter that reads other people or the clock may decide otherwise on unchanged data
    reuse = not everyone and not reads_beyond
    # a filter may read the account's entitlements: a grant given or revoked is a change
    # (the stored decision of an account whose grants alone changed was kept: hostile review)
    changed = state.new_accounts | state.dirty_accounts | state.changed_grants
    changed |= state.filter_failed_before  # its failure is reported again, not forgotten
    changed |= state.written_before  # a push wrote to it after the last run decided it
    rules = [compile_rule(r, cel, i) for i, r in enumerate(directory.effective_merge_rules())]
    # the people's keys, built for the first account that is not linked yet: a run in which
    # every account of the directory is linked (most incremental runs) never needs them
    indexes: list[dict[str, set[int]]] | None = None
    holders = _holders(state, app_id)
    if reuse:  # what the loop reads of the accounts: the changed ones, and those to merge
        decisions = state.filter_results
        read_whole(
            a
            for a in state.accounts_of_app(app_id)
            if (app_id, a.external_id) in changed
            or (
                a.owner_id is None
                and a.status != "DELETED"
                and decisions.get((app_id, a.external_id)) != "IGNORE"
            )
        )
    accounts = state.accounts_of_app(app_id)
    if reuse:
        accounts = _settled_counted(state, app_id, accounts, changed, report)
    still_nobody = _found_nobody_again(state, rules, reuse)
    for position, account in enumerate(sorted(accounts, key=lambda a: a.external_id)):
        if position % 5000 == 0:
            state.checkpoint()
        key = (app_id, account.external_id)
        if account.status == "DELETED":
            state.filter_results[key] = "IGNORE"
            continue
        try:
            known = state.filter_results.get(key) if reuse and key not in changed else None
            decision = known or decide(account)
        except (CelEvalError, ValueError) as exc:
            label = state.account_label(account)
            report.bump("filter_errors")
            state.filter_failed.add(key)
            report.problems.append(f"{label}: filter failed: {exc}; the account was left as it was")
            state.journal(STAGE, "account", label, "filter", None, "ERROR", str(exc))
            continue
        previous = state.filter_results.get(key)
        state.filter_results[key] = decision
        if previous != decision:
            state.dirty_links.add(key)
        # "filter create 543": the filter's decisions, not people created ("users created")
        report.bump(f"filter_{decision.lower()}")
        if account.pinned:
            if decision != "IGNORE":
                report.bump("pinned")
            continue
        if decision == "IGNORE":
            if account.owner_id is not None:
                why = "the directory filter now ignores it"
                if not directory.enabled:
                    why = f"directory {app_id} is disabled"
                    state.disabled_backing.add(account.owner_id)
                owner = account.owner_id
                _unlink(state, account, why)
                if unlinked is not None:
                    unlinked.append((state.changes[-1], owner))
            continue
        if account.owner_id is not None and account.owner_id in state.users:
            # links are stable until a filter or an admin says otherwise; counted so that
            # "filter create" adds up: already linked + merged + users created + the rest
            report.bump("already_linked")
            continue
        if decision == "MATCH_ONLY" and account.owner_id is None and still_nobody(key):
            report.bump("unmerged")  # as the rules would, below
            state.found_nobody.add(key)
            continue
        if indexes is None:
            indexes = [rule.index(state.users.values()) for rule in rules]
        _merge(state, account, decision, rules, indexes, report, holders)


def _found_nobody_again(
    state: WorkState, rules: list[KeyRule], reuse: bool
) -> Callable[[AccountKey], bool]:
    """Whether the rules would find nobody again for an unlinked MATCH_ONLY account, as they
    did in the last applied run, without walking them (walking one needs an index of
    everyone's keys: half a second at 100,000 people, for the same leavers' disabled
    accounts every run). So it is when the last run changed nobody's keys after finding
    nobody (`found_nobody_before` is kept only then), this run has changed nobody yet, the
    rules' people sides are presets (they read the people's core fields, which only identify
    changes) and their account sides read nothing beyond the account, and the account
    changed in none of what they read of it."""
    before = state.found_nobody_before
    fields: frozenset[str] = frozenset()
    for rule in rules:
        if not rule.user_preset or rule.account_fields is None:
            before = None
            break
        fields |= rule.account_fields
    if not reuse or not before:
        return lambda key: False
    changed = state.changed_in(fields)
    if "entitlements" in fields:
        changed |= state.changed_grants

    def still_nobody(key: AccountKey) -> bool:
        return (
            key in before and key not in changed and not state.new_users and not state.dirty_users
        )

    return still_nobody


def _settled_counted(
    state: WorkState,
    app_id: str,
    accounts: list[AccountRecord],
    changed: set[tuple[str, str]],
    report: StageReport,
) -> list[AccountRecord]:
    """In a run reusing the stored filter decisions: the accounts the loop must see. The
    others (unchanged, decided, neither pinned nor ignored, linked to a person) would only be
    counted by it, as they are here, without sorting them (most of a 1 % sync's accounts)."""
    decisions = state.filter_results
    users = state.users
    rest = []
    linked: dict[str, int] = {}
    for account in accounts:
        key = (app_id, account.external_id)
        known = decisions.get(key)
        if (
            known is None
            or known == "IGNORE"
            or key in changed
            or account.pinned
            or account.status == "DELETED"
            or account.owner_id not in users
        ):
            rest.append(account)
            continue
        linked[known] = linked.get(known, 0) + 1
    for decision, count in sorted(linked.items()):
        report.bump(f"filter_{decision.lower()}", count)
        report.bump("already_linked", count)
    return rest


def directory_decider(directory: Directory, cel: CelEngine) -> tuple[Any, bool]:
    """The directory's decision function (account -> CREATE | MATCH_ONLY | IGNORE; raises
    CelEvalError or ValueError), and whether it reads beyond the account. A disabled
    directory ignores every account."""
    if not directory.enabled:
        return (lambda account: "IGNORE"), False
    text = (directory.filter or "").strip()
    if not text:
        return (lambda account: "CREATE"), False
    try:
        program = cel.compile("directory_filter", text)
    except CelCompileError as exc:
        raise ValueError(f"directory {directory.app}: filter: {exc.problem}") from exc

    def decide(account: AccountRecord) -> str:
        value = cel.evaluate(program, cel.activation_for("directory_filter", account))
        decision = normalize_filter_result(value)
        if decision is None:
            raise CelEvalError(filter_result_problem(value))
        return decision

    return decide, program.reads_beyond_its_record


def _merge(
    state: WorkState,
    account: AccountRecord,
    decision: str,
    rules: list[KeyRule],
    indexes: list[dict[str, set[int]]],
    report: StageReport,
    holders: dict[int, AccountRecord],
) -> None:
    label = state.account_label(account)
    walk = walk_rules(account, rules, indexes)
    for step in walk.steps:
        if step.error:
            report.problems.append(f"{label}: merge rule {step.rule!r} failed: {step.error}")
    held = holders.get(walk.user_id) if walk.user_id is not None else None
    if held is not None and held is not account:
        # Two accounts of one directory are two records, not one person seen twice (a rehire
        # with a new id, a typo in an email): merging would silently drop one's data.
        person = state.owner_label(walk.user_id)
        reason = (
            f"merge rule {walk.steps[-1].rule!r} finds {person}, who already has "
            f"{state.account_label(held)} from this directory — two accounts of one "
            "directory are never merged; link it by hand (roster link) if it is the same "
            "person, or fix the data"
        )
        report.bump("conflicts")
        report.problems.append(f"{label}: not merged: {reason}")
        _conflict(state, account, label, reason)
        return
    if walk.user_id is not None:
        holders[walk.user_id] = account
        reason = f"merge rule {walk.steps[-1].rule!r}"
        _link(state, account, walk.user_id, "directory-match", reason)
        report.bump("merged")
        return
    if any(step.found > 1 for step in walk.steps):
        report.bump("conflicts")
        # who: the admin links it to one of them; and a conflict among other people is
        # another conflict, journalled again (engine/sync/identify.py `_conflict`)
        ambiguous = walk.ambiguity(state.owner_label)
        reason = "; ".join(ambiguous) + " — link it by hand (roster link) or refine the rules"
        report.problems.append(f"{label}: ambiguous, no person created: {reason}")
        _conflict(state, account, label, reason)
        return
    if decision == "MATCH_ONLY":
        report.bump("unmerged")
        if not any(step.error for step in walk.steps):  # a failing rule is reported every run
            state.found_nobody.add((account.app_id, account.external_id))
        return
    user = UserRecord(id=state.temp_person_id())
    state.users[user.id] = user
    state.new_users.add(user.id)
    state.people_moves += 1
    state.user_origin[user.id] = label
    _apply_core(user, [account])
    _link(state, account, user.id, "directory-create", "created from this account")
    holders[user.id] = account
    for rule, index in zip(rules, indexes, strict=True):
        try:
            keys = rule.user_keys(user)
        except CelEvalError as exc:
            report.problems.append(f"{label}: merge rule {rule.name!r} on the new person: {exc}")
            continue
        for key in keys:
            index.setdefault(key, set()).add(user.id)
    state.journal(
        STAGE,
        "user",
        state.user_label(user),
        "",
        None,
        user.email or user.display_name,
        f"created from {label}",
    )
    report.bump("users_created")


def _conflict(state: WorkState, account: AccountRecord, label: str, reason: str) -> None:
    """Note a conflict; journal it only when the last applied run did not find the same one
    (an unlinked account is walked by every run that runs identify: a standing conflict is
    reported each time, but it is not a change each time)."""
    key = (account.app_id, account.external_id)
    state.conflicts[key] = reason
    if state.conflicts_before.get(key) != reason:
        state.journal(STAGE, "account", label, "conflict", None, None, reason)


def _link(state: WorkState, account: AccountRecord, user_id: int, kind: str, reason: str) -> None:
    state.set_owner(STAGE, account, user_id, kind, reason)


def _unlink(state: WorkState, account: AccountRecord, reason: str) -> None:
    state.set_owner(STAGE, account, None, None, reason)


def _passing_directory_accounts(
    state: WorkState,
    order: dict[str, int],
    passing: tuple[str, ...] = PASSING,
    owners: set[int] | None = None,
) -> dict[int, list[AccountRecord]]:
    """Person -> their live directory accounts the filters pass, highest priority first;
    `owners`: only these people's."""
    backing: dict[int, list[AccountRecord]] = {}
    decisions = state.filter_results
    for app_id in order:  # the directories' accounts only, not every app's
        for account in state.accounts_of_app(app_id):
            owner = account.owner_id
            if owner is None or (owners is not None and owner not in owners):
                continue
            if (
                decisions.get((app_id, account.external_id)) in passing
                and account.status != "DELETED"
            ):
                backing.setdefault(owner, []).append(account)
    for accounts in backing.values():
        accounts.sort(key=lambda a: (order[a.app_id], a.id if a.id > 0 else 10**12 - a.id))
    return backing


# Links a person did not get from a merge rule: their accounts' identifiers are not merge keys.
HANDED_LINKS = ("manual", "ownership-rule")


def _apply_core(user: UserRecord, accounts: list[AccountRecord]) -> dict[str, tuple[Any, Any]]:
    """Set a user's core fields from its directory accounts, highest priority first."""
    changed: dict[str, tuple[Any, Any]] = {}
    # An account linked by hand (or by an ownership rule) belongs to the person, but its
    # identifiers are not theirs: a shared mailbox linked to Ann must not make its address one
    # of Ann's merge keys (which would take other people's accounts from them).
    keyed = [a for a in accounts if a.link_kind not in HANDED_LINKS] or accounts

    def first(getter: Any, among: list[AccountRecord] = accounts) -> str:
        return next((v for v in (getter(a) for a in among) if v), "")

    def gather(getter: Any) -> list[str]:
        seen: dict[str, None] = {}
        for account in keyed:
            for value in getter(account):
                if value and value.casefold() not in {s.casefold() for s in seen}:
                    seen[value] = None
        return list(seen)

    wanted = {
        "email": first(lambda a: a.email or next(iter(a.emails), ""), keyed),
        "username": first(lambda a: a.username, keyed),
        "display_name": first(lambda a: a.display_name),
        "given_name": first(lambda a: a.given_name),
        "family_name": first(lambda a: a.family_name),
        "employee_id": first(lambda a: next(iter(a.employee_ids), ""), keyed),
        "emails": gather(lambda a: [a.email, *a.emails]),
        "usernames": gather(lambda a: [a.username, *a.usernames]),
        "employee_ids": gather(lambda a: a.employee_ids),
        "status": "ENABLED" if any(a.status == "ENABLED" for a in accounts) else "DISABLED",
        "type": accounts[0].type if accounts else "USER",
    }
    assert tuple(wanted) == IDENTITY_FIELDS
    for name, value in wanted.items():
        old = getattr(user, name)
        if old != value:
            changed[name] = (old, value)
            setattr(user, name, value)
    return changed


def _refresh_users(
    state: WorkState, order: dict[str, int], report: StageReport, only: set[int] | None = None
) -> None:
    backing = _passing_directory_accounts(state, order, owners=only)
    decisions = state.filter_results
    created_by = {  # one pass over the directories' accounts, not two
        owner
        for owner, accounts in backing.items()
        if any(decisions.get((a.app_id, a.external_id)) == "CREATE" for a in accounts)
    }
    if only is not None:  # their names and emails are read next
        read_whole(a for accounts in backing.values() for a in accounts)
    for user_id, accounts in backing.items():
        user = state.users.get(user_id)
        if user is None or user_id not in created_by:
            # only people a CREATE account keeps are refreshed: the others are about to be
            # removed (or already are), and keep their last known names for the audit trail
            continue
        changed = _apply_core(user, accounts)
        if changed:
            state.dirty_users.add(user_id)
            state.people_moves += 1
            state.moved_keys |= renamed_keys(changed)
            if user_id not in state.new_users:
                for name, (old, new) in changed.items():
                    state.journal(
                        STAGE,
                        "user",
                        state.user_label(user),
                        name,
                        old,
                        new,
                        f"from {state.account_label(accounts[0])}",
                    )


def _remove_unbacked_users(
    state: WorkState,
    backing: dict[int, list[AccountRecord]],
    report: StageReport,
    disabled: list[str],
    only: set[int] | None = None,
) -> None:
    """BACKING: each person's directory accounts whose filter says CREATE. Only those keep a
    person: a MATCH_ONLY feed enriches people, it cannot keep a leaver alive any more than it
    could have created them. `only`: the people to look at (None: everyone)."""
    people: Iterable[UserRecord] = state.users.values()
    if only is not None:  # in the same order
        people = [user for user in people if user.id in only]
    for user in people:
        if user.id in backing or user.status == "DELETED":
            continue
        state.journal(
            STAGE,
            "user",
            state.user_label(user),
            "status",
            user.status,
            "DELETED",
            "no directory account creates this person any more"
            + (
                f" (disabled directory: {', '.join(disabled)})"
                if user.id in state.disabled_backing
                else ""
            ),
        )
        user.status = "DELETED"
        state.dirty_users.add(user.id)
        report.bump("users_removed")


def _say_who_keeps(
    state: WorkState,
    backing: dict[int, list[AccountRecord]],
    unlinked: list[tuple[PlannedChange, int]],
) -> None:
    """A person a filter unlinked from one directory account (an HR record now TERMINATED)
    but another directory still creates stays, enabled: the plan would otherwise show the link
    going and the person untouched, with no word of why. The unlink's reason names who keeps
    them, and that they are not removed."""
    for change, owner in unlinked:
        keeping, user = backing.get(owner), state.users.get(owner)
        if not keeping or user is None or user.status == "DELETED":
            continue
        by = state.account_label(keeping[0])
        change.reason += (
            f"; {change.old} is kept all the same: {by} still creates them "
            f"(the {keeping[0].app_id} filter says CREATE)"
        )
