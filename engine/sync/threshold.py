"""The deletion threshold (DESIGN §8): a run that would remove more than a share of the store's
people, accounts, attribute values or target values is blocked until the admin allows it.

Each removal in a plan is a typed `Deletion` (what kind of object goes, and why), so the
threshold counts by kind and the screens and the CLI show the causes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlmodel import Session, col

from engine.config.model import DeletionThreshold
from engine.store.models import Account, AttributeValue, Person
from engine.sync.attributes import is_empty
from engine.sync.state import PlannedChange


class DeletionKind(StrEnum):
    """What a deletion removes; the threshold applies to each kind separately."""

    USERS = "users"
    ACCOUNTS = "accounts"
    VALUES = "values"  # people's attribute values
    TARGET_VALUES = "target values"  # attribute values in the apps pushed to


@dataclass(frozen=True)
class Deletion:
    """One cause of removals in a plan: the kind of object it removes and why."""

    kind: DeletionKind
    cause: str  # the stage's reason, the attribute cleared, or the app and target attribute
    disabled: bool = False  # people or accounts disabled rather than deleted

    @property
    def label(self) -> str:
        """How the admin reads it, e.g. "users: disabled: no directory account ..."."""
        if self.kind is DeletionKind.VALUES:
            return f"attribute values cleared: {self.cause}"
        if self.kind is DeletionKind.TARGET_VALUES:
            return f"target values cleared: {self.cause}"
        return f"{self.kind.value}: {'disabled: ' if self.disabled else ''}{self.cause}"

    def __str__(self) -> str:
        return self.label


_RECORD_KINDS = {"user": DeletionKind.USERS, "account": DeletionKind.ACCOUNTS}


def deletion_of(change: PlannedChange) -> Deletion | None:
    """The deletion a planned change is, or None when it removes nothing."""
    if change.field == "status" and (
        change.new == "DELETED" or (change.new == "DISABLED" and change.old == "ENABLED")
    ):
        kind = _RECORD_KINDS.get(change.object_type)
        if kind is None:
            return None
        return Deletion(kind, change.reason, disabled=change.new == "DISABLED")
    if is_empty(change.new) and not is_empty(change.old):
        if change.stage == "attributes":
            return Deletion(DeletionKind.VALUES, change.field)
        if change.stage == "push":
            app = change.object_id.split(":")[0]
            return Deletion(DeletionKind.TARGET_VALUES, f"{app} {change.field}")
    return None


def deletions_of(changes: Iterable[PlannedChange]) -> dict[Deletion, list[str]]:
    """A plan's removals grouped by cause, each with the objects it removes."""
    causes: dict[Deletion, list[str]] = {}
    for change in changes:
        deletion = deletion_of(change)
        if deletion is not None:
            causes.setdefault(deletion, []).append(change.object_id)
    return causes


def population_sizes(session: Session) -> dict[DeletionKind, int]:
    """The store's living people and accounts and its attribute values (target values are
    counted from the plan's own state by the caller)."""
    return {
        DeletionKind.USERS: session.scalar(
            select(func.count()).select_from(Person).where(col(Person.status) != "DELETED")
        )
        or 0,
        DeletionKind.ACCOUNTS: session.scalar(
            select(func.count()).select_from(Account).where(col(Account.status) != "DELETED")
        )
        or 0,
        DeletionKind.VALUES: session.scalar(select(func.count()).select_from(AttributeValue)) or 0,
    }


def check_threshold(
    settings: DeletionThreshold,
    population: dict[DeletionKind, int],
    deletions: dict[Deletion, list[str]],
) -> str:
    """ "" when the removals are within the threshold, else the message that blocks the run.

    Each kind may remove at most the smaller of `max_objects` and `max_percent` of its
    population."""
    max_objects, max_percent = settings.max_objects, settings.max_percent
    counts = dict.fromkeys(DeletionKind, 0)
    for deletion, objects in deletions.items():
        counts[deletion.kind] += len(objects)
    over = []
    for kind, count in counts.items():
        limit = min(max_objects, int(population.get(kind, 0) * max_percent / 100))
        if count and count > limit:
            over.append(f"{count} {kind.value} (limit {limit})")
    if not over:
        return ""
    return (
        "The run would remove " + ", ".join(over) + " — more than the deletion threshold "
        f"({max_objects} objects or {max_percent:g} %). Nothing was applied. Review the "
        "deletions, then run again with --allow-deletes to apply them."
    )
