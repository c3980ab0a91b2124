"""Value impact (Services.value_impact): what an attribute, flow-rule or push-rule edit does to
people's values and to what is pushed, over the demo organisation, checked against the store,
the sync's own push plan and the CLI's dry run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from console.cli import main
from engine.errors import NotFound
from engine.services import ConfigEdit, Services
from engine.store.models import AttributeValue

LABEL = 'subject.attributes.cost_center + " · " + subject.department'


def dry(services: Services, op: str, path: str, value: object = None) -> object:
    return services.config_edit(ConfigEdit(op, path, value), dry_run=True).config  # type: ignore[arg-type]


def test_the_saved_configuration_agrees_with_the_store(demo: Services) -> None:
    impact = demo.value_impact()
    assert not impact.cancelled and impact.people > 0
    with demo.db.session() as session:
        stored = {
            (row.user_id, row.attribute): row.value
            for row in session.scalars(select(AttributeValue))
        }
    live = {u.id for u in demo.population().users if u.status != "DELETED"}
    for name in ("department", "job_title", "additional_email"):
        outcome = impact.attributes[name]
        with_value = sum(1 for uid in live if stored.get((uid, name)) not in (None, "", []))
        assert outcome.with_value == with_value
        assert outcome.with_value + outcome.empty == impact.people
        assert outcome.changed == 0 and outcome.samples == []
    assert all(d.added == d.removed == d.entered == d.left == 0 for d in impact.push.values())
    department = dict(impact.attributes["department"].distinct)
    assert department["Engineering"] == sum(
        1 for uid in live if stored.get((uid, "department")) == "Engineering"
    )


def test_a_new_custom_attribute_shows_its_values_before_saving(demo: Services) -> None:
    document = {"name": "cost_center_label", "custom": True, "sources": [{"cel": LABEL}]}
    edited = dry(demo, "set", "attributes.cost_center_label", document)
    person = demo.find_records("user", "ann.lee")[0]
    impact = demo.value_impact(edited, person=person.id)  # type: ignore[arg-type]
    assert list(impact.attributes) == ["cost_center_label"]
    outcome = impact.attributes["cost_center_label"]
    assert outcome.changed == outcome.with_value > 0
    assert all(change.old == "" for change in outcome.samples)
    mine = impact.person["cost_center_label"]  # type: ignore[index]
    expected = demo.preview_one("attribute_source", LABEL, person).value
    assert mine.new == expected and mine.old == ""
    assert mine.source.startswith("cel: ") and "first source" in mine.reason
    assert demo.config().attribute("cost_center_label") is None  # nothing was saved


def test_disabling_a_flow_rule_shows_the_pushes_that_disappear(demo: Services) -> None:
    edited = dry(
        demo, "set", "attributes.department.flow_rules.ad", {"app": "ad", "direction": "disabled"}
    )
    impact = demo.value_impact(edited)
    ad = impact.push["ad-core"]
    assert ad.removed > 0 and ad.added == 0
    assert ad.writes_edited == ad.writes_saved - ad.removed
    assert all(w.target == "department" and w.edited is None for w in ad.samples)
    assert impact.push["entra-licensed"].removed == 0  # Entra's flow rule is untouched


def test_a_new_mapping_is_planned_as_the_sync_would(demo: Services) -> None:
    mapping = {"target": "extensionAttribute5", "cel": "subject.attributes.cost_center"}
    path = "push_rules.ad-core.mappings.extensionAttribute5"
    impact = demo.value_impact(dry(demo, "set", path, mapping))
    ad = impact.push["ad-core"]
    assert ad.added == ad.pending > 0 and ad.removed == 0
    assert {w.target for w in ad.samples} == {"extensionAttribute5"}
    demo.config_edit(ConfigEdit("set", path, mapping))
    planned = demo.push_plan("ad-core").rules["ad-core"]
    writes = [item for item in planned if "extensionAttribute5" in item.changes]
    assert len(writes) == ad.pending  # the sync's own plan agrees


def test_targeting_who_enters_and_who_leaves(demo: Services) -> None:
    saved = demo.value_impact().push["entra-licensed"]
    edited = dry(
        demo,
        "set",
        "push_rules.entra-licensed.targeting",
        {"kind": "cel", "cel": 'subject.department == "Engineering"'},
    )
    after = demo.value_impact(edited).push["entra-licensed"]
    assert after.targeted == saved.targeted + after.entered - after.left
    assert after.left > 0 and len(after.left_samples) == min(after.left, 10)
    engineers = [
        u
        for u in demo.population().users
        if u.status != "DELETED" and u.attributes.get("department") == "Engineering"
    ]
    assert after.targeted == len(engineers)


def test_a_failing_source_is_listed_per_person(demo: Services) -> None:
    source = {"cel": "int(subject.department)"}
    document = {"name": "badge_number", "custom": True, "sources": [source]}
    impact = demo.value_impact(dry(demo, "set", "attributes.badge_number", document))
    outcome = impact.attributes["badge_number"]
    assert outcome.error_count > 0 and outcome.errors
    error = outcome.errors[0]
    assert error.person and error.source == "cel: int(subject.department)" and error.message


def test_unknown_names_and_cancelling(demo: Services) -> None:
    with pytest.raises(NotFound, match="No attribute 'nope'"):
        demo.value_impact(attributes=["nope"])
    assert demo.value_impact(cancelled=lambda: True).cancelled


def test_the_cli_dry_run_says_what_changes(demo_template: Path, tmp_path: Path) -> None:
    folder = tmp_path / "store"
    shutil.copytree(demo_template, folder)
    db = str(folder / "r.db")
    result = CliRunner().invoke(
        main,
        [
            "config",
            "set",
            "--dry-run",
            "attributes.department.flow_rules.ad",
            "{app: ad, direction: disabled}",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "push rule ad-core (ad)" in result.output
    assert "no longer pushed" in result.output and "→ not pushed" in result.output
    assert "Nothing was changed" in result.output


def test_a_mapping_of_an_attribute_saved_since_the_last_sync_is_planned(demo: Services) -> None:
    # The attribute is saved but no sync has run: its values are not stored yet. The next sync
    # computes it before it pushes, so the previews must too (they showed nothing to push).
    document = {"name": "cost_center_label", "custom": True, "sources": [{"cel": LABEL}]}
    demo.config_edit(ConfigEdit("set", "attributes.cost_center_label", document))
    mapping = {"target": "extensionAttribute5", "attribute": "cost_center_label"}
    path = "push_rules.ad-core.mappings.extensionAttribute5"
    ad = demo.value_impact(dry(demo, "set", path, mapping)).push["ad-core"]
    assert ad.pending == ad.added > 0
    assert all(w.edited not in (None, "") for w in ad.samples)
    demo.config_edit(ConfigEdit("set", path, mapping))
    planned = demo.push_plan("ad-core").rules["ad-core"]
    writes = [item for item in planned if "extensionAttribute5" in item.changes]
    assert len(writes) == ad.pending
    dry_run = demo.sync(dry_run=True)
    pushes = [c for c in dry_run.changes if c["field"] == "extensionAttribute5"]
    assert len(pushes) == len(writes)  # what the sync itself plans


def test_a_source_that_gives_a_map_is_an_error_not_a_python_repr(demo: Services) -> None:
    source = {"cel": '{"a": "1"}'}
    document = {"name": "mapattr", "custom": True, "sources": [source]}
    outcome = demo.value_impact(dry(demo, "set", "attributes.mapattr", document)).attributes[
        "mapattr"
    ]
    assert outcome.with_value == 0 and outcome.error_count == outcome.empty > 0
    assert "this source gave a map" in outcome.errors[0].message


def test_a_renamed_push_rule_is_compared_with_what_it_was(demo: Services) -> None:
    """Renaming a rule in the editor read as a new rule: "every value appears" beside "nothing
    to push" (newcomer review). Named as the rule it renames, it keeps the same values written."""
    document = demo.config_get("push_rules.ad-core")
    assert isinstance(document, dict)
    renamed = dry(demo, "set", "push_rules.ad-core", {**document, "name": "ad-main"})
    plain = demo.value_impact(renamed).push["ad-main"]
    assert plain.added > 0  # without being told: a new rule
    told = demo.value_impact(renamed, renamed={"ad-main": "ad-core"}).push
    assert "ad-core" not in told
    assert told["ad-main"].added == told["ad-main"].removed == 0
    assert told["ad-main"].entered == told["ad-main"].left == 0


