"""`roster sync --expect-plan PLAN` (and the console's confirmation) applies the plan an admin
reviewed, or nothing: a dry run prints the digest of what its plan stands on; an apply that
finds any of it changed (an app's data, the configuration, a manual decision, another run)
refuses with status plan-changed and exit 1 (hostile review M1)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from console.cli import main
from engine.services import Services


def cli(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result


def hr_file(demo: Services) -> Path:
    from engine.store.repo import config_base_dir

    with demo.db.session() as session:
        base = config_base_dir(session)
    assert base is not None
    return base / "apps" / "hr.yaml"


def retitle(demo: Services, count: int) -> None:
    path = hr_file(demo)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("job_title: Software Engineer", "job_title: Plan Engineer", count),
        encoding="utf-8",
    )


def dry_run(db: str) -> dict[str, Any]:
    code, result = cli("sync", "--dry-run", "--json", "--db", db)
    assert code == 0, result.output
    return json.loads(result.stdout)


def test_a_plan_is_applied_as_reviewed_or_not_at_all(demo: Services) -> None:
    db = str(demo.db.sqlite_path)
    retitle(demo, 2)
    plan = dry_run(db)
    assert plan["plan"] and plan["changes"]

    # the data changes after the review: nothing is applied, the run says why
    retitle(demo, 3)
    code, result = cli("sync", "--expect-plan", plan["plan"], "--db", db)
    assert code == 1, result.output
    assert "plan-changed" in result.stdout
    assert "nothing was applied. Plan again" in result.stderr
    assert demo.runs(limit=1)[0].status == "plan-changed"
    assert not [
        u for u in demo.population().users if u.attributes.get("job_title") == "Plan Engineer"
    ]

    # reviewed again, unchanged since: applied, exactly the changes the plan showed
    plan = dry_run(db)
    code, result = cli("sync", "--expect-plan", plan["plan"], "--json", "--db", db)
    assert code == 0, result.output
    applied = json.loads(result.stdout)
    assert applied["status"] == "applied" and applied["changes"] == plan["changes"]
    # the history says which plan it carried out; a plain sync carried out none
    planned = demo.runs(limit=2)[1]
    assert planned.dry_run and demo.runs(limit=1)[0].plan_run == planned.id
    assert applied["plan_run"] == planned.id
    code, result = cli("runs", str(applied["run_id"]), "--db", db)
    assert f"the plan of run {planned.id}, applied as it was planned" in result.stdout
    # and whether it settled the store, as the sync said (a dry run says nothing of it)
    said = "  settled: a sync on the same data" if applied["settled"] else "  not settled: "
    assert said in result.stdout
    code, result = cli("runs", str(planned.id), "--json", "--db", db)
    assert json.loads(result.stdout)["settled"] is None
    # the dry run names the run that carried its plan out
    assert json.loads(result.stdout)["carried_out_by"] == applied["run_id"]
    assert demo.run_summary(planned.id).carried_out_by == applied["run_id"]
    code, result = cli("runs", str(planned.id), "--db", db)
    assert f"its plan was applied as it was planned by run {applied['run_id']}" in result.stdout
    assert demo.run_summary(applied["run_id"]).carried_out_by is None
    assert demo.sync().run_id and demo.runs(limit=1)[0].plan_run is None

    # another run applied in between (here: the same data, nothing to change) also counts
    plan = dry_run(db)
    assert plan["changes"] == []
    demo.set_link(
        next(f"slack:{a.external_id}" for a in demo.population().accounts if a.app_id == "slack"),
        None,
    )
    code, result = cli("sync", "--expect-plan", plan["plan"], "--db", db)
    assert code == 1 and demo.runs(limit=1)[0].status == "plan-changed"


def test_allowing_deletions_at_apply_time_keeps_the_plan(demo: Services) -> None:
    """The confirmation's 'also clear the held values' releases holds on top of the plan it
    showed: that is not a changed plan."""
    path = hr_file(demo)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["accounts"] = [a for a in data["accounts"] if a["id"] != "E10003"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    db = str(demo.db.sqlite_path)
    plan = dry_run(db)
    assert plan["held_total"] == 7
    code, result = cli(
        "sync", "--expect-plan", plan["plan"], "--allow-deletes", "--json", "--db", db
    )
    assert code == 0, result.output
    assert json.loads(result.stdout)["held_total"] == 0


def test_a_plan_no_dry_run_printed_is_refused_and_leaves_no_run(demo: Services) -> None:
    """A mistyped plan was planned again and called "changed since the plan you confirmed",
    and its run made the next sync compute everyone (newcomer review). Now: refused as
    unknown, naming the newest dry run's plan, and nothing recorded."""
    db = str(demo.db.sqlite_path)
    retitle(demo, 2)
    plan = dry_run(db)
    runs = len(demo.runs(limit=None))
    code, result = cli("sync", "--expect-plan", "deadbeefdeadbeef", "--db", db)
    assert code == 1, result.output  # bad input (README: exit codes)
    assert "No dry run of this store planned 'deadbeefdeadbeef'" in result.stderr
    assert f"planned {plan['plan']}" in result.stderr and "no run was recorded" in result.stderr
    assert len(demo.runs(limit=None)) == runs
    # a plan that changed since is still that (and applies nothing), but it is no reason for
    # the next sync to compute everyone: it applied nothing
    retitle(demo, 3)
    code, result = cli("sync", "--expect-plan", plan["plan"], "--db", db)
    assert code == 1 and demo.runs(limit=1)[0].status == "plan-changed"
    applied = demo.sync()
    attributes = next(s for s in applied.stages if s.name == "attributes")
    assert not any("computed everyone" in note for note in attributes.notes), attributes.notes
    # a dry run that found nothing changed printed a plan too: it is known
    quiet = dry_run(db)
    assert quiet["changes"] == []
    code, result = cli("sync", "--expect-plan", quiet["plan"], "--json", "--db", db)
    assert code == 0 and json.loads(result.stdout)["status"] == "applied", result.output


