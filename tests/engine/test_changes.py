"""What two maps differ in, and a plan's own counts per stage (engine/changes.py)."""

from __future__ import annotations

from engine.changes import CHANGED, CREATED, DELETED, change_verb, changed_keys, plan_counts

PROFILE = {
    "cost_center": "CC-3200",
    "department": "Marketing",
    "location": "Toronto",
    "manager": {"email": "a@example.com", "name": "A"},
    "tags": ["x", "y"],
}


def test_changed_keys_names_only_the_keys_that_differ() -> None:
    new = {
        **PROFILE,
        "department": "Finance",
        "manager": {"email": "b@example.com", "name": "A"},
        "tags": ["x"],
        "phone": "+1 555",
    }
    del new["location"]
    assert changed_keys(PROFILE, new, "profile") == [
        ("profile.department", "Marketing", "Finance"),
        ("profile.location", "Toronto", None),
        ("profile.manager.email", "a@example.com", "b@example.com"),
        ("profile.phone", None, "+1 555"),
        ("profile.tags", ["x", "y"], ["x"]),
    ]


def test_changed_keys_of_equal_or_missing_maps() -> None:
    assert changed_keys(PROFILE, dict(PROFILE)) == []
    assert changed_keys(None, {"a": 1}) == [("a", None, 1)]
    assert changed_keys({"a": {"b": 1}}, {"a": 2}) == [("a", {"b": 1}, 2)]


def row(stage: str, kind: str, obj: str, name: str, old: object, new: object) -> dict[str, object]:
    return {
        "stage": stage,
        "object_type": kind,
        "object_id": obj,
        "field": name,
        "old": old,
        "new": new,
        "reason": "",
    }


def test_change_verbs() -> None:
    assert change_verb(row("import", "account", "hr:1", "", None, "Ann")) == CREATED
    assert change_verb(row("import", "account", "hr:1", "status", "ENABLED", "DELETED")) == DELETED
    assert change_verb(row("import", "account", "hr:1", "status", "ENABLED", "DISABLED")) == CHANGED
    assert change_verb(row("attributes", "user", "a@x", "title", "A", "B")) == CHANGED


def test_plan_counts_counts_the_plans_own_changes() -> None:
    # the 4-change plan of one HR department change on the demo
    changes = [
        row("import", "account", "hr:E10005", "profile", PROFILE, {**PROFILE, "department": "F"}),
        row("attributes", "user", "w@example.com", "department", "Marketing", "Finance"),
        row("push", "account", "ad:w", "department", "Marketing", "Finance"),
        row("push", "account", "entra:w", "department", "Marketing", "Finance"),
        row("push", "account", "entra:w", "title", "A", "B"),
        row("import", "account", "hr:E1", "", None, "New Person"),
        row("import", "account", "hr:E2", "status", "ENABLED", "DELETED"),
    ]
    counts = plan_counts(changes)
    assert list(counts) == ["import", "attributes", "push"]
    assert counts["import"].changes == 3
    assert counts["import"].objects == {
        ("account", CHANGED): 1,
        ("account", CREATED): 1,
        ("account", DELETED): 1,
    }
    assert counts["import"].fields == {("account", "profile"): 1}
    assert counts["attributes"].changes == 1
    assert counts["attributes"].objects == {("user", CHANGED): 1}
    assert counts["push"].changes == 3
    assert counts["push"].objects == {("account", CHANGED): 2}  # entra:w once, two changes
    assert counts["push"].fields == {("account", "department"): 2, ("account", "title"): 1}
    assert plan_counts([]) == {}


def test_a_stage_names_each_kinds_own_fields() -> None:
    """identify unlinks an HR account and blanks the person's employee id: the confirmation
    said "1 account changed (employee_id 1, employee_ids 1, owner 1) · 1 user changed (the
    same)", as if each had all three (newcomer review)."""
    from engine.changes import describe_stage_plan

    changes = [
        row("identify", "account", "hr:E10019", "owner", "p@x", None),
        row("identify", "user", "p@x", "employee_id", "E10019", ""),
        row("identify", "user", "p@x", "employee_ids", ["E10019"], []),
    ]
    assert describe_stage_plan(plan_counts(changes)["identify"]) == (
        "3 changes · 1 account changed (owner 1) · 1 user changed (employee_id 1, employee_ids 1)"
    )
