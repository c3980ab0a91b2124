"""Identity decisions that need an admin's eye (issue 12 §6), read from the store as it is:

- people who lost their primary-directory record (deleted from HR) but are kept by another
  directory;
- people who are disabled or removed while accounts of theirs in push-target apps (apps a push
  rule names) are still enabled;
- manager cycles (A's manager is B, ..., whose manager is A).

The dashboard, `roster status`, `roster people show` and the person screen all read these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.config.model import RosterConfig
from engine.records import AccountRecord, Population, UserRecord, norm_key

#: How many of a list the dashboard and `roster status` name before "and N more".
SHOWN = 10


@dataclass(frozen=True)
class CareList:
    """A bounded list: the first `SHOWN` items (text to show literally) and how many in all."""

    key: str  # "lost_primary", "disabled_with_enabled_accounts", "manager_cycles"
    title: str
    items: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.items)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "items": self.items, "total": self.total}


def person_label(user: UserRecord) -> str:
    return user.email or user.display_name or f"person {user.id}"


def _key(account: AccountRecord) -> str:
    return f"{account.app_id}:{account.external_id}"


def lost_primary_flag(
    user: UserRecord, accounts: list[AccountRecord], directories: list[str]
) -> str:
    """ "lost their hr record (hr:E10003); kept by idp" when the person's primary-directory
    account is gone from it (DELETED, no live one left) while another directory keeps them;
    "" otherwise."""
    if not directories or user.status == "DELETED":
        return ""
    primary = directories[0]
    mine = [a for a in accounts if a.app_id == primary]
    if not mine or any(a.status != "DELETED" for a in mine):
        return ""
    kept = sorted(
        {a.app_id for a in accounts if a.app_id in directories[1:] and a.status != "DELETED"},
        key=directories.index,
    )
    if not kept:
        return ""
    gone = ", ".join(_key(a) for a in mine)
    return f"lost their {primary} record ({gone}); kept by {', '.join(kept)}"


def lost_primary(population: Population, directories: list[str]) -> CareList:
    items = []
    for user in population.users:
        flag = lost_primary_flag(user, population.accounts_of(user.id), directories)
        if flag:
            items.append(f"{person_label(user)}: {flag}")
    return _bounded(
        "lost_primary",
        "People who lost their primary-directory record but are kept by another directory",
        items,
    )


def enabled_target_accounts(
    user: UserRecord, accounts: list[AccountRecord], targets: set[str]
) -> str:
    """ "disabled, but still enabled in ad:ann.lee" for a disabled or removed person with
    enabled accounts in push-target apps; "" otherwise. For a removed person, `accounts` are
    best found with `still_linked_or_matching` (removal hands their accounts back)."""
    if user.status not in ("DISABLED", "DELETED"):
        return ""
    live = sorted({_key(a) for a in accounts if a.app_id in targets and a.status == "ENABLED"})
    if not live:
        return ""
    state = "removed" if user.status == "DELETED" else "disabled"
    return f"{state}, but still enabled in {', '.join(live)}"


def _keys_of_user(user: UserRecord) -> set[str]:
    return {norm_key(k) for k in [user.email, *user.emails, *user.employee_ids] if k}


def _keys_of_account(account: AccountRecord) -> set[str]:
    return {norm_key(k) for k in [account.email, *account.emails, *account.employee_ids] if k}


def unowned_target_index(
    population: Population, targets: set[str]
) -> dict[str, list[AccountRecord]]:
    """Enabled accounts of push-target apps that nobody owns, by email and employee id: a
    removed person's accounts are handed back by the ownership stage, and are found again
    through the identifiers the person last had."""
    index: dict[str, list[AccountRecord]] = {}
    for account in population.accounts:
        if account.owner_id is None and account.app_id in targets and account.status == "ENABLED":
            for key in _keys_of_account(account):
                index.setdefault(key, []).append(account)
    return index


def still_linked_or_matching(
    user: UserRecord,
    population: Population,
    index: dict[str, list[AccountRecord]],
) -> list[AccountRecord]:
    """The person's accounts, and for a removed person also the unowned target accounts that
    carry one of their emails or employee ids."""
    accounts = population.accounts_of(user.id)
    if user.status == "DELETED":
        found = {id(a): a for a in accounts}
        for key in _keys_of_user(user):
            for account in index.get(key, ()):
                found.setdefault(id(account), account)
        accounts = list(found.values())
    return accounts


def disabled_with_enabled_accounts(population: Population, targets: set[str]) -> CareList:
    index = unowned_target_index(population, targets)
    items = []
    for user in population.users:
        if user.status not in ("DISABLED", "DELETED"):
            continue
        flag = enabled_target_accounts(
            user, still_linked_or_matching(user, population, index), targets
        )
        if flag:
            items.append(f"{person_label(user)}: {flag}")
    return _bounded(
        "disabled_with_enabled_accounts",
        "People disabled or removed whose accounts in push-target apps are still enabled",
        items,
    )


def manager_cycles(population: Population) -> CareList:
    """Each cycle of the manager graph (live people, manager_email) once, from its first
    member in store order: "a@x → b@x → a@x"."""
    live = [u for u in population.users if u.status != "DELETED"]
    managers: dict[int, list[int]] = {}
    for user in live:
        managers[user.id] = sorted(
            {m.id for m in population.managers_of(user) if m.status != "DELETED"}
        )
    by_id = {u.id: u for u in live}
    cycles: list[list[int]] = []
    seen_cycles: set[frozenset[int]] = set()
    done: set[int] = set()  # every cycle through these is found
    for start in sorted(managers):
        if start in done:
            continue
        # iterative depth-first walk; `path` is the current chain of managers
        path: list[int] = [start]
        on_path = {start: 0}
        stack = [iter(managers.get(start, ()))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.pop(path.pop(), None)
                continue
            if nxt in on_path:
                cycle = path[on_path[nxt] :]
                members = frozenset(cycle)
                if members not in seen_cycles:
                    seen_cycles.add(members)
                    first = min(range(len(cycle)), key=lambda i: cycle[i])
                    cycles.append(cycle[first:] + cycle[:first])
                continue
            if nxt in done or nxt not in by_id:
                continue
            on_path[nxt] = len(path)
            path.append(nxt)
            stack.append(iter(managers.get(nxt, ())))
    items = [" → ".join(person_label(by_id[i]) for i in [*c, c[0]]) for c in cycles]
    return _bounded("manager_cycles", "Manager cycles", items)


def push_targets(config: RosterConfig) -> set[str]:
    return {rule.app for rule in config.push_rules}


def directory_order(config: RosterConfig) -> list[str]:
    return [d.app for d in config.directories]


def care_lists(population: Population, config: RosterConfig) -> list[CareList]:
    return [
        lost_primary(population, directory_order(config)),
        disabled_with_enabled_accounts(population, push_targets(config)),
        manager_cycles(population),
    ]


def _bounded(key: str, title: str, items: list[str]) -> CareList:
    return CareList(key, title, items[:SHOWN], len(items))
