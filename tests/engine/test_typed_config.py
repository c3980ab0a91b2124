"""One typed configuration from file to stage, and one account field list.

The stages take the pydantic model (`engine.config.model`), never the raw document, and the
defaults they apply are the model's: a directory without `merge_rules` merges by the same rules,
under the same names, that validation and export call the defaults.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from engine.cel import CelEngine
from engine.config import dump_config, validate_text
from engine.config.model import (
    DEFAULT_MERGE_RULES,
    PRESETS,
    App,
    Attribute,
    Directory,
    KeySpec,
    RosterConfig,
)
from engine.connectors.base import ListedAccount
from engine.connectors.fingerprint import fingerprint
from engine.errors import ConfigInvalid
from engine.records import (
    ACCOUNT_DATA_FIELDS,
    ACCOUNT_FIELD_SPECS,
    ACCOUNT_SOURCE_FIELDS,
    AccountRecord,
    UserRecord,
)
from engine.services import Services
from engine.store.models import Account, ConfigObject
from engine.store.repo import load_accounts, load_config
from engine.sync import pipeline
from engine.sync.identify import run_identify
from engine.sync.keys import ACCOUNT_PRESETS, USER_PRESETS
from engine.sync.state import StageReport, WorkState
from tests.engine.org import CONFIG, HR, open_org

TEXT = """\
version: 1
apps:
  - {id: hr, connector: file, settings: {path: hr.yaml}}
directories:
  - app: hr
