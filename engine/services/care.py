"""Identity decisions that need an admin's eye (issue 12 §6), read from the store as it is:

- people who lost their primary-directory record (deleted from HR) but are kept by another
  directory;
- leavers who can still sign in: people disabled, removed or gone from the primary directory
  (and primary-directory records of leavers no person stands for) with accounts still enabled
  in other apps;
- manager cycles (A's manager is B, ..., whose manager is A);
- directory records no person stands for because a merge rule found someone else;
- enabled people whose account in an app Roster creates accounts in is disabled.

The dashboard, `roster status`, `roster people show` and the person screen all read these."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from engine.config.model import RosterConfig
from engine.errors import Stopped
from engine.records import AccountRecord, Population, UserRecord, norm_key
from engine.store.models import Account

#: How many of a list the dashboard and `roster status` name before "and N more".
SHOWN = 10


@dataclass(frozen=True)
class CareList:
    """A bounded list: the first `SHOWN` items (text to show literally) and how many in all;
    `every` item, for `roster status --all` (one line per person at most)."""

    key: str  # "lost_primary", "leavers_still_enabled", "manager_cycles", "merge_conflicts"
    title: str
    items: list[str] = field(default_factory=list)
    total: int = 0
    every: list[str] = field(default_factory=list, repr=False, compare=False)
    # what each of `every` says, as data for `--json` (the people and accounts it names)
    facts: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)

    @property
    def more(self) -> int:
        return self.total - len(self.items)

    def to_json(self) -> dict[str, Any]:
        """`items` (a prefix of `every`) each with its text and its facts."""
        shown = zip(self.items, self.facts, strict=False)  # items: the first facts' texts
        items = [{"text": text, **facts} for text, facts in shown]
        return {"key": self.key, "title": self.title, "items": items, "total": self.total}


def person_label(user: UserRecord) -> str:
    return user.email or user.display_name or f"person {user.id}"


def _key(account: AccountRecord) -> str:
    return f"{account.app_id}:{account.external_id}"


class LostPrimary:
    """People who lost their primary-directory record while another directory keeps them:
    the record is gone from the directory (DELETED, linked to them, no live one left), or the
    directory's filter now leaves it out while it is still enabled (unlinked by the filter, and
    carrying one of their emails or employee ids: an HR record marked TERMINATED but still
    active, while the IdP keeps the person). Not called leavers: a filter may leave records
    out for other reasons (a pre-hire), and the person is still kept. LEFT_OUT: the ids of the
    primary directory's live records its filter ignores (`left_out_by_filter`)."""

    def __init__(
        self, population: Population, directories: list[str], left_out: Collection[int] = ()
    ) -> None:
        self.population = population
        self.directories = directories
        self.primary = directories[0] if directories else ""
        self.left_out = left_out

    @cached_property
    def _left_out(self) -> dict[str, list[AccountRecord]]:
        """key -> the unowned records the primary directory's filter leaves out while they
        are still enabled there (a disabled one makes a leaver: `Leavers` lists it)"""
        index: dict[str, list[AccountRecord]] = {}
        if not self.left_out:
            return index
        for account in self.population.accounts:
            if (
                account.id in self.left_out
                and account.owner_id is None
                and account.status == "ENABLED"
            ):
                for key in _keys_of_account(account):
                    index.setdefault(key, []).append(account)
        return index

    def facts(self, user: UserRecord, accounts: list[AccountRecord]) -> dict[str, Any] | None:
        """{"how": "lost" or "left out", "records": the primary directory's records,
        "kept_by": the other directories keeping the person}, or None."""
        if not self.primary or user.status == "DELETED":
            return None
        mine = [a for a in accounts if a.app_id == self.primary]
        if any(a.status != "DELETED" for a in mine):
            return None
        how = "lost"
        records = [_key(a) for a in mine]
        if not mine:
            how = "left out"
            records = sorted(_key(a) for a in _matching(self._left_out, _keys_of_user(user)))
            if not records:
                return None
        others = self.directories[1:]
        kept = sorted(
            {a.app_id for a in accounts if a.app_id in others and a.status != "DELETED"},
            key=self.directories.index,
        )
        facts = {"how": how, "directory": self.primary, "records": records, "kept_by": kept}
        return facts if kept else None

    def flag(self, user: UserRecord, accounts: list[AccountRecord]) -> str:
        """ "lost their hr record (hr:E10003); kept by idp", "left out by the filter of hr
        (hr:E10019); kept by idp", or "" """
        facts = self.facts(user, accounts)
        return self._text(facts) if facts is not None else ""

    def _text(self, facts: dict[str, Any]) -> str:
        records = ", ".join(facts["records"])
        if facts["how"] == "lost":
            what = f"lost their {self.primary} record ({records})"
        else:
            what = f"left out by the filter of {self.primary} ({records})"
        return f"{what}; kept by {', '.join(facts['kept_by'])}"

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        items = []
        for user in self.population.users:
            facts = self.facts(user, self.population.accounts_of(user.id))
            if facts is not None:
                label = person_label(user)
                items.append((f"{label}: {self._text(facts)}", {"person": label, **facts}))
        return items


