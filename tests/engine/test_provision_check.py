"""A provisioning field over everyone (`Services.provision_check`), and map-typed creation
fields (`{"cn": subject.displayName, "gidNumber": "5000"}`): validated on save, tested on a
person, over everyone, and created through the file connector.

Each test works on its own copy of the demo organisation (a real SQLite file and the file
connector's YAML files beside it). Expected counts come from the demo's people, counted here
independently of the code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

import engine.provision as provision
from engine.errors import ConfigInvalid, NotFound
from engine.records import UserRecord
from engine.services import ConfigEdit, Services
from engine.store.models import Account
from engine.store.repo import config_base_dir

MAP_TEXT = '{"extensionAttribute1": subject.displayName, "extensionAttribute2": "5000"}'


@pytest.fixture
def services(demo: Services) -> Services:
    return demo


def living(services: Services) -> list[UserRecord]:
    return [u for u in services.population().users if u.status != "DELETED"]


def without_account(services: Services, app_id: str) -> UserRecord:
    population = services.population()
    have = {a.owner_id for a in population.accounts if a.app_id == app_id}
    return next(
        u for u in population.users if u.status == "ENABLED" and u.email and u.id not in have
    )


# --- one field over everyone -------------------------------------------------------------------


def test_the_saved_mapping_over_everyone(services: Services) -> None:
    people = living(services)
    no_email = [u for u in people if not u.email]
    assert no_email, "the demo has people without an email"

    check = services.provision_check("entra", "mailNickname")

    assert check.total == len(people) == check.checked and not check.cancelled
    assert check.expression == 'subject.email.split("@")[0].lowerAscii()'
    assert check.required and check.field_type == "string"
    assert check.counts == {
        "ok": len(people) - len(no_email),
        "empty": len(no_email),
        "invalid": 0,
        "error": 0,
    }
    assert check.blocked == len(no_email)  # required: no account for them
    empty = check.samples["empty"][0]
    assert empty["id"] in {u.id for u in no_email}
    # it says why: the person's email, which the expression reads, is empty
    assert empty["reason"] == (
        "required, but the expression returned an empty string: it reads subject.email, "
        "which is empty for this person"
    )
    assert len(check.samples["ok"]) == provision.CHECK_SAMPLES


def test_a_draft_of_the_wrong_type_and_the_default(services: Services) -> None:
    people = living(services)
    with_department = sum(1 for u in people if str(u.attributes.get("department") or "").strip())

    # accountEnabled is a bool with the default true: a department is invalid, an empty one
    # falls back to the default
    check = services.provision_check("entra", "accountEnabled", "subject.department")

    assert check.counts["invalid"] == with_department
    assert check.counts["ok"] == len(people) - with_department == check.defaulted
    assert check.blocked == with_department
    reason = check.samples["invalid"][0]["reason"]
    assert reason.startswith("expected true or false, got string")


def test_empty_values_block_only_required_fields(services: Services) -> None:
    people = living(services)
    required = services.provision_check("entra", "displayName", '""')
    assert required.counts["empty"] == len(people) == required.blocked
    optional = services.provision_check("entra", "jobTitle", '""')
    assert optional.counts["empty"] == len(people) and optional.blocked == 0


def test_errors_for_some_people_are_counted_with_the_reason(services: Services) -> None:
    people = living(services)
    no_manager = sum(1 for u in people if not u.manager_email)
    assert 0 < no_manager < len(people)

    check = services.provision_check(
        "entra", "jobTitle", "string(1 / (size(subject.manager) > 0 ? 1 : 0))"
    )

    assert check.counts["error"] == no_manager
    assert check.counts["ok"] == len(people) - no_manager
    assert "the expression failed for this person" in check.samples["error"][0]["reason"]


def test_a_draft_that_does_not_compile_checks_nobody(services: Services) -> None:
    check = services.provision_check("entra", "usageLocation", "subject.attributes.country +")
    assert check.checked == 0 and sum(check.counts.values()) == 0
    error = check.compile_error
    assert error is not None and error.problem == "compile"
    assert (error.line, error.column) == (1, 29)
    assert error.reason.startswith("the expression does not compile")


def test_progress_and_cancel(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    total = len(living(services))
    monkeypatch.setattr(provision, "CHECK_BATCH", 100)
    seen: list[tuple[int, int]] = []
    check = services.provision_check(
        "entra", "displayName", progress=lambda done, of: seen.append((done, of))
    )
    assert seen == [(100, total), (200, total), (total, total)] and check.checked == total

    stop: list[bool] = []
    cancelled = services.provision_check(
        "entra",
        "displayName",
        progress=lambda done, of: stop.append(True),
        cancelled=lambda: bool(stop),
    )
    assert cancelled.cancelled and cancelled.checked == 100 < cancelled.total


def test_an_unknown_field_names_the_fields(services: Services) -> None:
    with pytest.raises(NotFound, match="did you mean 'mailNickname'"):
        services.provision_check("entra", "mailnicknam")


def test_an_app_without_provisioning_config_can_be_drafted(services: Services) -> None:
    folder = Path(services.db.sqlite_path).with_name("r-demo")
    document = yaml.safe_load((folder / "roster.yaml").read_text(encoding="utf-8"))
    del next(a for a in document["apps"] if a["id"] == "ad")["provisioning"]
    services.import_config(yaml.safe_dump(document), source="t.yaml", base_dir=folder)
    person = without_account(services, "ad")

    draft = services.provision_test("ad", "sAMAccountName", person.id, text='"x"')
    assert draft.ok and draft.value == "x"
    unmapped = services.provision_check("ad", "sAMAccountName")
    assert unmapped.counts["empty"] == unmapped.total == unmapped.blocked


# --- map fields ----------------------------------------------------------------------------------


def test_a_cel_map_is_a_provisioning_value(services: Services) -> None:
    person = without_account(services, "entra")
    preview = services.preview_one(
        "provisioning_field", '{"cn": subject.displayName, "gidNumber": "5000"}', person
    )
    assert preview.ok and preview.type == "map"
    assert preview.value == {"cn": person.display_name, "gidNumber": "5000"}
    nested = services.preview_one("provisioning_field", '{"a": {"b": [1, "x"]}}', person)
    assert nested.ok and nested.value == {"a": {"b": [1, "x"]}}
    # a key must be an attribute name; a map of another context is still refused
    bad = services.preview_one("provisioning_field", '{1: "a"}', person)
    assert not bad.ok and bad.error is not None
    assert "only with string keys" in bad.error.message
    other = services.preview_one("push_mapping", '{"a": "b"}', person)
    assert not other.ok


def test_a_map_field_is_saved_tested_checked_and_created(services: Services) -> None:
    path = "apps.entra.provisioning.fields.onPremisesExtensionAttributes"
    services.config_edit(ConfigEdit("set", path, value=MAP_TEXT))
    assert services.config_get(path) == MAP_TEXT
    person = without_account(services, "entra")

    tested = services.provision_test("entra", "onPremisesExtensionAttributes", person.id)
    expected = {"extensionAttribute1": person.display_name, "extensionAttribute2": "5000"}
    assert tested.ok and tested.type == "map" and tested.value == expected

    check = services.provision_check("entra", "onPremisesExtensionAttributes")
    assert check.counts["ok"] == check.total and check.blocked == 0

    result = services.provision("entra", person.id)
    assert result.status == "applied"
    folder = Path(services.db.sqlite_path).with_name("r-demo")
    with services.db.session() as session:
        assert config_base_dir(session) == folder.resolve()
    written = yaml.safe_load((folder / "apps" / "entra.yaml").read_text(encoding="utf-8"))
    item = next(a for a in written["accounts"] if a["id"] == result.account)
    assert item["profile"]["onPremisesExtensionAttributes"] == expected
    with services.db.session() as session:
        row = session.scalars(
            select(Account).where(Account.app_id == "entra", Account.external_id == item["id"])
        ).one()
        assert row.profile["onPremisesExtensionAttributes"] == expected


def test_a_map_field_refuses_what_is_not_a_map(services: Services) -> None:
    person = without_account(services, "entra")
    key = "onPremisesExtensionAttributes"
    text = services.provision_test("entra", key, person.id, text="subject.displayName")
    assert not text.ok and text.problem == "invalid"
    assert text.reason.startswith("expected a map, got string")
    numbered = services.provision_test("entra", key, person.id, text='{1: "a"}')
    assert not numbered.ok and "only with string keys" in numbered.reason
    # nothing is created from a plan with an invalid map
    services.config_edit(
        ConfigEdit("set", f"apps.entra.provisioning.fields.{key}", value='{1: "a"}')
    )
    result = services.provision("entra", person.id)
    assert result.status == "failed" and result.account is None
    assert any(reason.startswith(f"{key}: ") for reason in result.plan.reasons())


def test_a_map_that_does_not_compile_is_refused_on_save(services: Services) -> None:
    path = "apps.entra.provisioning.fields.onPremisesExtensionAttributes"
    with pytest.raises(ConfigInvalid) as refused:
        services.config_edit(ConfigEdit("set", path, value='{"a": subject.displayName'))
    problems = refused.value.problems
    assert problems and problems[0].path.startswith(path)
    with pytest.raises(NotFound):
        services.config_get(path)


def test_check_as_dict_is_json_ready(services: Services) -> None:
    import json

    data: dict[str, Any] = services.provision_check("entra", "passwordProfile").as_dict()
    assert json.loads(json.dumps(data))["counts"]["ok"] == data["total"]
    assert data["samples"]["ok"][0]["value"] == {"forceChangePasswordNextSignIn": True}


# --- the command line ----------------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str, str]:
    from click.testing import CliRunner

    from console.cli import main

    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_provision_check(services: Services, tmp_path: Path) -> None:
    import json

    db = str(tmp_path / "r.db")
    people = living(services)
    no_email = next(u for u in people if not u.email)

    code, out, err = cli("provision", "check", "entra", "mailNickname", "--db", db)
    assert code == 1  # someone would get no account
    assert f"entra.mailNickname (string, required) over {len(people)} people" in out
    assert f"ok {len(people) - 1}  empty 1  invalid 0  error 0" in out
    assert f"empty   {no_email.display_name}: required" in out
    # the person without an email has no Entra account: the one the mapping keeps from one
    has = any(a.app_id == "entra" for a in services.population().accounts_of(no_email.id))
    assert f"Error: 1 would get no account in entra ({0 if has else 1} of them have none" in err
    code, out, _ = cli("provision", "check", "entra", "mailNickname", "--db", db, "--json")
    assert json.loads(out)["blocked_without_account"] == (0 if has else 1)

    code, out, _ = cli(
        "provision", "check", "entra", "onPremisesExtensionAttributes", "--db", db,
        "--cel", '{"extensionAttribute1": subject.displayName}', "--json",
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["counts"]["ok"] == len(people) and data["blocked"] == 0
    assert data["samples"]["ok"][0]["type"] == "map"

    code, _, err = cli("provision", "check", "entra", "displayName", "--cel", "x +", "--db", db)
    assert code == 1 and "error: line 1, column 4" in err


def test_the_check_stops_at_the_preview_time_budget_with_a_note(services: Services) -> None:

    limits = {"max_cost": 9_000_000_000, "max_seconds_per_preview": 1, "max_seconds_per_stage": 60}
    services.config_edit(ConfigEdit("set", "settings.cel", limits))
    slow = '"a"' + '.replace("a", "aaaaaaaaaa")' * 7
    check = services.provision_check("entra", "mailNickname", f"string({slow}.size())")
    assert check.timed_out and check.checked < check.total
    assert check.note.startswith(f"stopped after {check.checked:,} of {check.total:,} people")
    assert "max_seconds_per_preview" in check.note
    assert check.as_dict()["timed_out"] is True


def test_a_unique_field_says_who_would_share_a_value_or_take_an_account_s_id(
    services: Services,
) -> None:
    """An account's id must be unique in its app: a mapping that gives two people the same
    sAMAccountName, or one an AD account already has, passed the check as "ok 281" (newcomer
    review); the app refuses all but one of them. Only people without an AD account count
    (the others get none)."""
    population = services.population()
    have = {a.owner_id for a in population.accounts if a.app_id == "ad" and a.status != "DELETED"}
    creatable = [u for u in living(services) if u.id not in have]
    assert len(creatable) > 1
    taken = next(a.external_id for a in population.accounts if a.app_id == "ad")

    same = services.provision_check("ad", "sAMAccountName", text=f'"{taken}"')
    assert same.counts["ok"] == len(living(services))
    assert same.shared == same.taken == len(creatable)
    assert same.shared_samples[0].startswith(f"{taken!r}: ")
    assert same.as_dict()["taken"] == len(creatable)

    saved = services.provision_check("ad", "sAMAccountName")  # the demo's: names, distinct
    assert saved.shared == saved.taken == 0
    # not a unique field: the same value for everyone is no problem
    department = services.provision_check("ad", "department", text='"IT"')
    assert department.shared == department.taken == 0

    from click.testing import CliRunner

    from console.cli import main

    db = str(services.db.sqlite_path)
    result = CliRunner().invoke(
        main, ["provision", "check", "ad", "sAMAccountName", "--cel", f'"{taken}"', "--db", db]
    )
    assert result.exit_code == 1, result.output
    assert f"! {len(creatable):,} people without an account there would get a value an " in (
        result.stdout
    )


def test_a_unique_field_is_compared_with_the_same_field_of_the_app_s_accounts(
    services: Services,
) -> None:
    """AD takes a userPrincipalName once: a value an AD account already holds as its UPN (its
    id is its sAMAccountName) is counted as taken, naming the account, as the connector
    refuses it; before, only the accounts' ids were compared (a review's leftover)."""
    population = services.population()
    holder = next(
        a
        for a in population.accounts
        if a.app_id == "ad" and a.status != "DELETED" and a.profile.get("userPrincipalName")
    )
    upn = holder.profile["userPrincipalName"]
    assert upn.casefold() != holder.external_id.casefold()
    check = services.provision_check("ad", "userPrincipalName", text=f'"{upn.upper()}"')
    assert check.taken == check.shared > 1
    assert check.taken_samples[0].startswith(f"{upn.upper()!r} (account {holder.external_id!r}): ")
    saved = services.provision_check("ad", "userPrincipalName")  # the demo's: emails
    assert saved.taken == 0, saved.taken_samples


@pytest.mark.parametrize(
    ("fmt", "value", "problem"),
    [
        ("sam", "ann.lee", ""),
        ("sam", "zoë.o'brien-müller", ""),  # AD takes these
        ("sam", "o'brien,j", "cannot hold ','"),
        ("sam", 'a"b/c', "cannot hold '\"' '/'"),
        ("sam", "ann@lee", "cannot hold '@'"),
        ("sam", "ann.", "cannot end with a full stop"),
        ("upn", "ann.lee@example.com", ""),
        ("upn", "mary ann@example.com", "cannot hold spaces"),
        ("upn", "ann.lee", "name@domain, with one @"),
        ("upn", "a@b@example.com", "name@domain, with one @"),
        ("upn", "@example.com", "name@domain"),
        ("upn", "ann.@example.com", "begin or end with a full stop"),
        ("upn", "ann..lee@example.com", "or hold two"),
        ("upn", "ann@example..com", "domain is like example.com"),
        ("upn", "ann@corp", ""),  # AD takes a single-label suffix; Entra does not
        ("entra_upn", "ann@corp", "domain is like example.com"),
        ("upn", "a,b@x.com", "cannot hold ','"),
        ("upn", "małgorzata@x.com", ""),  # AD takes it
        ("entra_upn", "małgorzata@x.com", "cannot hold 'ł' (Entra ID refuses it)"),
        ("upn", "ann\u200b@x.com", "invisible or control character"),
        ("sam", "a\x7fb", "invisible or control character"),
        ("nickname", "ann.lee", ""),
        ("nickname", "o'brien", ""),
        ("nickname", "mary ann", "cannot hold ' '"),
        ("nickname", ".ann", "begin or end with a full stop"),
        ("", "anything at all, really", ""),
    ],
)
def test_a_logon_name_and_a_upn_are_held_to_what_the_directory_takes(
    fmt: str, value: str, problem: str
) -> None:
    """A sAMAccountName "o'brien,j" or a UPN with a space was "ok" and then refused by the
    directory (second review): the formats say so first, in the check and at creation."""
    from engine.connectors.base import format_problem

    found = format_problem(fmt, value)
    assert (problem in found) if problem else found == ""


def test_the_check_and_the_app_refuse_a_logon_name_ad_refuses(
    services: Services, tmp_path: Path
) -> None:
    check = services.provision_check(
        "ad", "sAMAccountName", text='subject.familyName.substring(0, 3) + "," + "x"'
    )
    reasons = {s["reason"] for s in check.samples["invalid"]}
    assert reasons == {"a logon name cannot hold ',' (AD refuses it)"}
    check = services.provision_check("ad", "userPrincipalName", text="subject.displayName")
    reasons = {s["reason"] for s in check.samples["invalid"]}
    assert "a user principal name is name@domain, with one @ (e.g. ann.lee@example.com)" in reasons
    # the app refuses it too, whoever asks
    from engine.connectors.base import ConnectorSpec
    from engine.connectors.registry import make_connector
    from engine.errors import ConnectorError

    (tmp_path / "ad.yaml").write_text("accounts: []\n", encoding="utf-8")
    spec = ConnectorSpec(
        app_id="ad",
        kind="file",
        settings={"path": "ad.yaml", "flavour": "active_directory"},
        base_dir=tmp_path,
    )
    connector = make_connector(spec)
    fields = {"sAMAccountName": "ok", "userPrincipalName": "a b@x.com", "displayName": "A"}
    with pytest.raises(ConnectorError, match="a user principal name cannot hold spaces"):
        connector.create_account(fields)


def test_a_distinguished_name_an_ad_account_has_refuses_the_plan(services: Services) -> None:
    """AD names a new account CN=displayName in its ou and takes it once: the file app
    refused a second John Smith, but the queue, the dry run and the plan promised him (third
    review). The plan says it on the displayName."""
    population = services.population()
    holder = next(
        a
        for a in population.accounts
        if a.app_id == "ad" and a.status != "DELETED" and a.profile.get("distinguishedName")
    )
    name = holder.profile["distinguishedName"].split(",", 1)[0].removeprefix("CN=")
    have = {a.owner_id for a in population.accounts if a.app_id == "ad"}
    person = next(u for u in living(services) if u.id not in have and u.email)
    services.config_edit(
        ConfigEdit("set", "apps.ad.provisioning.fields.displayName", f'"{name.upper()}"')
    )
    plan = services.provision_plan("ad", person.email)
    (field,) = [f for f in plan.fields if not f.ok]
    assert field.key == "displayName"
    assert field.reason.startswith(
        f"its distinguishedName 'CN={name.upper()},OU=Users,DC=example,DC=com' is taken: "
        f"the account ad:{holder.external_id} has it"
    ), field.reason
