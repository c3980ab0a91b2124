"""Who reads whom: the other people each person's attributes read, kept from one sync to the
next, so that a sync recomputes only the people who read what changed (issue 11).

An attribute whose CEL reads other people (the manager's department, `FindByEmail(…)`,
`subject.managerId`) reaches them only through the directory's lookups (engine.records
.Directory). While the attributes stage computes a person, `WatchedDirectory` notes each lookup
as a key of what its answer depends on:

- `f:<id>`: a person a lookup found (by id, or returned by any lookup): there, and live;
- `v:<id>:<attribute>`: one of their values the expression read (`manager.department`, or
  the `manager_email` GetManagers follows from someone else);
- `i:<id>`: anything else of their record it read (their names, `profile`, `attributes`);
- `a:<id>`: a person's accounts (`HasApp(manager, "ad")`: the functions that read another
  person's accounts ask for them each time, a person's CEL value holds none);
- `e:<email>`: who has that email (`FindByEmail`, `GetManagers`, `managerId`);
- `n:<name>`: who has that display name (`FindByName`);
- `r:<email>`: whose manager that email is (`DirectReports`);
- `g:`: the entitlements' members (`GetEntitlementMembers`): who holds what moves with
  anyone's accounts, so whenever an `a:` key moves;
- `*`: anything (a lookup this module does not know): read again whenever the run moved
  anything.

The fields of another person's CEL value are noted as they are converted (engine.cel's
`CelRecord` tells `note_field`); a converted value is kept and shared (engine.cel), so each
person is computed with every CEL value converted anew. A reader's lookups also read its own
manager (`m:<id>`: `GetManagers(subject)`), which a later attribute of its own may set.

A run knows what it moved. Before the attributes stage: each touched person's keys as they are
and the ones identify took from them (old emails and names); the readers of those are computed
in the stage. From the stage on, each value set is numbered (`WorkState.moves`), and each key
it moves remembers the number (`WorkState.moved_at`): the person's `i:` key, and for a new
manager the `m:` key and the `r:` keys of the managers named before and after, and the
`v:` key of the value. A reader who
made its first lookup before a key it read moved read the old value (`ReadLog.left`); one who
looked after did not. The direct reports are indexed once per
population, when first asked (engine.records.Population): their readers read them as of then.
The stage computes the readers it left again, with a population built anew, a few times over
(`pipeline._catch_up`); whoever is still left, and the readers of the accounts a push or a
creation wrote (their owners' `a:` keys move last of all), the next run computes (`pending`).

The graph is stored (`META_KEY`) at the end of an applied run; the write of attributes clears
it first, so a run stopped in between leaves none, and the next run computes everyone (as one
whose stored graph cannot be read, or is of another format). A person not computed keeps
their stored keys: nothing they read moved, or they would have been a reader of it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from engine.records import Directory, UserRecord, manager_emails, managers_of, norm_key

#: The meta key of the stored graph (one JSON document).
META_KEY = "attribute_reads"
#: Changes whenever what a stored key means changes.
#: 2: a person's accounts are `a:`; 3: their values are `v:`, finding them `f:`; 4: another
#: person's managers (`GetManagers(manager)`) read their `v:…:manager_email`
FORMAT = 4
ANYTHING = "*"
MEMBERS = "g:"


def person_keys(user: UserRecord) -> set[str]:
    """The keys whose lookups find USER or depend on them, as the person is now."""
    keys = {f"i:{user.id}", f"a:{user.id}", f"f:{user.id}"}
    for email in (user.email, *user.emails):
        if email:
            keys.add(f"e:{norm_key(email)}")
    if user.display_name:
        keys.add(f"n:{norm_key(user.display_name)}")
    keys.update(f"r:{norm_key(m)}" for m in manager_emails(user.attributes))
    return keys


def renamed_keys(changed: dict[str, tuple[Any, Any]]) -> set[str]:
    """The keys a person's old identity fields had (CHANGED: field -> (old, new)): lookups of
    their old email or name find someone else now, or nobody."""
    keys: set[str] = set()
    for field, (old, _) in changed.items():
        if field in ("email", "emails"):
            keys.update(f"e:{norm_key(e)}" for e in (old if isinstance(old, list) else [old]) if e)
        elif field == "display_name" and old:
            keys.add(f"n:{norm_key(old)}")
    return keys


def manager_keys(value: Any) -> set[str]:
    """The `r:` keys of a `manager_email` value (one email or several)."""
    return {f"r:{norm_key(m)}" for m in manager_emails({"manager_email": value})}


def describe(keys: Iterable[str], label: Callable[[int], str]) -> list[str]:
    """What a reader's KEYS say it read, for an admin (`roster explain`): one line per person
    (LABEL of their id) with what of them, then the lookups that found whoever they found."""
    values: dict[int, set[str]] = {}
    lookups: list[str] = []
    for key in keys:
        kind, _, rest = key.partition(":")
        if kind in ("v", "i", "a", "f"):
            head, _, attribute = rest.partition(":")
            try:
                person = int(head)
            except ValueError:
                continue
            what = values.setdefault(person, set())
            if kind == "v":
                what.add(attribute)
            elif kind == "i":
                what.add("their names, profile or other attributes")
            elif kind == "a":
                what.add("their accounts")
        elif kind == "e":
            lookups.append(f"who has the email {rest}")
        elif kind == "n":
            lookups.append(f"who is named {rest}")
        elif kind == "r":
            lookups.append(f"whose manager is {rest}")
        elif key == MEMBERS:
            lookups.append("who holds an entitlement")
        elif key == ANYTHING:
            lookups.append("anyone (a lookup Roster cannot follow: any change reads it again)")
    people = sorted((label(person), sorted(what)) for person, what in values.items())
    lines = [f"{who}: {', '.join(what) if what else 'found'}" for who, what in people]
    return lines + sorted(lookups)


class WatchedDirectory:
    """A Directory that notes the keys of every lookup made while `reader` is computed, and
    how many values the run had moved (`moves()`) at the reader's first lookup."""

    def __init__(self, inner: Directory, moves: Callable[[], int]) -> None:
        self.inner = inner
        self.reader: int | None = None
        self.keys: set[str] = set()
        self.at = 0
        self._moves = moves
        # when INNER indexed the direct reports (it does once, when first asked): what they
        # were read from (-1: before this watch began, at a time unknown)
        self.reports_at: int | None = -1 if "_reports" in getattr(inner, "__dict__", {}) else None

    def start(self, reader: int) -> None:
        self.reader, self.keys = reader, set()

    def stop(self) -> tuple[set[str], int, int]:
        """The reader's keys, the moves when it first looked, and when the direct reports it
        read were indexed."""
        keys, self.reader, self.keys = self.keys, None, set()
        reports_at = self.reports_at if self.reports_at is not None else self.at
        return keys, self.at, min(self.at, reports_at)

    def _note(self, key: str) -> None:
        if self.reader is not None:
            if not self.keys:
                self.at = self._moves()
            self.keys.add(key)

    def _found(self, users: Iterable[UserRecord | None]) -> None:
        if self.reader is None:
            return
        for user in users:
            if user is not None:
                self._note(f"f:{user.id}")

    def note_field(self, record: Any, getter: Any) -> None:
        """A field of a CEL value converted (engine.cel.CelRecord): of another person, what it
        read of them."""
        if self.reader is None or not isinstance(record, UserRecord) or record.id == self.reader:
            return  # (an account's fields: its owner's `a:`, noted when it was listed)
        attribute = getattr(getter, "reads_attribute", None)
        self._note(f"v:{record.id}:{attribute}" if attribute else f"i:{record.id}")

    # ---- the Directory's lookups ---------------------------------------------------------
    def user_by_id(self, user_id: int | str) -> UserRecord | None:
        found = self.inner.user_by_id(user_id)
        # by the id they hold in this run (a new person's is the run's own until written)
        if found is not None:
            self._note(f"i:{found.id}")
        else:
            try:
                self._note(f"i:{int(user_id)}")
            except (TypeError, ValueError):
                pass  # no one will ever have that id
        self._found([found])
        return found

    def stored_id(self, user_id: int) -> int:
        # a person's id never changes: reading it reads nothing that can move
        return self.inner.stored_id(user_id) if hasattr(self.inner, "stored_id") else user_id

    def users_by_email(self, email: str) -> list[UserRecord]:
        found = self.inner.users_by_email(email)
        self._note(f"e:{norm_key(email)}")
        self._found(found)
        return found

    def users_by_name(self, name: str) -> list[UserRecord]:
        found = self.inner.users_by_name(name)
        self._note(f"n:{norm_key(name)}")
        self._found(found)
        return found

    def accounts_of(self, user_id: int) -> list[Any]:
        if user_id != self.reader:  # the reader's own accounts are its own record
            self._note(f"a:{user_id}")
        return self.inner.accounts_of(user_id)

    def managers_of(self, user: UserRecord) -> list[UserRecord]:
        # the emails it looks up are noted by users_by_email; which emails, by another
        # person's manager_email, a value no field of their CEL value showed (the reader's own
        # is its `m:`). Hostile review: a manager's manager was left stale.
        if self.reader is not None and user.id != self.reader:
            self._note(f"v:{user.id}:manager_email")
        return managers_of(self, user)

    def direct_reports(self, user: UserRecord) -> list[UserRecord]:
        if self.reports_at is None:  # indexed now, from the managers as they are
            self.reports_at = self._moves()
        for email in (user.email, *user.emails):
            if email:
                self._note(f"r:{norm_key(email)}")
        found = self.inner.direct_reports(user)
        self._found(found)
        return found

    def has_users(self) -> bool:
        return self.inner.has_users()

    def entitlement_members(self, app_id: str, entitlement_id: str) -> list[UserRecord]:
        found = self.inner.entitlement_members(app_id, entitlement_id)
        self._note(MEMBERS)
        self._found(found)
        return found

    # the entitlements' names: the apps' catalogues, no one's data (HasEntitlement on one's own
    # accounts asks them)
    def entitlement_label(self, app_id: str, entitlement_id: str) -> str | None:
        return self.inner.entitlement_label(app_id, entitlement_id)

    def entitlement_named(self, app_id: str, label: str) -> str | None:
        return self.inner.entitlement_named(app_id, label)

    def __getattr__(self, name: str) -> Any:
        """Any other lookup (entitlement members, accounts by id, key lists): its answer may
        depend on anything."""
        self._note(ANYTHING)
        return getattr(self.inner, name)