def test_expect_plan_is_for_applying(demo: Services) -> None:
    code, result = cli("sync", "--dry-run", "--expect-plan", "x", "--db", str(demo.db.sqlite_path))
    assert code == 2 and "leave out --dry-run" in result.output


def test_the_history_names_the_plan_the_admin_confirmed(demo: Services) -> None:
    """Two consoles planned the same; each applies the plan it showed (hostile review: the
    history named the latest dry run of the same plan, made in the other console)."""
    retitle(demo, 2)
    first = demo.sync(dry_run=True)
    second = demo.sync(dry_run=True)
    assert first.plan == second.plan and first.run_id < second.run_id
    applied = demo.sync(expect_plan=first.plan, plan_run=first.run_id)
    assert applied.status == "applied", applied.error
    assert demo.runs(limit=1)[0].plan_run == first.run_id


def test_an_app_failing_to_import_since_the_plan_changes_it(demo: Services) -> None:
    """The plan was made while every app imported; at apply time HR cannot be read. Its
    changes are left out, so this is not the plan the admin reviewed: nothing is applied
    (it was applied and recorded "as it was planned")."""
    plan = demo.sync(dry_run=True)  # nothing to change: HR failing leaves out nothing
    assert plan.status == "planned" and not plan.planned
    path = hr_file(demo)
    path.write_text(path.read_text(encoding="utf-8") + "  - [broken\n", encoding="utf-8")
    refused = demo.sync(expect_plan=plan.plan, plan_run=plan.run_id)
    assert refused.status == "plan-changed", refused.error
    assert refused.failures and refused.failures[0]["app"] == "hr"


def test_the_text_says_which_plan_was_applied_and_where_its_changes_are(demo: Services) -> None:
    """`roster sync --expect-plan` names the dry run it carried out, and a sync's text (counts
    per stage) says which command lists its changes (newcomer review)."""
    db = str(demo.db.sqlite_path)
    retitle(demo, 2)
    code, result = cli("sync", "--dry-run", "--db", db)
    planned = demo.runs(limit=1)[0]
    assert code == 0, result.output
    assert (
        f"changes planned (nothing was applied; `roster runs {planned.id}` lists them)"
        in result.stdout
    )
    plan = result.stdout.split("plan: ", 1)[1].split()[0]
    code, result = cli("sync", "--expect-plan", plan, "--db", db)
    assert code == 0, result.output
    first = result.stdout.splitlines()[0]
    # and how long the run took
    assert re.fullmatch(
        rf"Run {planned.id + 1}: applied \(the plan of run {planned.id}\) · [\d,]+\.\d s", first
    ), first
    assert f"changes applied (`roster runs {planned.id + 1}` lists them)" in result.stdout
