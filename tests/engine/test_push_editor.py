"""What the push-rule editor asks the engine: the plan of an edited rule before it is saved, who
its targeting selects against the saved rule, one mapping for one person checked against the
push schema, and the choices a rule can name. Over the small organisation of test_push."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from engine.config.model import Source
from engine.errors import InvalidInput
from engine.services import ConfigEdit, Services
from tests.engine.test_push import TITLE, ad_org

EVERYONE = {"targeting": {"kind": "everyone"}, "mappings": [TITLE]}


def synced(tmp_path: Path, rule: dict, **attribute_changes: object) -> Services:
    services = ad_org(tmp_path, rule, **attribute_changes)
    services.sync()
    return services


def edited(services: Services, rule: str, change: dict) -> object:
    """The configuration with push rule RULE replaced by CHANGE applied to it (not saved)."""
    document = copy.deepcopy(services.config_get(f"push_rules.{rule}"))
    document.update(change)
    return services.config_edit(
        ConfigEdit("set", f"push_rules.{rule}", value=document), dry_run=True
    ).config


def test_push_plan_with_an_edited_configuration_plans_the_unsaved_rule(tmp_path: Path) -> None:
    services = synced(tmp_path, EVERYONE)
    assert services.push_plan("ad-core").rules == {}  # synced: nothing left to push
    config = edited(
        services,
        "ad-core",
        {"mappings": [TITLE, {"target": "extensionAttribute5", "cel": "subject.department"}]},
    )
    plan = services.push_plan("ad-core", config=config)
    # the three AD accounts: alee and bchen are in Engineering; spark holds "old", Sales now
    writes = {
        item.account: {t: (c.old, c.new) for t, c in item.changes.items()}
        for item in plan.rules["ad-core"]
    }
    assert writes == {
        "ad:alee": {"extensionAttribute5": (None, "Engineering")},
        "ad:bchen": {"extensionAttribute5": (None, "Engineering")},
        "ad:spark": {"extensionAttribute5": ("old", "Sales")},
    }
    # nothing was saved: the saved rule still plans nothing
    assert services.push_plan("ad-core").rules == {}
    assert len(services.config_get("push_rules.ad-core.mappings")) == 1


def test_push_plan_of_a_renamed_rule_in_an_edited_configuration(tmp_path: Path) -> None:
    services = synced(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": []})
    config = edited(services, "ad-core", {"name": "ad-titles", "mappings": [TITLE]})
    plan = services.push_plan("ad-titles", config=config)
    # AD says Ann Lee is an Intern, HR an Engineer; Bo Chen and Sam Park already match HR
    assert {item.account for item in plan.rules["ad-titles"]} == {"ad:alee"}


def test_targeting_counts_who_enters_and_leaves_against_the_saved_rule(tmp_path: Path) -> None:
    services = synced(tmp_path, EVERYONE)
    config = edited(
        services, "ad-core", {"targeting": {"kind": "cel", "cel": 'subject.department == "Sales"'}}
    )
    impact = services.push_targeting(config, "ad-core", saved_rule="ad-core")
    # five live people (test_push counts them); Sam Park (sam.park@, Sales) is the only one left
    assert impact.people == 5 and impact.targeted == 1 and impact.with_account == 1
    assert impact.entered == 0 and impact.left == 4
    assert sorted(impact.left_samples) == [
        "ann.lee@example.com",
        "bo.chen@example.com",
        "nina@example.com",
        "sam.park2@example.com",
    ]
    # the other way round: from the condition back to everyone, the four enter
    narrowed = services.push_targeting(config, "ad-core")
    assert narrowed.compared is False and narrowed.entered == 0


def test_targeting_by_filter_and_a_failing_condition(tmp_path: Path) -> None:
    services = synced(tmp_path, EVERYONE)
    config = edited(
        services,
        "ad-core",
        {
            "targeting": {
                "kind": "filter",
                "entitlements": [{"app": "ad", "entitlement": "vpn"}],
                "attributes": {"department": ["engineering"]},
            }
        },
    )
    impact = services.push_targeting(config, "ad-core", saved_rule="ad-core")
    assert (impact.targeted, impact.with_account, impact.left) == (2, 2, 3)
    config = edited(
        services, "ad-core", {"targeting": {"kind": "cel", "cel": "int(subject.department) > 1"}}
    )
    failing = services.push_targeting(config, "ad-core", saved_rule="ad-core")
    assert failing.targeted == 0 and failing.errors == 5 and len(failing.error_samples) == 5


def test_one_mapping_for_one_person_against_the_push_schema(tmp_path: Path) -> None:
    # a rule without mappings: the sync leaves AD's titles as they are
    services = synced(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": []})
    ann = "ann.lee@example.com"
    title = services.push_mapping_preview("ad", "title", ann, attribute="job_title")
    assert (title.value, title.pushed, title.account, title.current) == (
        "Engineer",
        "Engineer",
        "ad:alee",
        "Intern",
    )
    assert title.problem == "" and title.error is None
    # AD's `c` is a two-letter country code: at most 3 characters
    country = services.push_mapping_preview("ad", "c", ann, cel='"USA1"')
    assert country.pushed == "USA1" and "at most 3" in country.problem
    broken = services.push_mapping_preview("ad", "title", ann, cel="subject.department +")
    assert broken.error is not None and broken.error.line == 1 and broken.error.column
    assert broken.caret.endswith("^")
    nobody = services.push_mapping_preview("ad", "title", "nina@example.com", attribute="job_title")
    assert nobody.account == "" and nobody.current is None
    with pytest.raises(InvalidInput):
        services.push_mapping_preview("ad", "title", ann)


def test_flow_rules_that_keep_an_attribute_from_the_app_are_said(tmp_path: Path) -> None:
    services = synced(
        tmp_path,
        EVERYONE,
        job_title={"flow_rules": [{"app": "hr", "direction": "inbound"}]},
    )
    preview = services.push_mapping_preview(
        "ad", "title", "ann.lee@example.com", attribute="job_title"
    )
    assert "authoritative" in preview.blocked


def test_choices_name_the_push_targets_their_schema_and_the_entitlements(tmp_path: Path) -> None:
    services = synced(tmp_path, EVERYONE)
    choices = services.push_choices()
    assert [t.app for t in choices.targets] == ["ad"]  # hr and the others cannot push
    ad = choices.target("ad")
    assert ad is not None and ad.custom is True
    country = ad.field("C")
    assert country is not None and country.max_length == 3
    assert ad.field("extensionAttribute5") is not None
    assert ("ad", "vpn", "VPN users") in [(e.app, e.id, e.name) for e in choices.entitlements]
    assert choices.attributes["job_title"] is False
    assert choices.attributes["manager_email"] is True


def test_moving_a_mapping_is_a_change_that_is_saved(tmp_path: Path) -> None:
    services = synced(
        tmp_path,
        {
            "targeting": {"kind": "everyone"},
            "mappings": [TITLE, {"target": "description", "cel": '"managed"'}],
        },
    )
    result = services.config_edit(
        ConfigEdit("move", "push_rules.ad-core.mappings.description", to_index=0)
    )
    assert result.applied
    assert [c.path for c in result.changes] == ["push_rules.ad-core.mappings order"]
    targets = [m["target"] for m in services.config_get("push_rules.ad-core.mappings")]
    assert targets == ["description", "title"]
    export = services.export_config()
    assert export.index("target: description") < export.index("target: title")


def test_a_mapping_says_which_rules_read_the_field_it_pushes_into(tmp_path: Path) -> None:
    """The demo's badge ownership rule matches on AD's extensionAttribute2: pushing another
    value into it re-owns badges (newcomer review). The mapping's preview says so."""
    from engine.services import open_services

    demo = open_services(db_path=tmp_path / "r.db", init="sample")
    badge = "apps.badge.ownership.rules.badge-number.user"
    assert badge in demo.readers_of_field("ad", "extensionAttribute2")
    assert badge in demo.readers_of_field("ad", "EXTENSIONATTRIBUTE2")  # AD's names: any case
    person = demo.find_records("user", "", limit=1)[0]
    preview = demo.push_mapping_preview(
        "ad", "extensionAttribute2", person.id, attribute="cost_center"
    )
    assert badge in preview.read_by
    assert (
        demo.push_mapping_preview("ad", "extensionAttribute9", person.id, cel='"x"').read_by == []
    )
    # a direct source of the field reads it too; the mapping into it does not count itself
    config = demo.config().model_copy(deep=True)
    attribute = next(a for a in config.attributes if a.name == "job_title")
    attribute.sources.append(Source(app="ad", field="profile.extensionAttribute9"))
    readers = demo.readers_of_field("ad", "extensionAttribute9", config)
    assert readers == [f"attributes.job_title.sources.{len(attribute.sources) - 1}"]
