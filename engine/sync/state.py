"""The working state of one sync run: every record in memory, the planned changes, what is dirty.

Stages mutate this state and journal what they change; a dry run stops there, an applied run hands
it to the writer. Later stages therefore see earlier stages' planned changes as if applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.records import (
    ACCOUNT_DATA_FIELDS,
    ANY_PROFILE_KEY,
    AccountRecord,
    Population,
    UserRecord,
)
from engine.sync.reads import ReadLog
from engine.text import literal_text

AccountKey = tuple[str, str]  # (app id, external id)


class AccountTable(dict[AccountKey, AccountRecord]):
    """The run's accounts by (app id, external id), also kept grouped by app as they are set
    and removed: the stages ask for one app's accounts many times a run, and a scan of every
    account each time cost a 1 % sync more than most of its stages (issue 11). Every way a
    dict changes goes through __setitem__/__delitem__ here, so the groups cannot drift."""

    def __init__(
        self,
        accounts: Iterable[AccountRecord] = (),
        groups: dict[str, dict[AccountKey, AccountRecord]] | None = None,
    ) -> None:
        """GROUPS, when given: ACCOUNTS already grouped by app and key, which the table takes
        as its groups (the store's read builds them as it goes)."""
        if groups is None:
            super().__init__(((a.app_id, a.external_id), a) for a in accounts)
            groups = {}
            for key, account in dict.items(self):  # inline: a method call per account is slow
                group = groups.get(key[0])
                if group is None:
                    group = groups[key[0]] = {}
                group[key] = account
        else:
            super().__init__()
            for group in groups.values():
                dict.update(self, group)
        self._by_app = groups
        self.version = 0  # moves with every account set or removed (WorkState's owner groups)

    def __setitem__(self, key: AccountKey, account: AccountRecord) -> None:
        self.version += 1
        dict.__setitem__(self, key, account)
        group = self._by_app.get(key[0])
        if group is None:
            group = self._by_app[key[0]] = {}
        group[key] = account

    def __delitem__(self, key: AccountKey) -> None:
        self.version += 1
        dict.__delitem__(self, key)
        del self._by_app[key[0]][key]

    def app_ids(self) -> list[str]:
        """The apps the table holds accounts of."""
        return [app_id for app_id, group in self._by_app.items() if group]

    def keys_of(self, app_id: str) -> Iterable[AccountKey]:
        """The app's accounts' keys, in the order they were first set."""
        group = self._by_app.get(app_id)
        return group.keys() if group else ()

    def of_app(self, app_id: str) -> list[AccountRecord]:
        """The app's accounts, in the order they were first set (as iterating the table)."""
        group = self._by_app.get(app_id)
        return list(group.values()) if group else []

    def pop(self, key: AccountKey, *default: Any) -> Any:
        if key in self:
            account = self[key]
            del self[key]
            return account
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[AccountKey, AccountRecord]:
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, key: AccountKey, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *others: Any, **named: Any) -> None:
        for key, account in dict(*others, **named).items():
            self[key] = account

    def clear(self) -> None:
        dict.clear(self)
        self._by_app.clear()

    def __ior__(self, other: Any) -> AccountTable:  # type: ignore[override,misc]
        self.update(other)
        return self


@dataclass(slots=True)
class AttributeState:
    value: Any = None
    source: str = ""
    last_seen: dict[str, Any] = field(default_factory=dict)
    ever_set: bool = False
    # when the value was last set, and by which run (None: set by this run): kept while only
    # its source or what its sources last showed changes, so `Set:` says when it was set
    set_at: Any = None
    run_id: int | None = None