def lost_primary(
    population: Population, directories: list[str], left_out: Collection[int] = ()
) -> CareList:
    return _bounded(
        "lost_primary",
        "People who lost their primary-directory record but are kept by another directory",
        LostPrimary(population, directories, left_out).items(),
    )


def _matching(index: dict[str, list[AccountRecord]], keys: set[str]) -> list[AccountRecord]:
    found: dict[int, AccountRecord] = {}
    for key in keys:
        for account in index.get(key, ()):
            found.setdefault(account.id, account)
    return list(found.values())


def _keys_of_user(user: UserRecord) -> set[str]:
    return {norm_key(k) for k in [user.email, *user.emails, *user.employee_ids] if k}


def _keys_of_account(account: AccountRecord) -> set[str]:
    return {norm_key(k) for k in [account.email, *account.emails, *account.employee_ids] if k}


class Leavers:
    """Who left by the primary directory's word, and what they can still sign in to.

    A leaver is a person who is disabled or removed, or whose primary-directory record is
    disabled or gone (linked to them, or, when the directory's filter leaves such records out,
    carrying one of their emails or employee ids) while no enabled one is left; and a
    primary-directory record of someone who left that no person stands for. What they can
    still sign in to: their enabled accounts in every app but the primary directory, badges
    and feeds included (a removed
    person's accounts are handed back by the ownership stage: they are found again through
    the identifiers the person last had)."""

    def __init__(self, population: Population, directories: list[str]) -> None:
        self.population = population
        self.primary = directories[0] if directories else ""

    @cached_property
    def _indexes(self) -> tuple[dict[str, list[AccountRecord]], dict[str, list[AccountRecord]]]:
        """(key -> enabled unowned accounts of other apps, key -> unowned primary records of
        leavers), built when first needed: one person's flags rarely need them."""
        unowned: dict[str, list[AccountRecord]] = {}
        left: dict[str, list[AccountRecord]] = {}
        for account in self.population.accounts:
            if account.owner_id is not None:
                continue
            if account.app_id == self.primary:
                if account.status in ("DISABLED", "DELETED"):
                    for key in _keys_of_account(account):
                        left.setdefault(key, []).append(account)
            elif account.status == "ENABLED":
                for key in _keys_of_account(account):
                    unowned.setdefault(key, []).append(account)
        return unowned, left

    @property
    def _unowned(self) -> dict[str, list[AccountRecord]]:
        return self._indexes[0]

    @property
    def _left(self) -> dict[str, list[AccountRecord]]:
        return self._indexes[1]

    def _matching(
        self, index: dict[str, list[AccountRecord]], keys: set[str]
    ) -> list[AccountRecord]:
        return _matching(index, keys)

    def why_left(self, user: UserRecord, accounts: list[AccountRecord]) -> str:
        """ "disabled", "removed", "disabled in hr (hr:E10019)", "" for someone who did not
        leave."""
        left = self._left_how(user, accounts)
        if left is None:
            return ""
        state, records = left
        said = _RECORD_STATES.get(state)
        return f"{said} {self.primary} ({', '.join(records)})" if said else state

    def _left_how(
        self, user: UserRecord, accounts: list[AccountRecord]
    ) -> tuple[str, list[str]] | None:
        """("disabled" or "removed", []), or ("record disabled", "record gone" or "record
        disabled and gone", the primary directory's records), or None."""
        if user.status == "DISABLED":
            return "disabled", []
        if user.status == "DELETED":
            return "removed", []
        if not self.primary:
            return None
        mine = [a for a in accounts if a.app_id == self.primary]
        if any(a.status == "ENABLED" for a in mine):
            return None
        gone = [a for a in mine if a.status in ("DISABLED", "DELETED")]
        gone += self._matching(self._left, _keys_of_user(user)) if not mine else []
        if not gone:
            return None
        states = sorted({"gone" if a.status == "DELETED" else "disabled" for a in gone})
        return f"record {' and '.join(states)}", sorted(map(_key, gone))

    def still_enabled(self, user: UserRecord, accounts: list[AccountRecord]) -> list[str]:
        if user.status == "DELETED":
            accounts = [*accounts, *self._matching(self._unowned, _keys_of_user(user))]
        return sorted(
            {_key(a) for a in accounts if a.app_id != self.primary and a.status == "ENABLED"}
        )

    def flag(self, user: UserRecord, accounts: list[AccountRecord]) -> str:
        """ "disabled in hr (hr:E10019), but still enabled in ad:priya.shah, …" or "" """
        why = self.why_left(user, accounts)
        if not why:
            return ""
        live = self.still_enabled(user, accounts)
        return f"{why}, but still enabled in {', '.join(live)}" if live else ""

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        items = []
        claimed: set[int] = set()  # primary records of leavers a person stands for
        for user in self.population.users:
            accounts = self.population.accounts_of(user.id)
            flag = self.flag(user, accounts)
            left = self._left_how(user, accounts)
            if flag and left is not None:
                label = person_label(user)
                facts: dict[str, Any] = {
                    "person": label,
                    "state": left[0],
                    "directory": self.primary,
                    "records": left[1],
                    "still_enabled": self.still_enabled(user, accounts),
                }
                items.append((f"{label}: {flag}", facts))
            claimed.update(a.id for a in self._matching(self._left, _keys_of_user(user)))
        for records in self._left.values():
            for record in records:
                if record.id in claimed:
                    continue
                claimed.add(record.id)
                live = sorted(
                    {_key(a) for a in self._matching(self._unowned, _keys_of_account(record))}
                )
                if live:
                    state = "gone from" if record.status == "DELETED" else "disabled in"
                    name = record.email or record.display_name or record.external_id
                    text = (
                        f"{name} ({_key(record)}, not a person in Roster): {state} "
                        f"{self.primary}, but still enabled in {', '.join(live)}"
                    )
                    record_facts: dict[str, Any] = {
                        "person": None,  # the record's own email and name instead
                        "email": record.email or None,
                        "display_name": record.display_name or None,
                        "state": "record gone" if record.status == "DELETED" else "record disabled",
                        "directory": self.primary,
                        "records": [_key(record)],
                        "still_enabled": live,
                    }
                    items.append((text, record_facts))
        return items


