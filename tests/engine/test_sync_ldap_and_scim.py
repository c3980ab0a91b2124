"""One store with an LDAP directory (a real slapd), a SCIM app (a real scim2-server) and a file
app, synced end to end (issue 10's "Done when"): people created from LDAP, attributes pushed
back to LDAP and to SCIM, an account provisioned in each, a deletion detected."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine.services import Services
from tests.engine.ldap_directory import app_settings, openldap_person
from tests.engine.test_ldap_sync import ldap_accounts, open_org, org_config, titles
from tests.engine.test_sync_scim import TOKEN_ENV, scim_user

if TYPE_CHECKING:
    from tests.ldap_server import LdapServer
    from tests.scim_server import ScimServer

# the slapd, ou, bind_password and scim_server fixtures
pytest_plugins = ("tests.engine.ldap_directory", "tests.scim_server")


def config_with_scim(ldap: dict[str, Any], base_url: str) -> dict[str, Any]:
    config = copy.deepcopy(org_config(ldap))
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
                }
            },
        }
    )
    config["push_rules"].append(
        {
            "name": "saas-title",
            "app": "saas",
            "targeting": {"kind": "everyone"},
            "mappings": [{"target": "title", "attribute": "job_title"}],
        }
    )
    return config


def saas_accounts(services: Services) -> dict[str, Any]:
    services.invalidate()
    return {a.email: a for a in services.population().accounts if a.app_id == "saas"}


def test_ldap_scim_and_file_apps_sync_together(
    slapd: LdapServer,
    ou: str,
    bind_password: str,
    scim_server: ScimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slapd.add_entries(
        [
            openldap_person(ou, "ann", "Ann Lee", title="Engineer"),
            openldap_person(ou, "bo", "Bo Chen", title="Director"),
        ]
    )
    monkeypatch.setenv(TOKEN_ENV, scim_server.token)
    base_url = scim_server.tenant("together")
    ids = {
        email: scim_server.post(base_url, "Users", scim_user(email, name, "", title))["id"]
        for email, name, title in (
            ("ann@example.com", "Ann Lee", "Engineer"),
            ("bo@example.com", "Bo Chen", "Director"),
        )
    }
    services = open_org(
        tmp_path / "org",
        {},
        config_with_scim(app_settings(slapd, ou, bind_password), base_url),
    )

    first = services.sync()
    assert first.status == "applied", first.failures
    people = {u.email for u in services.population().users if u.status != "DELETED"}
    assert {"ann@example.com", "bo@example.com"} <= people  # created from LDAP
    saas = saas_accounts(services)
    assert saas["ann@example.com"].owner_id == services.person("ann@example.com").id
    # HR's title pushed to both: LDAP's entry and the SCIM user
    assert titles(slapd, ou)["ann"] == "Staff Engineer"
    assert scim_server.get(base_url, f"Users/{ids['ann@example.com']}")["title"] == (
        "Staff Engineer"
    )
    assert scim_server.get(base_url, f"Users/{ids['bo@example.com']}")["title"] == "Director"

    # Cy is in HR only: an account provisioned in each
    assert services.provision("ldap", "cy@example.com").ok
    assert services.provision("saas", "cy@example.com").ok
    cy = services.person("cy@example.com")
    assert ldap_accounts(services)["cy"].owner_id == cy.id
    assert saas_accounts(services)["cy@example.com"].owner_id == cy.id

    # a deletion in the SCIM app is detected by the next sync
    scim_server.delete(base_url, f"Users/{ids['bo@example.com']}")
    after = services.sync(allow_deletes=True)
    assert after.status == "applied", after.failures
    assert saas_accounts(services)["bo@example.com"].status == "DELETED"
    assert saas_accounts(services)["ann@example.com"].status == "ENABLED"
    assert ldap_accounts(services)["bo"].status == "ENABLED"  # Bo is still in the directory