"""


def _validated(tmp_path: Path) -> RosterConfig:
    (tmp_path / "hr.yaml").write_text("accounts: []\n")
    result = validate_text(TEXT, source="roster.yaml", base_dir=tmp_path)
    assert result.ok, result.problems
    assert result.config is not None
    return result.config


def test_the_default_merge_rules_are_one_definition_for_validation_export_and_identify(
    tmp_path: Path,
) -> None:
    config = _validated(tmp_path)
    directory = config.directories[0]
    # validation leaves the defaults implicit, export keeps them so, identify applies them
    assert directory.merge_rules is None
    assert "merge_rules" not in yaml.safe_load(dump_config(config))["directories"][0]
    assert [rule.name for rule in directory.effective_merge_rules()] == ["email", "employee_id"]
    assert all(
        used is default
        for used, default in zip(
            directory.effective_merge_rules(), DEFAULT_MERGE_RULES, strict=True
        )
    )

    # identify merges by the second default rule and names it exactly as the model does
    # (two people: two accounts of one directory never merge into one person)
    person = UserRecord(id=7, email="bo@x.com", emails=["bo@x.com"], employee_id="E2")
    other = UserRecord(id=8, email="cy@x.com", emails=["cy@x.com"])
    by_id = AccountRecord(
        id=1, app_id="hr", external_id="h1", email="other@x.com", employee_ids=["E2"]
    )
    by_email = AccountRecord(id=2, app_id="hr", external_id="h2", email="CY@x.com")
    state = WorkState([by_id, by_email], [person, other], {}, {})
    report = StageReport("identify")
    run_identify(state, config.directories, CelEngine(), report)
    assert by_id.owner_id == 7 and by_email.owner_id == 8
    reasons = {c.object_id: c.reason for c in state.changes if c.field == "owner"}
    assert reasons == {"hr:h1": "merge rule 'employee_id'", "hr:h2": "merge rule 'email'"}
    assert report.counts["merged"] == 2 and not state.new_users


def test_every_preset_the_model_accepts_has_keys_on_both_sides() -> None:
    assert PRESETS == ("primary_email", "all_emails", "username", "display_name", "employee_id")
    assert set(ACCOUNT_PRESETS) == set(PRESETS) == set(USER_PRESETS)
    for preset in PRESETS:
        assert KeySpec(preset=preset).preset == preset  # the model's type admits each one


def test_every_stage_receives_typed_objects(tmp_path: Path, monkeypatch: Any) -> None:
    services = open_org(tmp_path)
    seen: dict[str, list[type]] = {}

    def spy(name: str, picks: Any) -> None:
        real = getattr(pipeline, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[name] = [type(item) for item in picks(*args)]
            return real(*args, **kwargs)

        monkeypatch.setattr(pipeline, name, wrapper)

    spy("run_import", lambda state, apps, *rest: apps)
    spy("run_identify", lambda state, directories, *rest, **kw: directories)
    spy("run_ownership", lambda state, apps, *rest: apps)
    spy("compile_attributes", lambda definitions, cel: definitions)
    spy("plan_push", lambda state, config, *rest: [config])
    spy("load_requests", lambda session, config, *rest: [config])
    spy("plan_provisioning", lambda state, config, *rest: [config])
    result = services.sync()
    assert result.status == "applied", result.error
    assert seen == {
        "run_import": [App] * 5,
        "run_identify": [Directory] * 3,
        "run_ownership": [App] * 5,
        "compile_attributes": [Attribute] * 5,
        "plan_push": [RosterConfig],
        "load_requests": [RosterConfig],
        "plan_provisioning": [RosterConfig],
    }


def test_load_config_gives_the_stored_configuration_typed(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    with services.db.session() as session:
        config = load_config(session)
    assert isinstance(config, RosterConfig)
    assert [app.id for app in config.apps] == [app["id"] for app in CONFIG["apps"]]
    assert config.directory_app_ids() == ["hr", "idp", "feed"]
    assert config.app("github") is not None
    assert config.app("github").ownership.strategy == "broad"  # type: ignore[union-attr]
    assert config.app("hr").ownership.strategy == "narrow"  # type: ignore[union-attr]
    department = config.attribute("department")
    assert department is not None and department.flow_rule_for("hr") is not None
    assert department.flow_rule_for("hr").update == 60  # type: ignore[union-attr]
    assert config.settings.deletion_threshold.max_objects == 500


def test_an_empty_store_has_the_empty_configuration(tmp_path: Path) -> None:
    from engine.services import open_services

    services = open_services(db_path=tmp_path / "roster.db", init="empty")
    with services.db.session() as session:
        config = load_config(session)
    assert config.apps == [] and config.directories == [] and config.push_rules == []


def test_a_damaged_stored_configuration_is_reported_not_raised_raw(tmp_path: Path) -> None:
    services = open_org(tmp_path)
    with services.db.session() as session, session.begin():
        row = session.execute(
            select(ConfigObject).where(ConfigObject.section == "apps")
        ).scalar_one()
        row.body = [{"id": "hr", "connector": "file", "colour": "red"}]
        session.add(row)
    with services.db.session() as session, pytest.raises(ConfigInvalid) as raised:
        load_config(session)
    assert "import a configuration file" in raised.value.message
    assert any("colour" in problem.path for problem in raised.value.problems)


# --- the account field list ----------------------------------------------------------------


def test_the_account_records_carry_exactly_the_declared_fields() -> None:
    listed = [f.name for f in dataclasses.fields(ListedAccount)]
    assert listed == ["external_id", *ACCOUNT_DATA_FIELDS]
    record = [f.name for f in dataclasses.fields(AccountRecord)]
    start = record.index("external_id") + 1
    assert record[start : start + len(ACCOUNT_DATA_FIELDS)] == list(ACCOUNT_DATA_FIELDS)
    columns = set(Account.__table__.c.keys())  # type: ignore[attr-defined]
    assert set(ACCOUNT_DATA_FIELDS) <= columns
    assert ACCOUNT_DATA_FIELDS == (
        "display_name",
        "given_name",
        "family_name",
        "email",
        "emails",
        "username",
        "usernames",
        "employee_ids",
        "status",
        "type",
        "manager",
        "profile",
    )
    assert ACCOUNT_SOURCE_FIELDS == ("external_id", *ACCOUNT_DATA_FIELDS[:-1])


def test_a_change_to_any_declared_field_changes_the_fingerprint() -> None:
    base = ListedAccount(external_id="a1")
    changed = {
        "text": "x",
        "choice": "DISABLED",
        "list": ["x"],
        "map": {"k": "v"},
    }
    digests = {fingerprint(base)}
    for spec in ACCOUNT_FIELD_SPECS:
        value = "SERVICE_ACCOUNT" if spec.name == "type" else changed[spec.kind]
        digests.add(fingerprint(dataclasses.replace(base, **{spec.name: value})))
    assert len(digests) == 1 + len(ACCOUNT_FIELD_SPECS)


def test_every_declared_field_travels_from_the_app_file_to_the_store(tmp_path: Path) -> None:
    services: Services = open_org(tmp_path)
    assert services.sync().status == "applied"
    with services.db.session() as session:
        ann = next(a for a in load_accounts(session) if (a.app_id, a.external_id) == ("hr", "E1"))
    source = HR["accounts"][0]
    expected = {
        "display_name": "Ann Lee",
        "given_name": "Ann",
        "family_name": "Lee",
        "email": "ann.lee@example.com",
        "emails": ["ann.lee@example.com"],
        "username": "alee",
        "usernames": [],
        "employee_ids": ["E1"],
        "status": "ENABLED",
        "type": "USER",
        "manager": "",
        "profile": source["profile"],
    }
    assert {name: getattr(ann, name) for name in ACCOUNT_DATA_FIELDS} == expected
