"""The grants a sync writes with the accounts it creates: the store knows them, so the next
sync does not read and merge the whole grants file again (half a second for Entra's 12 MB at
100,000 people) — unless another program changed the app meanwhile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import engine.sync.importer as importer
from bench.generate import generate
from bench.sync import change_one_percent
from engine.connectors.file.jsonl_store import JsonlStore
from engine.services import Services, open_services
from engine.store.repo import get_meta
from engine.sync.by_hand import bump as bump_manual_generation


def organisation(folder: Path) -> tuple[Services, Path]:
    config = generate(folder / "org", 200, seed=5, formats="reference")
    services = open_services(db_path=folder / "roster.db", init="empty")
    services.import_config(config.read_text(), source=str(config), base_dir=config.parent)
    return services, config.parent


def stored_sidecars(services: Services, app: str) -> str | None:
    with services.db.session() as session:
        return get_meta(session, f"sidecar_digest:{app}")


def file_sidecars(org: Path, app: str) -> str:
    return JsonlStore(app, org / "apps" / f"{app}.jsonl").sidecar_digest()


def grants(services: Services) -> list[tuple[str, str, str]]:
    with services.db.session() as session:
        rows = session.execute(
            text(
                'SELECT a.app_id, a.external_id, e.external_id FROM "grant" g '
                "JOIN account a ON a.id = g.account_id "
                "JOIN entitlement e ON e.id = g.entitlement_id"
            )
        )
        return sorted((str(r[0]), str(r[1]), str(r[2])) for r in rows)


@pytest.fixture
def merged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The apps whose grants each sync merges (reads whole), in order."""
    seen: list[str] = []
    merge = importer._merge_grants

    def spy(state: Any, app_id: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(app_id)
        return merge(state, app_id, *args, **kwargs)

    monkeypatch.setattr(importer, "_merge_grants", spy)
    return seen


def test_grants_a_sync_wrote_are_not_read_again(tmp_path: Path, merged: list[str]) -> None:
    services, org = organisation(tmp_path / "a")
    first = services.sync()
    assert first.status == "applied", first.error
    assert first.accounts["created"] > 0  # Entra accounts, each with a licence
    # the digest the store keeps is the grants file's as the write left it
    assert stored_sidecars(services, "entra") == file_sidecars(org, "entra")
    # a copy whose next sync reads every grants file (a full run), to compare with
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    services.db.dispose()
    change_one_percent(org, seed=2)
    change_one_percent(tmp_path / "b" / "org", seed=2)
    full = open_services(db_path=tmp_path / "b" / "roster.db")
    with full.db.session() as session, session.begin():
        bump_manual_generation(session)  # the next run reconsiders everyone, grants and all
    services = open_services(db_path=tmp_path / "a" / "roster.db")
    merged.clear()
    assert services.sync().status == "applied"
    assert "entra" not in merged  # as the last run left it: not read again
    assert full.sync().status == "applied"
    assert "entra" in merged
    assert grants(services) == grants(full)


def test_grants_another_program_changed_meanwhile_are_read_again(
    tmp_path: Path, merged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone adds a grant to Entra's file while the sync runs, before it creates accounts:
    the write keeps their line, and the next sync must read it."""
    from engine.sync import provisioning

    services, org = organisation(tmp_path)
    grants_file = org / "apps" / "entra.grants.jsonl"
    someone = '{"account": "%s", "entitlement": "lic-e3"}\n'
    create = provisioning.create

    def edited_first(creations: Any, *args: Any, **kwargs: Any) -> Any:
        with services.db.session() as session:
            account = session.execute(
                text("SELECT external_id FROM account WHERE app_id = 'entra' LIMIT 1")
            ).scalar_one()
        with grants_file.open("a", encoding="utf-8") as fh:
            fh.write(someone % account)
        return create(creations, *args, **kwargs)

    import engine.sync.pipeline as pipeline

    monkeypatch.setattr(pipeline, "create", edited_first)
    first = services.sync()
    assert first.accounts["created"] > 0
    assert stored_sidecars(services, "entra") != file_sidecars(org, "entra")
    merged.clear()
    assert services.sync().status == "applied"
    assert "entra" in merged


def test_a_grant_revoked_while_the_sync_creates_accounts_is_read_by_the_next_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another program revokes a grant after the sync checked the app, before the connector
    takes the file's lock to create accounts: the write keeps their change, so the store may
    not take the grants file as written (hostile review: the grant stayed in the store, even
    after a full sync). The connector checks the grants under the lock."""
    from engine.connectors.file import connector

    services, org = organisation(tmp_path)
    grants_file = org / "apps" / "entra.grants.jsonl"
    revoked: list[str] = []
    create_accounts = connector.FileConnector.create_accounts

    def revoking_first(self: Any, many: Any) -> Any:
        if self.app_id == "entra" and not revoked:
            first, *rest = grants_file.read_text(encoding="utf-8").splitlines(keepends=True)
            revoked.append(first)
            grants_file.write_text("".join(rest), encoding="utf-8")
        return create_accounts(self, many)

    monkeypatch.setattr(connector.FileConnector, "create_accounts", revoking_first)
    first = services.sync()
    assert first.accounts["created"] > 0 and revoked
    monkeypatch.setattr(connector.FileConnector, "create_accounts", create_accounts)
    grant = json.loads(revoked[0])
    key = ("entra", grant["account"], grant["entitlement"])
    assert key in grants(services)  # as the import read it
    assert stored_sidecars(services, "entra") != file_sidecars(org, "entra")
    change_one_percent(org, seed=2)  # the next sync reads Entra's grants again
    assert services.sync().status == "applied"
    assert key not in grants(services)


def test_a_creation_that_names_a_group_twice_grants_it_once(tmp_path: Path) -> None:
    """A `groups` mapping whose list repeats a group: the app's file grants it once, and the
    store wrote it twice, which its unique grant refused, then every later sync (hostile
    review)."""
    config = generate(tmp_path / "org", 200, seed=5, formats="reference")
    text_ = config.read_text(encoding="utf-8")
    line = '        usageLocation: subject.attributes.country.upperAscii().ifEmpty("GB")\n'
    assert line in text_
    twice = '        groups: \'["grp-all-staff", "grp-all-staff"]\'\n'
    config.write_text(text_.replace(line, line + twice, 1), encoding="utf-8")
    requests = config.parent / "apps" / "access_requests.yaml"
    requests.write_text(
        requests.read_text(encoding="utf-8").replace("  entitlement: lic-e5\n", "", 1),
        encoding="utf-8",
    )
    services = open_services(db_path=tmp_path / "roster.db", init="empty")
    services.import_config(config.read_text(), source=str(config), base_dir=config.parent)
    first = services.sync()
    assert first.status == "applied", first.error
    assert first.accounts["created"] > 0
    assert services.sync().status == "applied"
    made = [g for g in grants(services) if g[0] == "entra" and g[2] == "grp-all-staff"]
    assert len(made) == len(set(made))
