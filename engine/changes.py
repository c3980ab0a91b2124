"""Reading a sync's changes: what two maps differ in, and what a plan changes per stage.

Pure functions over the journal's rows (dicts with stage, object_type, object_id, field, old,
new): the console and the CLI use them to say what a plan does rather than repeat the stages'
own counters, which describe everything a stage looked at (e.g. every account a directory
filter kept), not what the plan changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CREATED, CHANGED, DELETED = "created", "changed", "deleted"
VERBS = (CREATED, CHANGED, DELETED)


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """The keys whose values differ between two maps, as (dotted path, old, new), sorted.

    Nested maps are compared key by key (`profile.department`); a key missing on one side
    reads as None there; any other value (lists included) is compared whole.
    """
    old_map = old if isinstance(old, Mapping) else {}
    new_map = new if isinstance(new, Mapping) else {}
    found: list[tuple[str, Any, Any]] = []
    for key in sorted({*old_map, *new_map}, key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        before, after = old_map.get(key), new_map.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            found.extend(changed_keys(before, after, path))
        elif before != after:
            found.append((path, before, after))
    return found


def change_differences(name: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """What one journal row of field NAME changes, as (path, old, new): two maps (an account's
    profile) by the keys that differ, a map from nothing (a new person's attributes) by each
    of its keys; any other value whole. The CLI's `roster runs N` and the console's detail of
    a change read a row this way."""
    if isinstance(new, Mapping) and (old is None or isinstance(old, Mapping)):
        return changed_keys(old or {}, new, name)
    return [(name, old, new)]


def change_verb(change: Mapping[str, Any]) -> str:
    """Whether a journal row creates, deletes or changes its object."""
    name = change.get("field") or ""
    if not name and change.get("old") is None:
        return CREATED
    if name == "status" and change.get("new") == "DELETED":
        return DELETED
    return CHANGED


@dataclass
class StagePlan:
    """What one stage of a plan changes: its changes, the objects they touch by kind and
    verb (`("account", "changed") -> 2`), and how often each field of each kind changes
    (`("account", "owner") -> 1`: identify changes accounts' owners and people's names, and
    the two are told apart)."""

    stage: str
    changes: int = 0
    objects: dict[tuple[str, str], int] = field(default_factory=dict)
    fields: dict[tuple[str, str], int] = field(default_factory=dict)


def plan_counts(changes: Iterable[Mapping[str, Any]]) -> dict[str, StagePlan]:
    """Count a plan's own changes per stage (in the order the stages first appear).

    An object counts once per verb: an account whose title and department both change is one
    account changed, with two changes.
    """
    stages: dict[str, StagePlan] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for change in changes:
        stage = str(change.get("stage") or "other")
        plan = stages.get(stage)
        if plan is None:
            plan = stages[stage] = StagePlan(stage)
        plan.changes += 1
        kind = str(change.get("object_type") or "object")
        verb = change_verb(change)
        key = (stage, kind, str(change.get("object_id") or ""), verb)
        if key not in seen:
            seen.add(key)
            plan.objects[(kind, verb)] = plan.objects.get((kind, verb), 0) + 1
        name = str(change.get("field") or "")
        if verb == CHANGED and name:
            plan.fields[(kind, name)] = plan.fields.get((kind, name), 0) + 1
    return stages


# Counters that add up, read in this order: the identify stage's filter decisions, then what
# became of those accounts (already linked + pinned + merged + users created + unmerged +
# ambiguous + conflicts = filter create + filter match only); ownership's changes, then totals.
READING_ORDER = {
    key: index
    for index, key in enumerate((
        "filter_create", "filter_match_only", "filter_ignore", "filter_errors",
        "already_linked", "pinned", "merged", "users_created", "unmerged", "ambiguous",
        "conflicts", "users_removed",
        "linked", "relinked", "unlinked", "owned", "unowned", "non_human_unowned", "unchanged",
    ))
}  # fmt: skip


def describe_counts(counts: Mapping[str, Any] | None, empty: str = "no changes") -> str:
    """A stage's counters as people read them: `filter create 543 · filter ignore 24 ·
    merged 262 · users created 281` (READING_ORDER, then the others in the order the stage
    counted them; EMPTY when there are none)."""
    items = [
        (key, count)
        for key, count in (counts or {}).items()
        if isinstance(count, int) and not isinstance(count, bool)
    ]
    last = len(READING_ORDER)
    ordered = sorted(enumerate(items), key=lambda it: (READING_ORDER.get(it[1][0], last), it[0]))
    return " · ".join(f"{key.replace('_', ' ')} {count:,}" for _, (key, count) in ordered) or empty


FIELD_SAMPLES = 3  # the most frequently changed fields named in a stage's description


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_stage_plan(plan: StagePlan | None) -> str:
    """`1 change · 1 account changed (profile 1)`: what the plan changes in one stage."""
    if plan is None or not plan.changes:
        return "no changes"
    parts = [_plural(plan.changes, "change")]
    for (kind, verb), count in sorted(
        plan.objects.items(), key=lambda item: (item[0][0], VERBS.index(item[0][1]))
    ):
        part = f"{_plural(count, kind)} {verb}"
        fields = {name: n for (of, name), n in plan.fields.items() if of == kind}
        if verb == CHANGED and fields:
            top = sorted(fields.items(), key=lambda item: (-item[1], item[0]))
            names = [f"{name} {n:,}" for name, n in top[:FIELD_SAMPLES]]
            if len(top) > FIELD_SAMPLES:
                names.append(f"+{len(top) - FIELD_SAMPLES} more")
            part += f" ({', '.join(names)})"
        parts.append(part)
    return " · ".join(parts)


#: How a cause of cleared attribute values reads, before the attribute's name.
VALUES_CLEARED = "attribute values cleared: "
#: ... and of cleared values in the apps pushed to, before the app and its attribute.
TARGET_VALUES_CLEARED = "target values cleared: "
#: Why the accounts of an app no longer in the configuration are gone.
REMOVED_APP = "its app was removed from the configuration"
#: An account DELETED in the store that its app lists again
LISTED_AGAIN = "listed by the app again"
#: How an import that held entries back reads in the app's status ("held back 2 entries: …")
HELD_BACK = "held back "


#: How a removal that disables (rather than deletes) reads in its label, after its kind
DISABLED = "disabled: "


@dataclass(frozen=True)
class DeletionLine:
    """One line of a plan's deletions as an admin reads them: how many, why, which objects."""

    count: int
    cause: str
    objects: list[str]

    @property
    def text(self) -> str:
        """The cause as read after its count and a verb ("would delete 1 value of phone",
        "deleted 2 users: …"): the labels are names for --json, and read after a count they
        said "1 attribute values cleared" (hostile review)."""
        one = self.count == 1
        values = "value" if one else "values"
        if self.cause.startswith(VALUES_CLEARED):
            return f"{values} of {self.cause.removeprefix(VALUES_CLEARED)}"
        if self.cause.startswith(TARGET_VALUES_CLEARED):
            return f"pushed {values} of {self.cause.removeprefix(TARGET_VALUES_CLEARED)}"
        for kind in ("users: ", "accounts: "):
            if one and self.cause.startswith(kind):
                return kind.replace("s: ", ": ") + self.cause.removeprefix(kind)
        return self.cause

    @property
    def disables(self) -> bool:
        """People or accounts disabled, not deleted: "deleted 107 accounts: disabled: …" read
        as both (day-two review)."""
        return any(self.cause.startswith(f"{kind}: {DISABLED}") for kind in ("users", "accounts"))

    @property
    def disabled_text(self) -> str:
        """`text` without its "disabled: ", for a line whose verb says it ("disabled 2 …")."""
        return self.text.replace(f": {DISABLED}", ": ", 1)


def deletion_lines(deletions: Mapping[str, list[str]]) -> list[DeletionLine]:
    """A plan's deletions (label -> objects, `SyncResult.deletions`) for reading: the values
    cleared from the very same people are one line naming every attribute ("7 attribute
    values cleared: country, cost_center, …" for a leaver), not a line per attribute each
    saying "e.g." of the same person."""
    lines: list[DeletionLine] = []
    values: dict[tuple[str, ...], tuple[int, list[str]]] = {}  # people -> line, attributes
    for label, objects in deletions.items():
        if not label.startswith(VALUES_CLEARED):
            lines.append(DeletionLine(len(objects), label, objects))
            continue
        attribute = label.removeprefix(VALUES_CLEARED)
        known = values.get(tuple(objects))
        if known is None:
            values[tuple(objects)] = (len(lines), [attribute])
            lines.append(DeletionLine(len(objects), label, objects))
            continue
        at, attributes = known
        attributes.append(attribute)
        lines[at] = DeletionLine(
            lines[at].count + len(objects), VALUES_CLEARED + ", ".join(attributes), objects
        )
    return lines
