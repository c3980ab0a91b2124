"""A push rule's plan over a settled store takes the people's stored values as they are: the
next sync would compute those very values (it would find nothing to do), so computing them
again for everyone was a third of planning a rule at 100,000 people (issue 11). Anything that
can move a value since (a manual decision, a configuration change, a run that did not settle,
an edited configuration) computes them again, as before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.services import ConfigEdit, Services
from engine.sync import incremental, values
from engine.sync.incremental import values_settled


def settled(services: Services) -> bool:
    with services.db.session() as session:
        return values_settled(session)


def planned_writes(plan: Any, rule: str, target: str) -> dict[str, Any]:
    """account -> the value RULE's plan writes to TARGET."""
    return {
        item.account: item.changes[target].new
        for item in plan.rules.get(rule, [])
        if target in item.changes
    }


def dry_run_writes(services: Services, target: str) -> dict[str, Any]:
    """account -> the value a dry run's push stage writes to TARGET."""
    return {
        change.object_id: change.new
        for change in services.sync(dry_run=True).planned
        if change.stage == "push" and change.field == target
    }


def map_to_ad(services: Services, attribute: str) -> None:
    """ad-core writes ATTRIBUTE to extensionAttribute9."""
    services.config_edit(
        ConfigEdit(
            "set",
            "push_rules.ad-core.mappings.extensionAttribute9",
            {"target": "extensionAttribute9", "attribute": attribute},
        )
    )


