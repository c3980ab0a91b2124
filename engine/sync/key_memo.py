"""The keys that custom ownership rules' CEL gave each record, kept from one sync to the next by
a digest of everything the expression can read.

A custom ownership rule runs its user-side CEL for every person at every sync (its index of
keys is needed to match even one changed account): at 100,000 people that was most of the
ownership stage of a sync in which 1 % of the accounts changed. An expression that reads only
its own record (and, for a person, the person's own accounts) gives the same keys for the same
inputs. So each result is kept with a digest of those inputs, and reused while the digest is
the same.

The digest is of content, not of change tracking: whatever changed a record (an import, a
push's read-back, an admin linking an account by hand), its digest changes with it and the
expression runs again. A person's digest covers the person's whole record (the attributes as
the store's JSON text, which is not decoded for it) and, for each of the person's accounts, its
id, app, external id, fingerprint (the digest of its data) and entitlements. An account's covers
the same for the account alone. Any part that cannot be digested (an account without a
fingerprint, such as one gone from its app) means the expression runs.

Digests cost too (a person's covers all their accounts: 1.5 s for 100,000 people). A stage that
knows a record is as it was when the memo was stored (`KeyMemo.unchanged`: an incremental run,
in which nothing but the apps' data changed since the last run, and this run touched neither the
record nor, for a person, their accounts) takes its keys without digesting it. The entry keeps
the digest it was stored with, so a run that checks (a run reconsidering everyone) still does.

Within a run, a record keyed again from the same inputs (the same digest: the end of a run
keys again what the stage keyed) takes what it gave the first time. A new account, keyed by the
stage under the run's own id and so without a digest, takes at the end the keys the stage
found for it, unless a push changed it since (`as_staged`; nothing else changes an account's
data after the ownership stage) or the expression may read its id (which the writer changes:
hostile review).

What is kept is scoped by the expression's text, its side and options, the CEL cost budget and
Roster's version: editing a rule, or upgrading, starts afresh.

The memo also tells the ownership stage whether every person's keys are those the last run
matched with (`same_as_stored`): then an unchanged account would find the owner it found, and
is not walked again. What a run stores is keyed at its end, after later apps' links and the
pushes: where that differs from what its stage matched with, the scope is stored unsettled
(`UNSETTLED`) and the next run walks everyone's accounts."""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeGuard

import orjson

from engine.cel import SEMANTICS, CelEvalError
from engine.records import (
    AccountRecord,
    Directory,
    StoredJson,
    UserRecord,
    account_order,
    json_text,
    read_entitlements,
)

#: The meta key the memo is stored under (one JSON document: scope -> record -> entry).
META_KEY = "ownership_key_memo"
#: A pseudo-scope of the document: the user scopes whose stored keys are not those the
#: ownership stage of the run that stored them matched with (see `unsettled`).
UNSETTLED = "!unsettled"
#: Changes whenever what an entry means changes (its digest's parts, its layout) or an error's
#: message (a failing record's entry keeps its message). What an expression gives is
#: engine.cel.SEMANTICS, which scopes the memo too.
#: 3: type errors name their types ("no matching overload for string + int").
#: 4: arithmetic takes numbers of one kind (`1 + 1.5` and `true + 1` are errors).
#: (An entry stored as the JSON text of its list, as `dump` writes it, or as the list itself,
#: as Rosters before it wrote it, is the same entry: `_entry` reads both, so a store keeps
#: its memo across that change; at 100,000 people keying everyone again took 39 s.)
FORMAT = 4

_ATTRIBUTES = UserRecord.__dict__["attributes"]  # the slot: engine.records._StoredJsonSlot
# the other fields, as one tuple (a person's digest is made 100,000 times a run)
_user_fields = operator.attrgetter(
    *(f.name for f in dataclasses.fields(UserRecord) if f.name != "attributes")
)

Keys = Callable[[Any], set[str]]
Entry = list[Any]  # [digest, sorted keys] or [digest, None, the error's text]
#: An entry as a run holds it: decoded, or the JSON text of one as stored (decoded when read)
Held = Entry | str


def _digest(value: Any) -> str | None:
    try:
        return hashlib.blake2b(orjson.dumps(value), digest_size=12).hexdigest()
    except TypeError:  # a value orjson cannot write: not memoised, the expression runs
        return None


def roster_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roster")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown"


