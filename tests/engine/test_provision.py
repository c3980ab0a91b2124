"""Provisioning (docs/provisioning.md): plans checked field by field, accounts created in the
app's file, linked at once and journalled; refusals reported, never half-done.

Every test works on its own copy of the demo organisation (a real SQLite file and the file
connector's YAML files beside it); the demo is built once per module and copied, because
building it runs a full sync.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

import engine.provision as provision
from console.cli import main
from engine.errors import InvalidInput, NotFound
from engine.records import UserRecord
from engine.services import Services
from engine.store.models import Account, AuditEvent, Change, Run
from engine.store.repo import config_base_dir


@pytest.fixture
def services(demo: Services) -> Services:
    return demo


def demo_folder(services: Services) -> Path:
    with services.db.session() as session:
        base = config_base_dir(session)
        assert base is not None
        return base


def without_account(services: Services, app_id: str, n: int = 0) -> UserRecord:
    """The n-th enabled person with an email and no account in the app."""
    population = services.population()
    have = {a.owner_id for a in population.accounts if a.app_id == app_id}
    people = [u for u in population.users if u.status == "ENABLED" and u.email and u.id not in have]
    return people[n]


def import_changed(services: Services, change: Any) -> None:
    """Import the demo's configuration after `change(document)` edited it."""
    folder = demo_folder(services)
    document = yaml.safe_load((folder / "roster.yaml").read_text(encoding="utf-8"))
    change(document)
    path = folder / "changed.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    services.import_config(path.read_text(encoding="utf-8"), source=str(path), base_dir=folder)


def app_config(document: dict[str, Any], app_id: str) -> dict[str, Any]:
    return next(a for a in document["apps"] if a["id"] == app_id)


