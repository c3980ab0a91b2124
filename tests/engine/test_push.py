"""Push rules against a real Active Directory-flavoured file app."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from engine.errors import ConnectorError
from engine.services import ConfigEdit, Services
from engine.store.models import PushExecution
from engine.sync.push import PushItem, send
from tests.engine.org import CONFIG, edit, open_org

AD = {
    "accounts": [
        {
            "id": "alee",
            "email": "ann.lee@example.com",
            "username": "alee",
            "profile": {"title": "Intern", "department": "Engineering", "c": "US"},
        },
        {
            "id": "bchen",
            "email": "bo.chen@example.com",
            "username": "bchen",
            "profile": {"title": "Director", "department": "Engineering", "c": "US"},
        },
        {
            "id": "spark",
            "email": "sam.park@example.com",
            "username": "spark",
            "profile": {"title": "Rep", "department": "Sales", "extensionAttribute5": "old"},
        },
    ],
    "entitlements": [{"id": "vpn", "name": "VPN users"}],
    "grants": [
        {"account": "alee", "entitlement": "vpn"},
        {"account": "bchen", "entitlement": "vpn"},
    ],
}


def ad_config(rule: dict[str, Any], **attribute_changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["apps"].append(
        {
            "id": "ad",
            "name": "Active Directory",
            "connector": "file",
            "settings": {"path": "ad.yaml", "flavour": "active_directory"},
        }
    )
    config["push_rules"] = [{"name": "ad-core", "app": "ad", "enabled": True, **rule}]
    for attribute in config["attributes"]:
        attribute.update(attribute_changes.get(attribute["name"], {}))
    return config


def ad_org(tmp_path: Path, rule: dict[str, Any], **attribute_changes: Any) -> Services:
    (tmp_path / "org").mkdir(parents=True, exist_ok=True)
    (tmp_path / "org" / "ad.yaml").write_text(yaml.safe_dump(AD, sort_keys=False))
    services = open_org(tmp_path, ad_config(rule, **attribute_changes))
    return services


def ad_profile(tmp_path: Path, account: str) -> dict[str, Any]:
    data = yaml.safe_load((tmp_path / "org" / "ad.yaml").read_text())
    return next(a for a in data["accounts"] if a["id"] == account).get("profile", {})


TITLE = {"target": "title", "attribute": "job_title"}


def test_dry_run_plans_the_push_and_apply_writes_exactly_that(tmp_path: Path) -> None:
    services = ad_org(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": [TITLE]})
    before = (tmp_path / "org" / "ad.yaml").read_text()
    plan = services.sync(dry_run=True)
    planned = [
        (c["object_id"], c["field"], c["old"], c["new"])
        for c in plan.changes
        if c["stage"] == "push"
    ]
    assert ("ad:alee", "title", "Intern", "Engineer") in planned
    assert (tmp_path / "org" / "ad.yaml").read_text() == before  # nothing sent

    applied = services.sync()
    assert [
        (c["object_id"], c["field"], c["old"], c["new"])
        for c in applied.changes
        if c["stage"] == "push"
    ] == planned
    assert ad_profile(tmp_path, "alee")["title"] == "Engineer"
    assert ad_profile(tmp_path, "bchen")["title"] == "Director"  # already right: untouched
    with services.db.session() as session:
        executions = session.execute(select(PushExecution)).scalars().all()
    assert {e.success for e in executions} == {True}
    assert services.sync().changes == []  # a second sync pushes nothing

    def hr_retitles_bo(data: dict) -> None:
        data["accounts"][1]["profile"]["job_title"] = "VP Engineering"

    edit(tmp_path / "org", "hr", hr_retitles_bo)
    pushed = [c for c in services.sync().changes if c["stage"] == "push"]
    assert [(c["object_id"], c["new"]) for c in pushed] == [("ad:bchen", "VP Engineering")]


def test_targeting_by_entitlement_and_attribute_and_by_cel(tmp_path: Path) -> None:
    by_filter = ad_org(
        tmp_path / "a",
        {
            "targeting": {
                "kind": "filter",
                "entitlements": [{"app": "ad", "entitlement": "vpn"}],
                "attributes": {"department": "Engineering"},
            },
            "mappings": [{"target": "description", "cel": '"managed"'}],
        },
    )
    pushed = {c["object_id"] for c in by_filter.sync(dry_run=True).changes if c["stage"] == "push"}
    assert pushed == {"ad:alee", "ad:bchen"}

    by_cel = ad_org(
        tmp_path / "b",
        {
            "targeting": {"kind": "cel", "cel": 'subject.department == "Sales"'},
            "mappings": [{"target": "description", "cel": '"managed"'}],
        },
    )
    result = by_cel.sync(dry_run=True)
    assert {c["object_id"] for c in result.changes if c["stage"] == "push"} == {"ad:spark"}
    push = next(s for s in result.stages if s.name == "push")
    assert push.counts["targeted"] == 1


def test_people_without_an_account_are_counted(tmp_path: Path) -> None:
    services = ad_org(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": [TITLE]})
    push = next(s for s in services.sync(dry_run=True).stages if s.name == "push")
    assert push.counts["targeted"] == 5 and push.counts["targeted_without_account"] == 2
    services.sync()
    missing = services.push_plan().without_account
    assert sorted(missing) == ["ad-core: nina@example.com", "ad-core: sam.park2@example.com"]


def test_an_empty_value_clears_and_a_schema_violation_fails_only_that_person(
    tmp_path: Path,
) -> None:
    services = ad_org(
        tmp_path,
        {
            "targeting": {"kind": "everyone"},
            "mappings": [
                {"target": "extensionAttribute5", "cel": '""'},
                {"target": "c", "cel": 'subject.email == "bo.chen@example.com" ? "USA1" : "GB"'},
            ],
        },
    )
    result = services.sync(allow_deletes=True)
    # the one push not made makes the run "with failures" (exit 5), naming it
    assert result.status == "applied-with-failures"
    assert result.failures == [
        {
            "stage": "push",
            "app": "ad",
            "reason": result.failures[0]["reason"],
        }
    ]
    assert result.failures[0]["reason"].startswith("1 push not made")
    assert "ad:bchen" in result.failures[0]["reason"]
    assert "extensionAttribute5" not in ad_profile(tmp_path, "spark")  # cleared
    assert ad_profile(tmp_path, "alee")["c"] == "GB"
    assert ad_profile(tmp_path, "bchen")["c"] == "US"  # rejected: too long, left as it was
    push = next(s for s in result.stages if s.name == "push")
    assert push.counts["failed"] == 1
    assert any("ad:bchen" in p and "at most 3" in p for p in push.problems)
    with services.db.session() as session:
        refused = (
            session.execute(
                select(PushExecution).where(PushExecution.success.is_(False))  # type: ignore[attr-defined]
            )
            .scalars()
            .all()
        )
    assert len(refused) == 1 and "at most 3" in refused[0].reason  # recorded, not sent
    assert any(cause.startswith("target values cleared") for cause in result.deletions)


def test_flow_rules_decide_what_may_be_pushed(tmp_path: Path) -> None:
    inbound = {
        "flow_rules": [{"app": "hr", "direction": "inbound"}, {"app": "ad", "direction": "inbound"}]
    }
    services = ad_org(
        tmp_path / "a", {"targeting": {"kind": "everyone"}, "mappings": [TITLE]}, job_title=inbound
    )
    result = services.sync(dry_run=True)
    push = next(s for s in result.stages if s.name == "push")
    assert not [c for c in result.changes if c["stage"] == "push"]
    assert push.counts["skipped_by_flow_rules"] == 1
    assert any("authoritative" in note for note in push.notes)

    outbound = {
        "flow_rules": [
            {"app": "hr", "direction": "inbound"},
            {"app": "ad", "direction": "outbound"},
        ]
    }
    services = ad_org(
        tmp_path / "b", {"targeting": {"kind": "everyone"}, "mappings": [TITLE]}, job_title=outbound
    )
    assert [c for c in services.sync(dry_run=True).changes if c["stage"] == "push"]


def test_push_plan_command(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from console.cli import main

    services = ad_org(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": [TITLE]})
    services.sync()
    db = str(tmp_path / "roster.db")
    result = CliRunner().invoke(main, ["push-plan", "--json", "--db", db])
    assert result.exit_code == 0 and json.loads(result.stdout)["rules"] == {}  # in step

    # a new mapping: the plan shows what the next sync would write, and sends nothing
    config = ad_config(
        {
            "targeting": {"kind": "everyone"},
            "mappings": [TITLE, {"target": "description", "cel": '"managed"'}],
        }
    )
    path = tmp_path / "org" / "roster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    services.import_config(path.read_text(), source=str(path), base_dir=path.parent)
    before = (tmp_path / "org" / "ad.yaml").read_text()
    result = CliRunner().invoke(main, ["push-plan", "ad-core", "--json", "--db", db])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["rules"]["ad-core"]
    assert {item["account"] for item in plan} == {"ad:alee", "ad:bchen", "ad:spark"}
    assert plan[0]["changes"]["description"] == {"old": None, "new": "managed"}
    assert (tmp_path / "org" / "ad.yaml").read_text() == before
    result = CliRunner().invoke(main, ["push-plan", "nope", "--db", db])
    assert result.exit_code == 1 and "ad-core" in result.stderr


def test_a_custom_target_attribute_where_the_connector_allows_it(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from console.cli import main

    services = ad_org(
        tmp_path,
        {
            "targeting": {"kind": "everyone"},
            "mappings": [{"target": "rosterTeam", "cel": "subject.department.lowerAscii()"}],
        },
    )
    result = services.sync()
    assert ad_profile(tmp_path, "alee")["rosterTeam"] == "engineering"
    out = CliRunner().invoke(
        main, ["runs", str(result.run_id), "--json", "--db", str(tmp_path / "roster.db")]
    )
    assert out.exit_code == 0, out.output
    executions = json.loads(out.stdout)["push_executions"]
    assert {e["account"] for e in executions} == {"ad:alee", "ad:bchen", "ad:spark"}
    assert all(e["success"] for e in executions)


class _BatchOnlyConnector:
    """A connector that, like every connector, writes in batches (Connector.update_accounts)
    and has no one-account method: send() must need nothing else."""

    def __init__(self, app: str, refuse: set[str] | None = None, down: bool = False) -> None:
        self.app = app
        self.refuse = refuse or set()
        self.down = down
        self.batches: list[dict[str, dict[str, Any]]] = []

    def update_accounts(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        if self.down:
            raise ConnectorError(f"App '{self.app}': the server cannot be reached.")
        self.batches.append({k: dict(v) for k, v in changes_by_account.items()})
        return {
            ext: ConnectorError(f"App '{self.app}' refused the push to {ext!r}.")
            for ext in changes_by_account
            if ext in self.refuse
        }


def test_send_writes_one_batch_per_app_through_the_connector_protocol() -> None:
    items = [
        PushItem("titles", "ad", "alee", 1, "ann", {"title": ("Intern", "Engineer")}),
        PushItem("depts", "ad", "alee", 1, "ann", {"department": ("Eng", "Platform")}),
        PushItem("titles", "ad", "bchen", 2, "bo", {"title": ("Director", "VP")}),
        PushItem("titles", "ad", "sp", 3, "sam", {"title": ("x", "y")}, error="too long"),
        PushItem("titles", "entra", "ann@x", 1, "ann", {"jobTitle": ("", "Engineer")}),
    ]
    ad, entra = _BatchOnlyConnector("ad", {"bchen"}), _BatchOnlyConnector("entra", down=True)
    failures = send(items, {"ad": ad, "entra": entra})
    assert ad.batches == [
        {"alee": {"title": "Engineer", "department": "Platform"}, "bchen": {"title": "VP"}}
    ]
    assert failures == {
        ("ad", "bchen"): "App 'ad' refused the push to 'bchen'.",
        ("entra", "ann@x"): "App 'entra': the server cannot be reached.",
    }


def test_a_value_with_a_control_character_is_never_sent(tmp_path: Path) -> None:
    # An escape sequence computed by CEL would end up in AD (and make the file unreadable by
    # its own import): the push refuses it for that person, with the value shown escaped.
    rule = {"mappings": [TITLE, {"target": "description", "cel": '"Eng\\x1b[31m"'}]}
    services = ad_org(tmp_path, rule)
    result = services.sync()
    push = next(stage for stage in result.stages if stage.name == "push")
    assert push.counts["failed"] == 3
    reasons = [row.reason for row in services.push_history(10) if not row.success]
    assert reasons and all("holds the control character \\x1b" in r for r in reasons)
    assert "description" not in ad_profile(tmp_path, "alee")
    assert "\x1b" not in (tmp_path / "org" / "ad.yaml").read_text()


def test_a_mapping_that_fails_for_everyone_is_said_before_it_is_saved(tmp_path: Path) -> None:
    """It compiles (`string + int` is only known to fail on the values): the edit warns,
    naming the error, and a sync with it saved is "with failures" (hostile review)."""
    services = ad_org(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": [TITLE]})
    assert services.sync().status == "applied"
    broken = ConfigEdit(
        "set", "push_rules.ad-core.mappings.c", {"target": "c", "cel": "subject.department + 1"}
    )
    result = services.config_edit(broken, dry_run=True)
    warned = [w for w in result.warnings if "fails for every one of the" in w.message]
    assert warned and "no matching overload" in warned[0].message
    assert warned[0].path == "push_rules.ad-core.mappings.c.cel"
    services.config_edit(broken)
    failed = services.sync()
    assert failed.status == "applied-with-failures" and failed.exit_code == 5
    assert "pushes not made" in failed.error


def test_a_target_that_looks_like_a_typo_of_the_schemas_is_warned_about(tmp_path: Path) -> None:
    """Active Directory takes any attribute name, so `titel` would be written as a new one
    (hostile review: it planned hundreds of writes of a misspelt attribute without a word)."""
    services = ad_org(tmp_path, {"targeting": {"kind": "everyone"}, "mappings": [TITLE]})
    typo = ConfigEdit(
        "set", "push_rules.ad-core.mappings.titel", {"target": "titel", "attribute": "job_title"}
    )
    warned = [w for w in services.config_edit(typo, dry_run=True).warnings if "titel" in w.message]
    assert warned and "custom attribute" in warned[0].message
    assert warned[0].hint == "did you mean `title`?"
    custom = ConfigEdit(
        "set",
        "push_rules.ad-core.mappings.msDS-cloudExtensionAttribute1",
        {"target": "msDS-cloudExtensionAttribute1", "attribute": "job_title"},
    )
    assert not services.config_edit(custom, dry_run=True).warnings  # nothing it resembles