class KeyMemo:
    """What the last applied sync's key expressions gave (`stored`), and what this run's gave
    (saved by the run for the next one). Bound to a run's fingerprints and population."""

    def __init__(
        self,
        stored: Mapping[str, Mapping[str, Held]] | None = None,
        *,
        fingerprints: Mapping[tuple[str, str], str] | None = None,
        max_cost: int = 0,
    ) -> None:
        stored = dict(stored or {})
        # user scopes the stored keys of which the last ownership stage did not match with
        self.stored_unsettled = set(stored.pop(UNSETTLED, {}))
        self._stored = stored
        self.kept: dict[str, dict[str, Held]] = {}
        # what this run leaves unsettled (set at the end of a run, by ownership.keep_keys)
        self.unsettled: set[str] = set(self.stored_unsettled)
        # scope -> id() of a record keyed without a digest (a person new in this run) -> its
        # keys or error, as `_keys` keeps an entry's: what the stage matched them with
        self.fresh: dict[str, dict[int, list[Any]]] = {}
        self.fingerprints = fingerprints if fingerprints is not None else {}
        self.population: Directory | None = None
        # (side, record) -> whether the record is known unchanged since the memo was stored;
        # set by a stage that knows (ownership._unchanged_since_last_run)
        self.unchanged: Callable[[str, Any], bool] | None = None
        # account -> whether its data is as the ownership stage keyed it (set by keep_keys:
        # only a push's read-back changes an account after the stage): then the keys the stage
        # gave a new account, which it could not keep (`fresh`), are its keys now
        self.as_staged: Callable[[Any], bool] | None = None
        self.hits = 0
        self.misses = 0
        # scopes in which some record's keys this run differ from the stored ones, or have
        # none stored (see `same_as_stored`)
        self.moved: set[str] = set()
        self._base = f"{FORMAT}\0{SEMANTICS}\0{roster_version()}\0{max_cost}"

    # ---- digests of what an expression can read -------------------------------------------
    def _account_part(self, account: AccountRecord) -> tuple[Any, ...] | None:
        fingerprint = self.fingerprints.get((account.app_id, account.external_id))
        if not fingerprint or account.id < 0:  # a new account's id is the run's own
            return None
        return (account.id, account.app_id, account.external_id, fingerprint, account.entitlements)

    def read_ahead(self, users: Iterable[UserRecord]) -> None:
        """Read at once what the digests of USERS read of their accounts that a sync reads
        when first needed (a deferred store's entitlements): one query per few hundred
        accounts, not one per person."""
        if self.population is not None:
            accounts = self.population.accounts_of
            read_entitlements([a for user in users if user.id > 0 for a in accounts(user.id)])

    def account_digest(self, account: AccountRecord) -> str | None:
        part = self._account_part(account)
        return None if part is None else _digest(part)

    def user_digest(self, user: UserRecord) -> str | None:
        if self.population is None or user.id < 0:  # a new person's id is the run's own
            return None
        parts = []
        # in the order expressions see them (records.account_order): the same whichever order
        # a run holds them in (new accounts as the app listed them, loaded ones by id)
        accounts = sorted(self.population.accounts_of(user.id), key=account_order)
        read_entitlements(accounts)  # in one query, not one per account (a deferred store's)
        for account in accounts:
            part = self._account_part(account)
            if part is None:
                return None
            parts.append(part)
        # the attributes as the store holds them, not decoded for this (most people's are
        # never read in a run that changed 1 %); Roster writes exactly json_text's text
        held = _ATTRIBUTES.stored(user)
        attributes = held.text if held.__class__ is StoredJson else json_text(held)
        return _digest([_user_fields(user), attributes, parts])

    # ---- memoised key functions ---------------------------------------------------------------
    def scope(self, side: str, text: str, options: str) -> str:
        """What a rule side's entries are kept under (see the module's last paragraph)."""
        return (
            f"{side}:"
            + hashlib.blake2b(
                f"{self._base}\0{side}\0{options}\0{text}".encode(), digest_size=12
            ).hexdigest()
        )

    def wrap(
        self, side: str, text: str, options: str, keys: Keys, *, as_staged: bool = False
    ) -> Keys:
        """`keys` (a rule side's key function, `side` "user" or "account") answered from the
        memo while the record's digest is the one stored with it. `as_staged`: an account
        side whose keys a new account keeps once written (they do not read its id)."""
        scope = self.scope(side, text, options)
        digest_of = self.user_digest if side == "user" else self.account_digest

        def memoised(record: Any) -> set[str]:
            unchanged = self.unchanged
            if unchanged is not None and record.id > 0 and unchanged(side, record):
                held = self._stored.get(scope, {}).get(str(record.id))
                entry = _entry(held)
                if entry is not None:
                    return self._hit(scope, str(record.id), entry, held)
            digest = digest_of(record)
            if digest is None:
                return self._fresh(scope, record, keys)
            staged = self.as_staged
            if as_staged and staged is not None and staged(record):
                noted = self.fresh.get(scope, {}).get(id(record))
                if noted is not None and noted[0] is not None:  # (an error: evaluated again)
                    found = set(noted[0])
                    return self._keys(scope, str(record.id), digest, lambda: found)
            return self._keys(scope, str(record.id), digest, lambda: keys(record))

        return memoised

    def _fresh(self, scope: str, record: Any, keys: Keys) -> set[str]:
        """A record that cannot be kept (a new one): evaluated, and what it gave noted for
        `matched_with`."""
        self.moved.add(scope)
        noted = self.fresh.setdefault(scope, {})
        try:
            found = keys(record)
        except CelEvalError as exc:
            noted[id(record)] = [None, str(exc)]
            raise
        noted[id(record)] = [sorted(found)]
        return found

    def matched_with(self, scope: str, record: Any) -> list[Any] | None:
        """What RECORD's keys under SCOPE were when this run first keyed it ([sorted keys] or
        [None, error]), or None if it did not."""
        entry = _entry(self.kept.get(scope, {}).get(str(record.id)))
        if entry is not None:
            return list(entry[1:])
        return self.fresh.get(scope, {}).get(id(record))

    def _hit(self, scope: str, record: str, entry: Entry, held: Held | None) -> set[str]:
        self.hits += 1
        # kept as it came (stored text is dumped as it is)
        self.kept.setdefault(scope, {})[record] = entry if held is None else held
        if entry[1] is None:
            raise CelEvalError(entry[2])
        return set(entry[1])

    def _keys(
        self, scope: str, record: str, digest: str | None, compute: Callable[[], set[str]]
    ) -> set[str]:
        if digest is None:
            self.moved.add(scope)  # a record that cannot be kept
            return compute()
        kept = self.kept.setdefault(scope, {})
        done = _entry(kept.get(record))
        if done is not None and done[0] == digest:  # keyed in this run from the same inputs
            if done[1] is None:
                raise CelEvalError(done[2])
            return set(done[1])
        held = self._stored.get(scope, {}).get(record)
        entry = _entry(held)
        if entry is not None and entry[0] == digest:
            return self._hit(scope, record, entry, held)
        self.misses += 1
        try:
            keys = compute()
        except CelEvalError as exc:
            if not exc.over_budget:  # a budget is not the record's doing
                kept[record] = [digest, None, str(exc)]
            if entry is None or entry[1] is not None or entry[2] != str(exc):
                self.moved.add(scope)
            raise
        kept[record] = found = [digest, sorted(keys)]
        if entry is None or entry[1] != found[1]:
            self.moved.add(scope)
        return keys

    def same_as_stored(self, scope: str, count: int) -> bool:
        """Whether the COUNT records keyed under SCOPE in this run, each once, are the
        records the stored memo holds, with the keys it holds, and those are the keys the
        last run's stage matched with (the scope is not stored unsettled): then an index of
        them is the one the last run matched with. (Every record this run keyed had an entry
        stored with the same keys, and there are as many as stored: the same records.)"""
        return (
            scope not in self.moved
            and scope not in self.stored_unsettled
            and len(self.kept.get(scope, {})) == count
            and len(self._stored.get(scope, {})) == count
        )

    def stored_count(self, scope: str) -> int:
        """How many records the stored memo holds keys of under SCOPE."""
        return len(self._stored.get(scope, {}))

    def carry(self, scope: str, records: list[int]) -> int:
        """Keep the stored entries of RECORDS (ids) for the next run though this run did not
        key them (records the stage knows unchanged and did not look at again); returns how
        many had one (the others are keyed again when asked). An entry is carried as stored,
        its text not decoded: one a hand edit spoiled is keyed again by the run that reads it."""
        stored = self._stored.get(scope)
        if not stored:
            return 0
        kept = self.kept.setdefault(scope, {})
        carried = 0
        for record in map(str, records):
            held = stored.get(record)
            if held.__class__ is str:
                kept[record] = held
                carried += 1
        return carried

    @property
    def changed(self) -> bool:
        """Whether what this run kept differs from what was stored (then it is saved)."""
        return (
            self.misses > 0
            or self.unsettled != self.stored_unsettled
            or self.kept.keys() != self._stored.keys()
            or any(
                len(entries) != len(self._stored.get(scope, {}))
                for scope, entries in self.kept.items()
            )
        )