def entra_accounts(services: Services) -> list[dict[str, Any]]:
    text = (demo_folder(services) / "apps" / "entra.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["accounts"]


def store_accounts(services: Services, app_id: str) -> dict[str, Account]:
    with services.db.session() as session:
        rows = session.execute(select(Account).where(Account.app_id == app_id)).scalars().all()
        return {row.external_id: row for row in rows}


def provision_runs(services: Services) -> list[Run]:
    with services.db.session() as session:
        return list(
            session.execute(select(Run).where(Run.kind == "provision").order_by(Run.id)).scalars()
        )


def changes_of(services: Services, run_id: int) -> list[Change]:
    with services.db.session() as session:
        return list(session.execute(select(Change).where(Change.run_id == run_id)).scalars())


# --- the demo's Entra ID ----------------------------------------------------------------------


def test_dry_run_plans_every_field_and_writes_nothing(services: Services) -> None:
    person = without_account(services, "entra")
    entra_file = demo_folder(services) / "apps" / "entra.yaml"
    before = entra_file.read_bytes()
    accounts_before = set(store_accounts(services, "entra"))

    result = services.provision("entra", person.email, dry_run=True)

    assert result.ok and result.status == "planned" and result.account is None
    fields = {f.key: f for f in result.plan.fields}
    assert fields["userPrincipalName"].value == person.email.lower()
    assert (
        fields["userPrincipalName"].source == "cel" and fields["userPrincipalName"].type == "string"
    )
    assert fields["accountEnabled"].value is True and fields["accountEnabled"].type == "bool"
    assert fields["passwordProfile"].source == "default"  # unmapped: the schema's default
    assert fields["passwordProfile"].value == {"forceChangePasswordNextSignIn": True}
    assert fields["employeeId"].source == "unmapped" and fields["employeeId"].ok
    assert entra_file.read_bytes() == before
    assert set(store_accounts(services, "entra")) == accounts_before
    (run,) = provision_runs(services)
    assert run.status == "planned" and run.dry_run
    changes = changes_of(services, run.id or 0)
    assert changes and all(c.stage == "provision" and not c.applied for c in changes)


def test_creates_the_account_in_the_file_links_it_and_a_sync_agrees(services: Services) -> None:
    person = without_account(services, "entra")

    result = services.provision("entra", person.email)

    assert result.ok and result.status == "applied"
    assert result.account == person.email.lower()
    created = [a for a in entra_accounts(services) if a["id"] == result.account]
    assert len(created) == 1
    assert created[0]["display_name"] == person.display_name
    assert created[0]["profile"]["mailNickname"] == person.email.split("@")[0].lower()
    row = store_accounts(services, "entra")[result.account]
    assert row.owner_id == person.id and row.link_kind == "provisioned" and not row.pinned
    assert row.fingerprint
    # the facade forgot its cached records: the person now has the account
    assert any(a.app_id == "entra" for a in services.population().accounts_of(person.id))
    (run,) = provision_runs(services)
    assert run.status == "applied" and not run.dry_run and run.ended_at is not None
    changes = changes_of(services, run.id or 0)
    assert {c.field for c in changes} >= {"userPrincipalName", "owner"}
    assert all(c.applied and c.object_id == f"entra:{result.account}" for c in changes)
    with services.db.session() as session:
        audit = session.execute(
            select(AuditEvent).where(AuditEvent.action == "provision")
        ).scalar_one()
        assert audit.object_name == f"entra:{result.account}"
        assert audit.after["owner_id"] == person.id

    sync = services.sync()

    assert sync.status == "applied"
    imported = sync.stages[0]
    assert imported.name == "import"
    assert not imported.counts.get("new") and not imported.counts.get("changed")
    assert not [c for c in sync.planned if c.object_id == f"entra:{result.account}"]
    account = services.population().account("entra", result.account)
    assert account is not None and account.owner_id == person.id

    # a second request for the same person is refused: they have an account now
    again = services.provision("entra", person.email)
    assert not again.ok and again.status == "failed" and again.account is None
    assert "already has an account in entra" in again.plan.problems[0]
    assert len([a for a in entra_accounts(services) if a["id"] == result.account]) == 1


def test_required_field_whose_cel_returns_empty_creates_nothing(services: Services) -> None:
    def blank_nickname(document: dict[str, Any]) -> None:
        app_config(document, "entra")["provisioning"]["fields"]["mailNickname"] = '""'

    import_changed(services, blank_nickname)
    person = without_account(services, "entra")
    before = (demo_folder(services) / "apps" / "entra.yaml").read_bytes()

    result = services.provision("entra", person.email)

    assert not result.ok and result.status == "failed" and result.account is None
    bad = [f for f in result.plan.fields if not f.ok]
    assert [f.key for f in bad] == ["mailNickname"]
    assert bad[0].reason == "required, but the expression returned an empty string"
    assert "mailNickname: required" in result.error
    assert (demo_folder(services) / "apps" / "entra.yaml").read_bytes() == before
    assert person.email.lower() not in store_accounts(services, "entra")
    (run,) = provision_runs(services)
    assert run.status == "failed" and "mailNickname" in run.error


def test_a_unique_value_an_account_holds_refuses_the_plan_first(services: Services) -> None:
    """A UPN the store knows an Entra account has refuses the plan (the field says whose it
    is), before the app is asked: a dry run and the console's plan said "every field is
    valid" for a creation the app then refused (second review)."""

    def taken_upn(document: dict[str, Any]) -> None:
        fields = app_config(document, "entra")["provisioning"]["fields"]
        fields["userPrincipalName"] = '"ANN.LEE@example.com"'

    import_changed(services, taken_upn)
    person = without_account(services, "entra")
    plan = services.provision_plan("entra", person.email)
    (field,) = [f for f in plan.fields if not f.ok]
    assert field.key == "userPrincipalName"
    assert field.reason.startswith("'ANN.LEE@example.com' is taken: the account entra:ann.lee@")
    result = services.provision("entra", person.email)
    assert not result.ok and result.account is None
    # one who has an account is refused for that alone (their own values are no clash)
    ann = services.user_by_email("ann.lee@example.com")
    assert ann is not None
    plan = services.provision_plan("entra", ann.email)
    assert [f.key for f in plan.fields if not f.ok] == [] and len(plan.problems) == 1
    assert "already has an account in entra" in plan.problems[0]


def test_connector_refusing_an_existing_username_is_reported_and_changes_nothing(
    services: Services,
) -> None:
    """An account the store does not know yet (made in the app since the last sync) holds
    the UPN: the app refuses the creation, and nothing changes."""
    person = without_account(services, "entra")
    entra_file = demo_folder(services) / "apps" / "entra.yaml"
    upn = person.email.lower()
    data = yaml.safe_load(entra_file.read_text(encoding="utf-8"))
    data["accounts"].append({"id": upn, "display_name": "Someone Else", "username": upn})
    entra_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    before = entra_file.read_bytes()
    accounts_before = {
        k: (a.owner_id, a.fingerprint) for k, a in store_accounts(services, "entra").items()
    }

    with pytest.raises(provision.ProvisionRefused) as caught:
        services.provision("entra", person.email)

    assert "already exists" in caught.value.message
    assert caught.value.exit_code == 1
    result = caught.value.result
    assert not result.ok and result.status == "failed" and result.account is None
    assert entra_file.read_bytes() == before
    after = {k: (a.owner_id, a.fingerprint) for k, a in store_accounts(services, "entra").items()}
    assert after == accounts_before
    (run,) = provision_runs(services)
    assert run.status == "failed" and "already exists" in run.error
    # the run record counts it refused, not created (hostile review M2)
    assert (run.counts["provision"]["created"], run.counts["provision"]["refused"]) == (0, 1)
    assert not any(c.applied for c in changes_of(services, run.id or 0))
    with services.db.session() as session:
        assert (
            session.execute(select(AuditEvent).where(AuditEvent.action == "provision")).first()
            is None
        )


def test_unknown_app_field_and_apps_that_cannot_provision(services: Services) -> None:
    person = without_account(services, "entra")
    with pytest.raises(NotFound, match="the apps are: .*entra"):
        services.provision_plan("nope", person.email)
    with pytest.raises(InvalidInput, match="cannot create accounts.*ad, entra"):
        services.provision_plan("hr", person.email)
    with pytest.raises(NotFound, match="did you mean 'usageLocation'"):
        services.provision_test("entra", "usagelocaton", person.email)

    def no_config(document: dict[str, Any]) -> None:
        del app_config(document, "ad")["provisioning"]

    import_changed(services, no_config)
    with pytest.raises(InvalidInput, match="no provisioning config.*Apps with one: entra"):
        services.provision("ad", person.email)


def test_one_field_against_one_person(services: Services) -> None:
    person = without_account(services, "entra")
    result = services.provision_test("entra", "mailNickname", person.email)
    assert result.ok and result.type == "string"
    assert result.value == person.email.split("@")[0].lower()
    draft = services.provision_test(
        "entra", "accountEnabled", person.email, text="subject.department"
    )
    assert not draft.ok and draft.type == "string"
    assert draft.reason.startswith("expected true or false, got string")


# --- every field type, defaults and required checks (a declared creation schema) -------------

SCHEMA = [
    {"key": "username", "type": "string", "required": True, "max_length": 12, "order": 1},
    {"key": "enabled", "type": "bool", "order": 2},
    {"key": "seats", "type": "int", "order": 3},
    {"key": "groups", "type": "string_list", "order": 4},
    {"key": "settings", "type": "map", "order": 5},
    {"key": "note", "type": "string", "default": "hello", "order": 6},
    {"key": "tier", "type": "int", "required": True, "default": 3, "order": 7},
    {"key": "roles", "type": "string_list", "required": True, "order": 8},
]


@pytest.mark.parametrize(
    ("key", "expression", "value", "kind"),
    [
        ("username", '"ann"', "ann", "string"),
        ("username", "subject.givenName.lowerAscii()", None, "string"),
        ("enabled", "true", True, "bool"),
        ("enabled", "subject.status == UserStatus.ENABLED", True, "bool"),
        ("seats", "7", 7, "int"),
        ("seats", "7u", 7, "uint"),
        ("groups", '["a", "b"]', ["a", "b"], "list(string)"),
        ("groups", "[]", [], "list"),
        ("settings", '{"quota": 5, "tags": ["x"]}', {"quota": 5, "tags": ["x"]}, "map"),
        ("roles", '["viewer"]', ["viewer"], "list(string)"),
    ],
)
def test_every_field_type_accepts_its_values(
    services: Services, key: str, expression: str, value: Any, kind: str
) -> None:
    person = without_account(services, "entra")
    result = provision.test_field(services.cel(), SCHEMA, {key: expression}, person, key)
    assert result.ok, result.reason
    assert result.source == "cel" and result.type == kind
    assert result.value == (value if value is not None else person.given_name.lower())


def test_an_empty_required_field_names_the_empty_inputs_it_reads(services: Services) -> None:
    """An admin told only "returned an empty string" looks for a fault in the expression: the
    reason names the person's fields it reads that are empty, by the names the CEL uses."""
    person = without_account(services, "entra")
    blank = dataclasses.replace(person, email="", given_name="", family_name="Lee")
    cel = services.cel()

    def reason(expression: str) -> str:
        return provision.test_field(cel, SCHEMA, {"username": expression}, blank, "username").reason

    assert reason('subject.email.split("@")[0]') == (
        "required, but the expression returned an empty string: it reads subject.email, which "
        "is empty for this person"
    )
    # aliases read the same field; several empty fields are named together
    assert reason("subject.first_name + subject.email") == (
        "required, but the expression returned an empty string: it reads subject.email and "
        "subject.givenName, which are empty for this person"
    )
    # a field that has a value is not blamed; an expression empty of itself blames nothing
    assert reason('subject.familyName == "Lee" ? "" : "x"') == (
        "required, but the expression returned an empty string"
    )
    # nor a key of a map that is named like a field (hostile pass)
    for other in ("subject.profile.email", "subject.attributes.email", '{"email": ""}.email'):
        assert reason(other) in (
            "required, but the expression returned an empty string",
            "required, but the expression returned null",
        ), other


@pytest.mark.parametrize(
    ("key", "expression", "reason"),
    [
        ("username", "42", "expected a string, got int 42 (convert it with string(...))"),
        ("username", "now()", "expected a string, got timestamp (format it with time.format"),
        ("username", '"much-too-long-name"', "18 characters long; at most 12 are allowed"),
        ("username", '""', "required, but the expression returned an empty string"),
        ("username", '"   "', "required, but the expression returned only spaces"),
        ("username", "null", "required, but the expression returned null"),
        ("enabled", '"true"', 'expected true or false, got string "true"'),
        ("enabled", "1", "expected true or false, got int 1"),
        ("seats", '"7"', 'expected a whole number (int), got string "7" (convert it with int'),
        ("seats", "7.5", "expected a whole number (int), got double 7.5"),
        ("seats", "true", "expected a whole number (int), got bool true"),
        ("groups", '"a"', 'got a single string "a" (write [value] to make a list of one)'),
        ("groups", '["a", 1]', "expected a list of strings, but item 2 is int 1"),
        ("groups", '{"a": "b"}', "expected a list of strings, got map"),
        ("settings", '["a"]', "expected a map, got list(string)"),
        ("settings", '"a=b"', 'expected a map, got string "a=b"'),
        ("roles", "[]", "required, but the expression returned an empty list"),
    ],
)
def test_every_field_type_rejects_what_does_not_fit(
    services: Services, key: str, expression: str, reason: str
) -> None:
    person = without_account(services, "entra")
    result = provision.test_field(services.cel(), SCHEMA, {key: expression}, person, key)
    assert not result.ok
    assert reason in result.reason


def test_expression_errors_are_reasons_not_crashes(services: Services) -> None:
    person = without_account(services, "entra")
    cel = services.cel()
    broken = provision.test_field(
        cel, SCHEMA, {"username": "subject.departmnt"}, person, "username"
    )
    assert not broken.ok and broken.reason.startswith("the expression does not compile")
    assert "department" in broken.hint + broken.reason and broken.line == 1
    failing = provision.test_field(cel, SCHEMA, {"username": "entitlement.id"}, person, "username")
    assert not failing.ok and failing.reason.startswith("the expression failed for this person")
    requested = provision.test_field(
        cel,
        SCHEMA,
        {"username": "entitlement.id"},
        person,
        "username",
        {"id": "lic-e5", "app_id": "entra", "name": "E5"},
    )
    assert requested.ok and requested.value == "lic-e5"


def test_defaults_fill_unmapped_fields_and_empty_results(services: Services) -> None:
    person = without_account(services, "entra")
    plan = provision.plan_account(
        services.cel(),
        SCHEMA,
        {"username": '"ann"', "note": '""', "roles": '["viewer"]'},
        person,
        app_id="wiki",
    )
    fields = {f.key: f for f in plan.fields}
    assert [f.key for f in plan.fields] == [f["key"] for f in SCHEMA]
    assert fields["note"].source == "default" and fields["note"].value == "hello"
    assert "the expression returned an empty string" in fields["note"].note
    assert fields["tier"].source == "default" and fields["tier"].value == 3  # required, default
    assert fields["enabled"].source == "unmapped" and fields["enabled"].ok
    assert plan.ok
    assert plan.values() == {"username": "ann", "note": "hello", "tier": 3, "roles": ["viewer"]}

    missing = provision.plan_account(services.cel(), SCHEMA, {"usrname": '"x"'}, person)
    assert not missing.ok
    reasons = missing.reasons()
    assert "username: required, but no expression maps it and it has no default" in reasons
    assert "roles: required, but no expression maps it and it has no default" in reasons
    unknown = next(f for f in missing.fields if f.key == "usrname")
    assert "not a field of the account-creation schema" in unknown.reason
    assert "did you mean `username`?" in unknown.hint


def _add_wiki(services: Services, username: str = "subject.email.split('@')[0]") -> Path:
    folder = demo_folder(services)
    wiki_file = folder / "apps" / "wiki.yaml"
    wiki_file.write_text(
        yaml.safe_dump({"accounts": [{"id": "taken", "username": "taken", "email": "t@x.io"}]}),
        encoding="utf-8",
    )

    def add(document: dict[str, Any]) -> None:
        document["apps"].append(
            {
                "id": "wiki",
                "name": "Team wiki",
                "connector": "file",
                "settings": {
                    "path": "apps/wiki.yaml",
                    "creation_schema": [
                        {"key": "id", "type": "string", "required": True},
                        {"key": "username", "type": "string", "required": True},
                        {"key": "email", "type": "string"},
                        {"key": "admin", "type": "bool", "default": False},
                        {"key": "quota", "type": "int", "default": 10},
                        {"key": "spaces", "type": "string_list"},
                        {"key": "prefs", "type": "map"},
                    ],
                },
                "provisioning": {
                    "fields": {
                        "id": "subject.email.split('@')[0]",
                        "username": username,
                        "email": "subject.email",
                        "quota": "25",
                        "spaces": '["home", subject.department.lowerAscii()]',
                        "prefs": '{"theme": "dark"}',
                    }
                },
            }
        )

    import_changed(services, add)
    return wiki_file


def test_a_declared_schema_app_creates_every_field_type_in_its_file(services: Services) -> None:
    wiki_file = _add_wiki(services)
    services.sync()  # the wiki's one account is imported
    person = without_account(services, "wiki")

    result = services.provision("wiki", person.email)

    assert result.ok, result.plan.reasons()
    accounts = yaml.safe_load(wiki_file.read_text(encoding="utf-8"))["accounts"]
    created = next(a for a in accounts if a["id"] == result.account)
    assert created["email"] == person.email
    profile = created["profile"]
    assert {k: profile[k] for k in ("admin", "prefs", "quota")} == {
        "admin": False,  # unmapped: the default
        "prefs": {"theme": "dark"},
        "quota": 25,
    }
    spaces = next(f for f in result.plan.fields if f.key == "spaces").value
    assert profile["spaces"] == spaces and spaces[0] == "home" and len(spaces) == 2
    assert store_accounts(services, "wiki")[result.account].owner_id == person.id
    sync = services.sync()
    assert not sync.stages[0].counts.get("new") and not sync.stages[0].counts.get("changed")


def test_a_declared_schema_app_refuses_an_existing_username(services: Services) -> None:
    wiki_file = _add_wiki(services, username='"TAKEN"')
    services.sync()
    person = without_account(services, "wiki")
    before = wiki_file.read_bytes()
    with pytest.raises(
        provision.ProvisionRefused, match="an account with (id|username) 'taken' already exists"
    ):
        services.provision("wiki", person.email)
    assert wiki_file.read_bytes() == before
    assert set(store_accounts(services, "wiki")) == {"taken"}


# --- the command line ---------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_provision_json_shapes_and_exit_codes(services: Services, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    email = without_account(services, "entra").email

    code, out, _ = cli("provision", "entra", "--user", email, "--dry-run", "--json", "--db", db)
    data = json.loads(out)
    assert code == 0
    assert {"ok", "app", "user", "fields", "account", "dry_run"} <= set(data)
    assert data["ok"] and data["dry_run"] and data["account"] is None and data["app"] == "entra"
    assert data["user"] == email
    upn = next(f for f in data["fields"] if f["key"] == "userPrincipalName")
    assert upn["value"] == email.lower() and upn["type"] == "string" and upn["ok"]

    code, out, _ = cli("provision", "--db", db, "entra", "--user", email, "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and not data["dry_run"] and data["account"] == email.lower()

    code, out, err = cli("provision", "entra", "--user", email, "--db", db)
    assert code == 1
    assert "already has an account in entra" in out
    assert "Error: No account was created" in err

    code, out, err = cli("provision", "nope", "--user", email, "--db", db, "--json")
    assert code == 1 and json.loads(err)["ok"] is False and "entra" in json.loads(err)["error"]


def test_cli_invalid_plan_and_refusal_exit_1(services: Services, tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")

    def blank(document: dict[str, Any]) -> None:
        app_config(document, "entra")["provisioning"]["fields"]["mailNickname"] = '""'

    import_changed(services, blank)
    email = without_account(services, "entra").email
    code, out, err = cli("provision", "entra", "--user", email, "--db", db)
    assert code == 1
    assert "!! mailNickname" in out and "required, but the expression returned an empty" in out
    code, out, _ = cli("provision", "entra", "--user", email, "--db", db, "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"] and data["account"] is None
    assert [f["key"] for f in data["fields"] if not f["ok"]] == ["mailNickname"]

    def taken(document: dict[str, Any]) -> None:
        fields = app_config(document, "entra")["provisioning"]["fields"]
        fields["mailNickname"] = '"x"'
        fields["userPrincipalName"] = '"ann.lee@example.com"'

    import_changed(services, taken)
    code, out, err = cli("provision", "entra", "--user", email, "--db", db, "--json")
    data = json.loads(out)
    assert code == 1 and not data["ok"] and data["account"] is None
    (upn,) = [f for f in data["fields"] if not f["ok"]]
    assert upn["key"] == "userPrincipalName" and "is taken" in upn["reason"]
    code, out, err = cli("provision", "entra", "--user", email, "--db", db)
    assert code == 1 and "!! userPrincipalName" in out and "is taken: the account" in out


def test_cli_provision_test_prints_value_and_type_or_the_error(
    services: Services, tmp_path: Path
) -> None:
    db = str(tmp_path / "r.db")
    person = without_account(services, "entra")
    code, out, _ = cli(
        "provision", "test", "entra", "mailNickname", "--user", person.email, "--db", db
    )
    assert code == 0
    assert f'value:  "{person.email.split("@")[0].lower()}"' in out and "type:   string" in out

    code, out, _ = cli(
        "provision", "test", "entra", "accountEnabled", "--user", person.email, "--db", db, "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["value"] is True and data["type"] == "bool" and data["ok"]
    assert data["app"] == "entra" and data["user"] == person.email

    code, out, err = cli("provision", "test", "entra", "nope", "--user", person.email, "--db", db)
    assert code == 1 and "has no account-creation field 'nope'" in err

    def failing(document: dict[str, Any]) -> None:
        app_config(document, "entra")["provisioning"]["fields"]["jobTitle"] = "entitlement.name"

    import_changed(services, failing)
    code, out, err = cli(
        "provision", "test", "entra", "jobTitle", "--user", person.email, "--db", db
    )
    assert code == 1 and "error: the expression failed for this person" in err
