"""An app removed from the configuration (engine/sync/importer.py `_retire_removed_apps`): its
accounts stayed ENABLED and linked for good, its row kept offering provisioning and its last
failed import kept `roster status --check` failing (LDAP review). The edit now says what the
next sync does; the sync marks the accounts DELETED, behind the deletion threshold; status,
the provisioning apps and their messages leave the app out."""

from __future__ import annotations

import json
from typing import Any

import yaml
from click.testing import CliRunner
from sqlmodel import select

from console.cli import main
from engine.changes import LISTED_AGAIN, REMOVED_APP
from engine.services.editing import ConfigEdit
from engine.store.models import Account, App


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _live(demo: Any, app_id: str) -> list[Account]:
    with demo.db.session() as session:
        return list(
            session.scalars(
                select(Account).where(Account.app_id == app_id, Account.status != "DELETED")
            )
        )


def test_removing_an_app_says_so_then_the_sync_retires_its_accounts(demo: Any) -> None:
    db = str(demo.db.sqlite_path)
    total = len(_live(demo, "slack"))
    assert total > 100 and any(a.owner_id is not None for a in _live(demo, "slack"))

    # the edit says what the next sync will do, before and as it saves
    result = _cli("config", "delete", "apps.slack", "--db", db)
    assert result.exit_code == 0, result.output
    assert f"apps.slack: the store holds {total} of its accounts" in result.output
    assert "the next sync marks them DELETED" in result.output
    assert "add the app back before the next sync to keep them" in result.output

    # until the sync, status shows them, as removed (not as an app that never imported)
    status = _cli("status", "--db", db)
    assert "removed from the configuration" in status.output
    assert "never imported" not in status.output
    board = json.loads(_cli("status", "--json", "--db", db).stdout)
    assert next(a for a in board["apps"] if a["id"] == "slack")["removed"] is True

    # its row offers no provisioning and names no removed app among the apps
    assert "slack" not in {a.id for a in demo.provisioning_apps()}
    with demo.db.session() as session:
        row = session.get(App, "slack")
        assert row is not None and row.capabilities == {} and row.last_import_status == "ok"

    # every account of the app goes: the app's deletion threshold holds the run, naming why
    result = _cli("sync", "--db", db)
    assert result.exit_code == 3, result.output
    assert "at least 10; its app was removed from the configuration)" in result.output
    assert "an emptied or cut export" not in result.output
    assert len(_live(demo, "slack")) == total  # nothing applied

    result = _cli("sync", "--allow-deletes", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["deletions"][f"accounts: {REMOVED_APP}"]) == total
    assert _live(demo, "slack") == []

    # gone from status; the next sync has nothing more to say of it
    status = _cli("status", "--db", db)
    assert "slack" not in status.output
    again = json.loads(_cli("sync", "--json", "--db", db).stdout)
    assert not again["deletions"]


def test_adding_the_app_back_imports_its_accounts_again(demo: Any) -> None:
    exported = yaml.safe_load(demo.export_config())
    slack = next(app for app in exported["apps"] if app["id"] == "slack")
    total = len(_live(demo, "slack"))
    demo.config_edit(ConfigEdit("delete", "apps.slack"))
    demo.sync(allow_deletes=True)
    assert _live(demo, "slack") == []
    demo.config_edit(ConfigEdit("set", "apps.slack", slack))
    result = demo.sync()
    assert len(_live(demo, "slack")) == total
    # the history says they are back, not that the app changed them
    back = [c for c in result.changes if c["field"] == "status" and c["object_id"][:6] == "slack:"]
    assert len(back) == total
    assert {(c["old"], c["reason"]) for c in back} == {("DELETED", LISTED_AGAIN)}
    assert {c["new"] for c in back} == {"ENABLED", "DISABLED"}  # as the app lists them


def test_an_edit_that_keeps_every_app_warns_of_nothing(demo: Any) -> None:
    result = demo.config_edit(ConfigEdit("set", "apps.slack.name", "Slack (EU)"))
    assert not any("of its accounts" in w.message for w in result.warnings)


def test_a_provisioning_message_lists_only_configured_apps(demo: Any) -> None:
    demo.config_edit(ConfigEdit("delete", "apps.slack"))
    result = _cli(
        "provision", "slack", "--user", "ann.lee@example.com", "--dry-run",
        "--db", str(demo.db.sqlite_path),
    )  # fmt: skip
    assert result.exit_code != 0
    assert "No app 'slack'; the apps are: " in result.output
    listed = result.output.split("the apps are: ", 1)[1].split(" (with provisioning")[0]
    assert "slack" not in listed


def test_an_import_that_drops_an_app_warns_as_an_edit_does(demo: Any, tmp_path: Any) -> None:
    # written for the folder it is imported from (paths relative to it), as `config export
    # FILE` writes it
    exported = yaml.safe_load(demo.export_config(to_dir=tmp_path))
    exported["apps"] = [app for app in exported["apps"] if app["id"] != "slack"]
    path = tmp_path / "noslack.yaml"
    path.write_text(yaml.safe_dump(exported, sort_keys=False))
    db = str(demo.db.sqlite_path)
    total = len(_live(demo, "slack"))
    result = _cli("config", "import", str(path), "--dry-run", "--json", "--db", db)
    assert result.exit_code == 0, result.output
    (warning,) = [w for w in json.loads(result.stdout)["warnings"] if w["path"] == "apps.slack"]
    assert warning["message"].startswith(f"the store holds {total} of its accounts")


def test_the_threshold_names_each_apps_own_cause(demo: Any) -> None:
    """slack removed, and a few badges gone from their file: the message said "an emptied or
    cut export?" of slack, whose accounts go because it was removed (hostile review)."""
    from engine.config.model import DeletionThreshold
    from engine.sync.threshold import Deletion, DeletionKind, check_threshold

    removals = {
        Deletion(DeletionKind.ACCOUNTS, REMOVED_APP): [f"slack:{n}" for n in range(266)],
        Deletion(DeletionKind.ACCOUNTS, "no longer listed by the app"): [
            f"badge:{n}" for n in range(5)
        ],
        Deletion(DeletionKind.ACCOUNTS, "no longer listed by the app "): [
            f"github:{n}" for n in range(100)
        ],
    }
    message = check_threshold(
        DeletionThreshold(max_objects=10_000, max_percent=100),
        {DeletionKind.ACCOUNTS: 10_000},
        removals,
        {"slack": 266, "badge": 297, "github": 107},
    )
    slack = "266 of slack's 266 accounts (limit 133: 50 % of the app, at least 10; "
    assert slack + "its app was removed from the configuration)" in message
    github = "100 of github's 107 accounts (limit 53: 50 % of the app, at least 10; "
    assert github + "an emptied or cut export?)" in message
    assert "badge" not in message