def test_a_count_over_everyone_keeps_few_conversions_and_counts_as_an_unbounded_one_does(
    demo: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The count runs on a CEL engine of its own that keeps at most SWEEP_CACHE_LIMIT converted
    records (at 100,000 people the shared engine was left holding 850 MB of them): at one,
    every expression converts its records again, and the count is the same; the shared
    engine the previews use is left as it was."""
    import engine.cel

    document = {"name": "cost_center_label", "custom": True, "sources": [{"cel": LABEL}]}
    edited = dry(demo, "set", "attributes.cost_center_label", document)
    outcomes = []
    for limit in (None, 1):
        monkeypatch.setattr(engine.cel, "SWEEP_CACHE_LIMIT", limit)
        demo.invalidate()
        shared = demo.ctx.cel()
        impact = demo.value_impact(edited)
        assert not shared._users and not shared._accounts  # nothing converted into it
        outcomes.append(
            {
                name: (o.with_value, o.empty, o.distinct, o.changed, o.error_count)
                for name, o in impact.attributes.items()
            }
        )
    assert outcomes[0] == outcomes[1] and outcomes[0]["cost_center_label"][0] > 0


def test_stored_states_share_their_repeated_texts_and_read_as_stored(demo: Services) -> None:
    """Everyone's stored attribute states (what a count decides from) hold one string per
    repeated text (a department shared by hundreds of people), and are the store's values."""
    from engine.services.values import stored_attribute_states

    states = stored_attribute_states(demo.ctx, None)
    with demo.db.session() as session:
        rows = list(session.scalars(select(AttributeValue)))
    assert len(states) == len(rows) > 0
    for row in rows:
        state = states[(row.user_id, row.attribute)]
        assert (state.value, state.source, state.last_seen, state.ever_set) == (
            row.value,
            row.source,
            row.last_seen or {},
            row.ever_set,
        )
    engineering = [s for s in states.values() if s.value == "Engineering"]
    assert len(engineering) > 1 and len({id(s.value) for s in engineering}) == 1
    seen = [v for s in engineering for v in s.last_seen.values() if v == "Engineering"]
    assert seen and all(v is engineering[0].value for v in seen)


@pytest.mark.parametrize("stored", ["[1, 2]", '"x"', '"{}"'])
def test_a_last_seen_written_outside_roster_is_named_not_a_traceback(
    demo: Services, tmp_path: Path, stored: str
) -> None:
    """A stored record of what an attribute's sources last showed that is JSON but not a map
    (the store edited by hand) is a damaged record naming the person and attribute, for
    `explain` and the count (and a sync that reads it, through the same loader) alike: it was
    a TypeError (review)."""
    import sqlite3
    from contextlib import closing

    person = demo.find_records("user", "ann.lee")[0]
    demo.db.dispose()
    with closing(sqlite3.connect(tmp_path / "r.db")) as db, db:
        db.execute(
            "update attribute_value set last_seen = ? where user_id = ? and attribute = ?",
            (stored, person.id, "department"),
        )
    runner = CliRunner()
    for args in (["explain", "ann.lee@example.com", "department"],):
        result = runner.invoke(main, ["--db", str(tmp_path / "r.db"), *args])
        assert result.exit_code != 0, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert "attribute 'department'" in result.output, (args, result.output)
        assert f"of person {person.id} last showed is not a map" in result.output
        assert "Traceback" not in result.output
    demo.invalidate()
    with pytest.raises(Exception, match="last showed is not a map"):
        demo.value_impact()


def test_everyones_states_of_a_few_attributes_load_alone_and_the_rest_on_asking(
    demo: Services,
) -> None:
    """A push plan loads everyone's states of the attributes its rules read, no others (the
    1.4 million of 100,000 people were half of planning one rule); asked for whole later, the
    rest load, the ones loaded first kept."""
    from engine.sync.loading import load_attribute_states, load_state

    with demo.db.session() as session:
        stored = {(r.user_id, r.attribute) for r in session.scalars(select(AttributeValue))}
        state = load_state(session, attributes=False)
        load_attribute_states(session, state, None, only={"department", "job_title"})
        assert set(state.attributes) == {k for k in stored if k[1] in {"department", "job_title"}}
        assert state.attributes and state.attributes_for is not None  # not everyone's
        first = next(iter(state.attributes.values()))
        load_attribute_states(session, state, None, only=set())  # none asked: none loaded
        load_attribute_states(session, state, None)
        assert set(state.attributes) == stored and state.attributes_for is None
        assert next(iter(state.attributes.values())) is first
    # the plan it serves is the sync's: nothing left to push after a sync
    assert demo.push_plan().rules == {}


def test_an_edit_shows_what_the_attributes_reading_it_become(
    demo: Services, demo_template: Path, tmp_path: Path
) -> None:
    # `cost_center_label` reads department: an edit of department changes it too, which the
    # preview left out (it named the edited attribute alone)
    document = {"name": "cost_center_label", "custom": True, "sources": [{"cel": LABEL}]}
    demo.config_edit(ConfigEdit("set", "attributes.cost_center_label", document))
    demo.sync()
    sources = [{"app": "hr", "field": "profile.job_title"}]
    edited = dry(demo, "set", "attributes.department.sources", sources)
    impact = demo.value_impact(edited)  # type: ignore[arg-type]
    assert list(impact.attributes) == ["department", "cost_center_label"]
    department, label = impact.attributes["department"], impact.attributes["cost_center_label"]
    assert department.reads == () and label.reads == ("department",)
    assert 0 < label.changed and label.changed <= department.changed
    # what the next sync stores once the edit is saved
    demo.config_edit(ConfigEdit("set", "attributes.department.sources", sources))
    demo.sync()
    with demo.db.session() as session:
        stored = {
            row.user_id: row.value
            for row in session.scalars(
                select(AttributeValue).where(AttributeValue.attribute == "cost_center_label")
            )
        }
    assert label.samples and all(stored[c.person_id] == c.new for c in label.samples)
    # an edit nothing reads reports the edited attribute alone; so does the saved outcome
    alone = demo.value_impact(dry(demo, "set", "attributes.job_title.sources", sources))  # type: ignore[arg-type]
    assert list(alone.attributes) == ["job_title"]
    assert all(o.reads == () for o in demo.value_impact(push=False).attributes.values())


def test_the_cli_dry_run_names_the_attributes_reading_the_edited_one(
    demo_template: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "store"
    shutil.copytree(demo_template, folder)
    db = str(folder / "r.db")
    document = '{name: cost_center_label, custom: true, sources: [{cel: "subject.department"}]}'
    # a reader of the reader reads department only through it (review: it was labelled as
    # reading department itself)
    second = (
        '{name: label_tag, custom: true, sources: [{cel: "subject.attributes.cost_center_label"}]}'
    )
    for args in (
        ["attributes.cost_center_label", document],
        ["attributes.label_tag", second],
        ["--dry-run", "attributes.department.sources", "[{app: hr, field: profile.job_title}]"],
    ):
        result = CliRunner().invoke(main, ["config", "set", *args, "--db", db])
        assert result.exit_code == 0, result.output
    assert "attribute cost_center_label (reads department):" in result.output
    assert "attribute label_tag (reads cost_center_label, which reads department):" in result.output
    # five samples of each, and how many more there are
    assert "    … and " in result.output and "more (--json lists" in result.output


MANAGER_DEPARTMENT = {
    "name": "manager_department",
    "custom": True,
    "sources": [{"cel": 'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("")'}],
}


def stored_values(services: Services, name: str) -> dict[int, object]:
    with services.db.session() as session:
        query = select(AttributeValue).where(AttributeValue.attribute == name)
        return {row.user_id: row.value for row in session.scalars(query)}


def preview_then_sync(
    services: Services, path: str, value: object, names: list[str]
) -> tuple[object, dict[str, set[int]], dict[str, dict[int, object]]]:
    """The value impact of setting PATH to VALUE; then, saved and synced, whose values of
    NAMES moved, and the values stored."""
    impact = services.value_impact(dry(services, "set", path, value))  # type: ignore[arg-type]
    was = {name: stored_values(services, name) for name in names}
    services.config_edit(ConfigEdit("set", path, value))
    services.sync()
    now = {name: stored_values(services, name) for name in names}
    live = {u.id for u in services.population().users if u.status != "DELETED"}
    moved = {
        name: {uid for uid in live if was[name].get(uid, "") != now[name].get(uid, "")}
        for name in names
    }
    return impact, moved, now


def agrees(outcome: Any, moved: set[int], now: dict[int, object]) -> bool:
    return outcome.changed == len(moved) and all(
        now.get(c.person_id, "") == c.new for c in outcome.samples
    )


ROOT_DEPARTMENT = (
    "c1.directory.users.v1.GetManagers(subject).size() > 0"
    " ? c1.directory.users.v1.GetManagers(subject)[0].attributes.root_dept : subject.department"
)
REPORTS = "string(size(c1.directory.users.v1.DirectReports(subject)))"


@pytest.mark.parametrize(
    ("attributes", "path", "value", "readers"),
    [
        # a report's manager_department reads the manager's department: the preview read the
        # managers as stored and showed no change
        (
            [MANAGER_DEPARTMENT],
            "attributes.department.sources",
            [{"app": "hr", "field": "profile.job_title"}],
            {"manager_department": ("department",)},
        ),
        # a chain of managers, each reading the one above: the sync resolves it in one run
        # (managers first), a preview passing over everyone three more times stopped short
        (
            [{"name": "root_dept", "custom": True, "sources": [{"cel": ROOT_DEPARTMENT}]}],
            "attributes.department.sources",
            [{"app": "hr", "field": "profile.job_title"}],
            {"root_dept": ("department",)},
        ),
        # the managers and the reports are found by the manager_email people hold: an edit of
        # it changes both, which no expression names
        (
            [
                MANAGER_DEPARTMENT,
                {"name": "report_count", "custom": True, "sources": [{"cel": REPORTS}]},
            ],
            "attributes.manager_email.sources",
            [{"cel": "subject.email"}],
            {"manager_department": ("manager_email",), "report_count": ("manager_email",)},
        ),
    ],
    ids=["managers", "chain", "manager-email"],
)
def test_an_attribute_reading_other_people_is_previewed_as_the_sync_computes_it(
    demo: Services,
    attributes: list[dict[str, Any]],
    path: str,
    value: object,
    readers: dict[str, tuple[str, ...]],
) -> None:
    for attribute in attributes:
        demo.config_edit(ConfigEdit("set", f"attributes.{attribute['name']}", attribute))
    demo.sync()
    demo.sync()
    impact, moved, now = preview_then_sync(demo, path, value, list(readers))
    for name, reads in readers.items():
        outcome = impact.attributes[name]  # type: ignore[attr-defined]
        assert outcome.reads == reads
        assert moved[name] and agrees(outcome, moved[name], now[name]), name


def test_a_push_plan_pushes_what_other_people_now_read(demo: Services) -> None:
    # a pushed attribute reading the managers: after their department was edited, the plan
    # must push what the next sync pushes (it planned the reports' values from the old one)
    demo.config_edit(ConfigEdit("set", "attributes.manager_department", MANAGER_DEPARTMENT))
    mapping = {"target": "extensionAttribute6", "attribute": "manager_department"}
    demo.config_edit(ConfigEdit("set", "push_rules.ad-core.mappings.extensionAttribute6", mapping))
    demo.sync()
    sources = [{"app": "hr", "field": "profile.job_title"}]
    demo.config_edit(ConfigEdit("set", "attributes.department.sources", sources))
    planned = {
        item.account: item.changes["extensionAttribute6"].new
        for item in demo.push_plan("ad-core").rules["ad-core"]
        if "extensionAttribute6" in item.changes
    }
    dry_run = demo.sync(dry_run=True)
    pushed = {
        c["object_id"]: c["new"] for c in dry_run.changes if c["field"] == "extensionAttribute6"
    }
    assert pushed and planned == pushed


def test_an_edits_push_section_reads_other_people_with_their_new_values(demo: Services) -> None:
    # a push mapping reading the manager's department: the preview's push plan looked the
    # managers up as stored, and left out every write of it the sync then made
    mapping = {
        "target": "extensionAttribute7",
        "cel": 'c1.directory.users.v1.GetManagers(subject)[?0].department.orValue("")',
    }
    demo.config_edit(ConfigEdit("set", "push_rules.ad-core.mappings.extensionAttribute7", mapping))
    demo.sync()
    sources = [{"app": "hr", "field": "profile.job_title"}]
    edited = dry(demo, "set", "attributes.department.sources", sources)
    ad = demo.value_impact(edited).push["ad-core"]  # type: ignore[arg-type]
    demo.config_edit(ConfigEdit("set", "attributes.department.sources", sources))
    pushed = [
        c
        for c in demo.sync(dry_run=True).planned
        if c.stage == "push" and c.object_id.startswith("ad:")
    ]
    assert any(c.field == "extensionAttribute7" for c in pushed)
    assert ad.pending == len(pushed)


def test_the_cli_dry_run_cuts_its_sample_values(demo_template: Path, tmp_path: Path) -> None:
    # a value can be megabytes: the summary's samples printed them whole (review)
    folder = tmp_path / "store"
    shutil.copytree(demo_template, folder)
    long = "[bold]" + "x" * 3000
    result = CliRunner().invoke(
        main,
        [
            "config",
            "set",
            "--dry-run",
            "attributes.department.sources",
            f'[{{cel: "\\"{long}\\""}}]',
            "--db",
            str(folder / "r.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    samples = [line for line in result.output.splitlines() if "→" in line]
    assert samples and all(len(line) < 200 for line in samples)
    assert any('"[bold]xxx' in line and "…" in line for line in samples)


def test_removing_an_attribute_clears_it_for_its_readers_as_the_preview_says(
    demo: Services,
) -> None:
    # `rd` read `base`; once base was removed the preview said rd would not change and base
    # would be blank, while the sync kept base's stored values and rd kept reading them
    for name, cel in (("base", '"X"'), ("rd", 'subject.attributes.base + "!"')):
        demo.config_edit(
            ConfigEdit("set", f"attributes.{name}", {"name": name, "custom": True,
                                                      "sources": [{"cel": cel}]})
        )  # fmt: skip
    demo.sync()
    edited = demo.config_edit(ConfigEdit("delete", "attributes.base"), dry_run=True).config
    impact = demo.value_impact(edited)
    rd = impact.attributes["rd"]
    assert rd.reads == ("base",) and rd.changed == impact.people
    assert all(c.old == "X!" and c.new == "!" for c in rd.samples)
    demo.config_edit(ConfigEdit("delete", "attributes.base"))
    run = demo.sync()
    assert any("base is no longer configured" in n for s in run.stages for n in s.notes)
    live = {u.id for u in demo.population().users if u.status != "DELETED"}
    assert {stored_values(demo, "rd")[uid] for uid in live} == {"!"}
    assert {stored_values(demo, "base").get(uid, "") for uid in live} == {""}
    assert demo.sync().settled


def test_an_authority_attribute_s_edit_says_why_no_value_changes(
    demo: Services, tmp_path: Path
) -> None:
    """Removing a source of an attribute with flow rules changes no one's value now: the dry
    run says why, in words and in JSON (newcomer: "0 people change" read as a bug)."""
    args = ["config", "delete", "attributes.department.sources.1", "--dry-run"]
    db = ["--db", str(tmp_path / "r.db")]
    out = CliRunner().invoke(main, [*args, *db]).stdout
    line = next(x for x in out.splitlines() if x.startswith("  attribute department:"))
    assert line.startswith("  attribute department: 0 people change")
    assert "authority mode: a value stays until one of its sources' values changes" in out
    data = json.loads(CliRunner().invoke(main, [*args, "--json", *db]).stdout)
    department = data["impact"]["attributes"]["department"]
    assert department["authority"] is True and department["changed"] == 0
    out = CliRunner().invoke(main, ["config", "delete", "attributes.job_title.sources.1",
                                    "--dry-run", *db]).stdout  # fmt: skip
    assert "authority mode" not in out  # a mapping attribute changes at once
