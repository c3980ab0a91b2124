"""The deletion threshold over typed deletions (engine/sync/threshold.py)."""

from __future__ import annotations

from engine.changes import deletion_lines
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


def test_a_person_disabled_then_removed_in_one_plan_is_one_removal() -> None:
    """Priya leaves HR and the IdP: the identify stage disables her (her directory account
    was), then removes her (no directory account creates her any more). The plan listed her
    twice and the threshold counted two people (newcomer review)."""
    changes = [
        PlannedChange("identify", "user", "priya@x", "status", "ENABLED", "DISABLED", "from idp"),
        PlannedChange("identify", "user", "priya@x", "status", "DISABLED", "DELETED", GONE),
        PlannedChange("import", "account", "hr:E1", "status", "ENABLED", "DISABLED", "changed"),
        PlannedChange("attributes", "user", "priya@x", "department", "Sales", ""),
        PlannedChange("attributes", "user", "priya@x", "job_title", "Lead", ""),
    ]
    assert deletions_of(changes) == {
        Deletion(DeletionKind.USERS, GONE): ["priya@x"],
        Deletion(DeletionKind.ACCOUNTS, "changed", disabled=True): ["hr:E1"],
        Deletion(DeletionKind.VALUES, "department"): ["priya@x"],
        Deletion(DeletionKind.VALUES, "job_title"): ["priya@x"],
    }


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


# --- per app (hostile review M8) -----------------------------------------------------------

import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from console.cli import main  # noqa: E402


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _apps(demo: Any) -> Path:
    from engine.store.repo import config_base_dir

    with demo.db.session() as session:
        base = config_base_dir(session)
    assert base is not None
    return base / "apps"


