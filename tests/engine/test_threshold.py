"""The deletion threshold over typed deletions (engine/sync/threshold.py)."""

from __future__ import annotations

from engine.config.model import DeletionThreshold
from engine.sync.state import PlannedChange
from engine.sync.threshold import Deletion, DeletionKind, check_threshold, deletions_of

GONE = "no directory account creates this person any more"


def test_each_change_becomes_a_deletion_of_its_kind() -> None:
    changes = [
        PlannedChange("identify", "user", "ann@example.com", "status", "ENABLED", "DELETED", GONE),
        PlannedChange("identify", "user", "bo@example.com", "status", "ENABLED", "DELETED", GONE),
        PlannedChange("import", "account", "hr:E5", "status", "ENABLED", "DISABLED", "in the app"),
        PlannedChange("attributes", "user", "ann@example.com", "department", "Sales", ""),
        PlannedChange("push", "account", "ad:ann", "title", "Engineer", None),
        # not deletions: a value set, a re-enabled account, a disabled account staying disabled
        PlannedChange("attributes", "user", "bo@example.com", "department", "", "Sales"),
        PlannedChange("import", "account", "hr:E6", "status", "DISABLED", "ENABLED"),
        PlannedChange("import", "account", "hr:E7", "status", "DISABLED", "DISABLED"),
    ]
    assert deletions_of(changes) == {
        Deletion(DeletionKind.USERS, GONE): ["ann@example.com", "bo@example.com"],
        Deletion(DeletionKind.ACCOUNTS, "in the app", disabled=True): ["hr:E5"],
        Deletion(DeletionKind.VALUES, "department"): ["ann@example.com"],
        Deletion(DeletionKind.TARGET_VALUES, "ad title"): ["ad:ann"],
    }
    labels = [str(d) for d in deletions_of(changes)]
    assert labels == [
        f"users: {GONE}",
        "accounts: disabled: in the app",
        "attribute values cleared: department",
        "target values cleared: ad title",
    ]


def test_the_threshold_counts_each_kind_against_its_own_population() -> None:
    settings = DeletionThreshold(max_objects=500, max_percent=20)
    population = {
        DeletionKind.USERS: 10,  # limit 2
        DeletionKind.ACCOUNTS: 100,  # limit 20
        DeletionKind.VALUES: 1000,  # limit 200
        DeletionKind.TARGET_VALUES: 5000,  # limit 500 (max_objects)
    }
    within = {
        Deletion(DeletionKind.USERS, "left"): ["a", "b"],
        Deletion(DeletionKind.ACCOUNTS, "gone"): [f"x:{i}" for i in range(20)],
    }
    assert check_threshold(settings, population, within) == ""
    # a cause whose text starts like another kind is still counted by its kind
    over = {
        Deletion(DeletionKind.VALUES, "users"): [f"v{i}" for i in range(201)],
        Deletion(DeletionKind.USERS, "left"): ["a", "b"],
        Deletion(DeletionKind.TARGET_VALUES, "ad title"): [f"t{i}" for i in range(501)],
    }
    message = check_threshold(settings, population, over)
    assert message.startswith("The run would remove 201 values (limit 200), 501 target values")
    assert "users" not in message.split("—")[0]
    assert "--allow-deletes" in message


def test_no_threshold_settings_means_the_defaults() -> None:
    population = {DeletionKind.USERS: 100}
    assert (
        check_threshold(
            DeletionThreshold(), population, {Deletion(DeletionKind.USERS, "x"): ["a"] * 20}
        )
        == ""
    )
    message = check_threshold(
        DeletionThreshold(), population, {Deletion(DeletionKind.USERS, "x"): ["a"] * 21}
    )
    assert "21 users (limit 20)" in message
