"""Export (stable YAML), diff, stored documents and section versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.config import (
    SECTIONS,
    App,
    Attribute,
    ConfigChange,
    Directory,
    FlowRule,
    KeySpec,
    Mapping,
    MatchRule,
    Ownership,
    Provisioning,
    PushRule,
    RosterConfig,
    Source,
    Targeting,
    diff_configs,
    dump_config,
    from_document,
    section_versions,
    to_document,
    validate_text,
)
from engine.config.model import EntitlementRef
from engine.connectors.base import ConnectorDescription
from engine.errors import ConfigInvalid, Problem


class NoCel:
    def check(self, context: str, text: str) -> list[Problem]:
        return []


def reload(text: str, **kwargs: object) -> RosterConfig:
    result = validate_text(text, cel=NoCel(), base_dir=Path("/tmp"), **kwargs)
    assert result.ok, result.report()
    assert result.config is not None
    return result.config


def sample_config() -> RosterConfig:
    """A configuration built in code that touches every part of the model."""
    return RosterConfig(
        apps=[
            App(id="hr", name="HR", connector="file", settings={"path": "hr.yaml"}),
            App(
                id="entra",
                name="Entra ID",
                connector="file",
                settings={"path": "entra.yaml", "flavour": "entra_id"},
                provisioning=Provisioning(
                    proactive=True,
                    fields={
                        "userPrincipalName": "subject.email",
                        "displayName": "subject.displayName",
                        "mailNickname": 'subject.email.split("@")[0]',
                    },
                ),
            ),
            App(
                id="badge",
                connector="file",
                settings={"path": "badge.csv"},
                ownership=Ownership(
                    strategy="custom",
                    rules=[
                        MatchRule(
                            name="badge",
                            account=KeySpec(cel="account.employeeIds"),
                            user=KeySpec(preset="employee_id"),
                        )
                    ],
                ),
            ),
            App(
                id="gh",
                connector="file",
                settings={"path": "gh.yaml"},
                ownership=Ownership(strategy="broad"),
            ),
        ],
        directories=[
            Directory(
                app="hr",
                filter='account.status == UserStatus.DISABLED\n  ? "IGNORE"\n  : "CREATE"',
                merge_rules=[
                    MatchRule(
                        name="email",
                        account=KeySpec(preset="primary_email", strip_plus_tag=True),
                        user=KeySpec(preset="all_emails"),
                    )
                ],
            ),
        ],
        attributes=[
            Attribute(
                name="department",
                sources=[Source(app="hr", field="profile.department")],
                flow_rules=[
                    FlowRule(app="hr", direction="inbound", update=60),
                    FlowRule(app="entra", direction="outbound"),
                ],
            ),
            Attribute(name="job_title", sources=[Source(app="hr", field="profile.job_title")]),
            Attribute(
                name="cost_center",
                custom=True,
                sources=[Source(cel='"hr" in accounts ? accounts.hr.profile.cc : ""')],
            ),
            Attribute(
                name="nicknames",
                custom=True,
                multi_valued=True,
                sources=[Source(app="gh", field="usernames")],
            ),
        ],
        push_rules=[
            PushRule(
                name="entra",
                app="entra",
                targeting=Targeting(
                    kind="filter",
                    entitlements=[EntitlementRef(app="entra", entitlement="lic-e5")],
                    attributes={"department": ["Sales"], "job_title": ["Engineer", "Lead"]},
                ),
                mappings=[
                    Mapping(target="department", attribute="department"),
                    Mapping(target="jobTitle", cel="subject.jobTitle.upperAscii()"),
                ],
            ),
            PushRule(name="off", app="entra", enabled=False),
        ],
    )


def test_round_trip_of_a_config_built_in_code() -> None:
    config = sample_config()
    text = dump_config(config)
    again = reload(text)
    assert again == config
    assert dump_config(again) == text


def test_export_is_readable_and_canonical() -> None:
    text = dump_config(sample_config())
    # Sections in fixed order, nothing timestamped.
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert keys == ["version", "settings", "apps", "directories", "attributes", "push_rules"]
    # Small leaves on one line, multi-line CEL as a block scalar, lists indented.
    assert "  deletion_threshold: {max_objects: 500, max_percent: 20}\n" in text
    assert "      - {app: hr, field: profile.department}\n" in text
    assert "      - {app: hr, direction: inbound, create: 50, update: 60, delete: 50}\n" in text
    block = '    filter: |-\n      account.status == UserStatus.DISABLED\n        ? "IGNORE"\n'
    assert block in text
    # Defaults that are noise are left out; what an admin must read stays.
    assert "strategy: narrow" not in text
    assert "multi_valued" in text.split("name: cost_center")[1].split("- name")[0]
    assert "multi_valued" not in text.split("name: job_title")[1].split("- name")[0]
    assert "    enabled: false\n" in text and "    enabled: true\n" in text
    # Unordered maps are sorted: provisioning fields by key.
    fields = text.split("fields:\n")[1].splitlines()[:3]
    assert [f.split(":")[0].strip() for f in fields] == [
        "displayName",
        "mailNickname",
        "userPrincipalName",
    ]
    # A single accepted value is written as a scalar, several as a list.
    assert "department: Sales" in text and "job_title: [Engineer, Lead]" in text


def test_export_does_not_depend_on_the_order_of_unordered_maps() -> None:
    config = sample_config()
    shuffled = config.model_copy(deep=True)
    fields = shuffled.apps[1].provisioning.fields  # type: ignore[union-attr]
    shuffled.apps[1].provisioning.fields = dict(reversed(list(fields.items())))  # type: ignore[union-attr]
    shuffled.apps[1].settings = dict(reversed(list(shuffled.apps[1].settings.items())))
    assert dump_config(shuffled) == dump_config(config)


def test_export_keeps_unicode_and_special_strings() -> None:
    config = RosterConfig(
        apps=[
            App(
                id="hr",
                name="Personalwesen — Zürich",
                connector="file",
                settings={"path": "hr.yaml", "since": "2024-01-31", "flag": "yes"},
            )
        ],
        attributes=[Attribute(name="department", sources=[Source(cel='"a: b # c"')])],
    )
    text = dump_config(config)
    assert "Personalwesen — Zürich" in text
    again = reload(text, describe=lambda spec: ConnectorDescription(kind="file"))
    assert again.apps[0].settings == {"path": "hr.yaml", "since": "2024-01-31", "flag": "yes"}
    assert again == config


def test_export_refuses_literal_secrets() -> None:
    config = RosterConfig(
        apps=[App(id="ad", connector="file", settings={"path": "a.yaml", "password": "hunter2"})]
    )
    with pytest.raises(ConfigInvalid) as raised:
        dump_config(config)
    assert raised.value.problems[0].path == "apps[0].settings.password"
    assert "hunter2" not in str(raised.value) + str(raised.value.problems)


# ----------------------------------------------------------------------------- documents


def test_document_round_trip_is_json() -> None:
    config = sample_config()
    document = to_document(config)
    assert from_document(json.loads(json.dumps(document))) == config


def test_damaged_document_is_a_config_error() -> None:
    document = to_document(sample_config())
    document["apps"][0]["connector"] = 5
    with pytest.raises(ConfigInvalid) as raised:
        from_document(document)
    assert raised.value.problems[0].path == "apps.0.connector"


# ----------------------------------------------------------------------------- section versions


def test_section_versions_are_stable() -> None:
    versions = section_versions(sample_config())
    assert list(versions) == list(SECTIONS)
    assert versions == section_versions(reload(dump_config(sample_config())))
    assert len(set(versions.values())) == len(SECTIONS)


@pytest.mark.parametrize(
    ("section", "edit"),
    [
        ("settings", lambda c: setattr(c.settings.deletion_threshold, "max_objects", 10)),
        ("apps", lambda c: setattr(c.apps[0], "name", "Workday")),
        ("directories", lambda c: setattr(c.directories[0], "filter", "true")),
        ("ownership", lambda c: setattr(c.apps[3].ownership, "strategy", "narrow")),
        ("attributes", lambda c: c.attributes[0].sources.append(Source(app="gh", field="email"))),
        ("flow_rules", lambda c: setattr(c.attributes[0].flow_rules[0], "update", 61)),
        ("push_rules", lambda c: setattr(c.push_rules[1], "enabled", True)),
        ("provisioning", lambda c: setattr(c.apps[1].provisioning, "proactive", False)),
    ],
)
def test_section_versions_change_only_for_the_touched_section(section: str, edit) -> None:
    before = sample_config()
    after = before.model_copy(deep=True)
    edit(after)
    old, new = section_versions(before), section_versions(after)
    changed = [name for name in SECTIONS if old[name] != new[name]]
    assert changed == [section]


# ----------------------------------------------------------------------------- diff


def test_diff_from_nothing_lists_every_object_as_added() -> None:
    changes = diff_configs(None, sample_config())
    added = [c.path for c in changes if c.kind == "added"]
    assert added[:4] == ["apps.hr", "apps.entra", "apps.badge", "apps.gh"]
    assert "directories.hr" in added and "push_rules.off" in added
    assert all(c.kind == "added" for c in changes)
    assert changes[0].describe().startswith('+ apps.hr: {"id": "hr", "name": "HR"')


def test_diff_of_identical_configs_is_empty() -> None:
    assert diff_configs(sample_config(), reload(dump_config(sample_config()))) == []


def test_diff_reports_added_removed_and_changed_by_name() -> None:
    old = sample_config()
    new = old.model_copy(deep=True)
    new.apps.insert(0, App(id="slack", connector="file", settings={"path": "slack.yaml"}))
    new.apps = [a for a in new.apps if a.id != "gh"]
    new.attributes[0].sources.append(Source(app="entra", field="profile.department"))
    new.attributes[0].flow_rules[0].update = 70
    new.push_rules[0].mappings[1].cel = "subject.jobTitle"
    new.apps[2].provisioning.fields["surname"] = "subject.familyName"  # type: ignore[union-attr]
    new.settings.deletion_threshold.max_percent = 10
    changes = diff_configs(old, new)
    by_path = {c.path: c for c in changes}
    assert set(by_path) == {
        "settings.deletion_threshold.max_percent",
        "apps.gh",
        "apps.slack",
        "apps.entra.provisioning.fields.surname",
        "attributes.department.sources",
        "attributes.department.flow_rules.hr.update",
        "push_rules.entra.mappings.jobTitle.cel",
    }
    assert by_path["apps.gh"].kind == "removed"
    assert by_path["apps.slack"].kind == "added"
    assert by_path["apps.entra.provisioning.fields.surname"].kind == "added"
    update = by_path["attributes.department.flow_rules.hr.update"]
    assert (update.kind, update.before, update.after) == ("changed", 60, 70)
    assert update.describe() == "~ attributes.department.flow_rules.hr.update: 60 → 70"
    assert by_path["apps.gh"].describe().startswith("- apps.gh (was {")
    sources = by_path["attributes.department.sources"]
    assert len(sources.before) == 1 and len(sources.after) == 2
    assert ConfigChange("added", "x", None, 1).as_dict() == {
        "kind": "added",
        "path": "x",
        "before": None,
        "after": 1,
    }


def test_diff_reports_a_change_of_directory_priority() -> None:
    old = sample_config()
    old.directories.append(Directory(app="gh"))
    new = old.model_copy(deep=True)
    new.directories.reverse()
    changes = diff_configs(old, new)
    assert [(c.kind, c.path, c.before, c.after) for c in changes] == [
        ("changed", "directories order", ["hr", "gh"], ["gh", "hr"])
    ]


def test_diff_of_optional_parts() -> None:
    old = sample_config()
    new = old.model_copy(deep=True)
    new.directories[0].filter = None
    new.apps[0].provisioning = Provisioning(fields={"x": "subject.email"})
    changes = {c.path: c for c in diff_configs(old, new)}
    assert changes["directories.hr.filter"].kind == "removed"
    assert changes["apps.hr.provisioning"].kind == "added"
    assert changes["apps.hr.provisioning"].after == {
        "proactive": False,
        "fields": {"x": "subject.email"},
    }


def test_dump_is_plain_yaml() -> None:
    data = yaml.safe_load(dump_config(sample_config()))
    assert data["push_rules"][1] == {
        "name": "off",
        "app": "entra",
        "enabled": False,
        "targeting": {"kind": "everyone"},
        "mappings": [],
    }
