"""The facade by area: typed results, previews compared with a saved rule, and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from engine.errors import InvalidInput, NotFound
from engine.preview import preview_all
from engine.services import Services
from tests.engine.org import CONFIG, open_org, write_org

HR_FILTER = CONFIG["directories"][0]["filter"]
SLACK_SOURCE = CONFIG["attributes"][4]["sources"][0]["cel"]


@pytest.fixture
def org(tmp_path: Path) -> Services:
    services = open_org(tmp_path)
    assert services.sync().status == "applied"
    return services


def test_saved_expressions_are_found_by_their_path(org: Services) -> None:
    hr = org.saved_expression("directories.hr.filter")
    assert (hr.context, hr.text, hr.app_id) == ("directory_filter", HR_FILTER, "hr")
    slack = org.saved_expression("attributes.slack_handle.sources.0")
    assert (slack.context, slack.text, slack.app_id) == ("attribute_source", SLACK_SOURCE, None)
    with pytest.raises(NotFound, match="no directory 'nope'; there are: hr, idp, feed"):
        org.saved_expression("directories.nope.filter")
    with pytest.raises(InvalidInput, match="holds no CEL expression"):
        org.saved_expression("directories.idp.merge_rules.email.account")  # a preset
    with pytest.raises(InvalidInput, match="names no expression; use one of"):
        org.saved_expression("settings.deletion_threshold")
    with pytest.raises(NotFound, match="has 2 sources, numbered from 0"):
        org.saved_expression("attributes.department.sources.2")


def test_a_draft_filter_against_the_saved_one(org: Services) -> None:
    # the saved filter ignores HR's one terminated person (E5, Lea Ver); "CREATE" keeps her
    result = org.preview_all("directory_filter", '"CREATE"', against="directories.hr.filter")
    assert result.ok and result.count == 5  # HR's accounts only: the path names the app
    assert result.summary["CREATE"] == 5
    compare = result.compare
    assert compare is not None and compare.error == ""
    assert (compare.against, compare.saved) == ("directories.hr.filter", HR_FILTER)
    assert (compare.changed, compare.became_empty) == (1, 0)
    assert compare.samples == [{"record": "hr:E5 (Lea Ver)", "before": "IGNORE", "after": "CREATE"}]

    same = org.preview_all("directory_filter", HR_FILTER, against="directories.hr.filter")
    assert same.compare is not None and (same.compare.changed, same.compare.samples) == (0, [])

    with pytest.raises(InvalidInput, match="is a directory_filter expression"):
        org.preview_all("push_condition", "true", against="directories.hr.filter")


def test_a_draft_attribute_source_against_the_saved_one(org: Services) -> None:
    # only Ann has a Slack account of her own (s1, "ann"); s2 is nobody's, s3 a service account
    result = org.preview_all("attribute_source", '""', against="attributes.slack_handle.sources.0")
    assert result.compare is not None
    assert (result.compare.changed, result.compare.became_empty) == (1, 1)
    assert result.compare.samples == [
        {"record": "ann.lee@example.com", "before": "ann", "after": ""}
    ]
    # a preview with nothing to compare keeps its JSON shape: no "compare" key
    assert "compare" not in org.preview_all("attribute_source", '""').as_dict()


def test_a_saved_expression_that_does_not_compile_is_reported(org: Services) -> None:
    records = org.records_in_scope("directory_filter", "hr")
    result = preview_all(
        org.cel(), "directory_filter", '"CREATE"', records, compare_to="account.", against="x"
    )
    assert result.ok and result.compare is not None
    assert result.compare.error.startswith("the saved expression does not compile")
    assert result.compare.changed == 0


def test_results_are_typed_and_their_json_keeps_its_shape(org: Services) -> None:
    link = org.set_link("slack:s2", "bo.chen@example.com")
    assert (link.account, link.owner, link.pinned) == ("slack:s2", "bo.chen@example.com", True)
    assert link.to_json() == {
        "account": "slack:s2",
        "owner": "bo.chen@example.com",
        "pinned": True,
        "previous_owner": None,
        "previous_manual": False,
    }
    released = org.pin("slack:s2", pinned=False)
    assert released.to_json() == {
        "account": "slack:s2",
        "owner": "bo.chen@example.com",
        "pinned": False,
        "previous_owner": None,
        "previous_manual": False,
    }
    why = org.explain("ann.lee@example.com", "department")
    assert (why.value, why.source, why.mode) == (
        "Engineering",
        "hr:profile.department",
        "authority",
    )
    assert set(why.to_json()) == {
        "user", "attribute", "mode", "value", "source", "set_at", "reason", "candidates",
        "expressions",
        "reads_others",
    }  # fmt: skip
    detail = org.user_detail(org.user_by_email("ann.lee@example.com").id)
    assert {a.key for a in detail.accounts} == {"hr:E1", "idp:u1", "slack:s1"}
    assert next(a for a in detail.attributes if a.name == "department").value == "Engineering"
    run, changes = org.run_changes(org.runs()[0].id)
    assert run.kind == "sync" and changes and all(c.applied for c in changes)
    assert set(changes[0].to_json()) == {
        "stage", "object_type", "object_id", "field", "old", "new", "reason", "applied",
    }  # fmt: skip
    assert org.sync_stages() == (
        "import", "identify", "ownership", "attributes", "push", "provision",
    )  # fmt: skip
    assert org.push_rules().rules == [] and org.push_rules().apps["hr"] == "HR"


def test_cli_preview_against(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert runner.invoke(main, ["init", "--empty", "--db", str(db)]).exit_code == 0
    assert runner.invoke(main, ["config", "import", str(config), "--db", str(db)]).exit_code == 0
    assert runner.invoke(main, ["sync", "--db", str(db)]).exit_code == 0
    args = ["preview", "--db", str(db), "--context", "directory_filter"]
    result = runner.invoke(
        main, [*args, "--against", "directories.hr.filter", '"CREATE"', "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 5
    assert data["compare"] == {
        "against": "directories.hr.filter",
        "saved": HR_FILTER,
        "changed": 1,
        "became_empty": 0,
        "samples": [{"record": "hr:E5 (Lea Ver)", "before": "IGNORE", "after": "CREATE"}],
        "error": None,
        # what saving it would do: Lea becomes a person again, owning her HR account
        "people_created": 1,
        "people_removed": 0,
        "owner_changed": 1,
        "impact_samples": {
            "people_created": ["lea.ver@example.com"],
            "people_removed": [],
            "owner_changed": ["hr:E5 (Lea Ver)"],
        },
        "impact_error": None,
    }
    text = runner.invoke(main, [*args, "--against", "directories.hr.filter", '"CREATE"'])
    assert text.exit_code == 0
    assert "against directories.hr.filter: 1 changed, 0 became empty" in text.stdout
    assert 'changed: hr:E5 (Lea Ver): "IGNORE" → "CREATE"' in text.stdout
    assert (
        "if saved (against the saved configuration): 1 created and 0 removed person, "
        "1 account with another owner"
    ) in text.stdout
    assert "  created: lea.ver@example.com" in text.stdout
    assert "  moves: hr:E5 (Lea Ver)" in text.stdout
    wrong = runner.invoke(main, [*args, "--against", "push_rules.x.condition", '"CREATE"'])
    assert wrong.exit_code == 1
    assert "No push rule 'x'" in wrong.stderr or "no push rule 'x'" in wrong.stderr
    assert "Traceback" not in wrong.output


def test_completions_offer_the_profile_keys_of_one_app(org: Services) -> None:
    everyone = org.completions("directory_filter").profile_keys["account"]
    assert {"employment_status", "title", "vendor"} <= set(everyone)
    feed = org.completions("directory_filter", app_id="feed").profile_keys["account"]
    assert feed == ["vendor"]  # the feed's accounts have only a vendor
    hr = set(org.completions("directory_filter", app_id="hr").profile_keys["account"])
    assert "employment_status" in hr and "vendor" not in hr and "title" not in hr