def test_an_emptied_small_app_is_stopped_by_its_own_threshold(demo: Any) -> None:
    """GitHub's export comes back empty: 107 accounts of 1,774 (6 %) pass the store-wide
    threshold (20 %, 500), but are all of GitHub: the app's own bound stops the run."""
    path = _apps(demo) / "github.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    total = len(data["accounts"])
    data["accounts"], data["grants"] = [], []
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    db = str(demo.db.sqlite_path)
    result = _cli("sync", "--db", db)
    assert result.exit_code == 3, result.output
    limit = total // 2
    assert (
        f"The run would remove {total} of github's {total} accounts (limit {limit}: 50 % of "
        "the app, at least 10; an emptied or cut export?)" in result.output
    )
    assert "--allow-deletes" in result.output and "Nothing was applied" in result.output
    assert demo.runs(limit=1)[0].status == "blocked-by-threshold"
    # the admin meant it: allowed, applied
    result = _cli("sync", "--allow-deletes", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    assert (
        len(json.loads(result.stdout)["deletions"]["accounts: no longer listed by the app"])
        == total
    )


def test_a_few_accounts_of_a_small_app_pass_and_an_apps_own_bound_counts(demo: Any) -> None:
    path = _apps(demo) / "github.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    gone = {a["id"] for a in data["accounts"][:3]}
    data["accounts"] = data["accounts"][3:]
    data["grants"] = [g for g in data.get("grants", []) if g["account"] not in gone]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    db = str(demo.db.sqlite_path)
    assert _cli("sync", "--dry-run", "--db", db).exit_code == 0  # 3 < 10: never blocked

    # GitHub's own bound: nothing may go unannounced
    config = demo.export_config()
    document = yaml.safe_load(config)
    github = next(a for a in document["apps"] if a["id"] == "github")
    github["deletion_threshold"] = {"max_percent": 0, "min_objects": 0}
    result = demo.import_config(
        yaml.safe_dump(document, sort_keys=False), source="t.yaml", base_dir=_apps(demo).parent
    )
    assert result.applied
    assert "deletion_threshold: {max_percent: 0, min_objects: 0}" in demo.export_config()
    result = _cli("sync", "--db", db)
    assert (
        result.exit_code == 3 and "3 of github's" in result.output and "(limit 0:" in result.output
    )


def test_a_bad_per_app_threshold_is_a_located_error(demo: Any, tmp_path: Path) -> None:
    document = yaml.safe_load(demo.export_config())
    document["settings"]["deletion_threshold"]["per_app"] = {"max_percent": 150}
    next(a for a in document["apps"] if a["id"] == "slack")["deletion_threshold"] = {
        "min_objects": -1
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = _cli("config", "validate", str(path))
    assert result.exit_code == 1, result.output
    assert "settings.deletion_threshold.per_app.max_percent" in result.output
    assert "apps[" in result.output and "deletion_threshold.min_objects" in result.output


# --- a leaver is one removal (newcomer review) ----------------------------------------------


def test_a_leavers_directory_record_is_not_a_second_removal() -> None:
    """Ivan leaves: HR drops his record (or disables it) and no directory creates him any
    more. One leaver, one removal: the person. His HR record going is why, not a second
    removal; any other account going in the same plan still counts."""
    records = {"hr:E1": "ivan@x", "hr:E2": "", "hr:E3": "ann@x"}
    changes = [
        PlannedChange("import", "account", "hr:E1", "status", "ENABLED", "DELETED", "gone"),
        PlannedChange("import", "account", "hr:E2", "status", "ENABLED", "DISABLED", "changed"),
        PlannedChange("identify", "account", "hr:E2", "owner", "bo@x", None, "ignored"),
        PlannedChange("import", "account", "hr:E3", "status", "ENABLED", "DELETED", "gone"),
        PlannedChange("import", "account", "slack:U1", "status", "ENABLED", "DELETED", "gone"),
        PlannedChange("identify", "user", "ivan@x", "status", "ENABLED", "DELETED", GONE),
        PlannedChange("identify", "user", "bo@x", "status", "ENABLED", "DELETED", GONE),
    ]
    assert deletions_of(changes, records.get) == {
        Deletion(DeletionKind.USERS, GONE): ["ivan@x", "bo@x"],
        # Ann's HR record went but another directory keeps her; Slack is no directory
        Deletion(DeletionKind.ACCOUNTS, "gone"): ["hr:E3", "slack:U1"],
    }


def test_a_leaver_counts_once_in_a_real_sync(demo: Any) -> None:
    """On the demo: HR drops one person's record (he is in no other directory) and, for a
    second person, disables it. The plan removes two people, and says two, not four."""
    path = _apps(demo) / "hr.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    ivan = next(a for a in data["accounts"] if a.get("email") == "ivan.jackson@example.com")
    data["accounts"].remove(ivan)
    olga = next(a for a in data["accounts"] if a.get("email") == "olga.williams@example.com")
    olga["status"] = "DISABLED"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    result = _cli("sync", "--dry-run", "--json", "--db", str(demo.db.sqlite_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["deletions"] == {
        f"users: {GONE}": ["olga.williams@example.com", "ivan.jackson@example.com"]
    }
    text = _cli("sync", "--db", str(demo.db.sqlite_path))
    assert text.exit_code == 0, text.output
    deleted = [line for line in text.output.splitlines() if line.startswith("  deleted")]
    # naming them: "deleted 1 account: disabled: changed in the app" said not which (newcomer
    # review)
    assert deleted == [
        f"  deleted 2 users: {GONE} (olga.williams@example.com, ivan.jackson@example.com)"
    ]


def test_accounts_disabled_in_bulk_read_as_disabled_not_removed(demo: Any) -> None:
    """107 GitHub accounts disabled in the app: the threshold said "would remove 107 of
    github's 107 accounts (… an emptied or cut export?)" and the applied run "deleted 107
    accounts: disabled: …", while every account was still there (day-two review)."""
    path = _apps(demo) / "github.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    enabled = [a for a in data["accounts"] if str(a.get("status", "ENABLED")).upper() == "ENABLED"]
    for account in enabled:
        account["status"] = "DISABLED"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    db = str(demo.db.sqlite_path)
    result = _cli("sync", "--db", db)
    assert result.exit_code == 3, result.output
    assert f"The run would disable {len(enabled)} of github's " in result.output, result.output
    assert "disabled in the app: a change made there in bulk?)" in result.output
    assert "remove" not in result.output.split("Nothing was applied")[0]
    result = _cli("sync", "--allow-deletes", "--db", db)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("  disabled ")]
    assert lines and lines[0].startswith(f"  disabled {len(enabled)} accounts: changed in the app")
    assert "deleted" not in result.output


def test_values_cleared_from_the_same_people_read_as_one_line() -> None:
    """A leaver's seven attributes cleared read as one line naming them, not seven lines each
    giving the same person as its example; other causes, and values cleared from other
    people, keep their own lines, in the plan's order. Causes are text: shown as they are."""
    changes = [
        PlannedChange("identify", "user", "ann@x", "status", "ENABLED", "DELETED", GONE),
        PlannedChange("attributes", "user", "bo@x", "department", "Sales", ""),
        PlannedChange("attributes", "user", "bo@x", "[bold]title[/]", "Lead", ""),
        PlannedChange("attributes", "user", "cy@x", "department", "Ops", ""),
        PlannedChange("push", "account", "ad:bo", "title", "Lead", None),
        PlannedChange("attributes", "user", "bo@x", "phone", "+44", ""),
    ]
    deletions = {str(d): objects for d, objects in deletions_of(changes).items()}
    assert [(line.count, line.cause, line.objects) for line in deletion_lines(deletions)] == [
        (1, f"users: {GONE}", ["ann@x"]),
        (2, "attribute values cleared: department", ["bo@x", "cy@x"]),
        (2, "attribute values cleared: [bold]title[/], phone", ["bo@x"]),
        (1, "target values cleared: ad title", ["ad:bo"]),
    ]
    # read after a count and a verb: "would delete 1 value of phone" (it said "would delete
    # 1 attribute values cleared: phone")
    assert [line.text for line in deletion_lines(deletions)] == [
        f"user: {GONE}",
        "values of department",
        "values of [bold]title[/], phone",
        "pushed value of ad title",
    ]
    assert deletion_lines({"attribute values cleared: phone": ["bo@x"]})[0].text == (
        "value of phone"
    )
    assert deletion_lines({}) == []
