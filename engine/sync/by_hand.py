"""What admins decided by hand between syncs (a link, an unlink, a pin, an account provisioned
for someone), kept so that the next sync reconsiders those accounts and their people, old and
new, rather than everyone.

Each decision bumps the store's manual generation (`bump`); the accounts it touched are noted
with the generation they bumped it to, in the `meta` table under `manual_decisions`:

    {"from": G, "accounts": [[generation, app, external id, previous owner], ...],
     "everyone": E}

`from` is the generation before the first decision the note holds: it covers every decision
after it. `everyone` (when present) is the last generation whose accounts are not known (a
caller that could not say, or more than `LIMIT` decisions): a sync that must apply it
reconsiders everyone, as every sync after a manual decision did before the note (at 100,000
people, 95 s and 2.7 GB after linking one account, against 14 s for 1 % of every export).
A note that is missing (a store synced by a Roster that kept none) or unreadable covers
nothing, and the sync reconsiders everyone.

A run that applies drops what it applied (`applied`): the decisions up to the generation it
read when it started. One made while it ran stays for the next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlmodel import Session

from engine.store.repo import get_meta, set_meta

META_KEY = "manual_decisions"
#: Decisions kept account by account between two syncs; past this many the next sync
#: reconsiders everyone (each decision rewrites the note: it must stay small).
LIMIT = 5000

#: An account decided by hand: (app, external id, its owner before the decision).
Decided = tuple[str, str, int | None]


@dataclass(frozen=True)
class ByHand:
    """What was decided by hand since the last applied run."""

    accounts: frozenset[tuple[str, str]]  # the accounts decided
    previous_owners: frozenset[int]  # who owned them before


def generation(session: Session) -> int:
    return _number(get_meta(session, "manual_generation")) or 0


def bump(session: Session, decided: Iterable[Decided] | None = None) -> None:
    """Note a manual decision: the next sync may not skip, and it reconsiders the DECIDED
    accounts and their people (None: what was decided is not known, and it reconsiders
    everyone)."""
    before = generation(session)
    now = before + 1
    set_meta(session, "manual_generation", str(now))
    note = _read(session)
    if note is None:  # covers what comes from here on; what came before is not known
        note = {"from": before, "accounts": []}
    rows = None if decided is None else [[now, app, ext, owner] for app, ext, owner in decided]
    if rows is None or len(note["accounts"]) + len(rows) > LIMIT:
        note["everyone"] = now
        note["accounts"] = []  # the sync that applies `everyone` reconsiders them all anyway
    else:
        note["accounts"] += rows
    _write(session, note)


def since(session: Session, applied: str) -> ByHand | None:
    """What was decided by hand after generation APPLIED (the one the last applied run read),
    up to now; None when the note does not say all of it (the sync reconsiders everyone), or
    the generation does not follow it (edited by hand: a counter that went back would have
    the sync take a new decision for one it applied)."""
    start = 0 if applied == "" else _number(applied)  # "": no decision before it
    now = _number(get_meta(session, "manual_generation"))
    note = _read(session)
    if start is None or now is None or now <= start or note is None or note["from"] > start:
        return None
    if note.get("everyone", 0) > start or not _consistent(note, now):
        return None
    accounts: set[tuple[str, str]] = set()
    owners: set[int] = set()
    for made, app, external, owner in note["accounts"]:
        if made > start:
            accounts.add((app, external))
            if owner is not None:
                owners.add(owner)
    return ByHand(frozenset(accounts), frozenset(owners))


def applied(session: Session, read: str) -> None:
    """A run that read generation READ applied: drop what it applied, keep what came after."""
    upto = _number(read) or 0
    now = generation(session)
    note = _read(session)
    if note is not None and not _consistent(note, now):
        note = None  # numbers past the generation (edited by hand): started afresh
    kept: dict[str, Any] = {"from": upto, "accounts": []}
    if note is None:  # what came during the run is not known
        if now > upto:
            kept["everyone"] = now
    else:
        kept["accounts"] = [row for row in note["accounts"] if row[0] > upto]
        if note.get("everyone", 0) > upto:
            kept["everyone"] = note["everyone"]
        # a note started after READ does not say what came between: it still covers only
        # what came after its own start
        kept["from"] = max(upto, note["from"])
    _write(session, kept)


def _write(session: Session, note: dict[str, Any]) -> None:
    set_meta(session, META_KEY, orjson.dumps(note).decode())


def _consistent(note: dict[str, Any], now: int) -> bool:
    """Whether no number in NOTE is past the generation NOW (as only a hand edit leaves it)."""
    return (
        note["from"] <= now
        and note.get("everyone", 0) <= now
        and all(row[0] <= now for row in note["accounts"])
    )


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _read(session: Session) -> dict[str, Any] | None:
    """The note, checked; None when there is none or it cannot be read (edited by hand)."""
    try:  # (orjson: text that is not UTF-8, or nested past its depth limit, is refused)
        note = orjson.loads(get_meta(session, META_KEY) or "null")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(note, dict) or not _is_count(note.get("from")):
        return None
    if "everyone" in note and not _is_count(note["everyone"]):
        return None
    rows = note.get("accounts")
    if not isinstance(rows, list) or not all(_well_formed(row) for row in rows):
        return None
    return note


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _well_formed(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 4
        and _is_count(row[0])
        and isinstance(row[1], str)
        and isinstance(row[2], str)
        and (row[3] is None or _is_count(row[3]))
    )
