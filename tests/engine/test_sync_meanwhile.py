"""Another program writes to an app while a sync runs, after the sync imported it: whatever the
sync writes to that app (a push, a created account), what the other program wrote is imported
by the next sync (journalled, through the directory filter), never taken as already stored."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from engine.services import Services
from engine.store.models import Account, Change, Entitlement
from tests.engine.test_sync_incremental import _load, _save


def _retitle(apps: Path) -> None:
    """A new job title for Amara Martinez (E10002): pushed to AD and to Entra."""
    hr = _load(apps / "hr.yaml")
    person = next(a for a in hr["accounts"] if a["id"] == "E10002")
    person["profile"]["job_title"] = "Principal Cartographer"
    _save(apps / "hr.yaml", hr)


def _add_account(apps: Path, app: str, external_id: str) -> None:
    data = _load(apps / f"{app}.yaml")
    made = copy.deepcopy(data["accounts"][1])
    made.update(id=external_id, email=external_id, username=external_id, employee_ids=[])
    data["accounts"].append(made)
    _save(apps / f"{app}.yaml", data)


def _stored(services: Services, app: str, external_id: str) -> Account | None:
    with services.db.session() as session:
        found: Account | None = session.scalar(
            select(Account).where(Account.app_id == app, Account.external_id == external_id)
        )
        return found


def _during(monkeypatch: Any, where: Any, name: str, edit: Any) -> None:
    """Run EDIT once, the first time WHERE.NAME is called, before it."""
    real = getattr(where, name)
    done: list[bool] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not done:
            done.append(True)
            edit(*args)
        return real(*args, **kwargs)

    monkeypatch.setattr(where, name, wrapped)


def test_an_app_edited_while_another_app_is_written_is_still_read_by_the_next_sync(
    demo: Services, tmp_path: Path, monkeypatch: Any
) -> None:
    """The check runs just before each app's own write: an account added to the second app
    while the first is written to is imported by the next sync."""
    from engine.connectors.file.connector import FileConnector

    apps = tmp_path / "r-demo" / "apps"
    _retitle(apps)
    edited: list[str] = []

    def edit_the_other(connector: Any, *_: Any) -> None:
        other = "entra" if connector.app_id == "ad" else "ad"
        _add_account(apps, other, "made.meanwhile@example.com")
        edited.append(other)

    _during(monkeypatch, FileConnector, "update_accounts", edit_the_other)
    assert demo.sync().status == "applied"
    monkeypatch.undo()
    assert _stored(demo, edited[0], "made.meanwhile@example.com") is None
    demo.sync()
    assert _stored(demo, edited[0], "made.meanwhile@example.com") is not None


def test_an_app_edited_right_after_the_write_is_read_by_the_next_sync(
    demo: Services, tmp_path: Path, monkeypatch: Any
) -> None:
    """The version recorded after a write is the one the write left (taken under the file's
    lock), not the file's a moment later: an account added in between is imported next."""
    import engine.sync.pipeline as pipeline

    apps = tmp_path / "r-demo" / "apps"
    _retitle(apps)
    edited: list[str] = []

    def add(connector: Any, *_: Any) -> None:
        _add_account(apps, connector.app_id, "made.after.the.write@example.com")
        edited.append(connector.app_id)

    _during(monkeypatch, pipeline, "_read_back", add)
    assert demo.sync().status == "applied"
    monkeypatch.undo()
    demo.sync()
    assert _stored(demo, edited[0], "made.after.the.write@example.com") is not None


def test_an_edit_to_a_pushed_app_made_meanwhile_is_journalled_as_imported(
    demo: Services, tmp_path: Path, monkeypatch: Any
) -> None:
    """The run's read-back takes in only the accounts it wrote to: another account the other
    program changed is the next import's, with its journal entry."""
    import engine.sync.pipeline as pipeline

    apps = tmp_path / "r-demo" / "apps"
    _retitle(apps)
    victim = _load(apps / "ad.yaml")["accounts"][0]["id"]

    def edit(*_: Any) -> None:
        data = _load(apps / "ad.yaml")
        data["accounts"][0]["profile"]["roomNumber"] = "B-12"
        _save(apps / "ad.yaml", data)

    _during(monkeypatch, pipeline, "run_ownership", edit)
    first = demo.sync()
    monkeypatch.undo()
    second = demo.sync()
    assert demo.sync().changes == []  # and then it settles
    with demo.db.session() as session:
        journal = session.scalars(
            select(Change).where(Change.object_id == f"ad:{victim}", Change.stage == "import")
        ).all()
    runs = {c.run_id for c in journal}
    assert second.run_id in runs and first.run_id not in runs, (first.run_id, runs)
    stored = _stored(demo, "ad", victim)
    assert stored is not None and stored.profile["roomNumber"] == "B-12"


def test_a_leaver_marked_meanwhile_in_a_directory_pushed_to_is_filtered(
    demo: Services, tmp_path: Path, monkeypatch: Any
) -> None:
    """HR is a directory and a push target. While a run pushes to it, HR terminates someone:
    the next sync runs the directory filter on that record (the person is removed), as it
    would had HR changed after the run."""
    folder = tmp_path / "r-demo"
    apps = folder / "apps"
    path = folder / "roster.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    hr = next(a for a in config["apps"] if a["id"] == "hr")
    hr["settings"]["push_schema"] = [{"key": "nickname"}]
    config["push_rules"].append(
        {
            "name": "hr-nick",
            "app": "hr",
            "targeting": {"kind": "cel", "cel": "subject.status == UserStatus.ENABLED"},
            "mappings": [{"target": "nickname", "attribute": "job_title"}],
        }
    )
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    assert demo.import_config(text, source=str(path), base_dir=folder).applied
    assert demo.sync().status == "applied"
    _retitle(apps)  # a push to HR, for E10002

    def terminate(*_: Any) -> None:
        data = _load(apps / "hr.yaml")
        row = next(a for a in data["accounts"] if a["id"] == "E10010")
        row["profile"]["employment_status"] = "TERMINATED"
        row["status"] = "DISABLED"
        _save(apps / "hr.yaml", data)

    import engine.sync.pipeline as pipeline

    _during(monkeypatch, pipeline, "run_ownership", terminate)
    first = demo.sync(allow_deletes=True)
    monkeypatch.undo()
    assert any(c["stage"] == "push" and c["object_id"].startswith("hr:") for c in first.changes)
    demo.sync(allow_deletes=True)
    leaver = _stored(demo, "hr", "E10010")
    assert leaver is not None and leaver.filter_result == "IGNORE" and leaver.owner_id is None


def test_an_entitlement_renamed_or_added_without_a_grant_is_stored(
    demo: Services, tmp_path: Path
) -> None:
    apps = tmp_path / "r-demo" / "apps"
    data = _load(apps / "entra.yaml")
    data["entitlements"][0]["name"] = "All Staff (renamed)"
    data["entitlements"].append({"id": "grp-new", "name": "New", "description": "no grants yet"})
    _save(apps / "entra.yaml", data)
    assert demo.sync().status == "applied"
    with demo.db.session() as session:
        names = {
            e.external_id: e.name
            for e in session.scalars(select(Entitlement).where(Entitlement.app_id == "entra"))
        }
    assert names[data["entitlements"][0]["id"]] == "All Staff (renamed)"
    assert names["grp-new"] == "New"