def computed(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The attributes each plan computes again from here on."""
    calls: list[set[str]] = []
    original = values.refresh_attributes

    def counted(config: Any, names: Any, *rest: Any) -> Any:
        calls.append(set(names))
        return original(config, names, *rest)

    monkeypatch.setattr(values, "refresh_attributes", counted)
    return calls


def test_a_settled_store_plans_from_its_stored_values_as_computing_them_does(
    demo: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settled(demo)
    calls = computed(monkeypatch)
    plan = demo.push_plan()
    assert calls == []
    # the same plan as one that computes the values again
    monkeypatch.setattr(incremental, "values_settled", lambda session: False)
    again = demo.push_plan(config=demo.ctx.config())
    assert calls and calls[0]
    assert again.to_json() == plan.to_json()
    assert (
        demo.push_plan("ad-core").to_json()
        == demo.push_plan("ad-core", config=demo.ctx.config()).to_json()
    )


def test_a_manual_decision_since_the_last_sync_computes_the_values_again(
    demo: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = demo.find_records("user", "ann.lee")[0]
    account = next(a for a in demo.user_detail(person.id).accounts if a.app == "github")
    demo.set_link(account.key, None)
    assert not settled(demo)
    calls = computed(monkeypatch)
    demo.push_plan()
    assert calls
    demo.sync()
    assert settled(demo)  # the sync took the decision in, and settled again


def test_a_configuration_change_since_the_last_sync_computes_the_values_again(
    demo: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attribute now reads another source: the stored values are the old source's, and
    the plan shows the new ones before any sync."""
    sources = [{"cel": '"Dept " + subject.email'}]
    demo.config_edit(ConfigEdit("set", "attributes.department.sources", sources))
    assert not settled(demo)
    calls = computed(monkeypatch)
    plan = demo.push_plan()
    assert calls and "department" in calls[0]
    written = [
        change.new
        for items in plan.rules.values()
        for item in items
        for target, change in item.changes.items()
        if target == "department"
    ]
    assert written and all(str(value).startswith("Dept ") for value in written)


def test_a_store_whose_values_read_the_clock_never_counts_as_settled(demo: Services) -> None:
    demo.config_edit(
        ConfigEdit(
            "set",
            "attributes.seen_on",
            {"name": "seen_on", "custom": True, "sources": [{"cel": "string(now())"}]},
        )
    )
    result = demo.sync()
    assert result.status == "applied"
    assert not settled(demo)


def test_a_dry_run_leaves_a_settled_store_settled(demo: Services) -> None:
    demo.sync(dry_run=True)
    assert settled(demo)


def test_a_plan_computes_a_standard_attribute_its_rules_read_as_a_field(demo: Services) -> None:
    """ad-core reads employment_type as `subject.employmentType`: a changed source of it is
    planned as the sync's dry run plans it (it was planned from the stored values: review)."""
    demo.config_edit(
        ConfigEdit("set", "attributes.employment_type.sources", [{"cel": '"CONTRACTOR"'}])
    )
    planned = planned_writes(demo.push_plan("ad-core"), "ad-core", "extensionAttribute3")
    pushed = dry_run_writes(demo, "extensionAttribute3")
    assert set(planned.values()) >= {"Contractor"}
    assert planned == pushed


def test_a_write_a_killed_run_left_unsettled_is_not_a_settled_store(
    demo: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next sync settles it first (engine.sync.recovery), as its own nothing-changed
    check says (review)."""
    from engine.sync import recovery

    monkeypatch.setattr(recovery, "has_unsettled", lambda session: True)
    assert not settled(demo)


def test_a_rule_that_is_off_says_so_when_planned_by_name(demo: Services, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from console.cli import main

    runner = CliRunner()
    store = ["--db", str(tmp_path / "r.db")]
    result = runner.invoke(main, ["push-plan", "ad-phones-pilot", *store])
    assert result.exit_code == 0, result.output
    assert "push rule 'ad-phones-pilot' is off" in result.output
    assert "roster config set push_rules.ad-phones-pilot.enabled true" in result.output
    result = runner.invoke(main, ["push-plan", "ad-phones-pilot", "--json", *store])
    assert result.exit_code == 0, result.output
    assert any("'ad-phones-pilot' is off" in note for note in json.loads(result.output)["notes"])
    result = runner.invoke(main, ["push-plan", "ad-core", *store])
    assert result.exit_code == 0 and "is off" not in result.output, result.output


def test_a_cycle_through_a_pushed_field_is_computed_again_until_it_agrees(
    demo: Services,
) -> None:
    """ca reads cb; cb is AD's extensionAttribute9 (which ad-core writes from ca), else ca.
    The push's read-back moves cb after the run noted whom to compute again: it is noted
    with the values it wrote, and the store settles only with ca agreeing with cb (review:
    it settled with ann's ca "aa" where a computation gives "aaa")."""
    grow = 'size(subject.attributes.cb) >= 3 ? subject.attributes.cb : subject.attributes.cb + "a"'
    demo.config_edit(
        ConfigEdit(
            "set", "attributes.ca", {"name": "ca", "custom": True, "sources": [{"cel": grow}]}
        )
    )
    cb = [{"app": "ad", "field": "profile.extensionAttribute9"}, {"cel": "subject.attributes.ca"}]
    demo.config_edit(
        ConfigEdit("set", "attributes.cb", {"name": "cb", "custom": True, "sources": cb})
    )
    map_to_ad(demo, "ca")
    for _ in range(10):
        result = demo.sync()
        assert result.status == "applied", result.error
        if result.settled:
            break
    assert result.settled
    for user in demo.population().users:
        if user.status == "DELETED":
            continue
        ca, cb = user.attributes.get("ca", ""), user.attributes.get("cb", "")
        assert ca == (cb if len(cb) >= 3 else cb + "a"), (user.email, ca, cb)
    assert demo.sync(dry_run=True).planned == []
    assert settled(demo) and demo.push_plan().rules == {}


def test_a_plan_computes_what_the_pushed_attributes_read_first(demo: Services) -> None:
    """`badge` (pushed) reads `team`; `team` is edited and not synced yet: the plan computes
    `team` first, as the sync does, not `badge` from the stored `team` (review)."""
    team = {"name": "team", "custom": True, "sources": [{"cel": 'subject.department + "-t"'}]}
    badge = {
        "name": "badge",
        "custom": True,
        "sources": [{"cel": '"[" + subject.attributes.team + "]"'}],
    }
    demo.config_edit(ConfigEdit("set", "attributes.team", team))
    demo.config_edit(ConfigEdit("set", "attributes.badge", badge))
    map_to_ad(demo, "badge")
    demo.sync()
    team["sources"] = [{"cel": 'subject.department + "-u"'}]
    demo.config_edit(ConfigEdit("set", "attributes.team", team))
    planned = planned_writes(demo.push_plan("ad-core"), "ad-core", "extensionAttribute9")
    pushed = dry_run_writes(demo, "extensionAttribute9")
    assert planned and planned == pushed
    assert all(str(value).endswith("-u]") for value in planned.values())


def test_a_plan_naming_the_second_of_two_that_read_each_other_computes_the_first_first(
    demo: Services,
) -> None:
    """ca and cb read each other; only cb is pushed. The sync computes ca first (listed
    first); so does the plan (review: it computed cb from the stored ca)."""

    def attribute(name: str, text: str) -> dict:
        return {"name": name, "custom": True, "sources": [{"cel": text}]}

    demo.config_edit(
        ConfigEdit(
            "set", "attributes.ca", attribute("ca", '"A" + string(size(subject.attributes.cb))')
        )
    )
    demo.config_edit(
        ConfigEdit(
            "set", "attributes.cb", attribute("cb", '"B" + string(size(subject.attributes.ca))')
        )
    )
    map_to_ad(demo, "cb")
    for _ in range(6):
        if demo.sync().settled:
            break
    demo.config_edit(
        ConfigEdit(
            "set", "attributes.ca", attribute("ca", '"AA" + string(size(subject.attributes.cb))')
        )
    )
    planned = planned_writes(demo.push_plan("ad-core"), "ad-core", "extensionAttribute9")
    pushed = dry_run_writes(demo, "extensionAttribute9")
    assert planned and planned == pushed


def test_a_push_rule_changed_since_the_last_sync_leaves_the_values_settled(
    demo: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync computes people's values before it reads the push rules: editing a rule (what
    the Push screen is for) left every plan computing everyone's values again."""
    map_to_ad(demo, "department")
    assert settled(demo)
    calls = computed(monkeypatch)
    plan = demo.push_plan("ad-core")
    assert calls == []
    writes = planned_writes(plan, "ad-core", "extensionAttribute9")
    assert writes and writes == dry_run_writes(demo, "extensionAttribute9")
    # a push rule's editor plans an edited rule from the stored values too; an edited
    # attribute is computed
    rule = "push_rules.ad-core.mappings.extensionAttribute9"
    mapping = {"target": "extensionAttribute9", "attribute": "job_title"}
    edited = demo.config_edit(ConfigEdit("set", rule, mapping), dry_run=True).config
    assert planned_writes(
        demo.push_plan("ad-core", config=edited), "ad-core", "extensionAttribute9"
    )
    assert calls == []
    sources = [{"app": "hr", "field": "profile.job_title"}]
    path = "attributes.department.sources"
    edited = demo.config_edit(ConfigEdit("set", path, sources), dry_run=True).config
    demo.push_plan("ad-core", config=edited)
    assert calls and "department" in calls[0]


def test_a_plan_loads_the_stored_states_of_what_the_pushed_attributes_read(
    demo: Services,
) -> None:
    """A pushed count of reports reads manager_email, an authority attribute: computed
    without its stored state it lost its holder, and the plan wrote a count the sync did not
    (review: margaret's, after a link)."""
    reports = "string(size(c1.directory.users.v1.DirectReports(subject)))"
    demo.config_edit(
        ConfigEdit(
            "set",
            "attributes.report_count",
            {"name": "report_count", "custom": True, "sources": [{"cel": reports}]},
        )
    )
    map_to_ad(demo, "report_count")
    demo.sync()
    demo.sync()
    person = demo.find_records("user", "mark.campbell")[0]
    demo.set_link("hr:E10002", person.id)
    assert not settled(demo)
    planned = planned_writes(demo.push_plan("ad-core"), "ad-core", "extensionAttribute9")
    assert planned == dry_run_writes(demo, "extensionAttribute9")
