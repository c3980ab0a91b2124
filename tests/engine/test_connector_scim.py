"""The SCIM connector against a real SCIM 2.0 server (scim2-server's reference implementation,
started by tests/scim_server.py on 127.0.0.1): import with paging, the enterprise extension,
groups as entitlements, PATCH and PUT pushes, refusals with their scimType, provisioning, a wrong
token, an unreachable or slow server, retries, and the token kept out of every message."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine.connectors.base import ConnectorSpec, ListedAccount
from engine.connectors.registry import describe, make_connector
from engine.connectors.scim.connector import ScimConnector
from engine.errors import ConnectorError

if TYPE_CHECKING:  # imported by pytest as a plugin: importing it here first would skip
    from tests.scim_server import ScimServer  # pytest's assertion rewriting of it

pytest_plugins = ("tests.scim_server",)

REPOSITORY = Path(__file__).resolve().parents[2]
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

TOKEN_ENV = "ROSTER_TEST_SCIM_TOKEN"

PEOPLE = [
    # userName, given, family, work email, active, employeeNumber, department, userType
    ("ann.lee", "Ann", "Lee", "ann.lee@example.com", True, "E1", "Engineering", "Employee"),
    ("bo.chen", "Bo", "Chen", "bo.chen@example.com", True, "E2", "Engineering", "Employee"),
    ("sam.park", "Sam", "Park", "sam.park@example.com", False, "E3", "Sales", "Contractor"),
    ("lea.ver", "Léa", "Vér", "lea.ver@example.com", True, "E4", "R&D [/EMEA]", "Employee"),
    ("nina.out", "Nina", "Out", "", True, "", "", "Contractor"),
    ("raj.iyer", "Raj", "Iyer", "raj.iyer@example.com", True, "E6", "Finance", "Employee"),
    ("zoe.kim", "Zoë", "Kim", "zoe.kim@example.com", True, "E7", "Finance", "Intern"),
]


@pytest.fixture(autouse=True)
def token(scim_server: ScimServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, scim_server.token)
    return scim_server.token


def user_json(row: tuple[Any, ...], manager: str = "") -> dict[str, Any]:
    user_name, given, family, email, active, number, department, user_type = row
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": user_name,
        "displayName": f"{given} {family}",
        "name": {"givenName": given, "familyName": family},
        "active": active,
        "userType": user_type,
        "emails": [{"value": email, "type": "work", "primary": True}] if email else [],
        ENTERPRISE: {
            k: v for k, v in (("employeeNumber", number), ("department", department)) if v
        },
    }
    if manager:
        body[ENTERPRISE]["manager"] = {"value": manager}
    return body


def seed(server: ScimServer, base_url: str) -> dict[str, str]:
    """The test people on the server, with Bo managing Ann, and two groups; userName -> id."""
    ids: dict[str, str] = {}
    for row in sorted(PEOPLE, key=lambda row: row[0] != "bo.chen"):  # Bo first: Ann's manager
        manager = ids.get("bo.chen", "") if row[0] == "ann.lee" else ""
        ids[row[0]] = server.post(base_url, "Users", user_json(row, manager))["id"]
    ids["group:admins"] = server.post(
        base_url,
        "Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Admins",
            "members": [{"value": ids["ann.lee"]}, {"value": ids["bo.chen"]}],
        },
    )["id"]
    ids["group:finance"] = server.post(
        base_url,
        "Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Finance",
            "members": [{"value": ids["raj.iyer"]}],
        },
    )["id"]
    server.requests.pop(base_url, None)  # tests look at what the connector sent
    return ids


def connector(base_url: str, **settings: Any) -> ScimConnector:
    spec = ConnectorSpec(
        "saas", "scim", {"base_url": base_url, "token_env": TOKEN_ENV, **settings}, Path(".")
    )
    made = make_connector(spec)
    assert isinstance(made, ScimConnector)
    return made


@pytest.fixture
def saas(scim_server: ScimServer) -> Iterator[tuple[str, dict[str, str]]]:
    base_url = scim_server.tenant("saas")
    yield base_url, seed(scim_server, base_url)


def by_name(accounts: list[ListedAccount]) -> dict[str, ListedAccount]:
    return {a.username: a for a in accounts}


# --- import ----------------------------------------------------------------------------------


def test_import_pages_through_every_user(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, ids = saas
    listing = connector(base_url, page_size=3, groups=False).list_all()
    assert sorted(a.username for a in listing.accounts) == sorted(row[0] for row in PEOPLE)
    pages = [r.query for r in scim_server.requests[base_url] if r.path == "/Users"]
    assert [(p["startIndex"], p["count"]) for p in pages] == [("1", "3"), ("4", "3"), ("7", "3")]
    assert {a.external_id for a in listing.accounts} == {ids[row[0]] for row in PEOPLE}


def test_import_maps_the_core_and_enterprise_attributes(
    saas: tuple[str, dict[str, str]],
) -> None:
    base_url, ids = saas
    accounts = by_name(connector(base_url).list_all().accounts)
    ann = accounts["ann.lee"]
    assert (ann.external_id, ann.display_name, ann.given_name, ann.family_name) == (
        ids["ann.lee"],
        "Ann Lee",
        "Ann",
        "Lee",
    )
    assert (ann.email, ann.employee_ids, ann.status, ann.manager) == (
        "ann.lee@example.com",
        ["E1"],
        "ENABLED",
        ids["bo.chen"],
    )
    assert ann.profile == {
        "userName": "ann.lee",
        "displayName": "Ann Lee",
        "givenName": "Ann",
        "familyName": "Lee",
        "email": "ann.lee@example.com",
        "userType": "Employee",
        "active": True,
        "employeeNumber": "E1",
        "department": "Engineering",
        "manager": ids["bo.chen"],
    }
    assert accounts["sam.park"].status == "DISABLED"  # active: false
    assert accounts["lea.ver"].profile["department"] == "R&D [/EMEA]"  # data, kept as text
    assert accounts["zoe.kim"].given_name == "Zoë"
    nina = accounts["nina.out"]
    assert (nina.email, nina.employee_ids, nina.manager) == ("", [], "")


def test_a_value_a_file_app_refuses_holds_back_that_user_alone(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    """What a file app refuses (engine.connectors.limits), a SCIM server's user too: the user
    is held back, named with the value (its stored account stays as it was); the other users
    are listed (one user's value no longer stops every leaver's import)."""
    base_url, ids = saas
    row = ("eve.long", "Eve", "Long", "eve@example.com", True, "E9", "x" * 70_000, "Employee")
    eve = scim_server.post(base_url, "Users", user_json(row))["id"]
    listing = connector(base_url).list_all()
    message = listing.held[eve]
    assert f"listed the user {eve!r}: its profile.department is 70,000 characters" in message
    assert "its account stays as it was" in message
    listed = {a.external_id for a in listing.accounts}
    assert eve not in listed and {ids[row[0]] for row in PEOPLE} <= listed


def test_groups_become_entitlements_and_memberships_grants(
    saas: tuple[str, dict[str, str]],
) -> None:
    base_url, ids = saas
    listing = connector(base_url, page_size=1).list_all()
    assert {(e.external_id, e.name) for e in listing.entitlements} == {
        (ids["group:admins"], "Admins"),
        (ids["group:finance"], "Finance"),
    }
    assert {(g.account_external_id, g.entitlement_external_id) for g in listing.grants} == {
        (ids["ann.lee"], ids["group:admins"]),
        (ids["bo.chen"], ids["group:admins"]),
        (ids["raj.iyer"], ids["group:finance"]),
    }
    without = connector(base_url, groups=False).list_all()
    assert without.entitlements == [] and without.grants == []


def test_a_filter_lists_only_the_users_it_matches(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, _ = saas
    listing = connector(base_url, filter='userType eq "Contractor"').list_all()
    assert sorted(a.username for a in listing.accounts) == ["nina.out", "sam.park"]
    sent = [r.query for r in scim_server.requests[base_url] if r.path == "/Users"]
    assert sent[0]["filter"] == 'userType eq "Contractor"'


def test_a_server_whose_paging_is_broken_fails_instead_of_looping(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, _ = saas
    scim_server.ignore_paging.add(base_url)
    with pytest.raises(ConnectorError, match="answered startIndex 4 with users it had already"):
        connector(base_url, page_size=3).list_all()
    assert len(scim_server.requests[base_url]) == 2
    assert len(connector(base_url, page_size=10).list_all().accounts) == len(PEOPLE)


def test_probe_reads_at_most_the_limit(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, _ = saas
    probe = connector(base_url).probe(2)
    assert len(probe.accounts) == 2 and probe.entitlements == []
    assert [r.query["count"] for r in scim_server.requests[base_url]] == ["2"]


# --- push ------------------------------------------------------------------------------------


def test_push_patches_only_the_changed_attributes(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, ids = saas
    refused = connector(base_url).update_accounts(
        {
            ids["ann.lee"]: {"department": "Platform", "title": "Staff Engineer"},
            ids["sam.park"]: {"active": "true", "userType": ""},  # coerced; "" clears
            ids["nina.out"]: {"email": "nina@example.com"},  # no work email yet: added
        }
    )
    assert refused == {}
    patches = {r.path: r.body for r in scim_server.requests[base_url] if r.method == "PATCH"}
    assert patches[f"/Users/{ids['ann.lee']}"]["Operations"] == [
        {"op": "replace", "path": f"{ENTERPRISE}:department", "value": "Platform"},
        {"op": "replace", "path": "title", "value": "Staff Engineer"},
    ]
    assert not any(r.method == "PUT" for r in scim_server.requests[base_url])
    ann = scim_server.get(base_url, f"Users/{ids['ann.lee']}")
    assert ann[ENTERPRISE]["department"] == "Platform" and ann["title"] == "Staff Engineer"
    assert ann[ENTERPRISE]["employeeNumber"] == "E1"  # untouched
    sam = scim_server.get(base_url, f"Users/{ids['sam.park']}")
    assert sam["active"] is True and "userType" not in sam
    nina = scim_server.get(base_url, f"Users/{ids['nina.out']}")
    assert [e["value"] for e in nina["emails"]] == ["nina@example.com"]
    again = by_name(connector(base_url).list_all().accounts)
    assert again["ann.lee"].profile["department"] == "Platform"
    assert again["nina.out"].email == "nina@example.com"


def test_without_patch_support_the_user_is_replaced_with_put(scim_server: ScimServer) -> None:
    base_url = scim_server.tenant("nopatch")
    ids = seed(scim_server, base_url)
    refused = connector(base_url).update_accounts(
        {ids["bo.chen"]: {"department": "Platform", "manager": ids["ann.lee"]}}
    )
    assert refused == {}
    methods = [(r.method, r.path) for r in scim_server.requests[base_url]]
    assert ("PATCH", f"/Users/{ids['bo.chen']}") not in methods
    assert ("PUT", f"/Users/{ids['bo.chen']}") in methods
    bo = scim_server.get(base_url, f"Users/{ids['bo.chen']}")
    assert bo[ENTERPRISE]["department"] == "Platform"
    assert bo[ENTERPRISE]["manager"]["value"] == ids["ann.lee"]
    assert bo["name"] == {"givenName": "Bo", "familyName": "Chen"}  # the rest kept


def test_a_refused_push_names_the_scim_type_and_the_others_are_written(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, ids = saas
    refused = connector(base_url).update_accounts(
        {
            ids["ann.lee"]: {"userName": "bo.chen"},  # taken
            ids["raj.iyer"]: {"title": "Controller"},
            ids["zoe.kim"]: {"active": "maybe"},  # refused before sending: not a bool
            "no-such-id": {"title": "x"},
        }
    )
    assert set(refused) == {ids["ann.lee"], ids["zoe.kim"], "no-such-id"}
    assert "409 uniqueness" in refused[ids["ann.lee"]].message
    assert "expected true or false" in refused[ids["zoe.kim"]].message
    assert "404" in refused["no-such-id"].message
    assert scim_server.get(base_url, f"Users/{ids['raj.iyer']}")["title"] == "Controller"
    assert scim_server.get(base_url, f"Users/{ids['ann.lee']}")["userName"] == "ann.lee"
    sent = [r for r in scim_server.requests[base_url] if r.method == "PATCH"]
    assert len([r for r in sent if r.path == f"/Users/{ids['ann.lee']}"]) == 1  # never retried
    assert not [r for r in sent if r.path == f"/Users/{ids['zoe.kim']}"]


def test_a_push_attribute_outside_the_scim_schema_is_refused(
    saas: tuple[str, dict[str, str]],
) -> None:
    base_url, ids = saas
    refused = connector(base_url).update_accounts({ids["ann.lee"]: {"extensionAttribute1": "x"}})
    assert "'extensionAttribute1' is not an attribute this app accepts" in (
        refused[ids["ann.lee"]].message
    )


# --- provisioning ----------------------------------------------------------------------------


def test_provision_posts_the_user_and_adds_it_to_its_groups(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, ids = saas
    created = connector(base_url).create_account(
        {
            "userName": "mia.wong",
            "displayName": "Mia Wong",
            "givenName": "Mia",
            "familyName": "Wong",
            "email": "mia.wong@example.com",
            "employeeNumber": "E9",
            "department": "Finance",
            "manager": ids["raj.iyer"],
            "groups": [ids["group:finance"]],
        }
    )
    assert created.username == "mia.wong" and created.email == "mia.wong@example.com"
    assert created.employee_ids == ["E9"] and created.status == "ENABLED"  # active defaults true
    posts = [r for r in scim_server.requests[base_url] if r.method == "POST"]
    assert [p.path for p in posts] == ["/Users"]
    assert posts[0].body[ENTERPRISE] == {
        "employeeNumber": "E9",
        "department": "Finance",
        "manager": {"value": ids["raj.iyer"]},
    }
    stored = scim_server.get(base_url, f"Users/{created.external_id}")
    assert stored["name"] == {"givenName": "Mia", "familyName": "Wong"}
    members = scim_server.get(base_url, f"Groups/{ids['group:finance']}")["members"]
    assert {m["value"] for m in members} == {ids["raj.iyer"], created.external_id}


def test_provision_refusals_create_nothing(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]]
) -> None:
    base_url, _ = saas
    scim = connector(base_url)
    with pytest.raises(ConnectorError, match="userName is required"):
        scim.create_account({"displayName": "No Name"})
    with pytest.raises(ConnectorError, match="refused to create 'ann.lee': 409 uniqueness"):
        scim.create_account({"userName": "ann.lee"})
    with pytest.raises(ConnectorError, match="no group 'nope'"):
        scim.create_account({"userName": "new.one", "groups": ["nope"]})
    posted = [r.body["userName"] for r in scim_server.requests[base_url] if r.method == "POST"]
    assert posted == ["ann.lee"]  # the others were refused before anything was sent
    assert len(scim.list_all().accounts) == len(PEOPLE)


# --- connection problems ---------------------------------------------------------------------


def test_a_wrong_token_is_refused_and_named_by_its_variable(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, _ = saas
    wrong = "wrong-token-" + "x" * 20
    monkeypatch.setenv(TOKEN_ENV, wrong)
    with pytest.raises(ConnectorError) as refused:
        connector(base_url).list_all()
    message = refused.value.message
    assert "refused the bearer token" in message and f"token_env {TOKEN_ENV}" in message
    assert wrong not in message and scim_server.token not in message
    assert scim_server.requests[base_url][-1].authorization == f"Bearer {wrong}"
    assert len(scim_server.requests[base_url]) == 1  # a rejection is never retried
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(ConnectorError, match=f"environment variable {TOKEN_ENV}"):
        connector(base_url).list_all()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_fails_with_what_to_check() -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/scim/v2"
    started = time.monotonic()
    with pytest.raises(ConnectorError) as failed:
        connector(base_url, timeout=5).list_all()
    assert time.monotonic() - started < 5
    message = failed.value.message
    assert f"cannot connect to the SCIM server at {base_url}" in message
    assert "Check `base_url`" in message and "tried 4 times" in message


def test_a_slow_server_never_holds_the_caller_past_the_timeout(scim_server: ScimServer) -> None:
    base_url = scim_server.tenant("slow")
    scim_server.delay[base_url] = 3.0
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="did not answer listing users .* within 1 s"):
        connector(base_url, timeout=1).list_all()
    assert time.monotonic() - started < 2.0


def test_busy_answers_are_retried_with_backoff(scim_server: ScimServer) -> None:
    base_url = scim_server.tenant("flaky")
    ids = seed(scim_server, base_url)
    scim_server.failures[base_url] = [503, 429, 502]
    listing = connector(base_url, groups=False).list_all()
    assert len(listing.accounts) == len(PEOPLE)
    assert len(scim_server.requests[base_url]) == 4  # three refusals, then the page
    scim_server.failures[base_url] = [503] * 10
    with pytest.raises(ConnectorError, match=r"is failing \(503: try again later\)"):
        connector(base_url, groups=False).update_accounts({ids["ann.lee"]: {"title": "x"}})


def test_the_token_file_must_be_the_owners_alone(
    scim_server: ScimServer, saas: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base_url, _ = saas
    secret = tmp_path / "scim-token"
    secret.write_text(scim_server.token + "\n")
    os.chmod(secret, 0o644)
    spec = ConnectorSpec(
        "saas", "scim", {"base_url": base_url, "token_file": "scim-token"}, tmp_path
    )
    with pytest.raises(ConnectorError) as refused:
        make_connector(spec).list_all()
    assert "can be read by other users (mode 644)" in refused.value.message
    assert f"chmod 600 {secret}" in refused.value.message
    os.chmod(secret, 0o600)
    assert len(make_connector(spec).list_all().accounts) == len(PEOPLE)


# --- settings --------------------------------------------------------------------------------


def test_settings_are_checked_without_contacting_the_server() -> None:
    def problems(settings: dict[str, Any]) -> list[str]:
        with pytest.raises(ConnectorError) as bad:
            describe(ConnectorSpec("saas", "scim", settings, Path(".")))
        return [f"{p.path}: {p.message}" for p in bad.value.problems]

    assert problems({"token_env": "T"}) == ["apps.saas.settings.base_url: 'base_url' is missing"]
    assert problems({"base_url": "ftp://x", "token_env": "T", "page_size": 0, "colour": 1}) == [
        "apps.saas.settings.colour: unknown setting 'colour'",
        "apps.saas.settings.base_url: base_url 'ftp://x' is not an http:// or https:// URL",
        "apps.saas.settings.page_size: page_size must be a whole number from 1 to 1000",
    ]
    assert problems({"base_url": "https://x/scim/v2"}) == [
        "apps.saas.settings.token_env: the token is missing"
    ]
    assert problems({"base_url": "https://x/v2", "token_env": "T", "resource_type": "Group"}) == [
        "apps.saas.settings.resource_type: resource type 'Group' is not supported"
    ]
    described = describe(
        ConnectorSpec("saas", "scim", {"base_url": "https://x/v2", "token_env": "T"}, Path("."))
    )
    assert described.capabilities.push and described.capabilities.provisioning
    assert described.push_field("department") is not None
    assert [f.key for f in described.creation_schema if f.required] == ["userName"]


def test_validating_a_configuration_does_not_load_the_http_stack() -> None:
    """scim2-client and httpx take most of a second to import; describing a SCIM app (what the
    validator and the screens do) must not pay it, only connecting does."""
    code = (
        "import sys; from pathlib import Path; from engine.connectors.base import ConnectorSpec; "
        "from engine.connectors.registry import describe; "
        "describe(ConnectorSpec('s', 'scim', {'base_url': 'https://x/v2', 'token_env': 'T'}, "
        "Path('.'))); print(sorted(m for m in ('scim2_client', 'httpx') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPOSITORY
    )
    assert found.stdout.strip() == "[]"