def leavers_still_enabled(population: Population, directories: list[str]) -> CareList:
    return _bounded(
        "leavers_still_enabled",
        "Leavers who can still sign in",
        Leavers(population, directories).items(),
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
    items = []
    for cycle in cycles:
        people = [person_label(by_id[i]) for i in cycle]
        items.append((" → ".join([*people, people[0]]), {"people": people}))
    return _bounded("manager_cycles", "Manager cycles", items)


def disabled_where_created(population: Population, apps: list[str]) -> CareList:
    """Enabled people whose every account in an app Roster creates accounts in (one with
    provisioning) is disabled: no account is created for them there (they have one), and they
    cannot sign in (second review: a rehire linked to the AD account disabled when they left)."""
    items = []
    for user in population.users:
        if user.status != "ENABLED":
            continue
        owned = population.accounts_of(user.id)
        for app in apps:
            theirs = [a for a in owned if a.app_id == app and a.status != "DELETED"]
            if theirs and all(a.status == "DISABLED" for a in theirs):
                keys = [_key(a) for a in theirs]
                text = (
                    f"{person_label(user)}: enabled, but disabled in {', '.join(keys)} (no new "
                    f"account is made in {app} while it has one: enable it there)"
                )
                items.append((text, {"person": person_label(user), "app": app, "accounts": keys}))
    return _bounded("disabled_where_created", "Enabled people with a disabled account", items)


def merge_conflicts(population: Population, conflicts: dict[tuple[str, str], str]) -> CareList:
    """Directory records the last applied sync could not place (a merge rule found someone
    else, or several people): no person stands for them, and a new hire among them has no
    accounts made, silently but for that sync's output (second review: a second Jane Doe)."""
    items = []
    for (app, external), reason in sorted(conflicts.items()):
        account = population.account(app, external)
        if account is None or account.status == "DELETED" or account.owner_id is not None:
            continue  # gone, or placed by hand since
        who = account.email or account.display_name
        text = f"{app}:{external}" + (f" ({who})" if who else "") + f": {reason}"
        items.append((text, {"account": f"{app}:{external}", "reason": reason}))
    return _bounded("merge_conflicts", "Directory records no person stands for", items)


def directory_order(config: RosterConfig) -> list[str]:
    return [d.app for d in config.directories]


def left_out_by_filter(session: Session, config: RosterConfig) -> set[int]:
    """The ids of the primary directory's live records its filter ignores (as the last sync
    decided), for `LostPrimary`; none while the directory is disabled (it ignores every
    record, and the company has not left)."""
    if not config.directories or not config.directories[0].enabled:
        return set()
    rows = session.scalars(
        select(col(Account.id)).where(
            col(Account.app_id) == config.directories[0].app,
            col(Account.filter_result) == "IGNORE",
            col(Account.status) != "DELETED",
        )
    )
    return {row for row in rows if row is not None}


def care_lists(
    population: Population,
    config: RosterConfig,
    stop: Callable[[], bool] | None = None,
    left_out: Collection[int] = (),
    conflicts: dict[tuple[str, str], str] | None = None,
) -> list[CareList]:
    """Every list; `stop` is asked between them (`Stopped` is raised when it says so).
    LEFT_OUT: see `Leavers`; CONFLICTS: the last applied sync's (`merge_conflicts`)."""
    directories = directory_order(config)
    created_in = [app.id for app in config.apps if app.provisioning is not None]
    checks: list[Callable[[], CareList]] = [
        lambda: lost_primary(population, directories, left_out),
        lambda: leavers_still_enabled(population, directories),
        lambda: manager_cycles(population),
        lambda: merge_conflicts(population, conflicts or {}),
        lambda: disabled_where_created(population, created_in),
    ]
    lists = []
    for check in checks:
        if stop is not None and stop():
            raise Stopped()
        lists.append(check())
    return lists


#: How a leaver's record state reads in the text ("disabled in hr (hr:E10019)").
_RECORD_STATES = {
    "record disabled": "disabled in",
    "record gone": "gone from",
    "record disabled and gone": "disabled in and gone from",
}


def _bounded(key: str, title: str, found: list[tuple[str, dict[str, Any]]]) -> CareList:
    """FOUND: each item's text and facts."""
    every = [text for text, _ in found]
    return CareList(key, title, every[:SHOWN], len(every), every, [facts for _, facts in found])