def _entry(held: Any) -> Entry | None:
    """An entry as the run holds it, decoded and checked (None: none, or not one)."""
    if held.__class__ is str:
        try:
            held = orjson.loads(held)
        except orjson.JSONDecodeError:
            return None
    return held if _well_formed(held) else None


def _well_formed(entry: Any) -> TypeGuard[list[Any]]:
    """An entry as `_keys` writes it (a stored memo is the store's, but read with care)."""
    if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[0], str):
        return False
    if entry[1] is None:
        return len(entry) == 3 and isinstance(entry[2], str)
    return isinstance(entry[1], list) and all(isinstance(key, str) for key in entry[1])


def load(text: str) -> dict[str, dict[str, Held]]:
    """The stored memo; anything unreadable is an empty one (the expressions run again)."""
    try:
        value = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    # a scope whose entries are not a mapping is dropped whole (its records run again)
    return {scope: entries for scope, entries in value.items() if isinstance(entries, dict)}


def dump(memo: KeyMemo) -> str:
    """The memo as stored: each entry as the JSON text of its list, so that loading it makes
    two strings an entry, not five objects (at 100,000 people the memo holds 290,000 entries:
    parsing it was 0.7 s of every sync that reads it), and an entry a run carries over is
    written back as it was read."""
    unsettled = {UNSETTLED: dict.fromkeys(sorted(memo.unsettled), 1)} if memo.unsettled else {}
    dumps = orjson.dumps
    kept = {
        scope: {
            record: held if held.__class__ is str else dumps(held).decode()
            for record, held in entries.items()
        }
        for scope, entries in memo.kept.items()
    }
    return dumps({**kept, **unsettled}).decode()