@dataclass(slots=True)  # a first sync plans millions: keep each small
class PlannedChange:
    stage: str
    object_type: str
    object_id: str
    field: str = ""
    old: Any = None
    new: Any = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class HeldBlank:
    """An attribute value a sync did not clear because the blank came only from a source
    account that vanished from its app (docs/concepts.md: deleting from HR must not blank AD in the
    same run). `roster sync --allow-deletes` (or the console's confirmation) clears it."""

    user_id: int
    person: str
    attribute: str
    value: Any  # the value kept
    accounts: tuple[str, ...]  # the vanished accounts, "hr:E10003"

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "person": self.person,
            "attribute": self.attribute,
            "value": self.value,
            "accounts": list(self.accounts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeldBlank:
        return cls(
            int(data["user_id"]),
            str(data.get("person", "")),
            str(data.get("attribute", "")),
            data.get("value"),
            tuple(str(a) for a in data.get("accounts", ())),
        )

    @property
    def line(self) -> str:
        """How the run lists it."""
        return (
            f"{self.person}: {self.attribute} held at {literal_text(self.value)}: its source "
            f"account {', '.join(self.accounts)} is gone from its app; "
            "`roster sync --allow-deletes` clears it"
        )


@dataclass
class StageReport:
    name: str
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # information, not trouble
    # what makes an applied run "applied with failures" (exit 5): an app that failed to import
    # or to be read back, a push or a creation the app refused; (app id, why)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def bump(self, key: str, by: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + by

    def fail(self, app_id: str, reason: str) -> None:
        self.failures.append((app_id, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "counts": dict(self.counts),
            "problems": self.problems[:50],
            "problem_count": len(self.problems),
            "notes": self.notes,
        }


class WorkState:
    def __init__(
        self,
        accounts: list[AccountRecord],
        users: list[UserRecord],
        fingerprints: dict[AccountKey, str],
        attributes: dict[tuple[int, str], AttributeState],
        groups: dict[str, dict[AccountKey, AccountRecord]] | None = None,
    ) -> None:
        # GROUPS: ACCOUNTS by app and key, as the store's read grouped them (AccountTable)
        self.accounts = AccountTable(accounts, groups)
        # the accounts grouped by owner, and when: (the table, (its version, owner_moves), groups)
        self._owner_groups: tuple[AccountTable, tuple[int, int], dict[int, list[Any]]] | None = None
        self.owner_moves = 0  # every owner set: set_owner, or `owners_moved` for the rest
        self.fingerprints = fingerprints
        self.users: dict[int, UserRecord] = {u.id: u for u in users}
        self.attributes = attributes
        # people whose stored attribute states are loaded (None: everyone's)
        self.attributes_for: set[int] | None = None
        self.changes: list[PlannedChange] = []
        self.new_accounts: set[AccountKey] = set()
        self.dirty_accounts: set[AccountKey] = set()  # imported fields changed
        # of those, the fields that changed (an account missing here: any of them)
        self.changed_fields: dict[AccountKey, frozenset[str]] = {}
        self.refingerprinted: set[AccountKey] = set()  # same fields, another fingerprint
        self.dirty_links: set[AccountKey] = set()  # owner / link kind / pin changed
        self.new_users: set[int] = set()
        self.dirty_users: set[int] = set()
        self.dirty_attributes: set[tuple[int, str]] = set()
        self.dirty_grants: set[str] = set()  # apps whose entitlements or grants changed
        self.changed_grants: set[AccountKey] = set()  # accounts whose grants changed
        self.previous_owners: set[int] = set()  # owners an account was taken from this run
        self.read_back: set[AccountKey] = set()  # accounts a push changed, as read back
        # of those, the ones whose read-back changed more than the values pushed to them
        self.read_back_moved: set[AccountKey] = set()
        # of those read back, the fields that changed (one missing: a new account, all of them)
        self.read_back_fields: dict[AccountKey, frozenset[str]] = {}
        self.disabled_backing: set[int] = set()  # people unlinked from a disabled directory
        self.listings: dict[str, Any] = {}  # app id -> Listing, for entitlements and grants
        self.source_versions: dict[str, str] = {}  # app -> digest of its data at the last import
        self.new_source_versions: dict[str, str] = {}  # what this run imported
        self.written_versions: dict[str, str] = {}  # what this run's writes left in the apps
        # apps another program changed after this run read them and before it wrote to them:
        # their versions are not recorded, so the next sync reads them (see pipeline._as_read)
        self.changed_meanwhile: set[str] = set()
        # app -> digest of its entitlement and grant files as last merged (Listing.sidecars)
        self.sidecar_digests: dict[str, str] = {}
        self.new_sidecar_digests: dict[str, str] = {}
        self.stamps: dict[str, str] | None = None  # app -> "file stamp|version" (incremental)
        self.import_cursors: dict[str, str] = {}  # app -> where its next delta import starts
        self.new_import_cursors: dict[str, str] = {}  # the cursors this run's imports give
        self.import_counts: dict[str, dict[str, int]] = {}  # app -> its own import counts
        self.filter_results: dict[AccountKey, str] = {}  # directory accounts' last decision
        self.user_origin: dict[int, str] = {}  # new user -> the account it was created from
        # directory accounts (MATCH_ONLY, unlinked) whose merge rules found nobody in this run,
        # and those the last applied run found nobody for (None: not known; see
        # identify.found_nobody_before)
        self.found_nobody: set[AccountKey] = set()
        self.found_nobody_before: set[AccountKey] | None = None
        self.found_nobody_scope: str | None = None  # what they stand on (None: not kept)
        # directory accounts whose filter failed in this run, and in the last applied one
        # (decided again in this run: incremental.save_filter_failed)
        self.filter_failed: set[AccountKey] = set()
        self.filter_failed_before: set[AccountKey] = set()
        # directory accounts the merge rules could not link (two of one directory, or
        # ambiguous), with why, in this run and in the last applied one: a conflict is
        # journalled when it appears or its reason changes, not again by every run that walks
        # it (run_notes.save_conflicts); it is reported (a problem) by every such run
        self.conflicts: dict[AccountKey, str] = {}
        self.conflicts_before: dict[AccountKey, str] = {}
        # directory accounts the last applied run's push wrote to after its identify decided
        # them: decided again, and their people refreshed, as if imported changed
        self.written_before: set[AccountKey] = set()
        # accounts an admin linked, unlinked, pinned or provisioned since the last applied run
        # (`decided_by_hand`)
        self.by_hand: set[AccountKey] = set()
        self.people_moves = 0  # people identify created or gave other core fields, so far
        self.held: list[HeldBlank] = []  # blanks kept back: only a vanished account caused them
        # what this run moved that another person's attribute can read (engine/sync/reads.py):
        # the keys identify took from people (old emails, names), and from the attributes
        # stage on, each key moved -> how many values had moved when it last did (`moves`)
        self.moved_keys: set[str] = set()
        self.moved_at: dict[str, int] = {}
        self.moves = 0
        self.reads: ReadLog | None = None  # who read whom (a run whose attributes read people)
        # (person, attribute) -> the change journalled for it, while the attributes stage may
        # compute a person again (None: it does not); a new person's values are under None
        self.amendable: dict[tuple[int, str | None], PlannedChange] | None = None
        # while it may: each stored value's state before the stage first set it, and each
        # person's problems as the stage said them
        self.first_states: dict[tuple[int, str], AttributeState] = {}
        self.said: dict[int, list[str]] = {}
        self._next_temp_id = -1
        self._next_person_id = -1
        # the id the store will give the first person this run creates (the writer numbers
        # them on from it in the order they were created): set by loading
        self.first_new_id: int | None = None
        self.checkpoint: Callable[[], None] = lambda: None  # raises when the run is cancelled

    # ids for records the store has not seen yet (negative until written)
    def temp_id(self) -> int:
        value = self._next_temp_id
        self._next_temp_id -= 1
        return value

    def temp_person_id(self) -> int:
        """A new person's id until written: -1, -2, … in the order the run creates them, a
        count of its own, so that the writer stores them as `first_new_id` on (accounts have
        theirs: a person's stored id must not depend on how many accounts the run imported)."""
        value = self._next_person_id
        self._next_person_id -= 1
        return value

    def journal(
        self,
        stage: str,
        object_type: str,
        object_id: str,
        field: str = "",
        old: Any = None,
        new: Any = None,
        reason: str = "",
    ) -> None:
        self.changes.append(PlannedChange(stage, object_type, object_id, field, old, new, reason))

    def decided_by_hand(self, accounts: Iterable[AccountKey], owners_before: Iterable[int]) -> None:
        """ACCOUNTS were linked, unlinked, pinned or provisioned by hand since the last applied
        run (engine.sync.by_hand), and OWNERS_BEFORE owned them: the ownership rules walk the
        accounts again (those not pinned), and their people, before and after, are refreshed
        and reconsidered whole, as people an account was taken from are."""
        self.by_hand = {key for key in accounts if key in self.accounts}
        owners = {self.accounts[key].owner_id for key in self.by_hand} | set(owners_before)
        self.previous_owners |= {o for o in owners if o is not None and o in self.users}

    def account_changed(self, key: AccountKey, fields: Iterable[str]) -> None:
        """Note that the imported FIELDS of the account KEY changed."""
        known = self.changed_fields.get(key)
        if key in self.dirty_accounts and known is None:
            return  # already changed in every field, as far as anyone knows
        self.dirty_accounts.add(key)
        self.changed_fields[key] = (known or frozenset()) | frozenset(fields)

    def changed_in(self, fields: frozenset[str]) -> set[AccountKey]:
        """The accounts this run imported anew or whose imported FIELDS changed: a stage that
        reads nothing else of an account finds what it found last time in the others."""
        return self.new_accounts | _changed_in(self.dirty_accounts, self.changed_fields, fields)

    def read_back_in(self, fields: frozenset[str]) -> set[AccountKey]:
        """The accounts this run created, or read back after a push changed their FIELDS."""
        return _changed_in(self.read_back, self.read_back_fields, fields)

    def touched_users(self) -> set[int]:
        """People whose accounts, links or core fields this run changed: the only ones whose
        attributes can differ when the attribute configuration did not change."""
        touched = set(self.new_users) | set(self.dirty_users)
        keys = self.new_accounts | self.dirty_accounts | self.dirty_links | self.changed_grants
        for key in keys:
            account = self.accounts.get(key)
            if account is not None and account.owner_id is not None:
                touched.add(account.owner_id)
        touched.update(self.previous_owners)
        return touched

    def set_owner(
        self, stage: str, account: AccountRecord, user_id: int | None, kind: str | None, reason: str
    ) -> None:
        """Link an account to a person (or unlink it with None), journalled with its reason."""
        self.journal(
            stage,
            "account",
            self.account_label(account),
            "owner",
            self.owner_label(account.owner_id),
            self.owner_label(user_id),
            reason,
        )
        if account.owner_id is not None:
            self.previous_owners.add(account.owner_id)
        self.owner_moves += 1
        account.owner_id = user_id
        account.link_kind = kind if user_id is not None else None
        self.dirty_links.add((account.app_id, account.external_id))

    def accounts_of_app(self, app_id: str) -> list[AccountRecord]:
        return self.accounts.of_app(app_id)

    def known_digests(self, app_id: str) -> dict[str, str]:
        """The app's accounts by fingerprint (digest -> external id; of two with one digest,
        the later one's): what a listing recognises unchanged records by. Per app: a pass
        over every account's fingerprint cost a 1 % sync a tenth of a second, for the two
        apps it listed itself."""
        fingerprints = self.fingerprints
        known: dict[str, str] = {}
        for key in self.accounts.keys_of(app_id):
            digest = fingerprints.get(key)
            if digest:
                known[digest] = key[1]
        return known

    def owners_moved(self) -> None:
        """Say that owners were set other than by set_owner (renumbered people)."""
        self.owner_moves += 1

    def accounts_by_owner(self) -> dict[int, list[AccountRecord]]:
        """Each person's accounts, in the table's order; read-only. Grouped again only after
        an account or an owner changed: a 1 % sync asked for it eight times, at a third of a
        second each over 500,000 accounts (issue 11)."""
        table, when = self.accounts, (self.accounts.version, self.owner_moves)
        cached = self._owner_groups
        if cached is not None and cached[0] is table and cached[1] == when:
            return cached[2]
        owned: defaultdict[int, list[AccountRecord]] = defaultdict(list)
        for account in table.values():
            if account.owner_id is not None:
                owned[account.owner_id].append(account)
        owned.default_factory = None  # shared by its readers: a lookup must not add a person
        self._owner_groups = (table, when, owned)
        return owned

    def population(self) -> Population:
        return Population(
            self.users.values(),
            self.accounts.values(),
            by_owner=self.accounts_by_owner(),
            first_new_id=self.first_new_id,
        )

    def account_label(self, account: AccountRecord) -> str:
        return f"{account.app_id}:{account.external_id}"

    def user_label(self, user: UserRecord) -> str:
        return user.email or user.display_name or f"user {user.id}"

    def owner_label(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        user = self.users.get(user_id)
        return self.user_label(user) if user else f"user {user_id}"


def _changed_in(
    keys: Iterable[AccountKey], changed: dict[AccountKey, frozenset[str]], fields: frozenset[str]
) -> set[AccountKey]:
    """Those of KEYS whose CHANGED fields meet FIELDS; one not in CHANGED changed in all."""
    return {key for key in keys if changed.get(key, fields) & fields}


_ABSENT = object()


def moved_fields(before: Iterable[Any], account: AccountRecord) -> frozenset[str]:
    """The data fields of ACCOUNT that differ from BEFORE (its values of ACCOUNT_DATA_FIELDS,
    in that order), and "profile:<key>" for each profile key that differs: a reader of a
    few profile keys by name (`account.profile.login`, engine.sync.keys) is not sent through
    the rules again because the title changed."""
    moved = set()
    for name, was in zip(ACCOUNT_DATA_FIELDS, before, strict=True):
        now = getattr(account, name)
        if same_data(was, now):
            continue
        moved.add(name)
        if name == "profile" and isinstance(was, dict) and isinstance(now, dict):
            moved.update(
                f"profile:{key}"
                for key in was.keys() | now.keys()
                if not same_data(was.get(key, _ABSENT), now.get(key, _ABSENT))
            )
        elif name == "profile":  # not a map (a damaged record): any key may have moved
            moved.add(ANY_PROFILE_KEY)
    return frozenset(moved)


def same_data(a: Any, b: Any) -> bool:
    """Whether A and B are the same data: equal, and of the same types all the way down.
    Python holds 4100 == 4100.0 and 1 == True, which an attribute shows as "4100", "4100.0",
    "1" and "true": an export that starts writing one for the other changed (hostile review)."""
    if a.__class__ is not b.__class__:
        return False
    if a.__class__ is dict:
        return a.keys() == b.keys() and all(same_data(value, b[key]) for key, value in a.items())
    if a.__class__ is list or a.__class__ is tuple:
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
