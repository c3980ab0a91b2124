"""The demo organisation's configuration: valid, complete, and stable through export."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import (
    RosterConfig,
    diff_configs,
    dump_config,
    section_versions,
    validate_file,
    validate_text,
)
from engine.records import STANDARD_ATTRIBUTES

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "roster.yaml"


@pytest.fixture(scope="module")
def demo_dir() -> Path:
    """The folder with roster.yaml and the demo's app files (sample_data/)."""
    assert (SAMPLE.parent / "apps").is_dir(), f"the demo's apps are missing from {SAMPLE.parent}"
    return SAMPLE.parent


def load_sample() -> RosterConfig:
    result = validate_file(SAMPLE)
    assert result.ok, result.report()
    assert result.config is not None
    return result.config


def test_sample_config_has_no_problem_at_all() -> None:
    result = validate_file(SAMPLE)
    assert result.problems == [], result.report()


def test_sample_round_trip_is_exact_and_byte_stable() -> None:
    config = load_sample()
    text = dump_config(config)
    again = validate_text(text, source="export", base_dir=SAMPLE.parent)
    assert again.ok, again.report()
    assert again.config == config
    assert dump_config(again.config) == text
    assert diff_configs(config, again.config) == []
    assert section_versions(again.config) == section_versions(config)


def test_sample_uses_every_feature() -> None:
    config = load_sample()
    apps = {app.id: app for app in config.apps}
    assert set(apps) == {"hr", "idp", "hr_feed", "ad", "entra", "github", "slack", "badge"}
    assert config.directory_app_ids() == ["hr", "idp", "hr_feed"]
    assert apps["ad"].settings["flavour"] == "active_directory"
    assert apps["entra"].settings["flavour"] == "entra_id"
    assert {app.ownership.strategy for app in apps.values()} == {"narrow", "broad", "custom"}
    assert apps["github"].ownership.strategy == "broad"
    assert apps["badge"].ownership.strategy == "custom" and apps["badge"].ownership.rules
    # directories: a filter with all three outcomes, CEL and preset merge rules, defaults
    assert config.directories[0].filter and "MATCH_ONLY" in config.directories[0].filter
    assert any(rule.account.cel for rule in config.directories[1].merge_rules or [])
    assert any(rule.account.strip_plus_tag for rule in config.directories[0].merge_rules or [])
    assert config.directories[2].merge_rules is None
    # attributes: every standard one, custom ones, CEL sources, flow rules of every direction
    names = {a.name for a in config.attributes}
    assert set(STANDARD_ATTRIBUTES) <= names
    assert {"cost_center", "phone", "location", "badge_site"} <= names
    assert any(a.custom and all(s.cel for s in a.sources) for a in config.attributes)
    directions = {r.direction for a in config.attributes for r in a.flow_rules}
    assert {"inbound", "outbound", "bidirectional"} <= directions
    department = config.attribute("department")
    assert department is not None
    assert [(r.app, r.update) for r in department.flow_rules][:2] == [("hr", 60), ("ad", 45)]
    manager = config.attribute("manager_email")
    assert manager is not None
    assert [(r.app, r.update, r.delete) for r in manager.flow_rules] == [
        ("hr", 70, 80),
        ("ad", 60, 40),
    ]
    phone = config.attribute("phone")
    assert phone is not None
    assert [(r.create, r.update) for r in phone.flow_rules] == [(50, 50), (30, 55)]
    job_title = config.attribute("job_title")
    assert job_title is not None and [s.app for s in job_title.sources] == ["hr", "idp"]
    # push rules: one enabled per target, a disabled one, every targeting kind, CEL mappings
    enabled = {(r.app, r.enabled) for r in config.push_rules}
    assert enabled == {("ad", True), ("entra", True), ("ad", False)}
    assert {r.targeting.kind for r in config.push_rules} == {"cel", "filter"}
    ad_core = config.push_rule("ad-core")
    assert ad_core is not None
    assert {m.target for m in ad_core.mappings} >= {
        "title",
        "department",
        "company",
        "c",
        "employeeID",
        "extensionAttribute1",
    }
    assert any(m.cel for m in ad_core.mappings) and any(m.attribute for m in ad_core.mappings)
    # provisioning for both directories that can create accounts
    entra = apps["entra"].provisioning
    assert entra is not None and entra.proactive
    assert set(entra.fields) == {
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "accountEnabled",
        "givenName",
        "surname",
        "jobTitle",
        "department",
        "usageLocation",
    }
    ad = apps["ad"].provisioning
    assert ad is not None
    assert set(ad.fields) == {
        "sAMAccountName",
        "userPrincipalName",
        "displayName",
        "givenName",
        "sn",
        "mail",
    }


def test_sample_app_files_exist(demo_dir: Path) -> None:
    config = load_sample()
    for app in config.apps:
        path = demo_dir / app.settings["path"]
        assert path.is_file(), f"{app.id}: {path} is missing"


def test_sample_cel_reads_only_keys_the_data_has(demo_dir: Path) -> None:
    """With the demo data loaded, no CEL expression reads a profile key no record has."""
    from engine.connectors.base import ConnectorSpec
    from engine.connectors.registry import make_connector
    from engine.records import AccountRecord, Population

    config = load_sample()
    accounts = []
    for app in config.apps:
        spec = ConnectorSpec(app.id, app.connector, app.settings, demo_dir)
        for listed in make_connector(spec).list_all().accounts:
            accounts.append(
                AccountRecord(
                    id=len(accounts) + 1,
                    app_id=app.id,
                    external_id=listed.external_id,
                    email=listed.email,
                    emails=listed.emails,
                    status=listed.status,
                    type=listed.type,
                    profile=listed.profile,
                )
            )
    assert {a.app_id for a in accounts} == {app.id for app in config.apps}
    result = validate_file(demo_dir / "roster.yaml", population=Population([], accounts))
    assert result.problems == [], result.report()


def test_a_misspelt_profile_key_is_a_warning_with_the_data(demo_dir: Path) -> None:
    from engine.records import AccountRecord, Population

    text = SAMPLE.read_text(encoding="utf-8").replace(
        "{app: hr, field: profile.location}",
        "{cel: 'accounts.hr.profile.locaton'}",
    )
    population = Population(
        [], [AccountRecord(id=1, app_id="hr", external_id="E1", profile={"location": "Oslo"})]
    )
    result = validate_text(text, base_dir=demo_dir, population=population)
    assert result.ok  # warnings only
    (warning,) = [w for w in result.warnings if "locaton" in w.message]
    assert "did you mean `location`?" in warning.message + warning.hint
    assert "locaton" in warning.message + warning.hint
    assert warning.path.endswith(".cel") and warning.line is not None
