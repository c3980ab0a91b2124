"""The deletion threshold (docs/configuration.md): a run that would remove more than a share of
the store's people, accounts, attribute values or target values is blocked until the admin
allows it.

Each removal in a plan is a typed `Deletion` (what kind of object goes, and why), so the
threshold counts by kind and the screens and the CLI show the causes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlmodel import Session

from engine.changes import DISABLED, REMOVED_APP, TARGET_VALUES_CLEARED, VALUES_CLEARED
from engine.config.model import AppDeletionThreshold, DeletionThreshold
from engine.store.models import AttributeValue
from engine.sync.attributes import is_empty
from engine.sync.state import PlannedChange, WorkState


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
            return VALUES_CLEARED + self.cause
        if self.kind is DeletionKind.TARGET_VALUES:
            return TARGET_VALUES_CLEARED + self.cause
        return f"{self.kind.value}: {DISABLED if self.disabled else ''}{self.cause}"

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


def deletions_of(
    changes: Iterable[PlannedChange],
    record_of: Callable[[str], str | None] | None = None,
) -> dict[Deletion, list[str]]:
    """A plan's removals grouped by cause, each with the objects it removes.

    An object removes once: a person first disabled (their directory account was) and then
    removed (no directory account creates them any more) in the same plan counts as removed,
    not as two removals.

    A leaver is one removal: the person. Their directory record going (gone from the
    directory, or disabled in it) is why they are removed, not a second removal.
    `record_of(account)` names the person whose directory record an account is ("APP:ID" ->
    their label as the plan names people; "" for a directory account the plan leaves with
    no owner, whose owner change names who it was; None for any other account)."""
    changes = list(changes)
    removed = {
        change.object_id
        for change in changes
        if change.object_type == "user"
        and (deletion := deletion_of(change)) is not None
        and deletion.kind is DeletionKind.USERS
    }
    unlinked = {  # accounts the plan takes from their owner: who they were
        change.object_id: str(change.old)
        for change in changes
        if change.object_type == "account" and change.field == "owner" and change.old
    }
    final: dict[tuple[DeletionKind, str, str], Deletion] = {}
    for change in changes:
        deletion = deletion_of(change)
        if deletion is None:
            continue
        if deletion.kind is DeletionKind.ACCOUNTS and removed and record_of is not None:
            owner = record_of(change.object_id)
            if owner is not None and (owner or unlinked.get(change.object_id)) in removed:
                continue  # the leaver's own record: counted once, as the person removed
        # people and accounts by object; values by object and attribute
        key = (deletion.kind, change.object_id, change.field if change.field != "status" else "")
        known = final.get(key)
        if known is None or (known.disabled and not deletion.disabled):
            final[key] = deletion
    causes: dict[Deletion, list[str]] = {}
    for (_, object_id, _), deletion in final.items():
        causes.setdefault(deletion, []).append(object_id)
    return causes


def population_sizes(
    session: Session, state: WorkState, per_app: dict[str, int]
) -> dict[DeletionKind, int]:
    """The living people and accounts (of STATE, as loaded: the store's; PER_APP: its
    `accounts_per_app`) and the store's attribute values (target values are counted from the
    plan's own state by the caller). Counted in memory: the store's status columns have no
    index, and each count read the whole table (0.2 s at 100,000 people)."""
    return {
        DeletionKind.USERS: sum(1 for u in state.users.values() if u.status != "DELETED"),
        DeletionKind.ACCOUNTS: sum(per_app.values()),
        DeletionKind.VALUES: session.scalar(select(func.count()).select_from(AttributeValue)) or 0,
    }


def accounts_per_app(state: WorkState) -> dict[str, int]:
    """Each app's living accounts (of STATE, as loaded): what its own deletion bound is a
    share of."""
    counts: dict[str, int] = {}
    for (app_id, _), account in state.accounts.items():
        if account.status != "DELETED":
            counts[app_id] = counts.get(app_id, 0) + 1
    return counts


def app_limit(bound: AppDeletionThreshold, accounts: int) -> int:
    """How many of an app's `accounts` one run may remove under `bound`."""
    return max(bound.min_objects, int(accounts * bound.max_percent / 100))


def check_threshold(
    settings: DeletionThreshold,
    population: dict[DeletionKind, int],
    deletions: dict[Deletion, list[str]],
    per_app: dict[str, int] | None = None,
    app_bounds: dict[str, AppDeletionThreshold] | None = None,
) -> str:
    """ "" when the removals are within the threshold, else the message that blocks the run.

    Each kind may remove at most the smaller of `max_objects` and `max_percent` of its
    population; and each app (`per_app`: its living accounts) at most its own bound
    (`app_bounds`, else `settings.per_app`) of its accounts."""
    max_objects, max_percent = settings.max_objects, settings.max_percent
    counts = dict.fromkeys(DeletionKind, 0)
    by_app: dict[str, int] = {}
    removed: set[str] = set()  # apps whose accounts go because the app was removed
    deleting: set[str] = set()  # apps with accounts deleted, not only disabled
    any_deleted = any_disabled = False
    for deletion, objects in deletions.items():
        counts[deletion.kind] += len(objects)
        any_disabled = any_disabled or deletion.disabled
        any_deleted = any_deleted or not deletion.disabled
        if deletion.kind is DeletionKind.ACCOUNTS:
            for key in objects:
                app_id = key.partition(":")[0]
                by_app[app_id] = by_app.get(app_id, 0) + 1
                if deletion.cause == REMOVED_APP:
                    removed.add(app_id)  # (an app's accounts all go for one cause)
                if not deletion.disabled:
                    deleting.add(app_id)
    # disabled accounts are counted too, but are not "removed" (day-two review: 107 accounts
    # disabled in GitHub read "would remove 107 … an emptied or cut export?")
    verb = {
        (True, False): "remove",
        (False, True): "disable",
        (True, True): "remove or disable",
    }.get((any_deleted, any_disabled), "remove")
    over = []
    for kind, count in counts.items():
        limit = min(max_objects, int(population.get(kind, 0) * max_percent / 100))
        if count and count > limit:
            noun = kind.value if count != 1 else kind.value.removesuffix("s")
            over.append(f"{count} {noun} (limit {limit})")
    apps_over = []
    sizes = per_app if per_app is not None else {}
    for app_id, count in sorted(by_app.items()) if per_app is not None else ():
        bound = (app_bounds or {}).get(app_id) or settings.per_app
        total = sizes.get(app_id, 0)
        limit = app_limit(bound, total)
        if count > limit:
            # each app's own likely cause: a removed app's accounts go on purpose
            if app_id in removed:
                why = REMOVED_APP
            elif app_id not in deleting:
                why = "disabled in the app: a change made there in bulk?"
            else:
                why = "an emptied or cut export?"
            apps_over.append(
                f"{count} of {app_id}'s {total} accounts (limit {limit}: "
                f"{bound.max_percent:g} % of the app, at least {bound.min_objects}; {why})"
            )
    if not over and not apps_over:
        return ""
    parts = []
    if over:
        parts.append(
            f"The run would {verb} " + ", ".join(over) + " — more than the deletion threshold "
            f"({max_objects} objects or {max_percent:g} %)."
        )
    if apps_over:
        parts.append(
            f"The run would {verb} "
            + ", ".join(apps_over)
            + f" — more than {'the app' if len(apps_over) == 1 else 'each app'}'s deletion "
            "threshold."
        )
    return (
        " ".join(parts) + " Nothing was applied. Review the deletions, then run again with "
        "--allow-deletes to apply them."
    )
