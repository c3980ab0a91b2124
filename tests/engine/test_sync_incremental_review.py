"""The incremental sync under hostile data (ownership looking again only at changed accounts,
JSON Lines grants not parsed again when their files are as last merged, accounts-only
read-back): an incremental run must leave what a run reconsidering everyone leaves, and the
store must hold what the apps' files say."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from engine.services import Services
from tests.engine.org import CONFIG, GITHUB, open_org
from tests.engine.test_sync_incremental import _load, _save
from tests.engine.test_sync_incremental_push import _ownership, _pair, _same_runs

ENTITLEMENTS = '{"id": "admins", "name": "Admins"}\n{"id": "devs", "name": "Devs"}\n'
GRANTS = '{"account": "g1", "entitlement": "admins"}\n{"account": "g2", "entitlement": "devs"}\n'


def _jsonl_org(tmp_path: Path, fmt: str = "jsonl") -> tuple[Services, Path]:
    """The test org with GitHub exported as JSON Lines (or CSV) with sidecars."""
    config = copy.deepcopy(CONFIG)
    github = next(app for app in config["apps"] if app["id"] == "github")
    github["settings"] = {"path": f"github.{fmt}"}
    services = open_org(tmp_path, config)
    folder = tmp_path / "org"
    if fmt == "jsonl":
        lines = [json.dumps(a) for a in GITHUB["accounts"]]
        (folder / "github.jsonl").write_text("\n".join(lines) + "\n")
        (folder / "github.entitlements.jsonl").write_text(ENTITLEMENTS)
        (folder / "github.grants.jsonl").write_text(GRANTS)
    else:
        (folder / "github.csv").write_text(
            "id,username,display_name\ng1,bchen,Bo Chen\ng2,sp,Sam Park\n"
        )
        (folder / "github.entitlements.csv").write_text("id,name\nadmins,Admins\ndevs,Devs\n")
        (folder / "github.grants.csv").write_text("account,entitlement\ng1,admins\ng2,devs\n")
    return services, folder


def _entitlements(services: Services) -> dict[str, list[str]]:
    services.invalidate()
    return {
        a.external_id: a.entitlements
        for a in services.population().accounts
        if a.app_id == "github" and a.status != "DELETED"
    }


def _applied(services: Services) -> Any:
    result = services.sync()
    assert result.status == "applied", (result.status, result.error)
    return result


def _import_failures(services: Services) -> list[str]:
    """Sync, expecting an app's import to fail; the import stage's problems."""
    result = services.sync()
    assert result.status == "applied-with-failures", result.status
    return list(next(s for s in result.stages if s.name == "import").problems)


# --- JSON Lines grants not parsed again ----------------------------------------------------


def test_grants_files_that_vanish_and_come_back_unchanged_are_imported_again(
    tmp_path: Path,
) -> None:
    """An export briefly without its sidecars (both files missing: the app's accounts lose
    their grants), then the same sidecars again: the store must hold the grants again. The
    run without sidecars keeps the old `sidecar_digest:github` (Listing.sidecars is ""), so
    the run that finds them back takes the grants as 'unchanged' and keeps none."""
    services, folder = _jsonl_org(tmp_path)
    try:
        _applied(services)
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}
        (folder / "github.entitlements.jsonl").unlink()
        (folder / "github.grants.jsonl").unlink()
        _applied(services)
        assert _entitlements(services) == {"g1": [], "g2": []}
        (folder / "github.entitlements.jsonl").write_text(ENTITLEMENTS)
        (folder / "github.grants.jsonl").write_text(GRANTS)
        _applied(services)
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}
    finally:
        services.db.dispose()


def test_grants_of_a_jsonl_app_that_was_yaml_for_a_while_are_imported_again(
    tmp_path: Path,
) -> None:
    """GitHub is read from JSON Lines, then (configuration change) from a YAML file without
    grants, then from the same JSON Lines files again: the store must hold their grants. The
    YAML import does not touch `sidecar_digest:github`, so the JSON Lines grants are taken as
    those the store holds, and a configuration change does not clear it either."""
    services, folder = _jsonl_org(tmp_path)
    try:
        _applied(services)
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}

        def use(path: str) -> None:
            config = copy.deepcopy(CONFIG)
            github = next(app for app in config["apps"] if app["id"] == "github")
            github["settings"] = {"path": path}
            import yaml

            text = yaml.safe_dump(config, sort_keys=False)
            (folder / "roster.yaml").write_text(text)
            source = str(folder / "roster.yaml")
            assert services.import_config(text, source=source, base_dir=folder).applied

        use("github.yaml")  # the org's github.yaml: the same accounts, no grants
        _applied(services)
        assert _entitlements(services) == {"g1": [], "g2": []}
        use("github.jsonl")
        _applied(services)
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}
    finally:
        services.db.dispose()


def test_an_account_renamed_while_the_grants_file_is_unchanged_fails_loudly(
    tmp_path: Path,
) -> None:
    """g2 becomes g3 in the accounts file; the grants file (unchanged) still names g2: the
    grants are parsed again and the dangling grant is reported, not kept silently."""
    services, folder = _jsonl_org(tmp_path)
    try:
        _applied(services)
        accounts = (folder / "github.jsonl").read_text().replace('"g2"', '"g3"')
        (folder / "github.jsonl").write_text(accounts)
        problems = _import_failures(services)
        assert any("g2" in p for p in problems), problems
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}  # kept as it was
    finally:
        services.db.dispose()


def test_an_entitlement_removed_while_the_grants_file_is_unchanged_fails_loudly(
    tmp_path: Path,
) -> None:
    services, folder = _jsonl_org(tmp_path)
    try:
        _applied(services)
        (folder / "github.entitlements.jsonl").write_text('{"id": "admins", "name": "Admins"}\n')
        problems = _import_failures(services)
        assert any("devs" in p for p in problems), problems
    finally:
        services.db.dispose()


def test_a_jsonl_app_whose_import_failed_then_succeeds_has_the_files_grants(
    tmp_path: Path,
) -> None:
    services, folder = _jsonl_org(tmp_path)
    try:
        _applied(services)
        good = (folder / "github.jsonl").read_text()
        (folder / "github.jsonl").write_text(good + "not json\n")
        (folder / "github.grants.jsonl").write_text('{"account": "g1", "entitlement": "devs"}\n')
        assert services.sync().status == "applied-with-failures"
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}
        (folder / "github.jsonl").write_text(good)
        _applied(services)
        assert _entitlements(services) == {"g1": ["devs"], "g2": []}
    finally:
        services.db.dispose()


def test_a_dry_run_does_not_record_the_sidecar_digest(tmp_path: Path) -> None:
    services, folder = _jsonl_org(tmp_path)
    try:
        _applied(services)
        (folder / "github.grants.jsonl").write_text('{"account": "g1", "entitlement": "devs"}\n')
        dry = services.sync(dry_run=True)
        assert dry.status == "planned", dry.error
        _applied(services)
        assert _entitlements(services) == {"g1": ["devs"], "g2": []}
    finally:
        services.db.dispose()


def test_a_csv_app_with_sidecars_still_imports_grant_changes(tmp_path: Path) -> None:
    services, folder = _jsonl_org(tmp_path, fmt="csv")
    try:
        _applied(services)
        assert _entitlements(services) == {"g1": ["admins"], "g2": ["devs"]}
        (folder / "github.csv").write_text(
            "id,username,display_name\ng1,bchen,Bo Chen\ng2,sp,Sam Parker\n"
        )
        (folder / "github.grants.csv").write_text("account,entitlement\ng1,devs\n")
        _applied(services)
        assert _entitlements(services) == {"g1": ["devs"], "g2": []}
    finally:
        services.db.dispose()


# --- ownership looking again only at changed accounts -----------------------------------------


def _owner_of(services: Services, app: str, external_id: str) -> int | None:
    services.invalidate()
    account = next(
        a for a in services.population().accounts if (a.app_id, a.external_id) == (app, external_id)
    )
    return account.owner_id


def test_an_account_turned_service_account_is_unlinked_as_by_a_full_run(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        first = _load(pair.folders[0] / "r-demo" / "apps" / "github.yaml")["accounts"][0]["id"]
        assert _owner_of(pair.inc, "github", first) is not None

        def to_service(apps: Path) -> None:
            github = _load(apps / "github.yaml")
            github["accounts"][0]["type"] = "SERVICE_ACCOUNT"
            _save(apps / "github.yaml", github)

        pair.edit_apps(to_service)
        inc, _ = _same_runs(pair)
        assert _ownership(inc).counts.get("unchanged", 0) > 50  # really incremental
        assert _owner_of(pair.inc, "github", first) is None
    finally:
        pair.close()


def test_a_new_person_takes_an_unowned_account_bearing_their_name(
    demo_template: Path, tmp_path: Path
) -> None:
    """A GitHub account named after nobody stays unowned; a later run creates that person in
    HR (identify creates someone): broad strategy links the old, unchanged account."""
    pair = _pair(demo_template, tmp_path)
    try:

        def account(apps: Path) -> None:
            github = _load(apps / "github.yaml")
            github["accounts"].append(
                {
                    "id": "777001",
                    "display_name": "Zora Quill",
                    "username": "zq-gh",
                    "status": "ENABLED",
                    "type": "USER",
                    "profile": {},
                }
            )
            _save(apps / "github.yaml", github)

        pair.edit_apps(account)
        _same_runs(pair)
        assert _owner_of(pair.inc, "github", "777001") is None

        def person(apps: Path) -> None:
            hr = _load(apps / "hr.yaml")
            hr["accounts"].append(
                {
                    **copy.deepcopy(hr["accounts"][5]),
                    "id": "E19999",
                    "display_name": "Zora Quill",
                    "given_name": "Zora",
                    "family_name": "Quill",
                    "email": "zora.quill@example.com",
                    "employee_ids": ["E19999"],
                }
            )
            _save(apps / "hr.yaml", hr)

        pair.edit_apps(person)
        _same_runs(pair)
        assert _owner_of(pair.inc, "github", "777001") is not None
    finally:
        pair.close()


def test_a_person_leaving_hr_loses_their_unchanged_accounts_as_in_a_full_run(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        github = _load(pair.folders[0] / "r-demo" / "apps" / "github.yaml")
        first = github["accounts"][0]  # Amara Martinez
        owner = _owner_of(pair.inc, "github", first["id"])
        assert owner is not None

        def leave(apps: Path) -> None:
            hr = _load(apps / "hr.yaml")
            hr["accounts"] = [
                a for a in hr["accounts"] if a.get("display_name") != first["display_name"]
            ]
            _save(apps / "hr.yaml", hr)

        pair.edit_apps(leave)
        _same_runs(pair, allow_deletes=True)
    finally:
        pair.close()


def test_an_account_unlinked_by_hand_then_released_is_relinked_as_by_a_full_run(
    demo_template: Path, tmp_path: Path
) -> None:
    pair = _pair(demo_template, tmp_path)
    try:
        pair.quiet_down()
        first = _load(pair.folders[0] / "r-demo" / "apps" / "github.yaml")["accounts"][0]["id"]
        for services in pair.services:
            services.set_link(f"github:{first}", None, pin=True)
        _same_runs(pair)
        assert _owner_of(pair.inc, "github", first) is None
        pair.quiet_down()
        for services in pair.services:
            services.pin(f"github:{first}", False)
        _same_runs(pair)
        assert _owner_of(pair.inc, "github", first) is not None
    finally:
        pair.close()
