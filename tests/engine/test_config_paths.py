"""Object paths over the document form: every kind of path, adding, moving, and wrong paths."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config import RosterConfig, to_document
from engine.config.paths import (
    apply,
    get_value,
    index_to_object_path,
    is_within,
    join_path,
    split_path,
)
from engine.errors import InvalidInput, NotFound
from tests.engine.org import CONFIG

PUSH = {
    "name": "ad-core",
    "app": "github",
    "enabled": True,
    "targeting": {"kind": "everyone"},
    "mappings": [
        {"target": "title", "attribute": "job_title"},
        {"target": "dept", "cel": "user.department"},
    ],
}


@pytest.fixture
def document() -> dict[str, Any]:
    config = dict(CONFIG)
    config["apps"] = [
        *CONFIG["apps"][:4],
        {
            **CONFIG["apps"][4],
            "ownership": {
                "strategy": "custom",
                "rules": [{"name": "badge", "account": {"cel": "x"}, "user": {"cel": "y"}}],
            },
            "provisioning": {"proactive": False, "fields": {"login": "subject.email"}},
        },
    ]
    config["push_rules"] = [PUSH]
    return to_document(RosterConfig.model_validate(config))


def test_every_kind_of_path_reads_its_object(document: dict[str, Any]) -> None:
    assert get_value(document, "settings.deletion_threshold.max_objects") == 500
    assert get_value(document, "settings")["deletion_threshold"]["max_percent"] == 20
    assert get_value(document, "apps.hr")["name"] == "HR"
    assert get_value(document, "apps.hr.settings.path") == "hr.yaml"
    assert get_value(document, "apps.github.ownership.strategy") == "custom"
    assert get_value(document, "apps.github.ownership.rules.badge.account") == {
        "preset": None,
        "strip_plus_tag": False,
        "cel": "x",
    }
    assert get_value(document, "apps.github.ownership.rules.badge.user")["cel"] == "y"
    assert get_value(document, "apps.github.provisioning.fields.login") == "subject.email"
    assert get_value(document, "directories.feed.filter") == '"MATCH_ONLY"'
    assert get_value(document, "directories.hr.enabled") is True
    assert get_value(document, "directories.idp.merge_rules.email.account")["strip_plus_tag"]
    assert get_value(document, "attributes.department.sources.1") == {
        "app": "idp",
        "field": "profile.department",
        "cel": None,
    }
    assert len(get_value(document, "attributes.department.sources")) == 2
    assert get_value(document, "attributes.department.flow_rules.idp")["update"] == 45
    assert get_value(document, "push_rules.ad-core.enabled") is True
    assert get_value(document, "push_rules.ad-core.mappings.dept")["cel"] == "user.department"
    assert get_value(document, "push_rules.ad-core.condition") is None
    assert get_value(document, "")["version"] == 1
    # names of attributes and rules are matched without regard to case
    assert get_value(document, "attributes.Department.sources.0")["app"] == "hr"
    assert get_value(document, "directories.idp.merge_rules.EMAIL")["name"] == "email"


def test_left_out_merge_rules_read_as_the_defaults_and_are_written_out_to_edit_one(
    document: dict[str, Any],
) -> None:
    assert document["directories"][0]["merge_rules"] is None  # hr uses the defaults
    names = [rule["name"] for rule in get_value(document, "directories.hr.merge_rules")]
    assert names == ["email", "employee_id"]
    assert get_value(document, "directories.hr.merge_rules.employee_id.user") == {
        "preset": "employee_id"
    }
    assert document["directories"][0]["merge_rules"] is None  # reading changed nothing

    new, done = apply(
        document, "set", "directories.hr.merge_rules.email.account", {"preset": "all_emails"}
    )
    rules = new["directories"][0]["merge_rules"]
    assert [r["name"] for r in rules] == ["email", "employee_id"]
    assert rules[0]["account"] == {"preset": "all_emails"}
    assert rules[1] == {
        "name": "employee_id",
        "account": {"preset": "employee_id"},
        "user": {"preset": "employee_id"},
    }
    assert document["directories"][0]["merge_rules"] is None  # the input is never changed
    assert done.path == "directories.hr.merge_rules.email.account"

    # deleting the list goes back to the defaults
    back, _ = apply(new, "delete", "directories.hr.merge_rules")
    assert back["directories"][0]["merge_rules"] is None


def test_condition_is_the_targeting_cel_and_sets_its_kind(document: dict[str, Any]) -> None:
    new, done = apply(document, "set", "push_rules.ad-core.condition", "user.department == 'x'")
    assert done.path == "push_rules.ad-core.condition"
    assert new["push_rules"][0]["targeting"]["kind"] == "cel"
    assert new["push_rules"][0]["targeting"]["cel"] == "user.department == 'x'"
    assert get_value(new, "push_rules.ad-core.condition") == "user.department == 'x'"
    gone, _ = apply(new, "delete", "push_rules.ad-core.condition")
    assert gone["push_rules"][0]["targeting"]["kind"] == "everyone"
    assert "cel" not in gone["push_rules"][0]["targeting"]
    assert is_within("push_rules.ad-core.condition", "push_rules.ad-core.targeting")


def test_a_path_naming_a_missing_keyed_item_adds_it_with_its_key(
    document: dict[str, Any],
) -> None:
    new, done = apply(document, "set", "directories.slack", {"filter": '"MATCH_ONLY"'})
    assert done.added and done.path == "directories.slack"
    assert new["directories"][-1] == {"app": "slack", "filter": '"MATCH_ONLY"'}
    new, done = apply(document, "set", "push_rules.ad-core.mappings.mail", {"attribute": "email"})
    assert new["push_rules"][0]["mappings"][-1] == {"target": "mail", "attribute": "email"}
    new, done = apply(document, "set", "attributes.department.sources.2", {"cel": '"x"'})
    assert new["attributes"][0]["sources"][-1] == {"cel": '"x"'}
    new, done = apply(document, "set", "apps.hr.provisioning.fields.mail", "subject.email")
    assert new["apps"][0]["provisioning"] == {"fields": {"mail": "subject.email"}}
    new, _ = apply(document, "set", "apps.hr.settings.format", "csv")
    assert new["apps"][0]["settings"] == {"path": "hr.yaml", "format": "csv"}
    # the value's key must agree with the path's
    with pytest.raises(InvalidInput, match="the path names `slack` but the value's `app` is `x`"):
        apply(document, "set", "directories.slack", {"app": "x"})
    with pytest.raises(InvalidInput, match="a new directory is a mapping of its fields"):
        apply(document, "set", "directories.slack", "CREATE")


def test_replacing_an_item_keeps_its_key_and_a_new_key_renames_it(
    document: dict[str, Any],
) -> None:
    new, done = apply(document, "set", "directories.feed", {"filter": '"CREATE"'})
    assert new["directories"][2] == {"app": "feed", "filter": '"CREATE"'}
    assert not done.added
    new, done = apply(document, "set", "push_rules.ad-core", {**PUSH, "name": "ad-main"})
    assert new["push_rules"][0]["name"] == "ad-main"
    assert (done.path, done.after_path) == ("push_rules.ad-core", "push_rules.ad-main")


def test_moving_deleting_enabling(document: dict[str, Any]) -> None:
    new, done = apply(document, "move", "directories.feed", to_index=0)
    assert [d["app"] for d in new["directories"]] == ["feed", "hr", "idp"]
    assert done.shown_path == "directories"
    new, _ = apply(document, "move", "attributes.department.sources.0", to_index=1)
    assert [s["app"] for s in new["attributes"][0]["sources"]] == ["idp", "hr"]
    new, _ = apply(document, "move", "directories.hr.merge_rules.employee_id", to_index=0)
    assert [r["name"] for r in new["directories"][0]["merge_rules"]] == ["employee_id", "email"]
    with pytest.raises(InvalidInput, match="the new position must be from 0 to 2"):
        apply(document, "move", "directories.feed", to_index=3)
    with pytest.raises(InvalidInput, match="is not an item of a list"):
        apply(document, "move", "directories.feed.filter", to_index=0)

    new, _ = apply(document, "delete", "push_rules.ad-core.mappings.title")
    assert [m["target"] for m in new["push_rules"][0]["mappings"]] == ["dept"]
    new, _ = apply(document, "delete", "directories.hr.filter")
    assert "filter" not in new["directories"][0]
    new, _ = apply(document, "delete", "apps.github.provisioning.fields.login")
    assert new["apps"][4]["provisioning"]["fields"] == {}

    new, _ = apply(document, "disable", "directories.idp")
    assert new["directories"][1]["enabled"] is False
    new, _ = apply(new, "enable", "directories.idp.enabled")
    assert new["directories"][1]["enabled"] is True
    new, _ = apply(document, "disable", "push_rules.ad-core")
    assert new["push_rules"][0]["enabled"] is False
    with pytest.raises(InvalidInput, match="cannot be enabled or disabled; directories and push"):
        apply(document, "disable", "attributes.department")


def test_wrong_paths_say_what_exists(document: dict[str, Any]) -> None:
    with pytest.raises(NotFound, match=r"directories.nope: there is no directory `nope`; "
                       r"directories has: hr, idp, feed"):  # fmt: skip
        get_value(document, "directories.nope.filter")
    with pytest.raises(NotFound, match="there is no directory `nope`; there are: hr, idp, feed"):
        get_value(document, "directories.nope")
    with pytest.raises(InvalidInput, match=r"a directory has no `filtr` \(did you mean `filter`"):
        get_value(document, "directories.hr.filtr")
    with pytest.raises(InvalidInput, match="the configuration has no `dirs`; its fields are: "
                       "version, settings, apps, directories"):  # fmt: skip
        get_value(document, "dirs")
    with pytest.raises(NotFound, match="has 2 sources, numbered from 0 \\(0 to 1\\)"):
        get_value(document, "attributes.department.sources.7")
    with pytest.raises(NotFound, match="apps.hr.provisioning is not set, so it has no `fields`"):
        get_value(document, "apps.hr.provisioning.fields.mail")
    with pytest.raises(NotFound, match="apps.hr.settings has no `nope`; it has: path"):
        get_value(document, "apps.hr.settings.nope")
    with pytest.raises(InvalidInput, match="is a text, a single value; it has no `x`"):
        get_value(document, "directories.hr.filter.x")
    with pytest.raises(NotFound, match="there is no mapping `nope`; there are: title, dept"):
        apply(document, "delete", "push_rules.ad-core.mappings.nope")
    with pytest.raises(InvalidInput, match="a path has no empty parts"):
        get_value(document, "directories..hr")
    with pytest.raises(InvalidInput, match="push rule has no `conditon`.*did you mean `condition`"):
        get_value(document, "push_rules.ad-core.conditon")


def test_paths_with_odd_names_are_quoted() -> None:
    assert split_path('apps.x.settings."a.b".c') == ["apps", "x", "settings", "a.b", "c"]
    assert join_path(["apps", "x", "settings", "a.b"]) == 'apps.x.settings."a.b"'
    assert split_path(join_path(["rules", 'say "hi"'])) == ["rules", 'say "hi"']
    assert split_path("") == []


def test_problem_paths_become_object_paths(document: dict[str, Any]) -> None:
    assert index_to_object_path(document, ("directories", 1, "merge_rules", 0, "account")) == (
        "directories.idp.merge_rules.email.account"
    )
    assert index_to_object_path(document, ("attributes", 0, "sources", 1, "app")) == (
        "attributes.department.sources.1.app"
    )
    broken = {"apps": [{"name": "no id"}]}
    assert index_to_object_path(broken, ("apps", 0, "id")) == "apps.0.id"
