"""A store with the file apps and a SCIM app syncs end to end against a real SCIM server
(tests/scim_server.py): accounts imported and linked, attributes pushed with PATCH, an account
provisioned with POST, a deletion detected; a server that is down fails its app alone; the
bearer token never reaches the database, the export, the run journal or a message."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from console.cli import main
from engine.config.validate import validate_text
from engine.services import Services
from engine.store.models import Account
from tests.engine.org import CONFIG, open_org

if TYPE_CHECKING:  # loaded by pytest as a plugin (see test_connector_scim.py)
    from tests.scim_server import ScimServer

pytest_plugins = ("tests.scim_server",)

TOKEN_ENV = "ROSTER_TEST_SCIM_TOKEN"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def saas_config(base_url: str) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["apps"].append(
        {
            "id": "saas",
            "name": "SaaS (SCIM)",
            "connector": "scim",
            "settings": {"base_url": base_url, "token_env": TOKEN_ENV, "page_size": 2},
            "provisioning": {
                "fields": {
                    "userName": "subject.email",
                    "displayName": "subject.displayName",
                    "givenName": "subject.givenName",
                    "familyName": "subject.familyName",
                    "email": "subject.email",
                    "department": "subject.department",
                }
            },
        }
    )
    config["push_rules"] = [
        {
            "name": "saas-core",
            "app": "saas",
            "enabled": True,
            "targeting": {"kind": "everyone"},
            "mappings": [
                {"target": "department", "attribute": "department"},
                {"target": "title", "attribute": "job_title"},
            ],
        }
    ]
    department = next(a for a in config["attributes"] if a["name"] == "department")
    department["flow_rules"].append({"app": "saas", "direction": "outbound"})
    return config


def scim_user(email: str, display: str, department: str, title: str = "") -> dict[str, Any]:
    user: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": email,
        "displayName": display,
        "emails": [{"value": email, "type": "work", "primary": True}],
        ENTERPRISE: {"department": department},
    }
    if title:
        user["title"] = title
    return user


@pytest.fixture
def saas(
    scim_server: ScimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Services, str, dict[str, str]]:
    monkeypatch.setenv(TOKEN_ENV, scim_server.token)
    base_url = scim_server.tenant("sync")
    ids = {
        email: scim_server.post(base_url, "Users", scim_user(email, display, dept, title))["id"]
        for email, display, dept, title in (
            ("ann.lee@example.com", "Ann Lee", "Old department", "Engineer"),
            ("bo.chen@example.com", "Bo Chen", "Engineering", "Director"),
            ("ghost@example.com", "Ghost", "Nowhere", ""),
        )
    }
    return open_org(tmp_path, saas_config(base_url)), base_url, ids


def saas_accounts(services: Services) -> dict[str, Account]:
    with services.db.session() as session:
        rows = session.execute(select(Account).where(Account.app_id == "saas")).scalars()
        return {row.external_id: row for row in rows}


def test_sync_imports_pushes_provisions_and_detects_a_deletion(
    scim_server: ScimServer, saas: tuple[Services, str, dict[str, str]]
) -> None:
    services, base_url, ids = saas
    result = services.sync()
    assert result.status == "applied", result.failures
    accounts = saas_accounts(services)
    assert set(accounts) == set(ids.values())
    ann = services.person("ann.lee@example.com")
    assert accounts[ids["ann.lee@example.com"]].owner_id == ann.id
    pushed = sorted(
        (c["object_id"], c["field"], c["old"], c["new"])
        for c in result.changes
        if c["stage"] == "push"
    )
    assert pushed == [
        (f"saas:{ids['ann.lee@example.com']}", "department", "Old department", "Engineering")
    ]
    assert scim_server.get(base_url, f"Users/{ids['ann.lee@example.com']}")[ENTERPRISE] == {
        "department": "Engineering"
    }
    patches = [r for r in scim_server.requests[base_url] if r.method == "PATCH"]
    assert [op["path"] for r in patches for op in r.body["Operations"]] == [
        f"{ENTERPRISE}:department"
    ]
    assert [c for c in services.sync().changes if c["stage"] == "push"] == []  # in step now

    created = services.provision("saas", "sam.park@example.com")
    found = [
        u
        for u in scim_server.get(base_url, 'Users?filter=userName eq "sam.park@example.com"')[
            "Resources"
        ]
    ]
    assert len(found) == 1 and found[0][ENTERPRISE]["department"] == "Sales"
    assert found[0]["displayName"] == "Sam Park"
    assert (created.status, created.account) == ("applied", found[0]["id"])
    assert (
        saas_accounts(services)[found[0]["id"]].owner_id
        == services.person("sam.park@example.com").id
    )

    scim_server.delete(base_url, f"Users/{ids['ghost@example.com']}")
    after = services.sync(allow_deletes=True)
    assert after.status == "applied", after.failures
    assert saas_accounts(services)[ids["ghost@example.com"]].status == "DELETED"
    assert saas_accounts(services)[ids["bo.chen@example.com"]].status == "ENABLED"


def test_a_server_that_is_down_fails_its_app_alone(
    scim_server: ScimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, scim_server.token)
    down = "http://127.0.0.1:9/scim/v2"  # the discard port: nothing listens
    services = open_org(tmp_path, saas_config(down))
    result = services.sync()
    assert result.status == "applied-with-failures"
    (failure,) = result.failures
    assert failure["app"] == "saas" and failure["stage"] == "import"
    assert f"cannot connect to the SCIM server at {down}" in failure["reason"]
    assert services.person("ann.lee@example.com").email == "ann.lee@example.com"  # HR imported


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    return result.stdout + result.stderr


def test_the_token_is_never_stored_exported_journalled_or_shown(
    scim_server: ScimServer,
    saas: tuple[Services, str, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, base_url, ids = saas
    token = scim_server.token
    assert services.sync().status == "applied"
    services.provision("saas", "sam.park@example.com")
    monkeypatch.setenv(TOKEN_ENV, "Wrong-" + token[::-1])  # a refused token, known too
    refused = services.sync()
    assert refused.status == "applied-with-failures"
    assert f"token_env {TOKEN_ENV}" in refused.failures[0]["reason"]
    db = str(tmp_path / "roster.db")
    services.db.dispose()
    shown = "".join(
        [
            cli("config", "export", "--db", db),
            cli("runs", "--json", "--db", db),
            *(
                cli("runs", str(run["id"]), "--json", "--db", db)
                for run in json.loads(cli("runs", "--json", "--db", db))
            ),
            cli("audit", "--json", "--db", db),
            json.dumps(refused.failures),
            json.dumps(refused.changes),
        ]
    )
    # the outputs really are about the app and its failure
    assert base_url in shown and "refused the bearer token" in shown
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("roster.db*"))
    for secret in (token, "Wrong-" + token[::-1]):
        assert secret not in shown
        assert secret.encode() not in stored


def test_a_listing_filter_provisioning_does_not_match_is_warned_of() -> None:
    """The docs' SCIM example listed `userType eq "Employee"` users and created users without a
    userType: each account Roster created was not listed by the next import, which marked it
    DELETED (and a proactive app would create another at every sync). Validation says so,
    naming what the filter reads that provisioning does not set; a field that sets it, or no
    filter, is quiet."""

    def warnings(filter_: str, *unset: str, **fields: str) -> list[str]:
        config = saas_config("http://127.0.0.1:9/scim/v2")
        saas = next(app for app in config["apps"] if app["id"] == "saas")
        saas["settings"]["filter"] = filter_
        saas["provisioning"]["fields"].update(fields)
        for name in unset:
            del saas["provisioning"]["fields"][name]
        result = validate_text(yaml.safe_dump(config), source="roster.yaml")
        assert result.ok, result.report()
        return [result.describe(p) for p in result.warnings if "filter" in p.message]

    (warning,) = warnings('userType eq "Employee" and title eq "a eq b"')
    assert warning.startswith("roster.yaml: apps[5].provisioning.fields: line ")
    assert (
        "warning: the app lists only the accounts its filter 'userType eq "
        '"Employee" and title eq "a eq b"\' matches, and provisioning does not set `userType`, '
        "`title`: an account Roster creates may not be listed, and the next sync would mark it "
        "DELETED (a proactive app would create another at every sync) (map them in "
        "provisioning.fields so that new accounts match (e.g. `userType: <CEL expression>`), or "
        "drop them from the filter)"
    ) in warning, warning
    assert warnings('userType eq "Employee"', userType='"Employee"') == []
    assert warnings("") == []
    # the work email and the department are set (their SCIM paths name the same fields)
    assert (
        warnings('emails[type eq "work"].value co "@" and ' + ENTERPRISE + ":department pr") == []
    )
    # however the filter writes a field provisioning sets (hostile pass: each warned)
    core = "urn:ietf:params:scim:schemas:core:2.0:User:"
    assert warnings(core + 'userType eq "Employee"', userType='"Employee"') == []
    assert warnings(ENTERPRISE + ':manager.value eq "123"', manager='"123"') == []
    assert warnings('emails co "@example.com"') == []
    # a value filter reads its attribute: unset, it warns
    assert warnings('emails[type eq "work" and value co "@x"]') == []
    (warning,) = warnings('emails[type eq "work" and value co "@x"]', "email")
    assert "does not set `email`" in warning
    (warning,) = warnings('groups[value eq "abc"]')
    assert "does not set `groups`" in warning  # a creation field: map it
    # an attribute Roster cannot set at creation
    (warning,) = warnings('x.y eq "1"')
    assert "does not set `x.y`" in warning and "it is no creation field" in warning
