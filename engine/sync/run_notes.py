"""What a sync leaves in the store for the next run and for the console to read: the statuses
and stages a run is told by, the values it held back, the conflicts identify found.

Kept apart from engine.sync.incremental (which imports the connectors and cel-python) so that
the dashboard, which reads these, opens without them: importing them in its first worker cost
its first screen half a second at 100,000 people (issue 11)."""

from __future__ import annotations

import json

from sqlmodel import Session

from engine.store.repo import get_meta, set_meta
from engine.sync.state import HeldBlank, WorkState

STAGES = ("import", "identify", "ownership", "attributes", "push", "provision")
#: The statuses of a run that applied its plan (some apps may have failed: exit 5).
APPLIED = ("applied", "applied-with-failures")
#: The statuses of a run that went through with its plan stored (APPLIED: with it applied).
PLANNED = ("planned", "planned-with-failures")


def load_held(session: Session) -> list[HeldBlank]:
    """The values the last applied run held (see `HeldBlank`)."""
    try:
        raw = json.loads(get_meta(session, "held_blanks") or "[]")
        return [HeldBlank.from_dict(item) for item in raw]
    except (ValueError, TypeError, KeyError):
        return []  # unreadable: the next full run lists them again


def save_held(session: Session, held: list[HeldBlank]) -> None:
    set_meta(session, "held_blanks", json.dumps([h.as_dict() for h in held], default=str))


#: The meta key of the conflicts the last applied run's identify found (WorkState.conflicts):
#: account -> why.
CONFLICTS = "identify_conflicts"


def load_conflicts(session: Session) -> dict[tuple[str, str], str]:
    """The conflicts the last applied run found, each with its reason (none when there is no
    note or it cannot be read: then each is journalled again, once)."""
    try:
        raw = json.loads(get_meta(session, CONFLICTS) or "[]")
        return {(str(app), str(external)): str(reason) for app, external, reason in raw}
    except (ValueError, TypeError):
        return {}


def save_conflicts(session: Session, state: WorkState) -> None:
    """An account the merge rules cannot link stays unlinked, so every run that runs
    identify walks it again and finds the same conflict: without the note, each such run
    journalled it again as a change (hostile review: `ad:svc-backup` in every sync)."""
    rows = sorted([app, external, reason] for (app, external), reason in state.conflicts.items())
    set_meta(session, CONFLICTS, json.dumps(rows))


#: The meta key of the people the last applied run left with an attribute that read another
#: of theirs before the run set it (two attributes that read each other): the next run
#: computes them again.
READ_EARLY = "attributes_read_early"


def load_read_early(session: Session) -> set[int]:
    """The people the last applied run left to compute again (none when unreadable: then the
    values stand as they are until their data changes, as before this note was kept)."""
    try:
        return {int(user_id) for user_id in json.loads(get_meta(session, READ_EARLY) or "[]")}
    except (ValueError, TypeError):
        return set()


def save_read_early(session: Session, people: set[int]) -> None:
    set_meta(session, READ_EARLY, json.dumps(sorted(people)))