class ReadLog:
    """Each reader's keys (stored, and replaced for those this run computes), when this run
    computed them (`computed`: how many values it had moved by their first lookup, and by the
    time the direct reports they read were indexed), and the readers a run leaves to compute
    again (`pending`)."""

    def __init__(
        self, reads: dict[int, frozenset[str]] | None = None, pending: set[int] | None = None
    ) -> None:
        self.reads: dict[int, frozenset[str]] = reads if reads is not None else {}
        self.pending: set[int] = pending if pending is not None else set()
        self.computed: dict[int, tuple[int, int]] = {}

    def record(self, reader: int, keys: set[str], at: int, reports_at: int) -> None:
        """READER's keys, as its expressions just read them (every one of them: those that
        read other people all have a program, and a pass computes every such attribute), the
        first of them when AT values had moved, the direct reports as of REPORTS_AT. A
        reader's lookups read its own manager (`m:`), which may be set after them."""
        if keys:
            keys.add(f"m:{reader}")
            self.reads[reader] = frozenset(keys)
            self.computed[reader] = (at, reports_at)
        else:
            self.reads.pop(reader, None)
            self.computed.pop(reader, None)

    def readers_of(self, moved: set[str]) -> set[int]:
        """The readers whose keys meet MOVED (every reader of `*` when anything moved, of the
        members when an account did)."""
        if not moved:
            return set()
        if any(key.startswith("a:") for key in moved):
            moved = moved | {MEMBERS}
        return {
            reader
            for reader, keys in self.reads.items()
            if ANYTHING in keys or not keys.isdisjoint(moved)
        }

    def left(self, moved_at: dict[str, int]) -> set[int]:
        """The readers who read a key before it moved (MOVED_AT: key -> how many values the
        run had moved when it last moved): this run, or a run before it when this run did not
        compute them. Direct reports count as read when they were indexed."""
        if not moved_at:
            return set()
        accounts = [at for key, at in moved_at.items() if key.startswith("a:")]
        if accounts:  # who holds an entitlement moves with the accounts
            moved_at = {**moved_at, MEMBERS: max(accounts)}
        last = max(moved_at.values())
        unread = (-1, -1)
        found = set()
        for reader, keys in self.reads.items():
            at, reports_at = self.computed.get(reader, unread)
            if reports_at >= last:  # (never after `at`) it read after every move
                continue
            if ANYTHING in keys and at < last:
                found.add(reader)
                continue
            for key in keys:
                moved = moved_at.get(key)
                if moved is not None and moved > (reports_at if key[0] == "r" else at):
                    found.add(reader)
                    break
        return found

    def keep_only(self, alive: Callable[[int], bool]) -> None:
        """Forget the readers who are no longer someone (removed people are not computed)."""
        self.reads = {r: keys for r, keys in self.reads.items() if alive(r)}

    def renumber(self, mapping: dict[int, int]) -> None:
        """New people's temporary ids, as readers and as keys, become their stored ids."""
        if not mapping:
            return
        self.reads = {
            mapping.get(reader, reader): frozenset(renumbered(keys, mapping))
            for reader, keys in self.reads.items()
        }
        self.computed = {mapping.get(r, r): at for r, at in self.computed.items()}
        self.pending = {mapping.get(p, p) for p in self.pending}

    def dump(self, run_id: int) -> str:
        return orjson.dumps(
            {
                "format": FORMAT,
                "run": run_id,
                "reads": {str(r): sorted(k) for r, k in self.reads.items() if r > 0},
                "pending": sorted(p for p in self.pending if p > 0),
            }
        ).decode()


def renumbered(keys: Iterable[str], mapping: dict[int, int]) -> list[str]:
    """KEYS with the temporary ids of MAPPING (in the keys that name a person) made stored
    ids."""
    out = []
    for key in keys:
        if key[1:3] == ":-" and key[0] in "iafmv":
            head, _, rest = key[2:].partition(":")  # v:<id>:<attribute>
            with contextlib.suppress(ValueError):
                real = mapping.get(int(head), int(head))
                key = f"{key[:2]}{real}" + (f":{rest}" if key[0] == "v" else "")
        out.append(key)
    return out


def _person_id(value: Any) -> int:
    """A stored person's id (a key's digits or a number), as the store can hold one."""
    number = int(value) if isinstance(value, str) and value.isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 2**63:
        raise ValueError(f"not a person's id: {value!r}")
    return number


def load(text: str) -> ReadLog | None:
    """The stored graph, or None when there is none or it cannot be read (then the run
    computes everyone, and stores a new one)."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            return None
        reads = {}
        for reader, keys in value["reads"].items():
            # a reader whose keys cannot be read would never be computed again: none is kept
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                return None
            reads[_person_id(reader)] = frozenset(keys)
        pending = {_person_id(p) for p in value["pending"]}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return ReadLog(reads, pending)
