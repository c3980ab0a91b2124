"""A run's journal read a page at a time (RunsService.journal_stages, journal_objects): the
console's tree of a first sync of 100,000 people never reads its 1.3 million changes at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.services import JournalReading, JournalStage, Services
from engine.store.models import Change, Run
from screens.widgets.plan_tree import group_changes
from tests.engine.org import open_org

# (stage, object type, object id, field, applied): written in this order
JOURNAL = [
    ("import", "account", "hr:E1", "", True),
    ("import", "account", "hr:E2", "", True),
    ("import", "account", "hr:E1", "title", True),  # held apart from its first change
    ("import", "account", "hr:E3", "", False),
    ("identify", "account", "hr:E1", "owner", True),
    ("identify", "user", "hr:E1", "email", True),  # another type, the same id
    ("identify", "account", "x:y", "owner", True),  # "account:x:y" ...
    ("identify", "account:x", "y", "owner", True),  # ... is not "account:x" "y"
    ("import", "account", "hr:E2", "status", True),  # the stage again, after another
    ("attributes", "user", "<b>[red]\x1b[31m", "department", False),
]


def write_run(services: Services, journal: list[tuple[str, str, str, str, bool]]) -> int:
    with services.ctx.db.session() as session:
        run = Run(kind="sync", status="applied", counts={"import": {"accounts_new": 3}})
        session.add(run)
        session.commit()
        assert run.id is not None
        for number, (stage, kind, object_id, field, applied) in enumerate(journal):
            session.add(
                Change(
                    run_id=run.id,
                    stage=stage,
                    object_type=kind,
                    object_id=object_id,
                    field=field,
                    old=None,
                    new={"n": number},
                    reason=f"change {number}",
                    applied=applied,
                )
            )
        session.commit()
        return run.id


@pytest.fixture
def org(tmp_path: Path) -> Services:
    return open_org(tmp_path)


def read_all(services: Services, run_id: int, stage: JournalStage, count: int) -> list[tuple]:
    """Every object of STAGE, page by page: (type, id, [change numbers])."""
    reading = JournalReading(stage)
    objects = []
    for _ in range(100):
        page = services.journal_objects(run_id, reading, count)
        assert len(page) <= count
        objects += [(o.object_type, o.object_id, [c.new["n"] for c in o.changes]) for o in page]
        if reading.done:
            assert services.journal_objects(run_id, reading, count) == []
            assert (len(reading.shown), reading.changes) == (stage.objects, stage.changes)
            return objects
        assert page, "a page short of the stage's end reads something"
    raise AssertionError("the pages never reached the stage's end")


def test_the_stages_are_counted_by_the_store_in_the_order_written(org: Services) -> None:
    run_id = write_run(org, JOURNAL)
    summary, stages = org.journal_stages(run_id)
    assert summary.id == run_id and summary.stage_counts == {"import": {"accounts_new": 3}}
    assert [(s.name, s.changes, s.objects, s.applied) for s in stages] == [
        ("import", 5, 3, 4),
        ("identify", 4, 4, 4),
        ("attributes", 1, 1, 0),
    ]
    ids = [(s.first, s.last) for s in stages]
    assert ids[0][1] - ids[0][0] == 8 and ids[1][0] == ids[0][0] + 4  # import spans identify


@pytest.mark.parametrize("count", [1, 2, 3, 50])
def test_the_pages_group_as_the_whole_journal_does(org: Services, count: int) -> None:
    run_id = write_run(org, JOURNAL)
    _, whole = org.run_changes(run_id)
    grouped = {
        stage.name: [
            (o.object_type, o.object_id, [c["new"]["n"] for c in o.changes]) for o in stage.objects
        ]
        for stage in group_changes(c.to_json() for c in whole)
    }
    _, stages = org.journal_stages(run_id)
    for stage in stages:
        assert read_all(org, run_id, stage, count) == grouped[stage.name], stage.name
    assert grouped["import"] == [
        ("account", "hr:E1", [0, 2]),
        ("account", "hr:E2", [1, 8]),
        ("account", "hr:E3", [3]),
    ]
    assert grouped["attributes"] == [("user", "<b>[red]\x1b[31m", [9])]


def test_a_page_reads_the_journal_from_where_the_last_one_stopped(org: Services) -> None:
    journal = [("import", "account", f"hr:E{n}", "", True) for n in range(1000)]
    run_id = write_run(org, journal)
    (stage,) = org.journal_stages(run_id)[1]
    reading = JournalReading(stage)
    first = org.journal_objects(run_id, reading, 50)
    assert [o.object_id for o in first] == [f"hr:E{n}" for n in range(50)]
    assert reading.after == stage.first + 49 and len(reading.shown) == 50
    second = org.journal_objects(run_id, reading, 50)
    assert [o.object_id for o in second] == [f"hr:E{n}" for n in range(50, 100)]
    assert reading.after == stage.first + 99 and not reading.done
    reading.after = stage.last - 3
    last = org.journal_objects(run_id, reading, 50)
    assert [o.object_id for o in last] == ["hr:E997", "hr:E998", "hr:E999"]
    assert reading.done


def test_the_rest_of_a_stage_is_scanned_only_when_a_shown_object_may_have_more(
    org: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `change` table is indexed by run, not by object: finding an object's later
    changes scans the rest of the stage (0.09 s a page at a first sync's import, hostile
    review). A stage of one change per object never needs it; one whose extra changes are
    all read does not either."""
    import engine.services.runs as runs

    scans: list[int] = []
    later = runs._later_changes

    def counted(session: Any, in_stage: Any, after: int, objects: Any) -> Any:
        scans.append(after)
        return later(session, in_stage, after, objects)

    monkeypatch.setattr(runs, "_later_changes", counted)
    single = write_run(org, [("import", "account", f"a{n}", "", True) for n in range(30)])
    (stage,) = org.journal_stages(single)[1]
    assert len(read_all(org, single, stage, 4)) == 30 and scans == []
    # two changes for a0 (together), then one each: once a0's second is read, no scan
    pairs = [("import", "account", "a0", "", True), ("import", "account", "a0", "x", True)]
    together = write_run(
        org, pairs + [("import", "account", f"a{n}", "", True) for n in range(1, 30)]
    )
    (stage,) = org.journal_stages(together)[1]
    assert read_all(org, together, stage, 4)[0] == ("account", "a0", [0, 1]) and scans == []
    # a0's second change at the end: every page must look for it until it is read
    apart = write_run(
        org,
        [*pairs[:1], *(("import", "account", f"a{n}", "", True) for n in range(1, 30)), pairs[1]],
    )
    (stage,) = org.journal_stages(apart)[1]
    assert read_all(org, apart, stage, 4)[0] == ("account", "a0", [0, 30])
    assert len(scans) == 1  # the first page's, which found it; no later page looks again


def test_a_run_with_no_journal_and_a_missing_run(org: Services) -> None:
    run_id = write_run(org, [])
    summary, stages = org.journal_stages(run_id)
    assert summary.id == run_id and stages == []
    with pytest.raises(Exception, match="There is no run 999"):
        org.journal_stages(999)


def test_a_synced_runs_pages_hold_its_whole_journal(org: Services) -> None:
    result = org.sync()
    assert result.status == "applied"
    _, whole = org.run_changes(result.run_id)
    summary, stages = org.journal_stages(result.run_id)
    assert sum(s.changes for s in stages) == len(whole) == len(result.planned) > 0
    read = []
    for stage in stages:
        reading = JournalReading(stage)
        while not reading.done:
            read += [c for o in org.journal_objects(result.run_id, reading, 2) for c in o.changes]
        assert len(reading.shown) == stage.objects
    assert sorted(read, key=repr) == sorted(whole, key=repr)


@pytest.mark.parametrize("limit", [None, 0, 1, 3, 4, 9, 10, 11])
def test_each_change_is_read_a_batch_at_a_time_in_the_order_written(
    org: Services, limit: int | None
) -> None:
    run_id = write_run(org, JOURNAL)
    read = list(org.run_history.each_run_change(run_id, limit, batch=3))
    wanted = len(JOURNAL) if limit is None else min(limit, len(JOURNAL))
    assert [c.new["n"] for c in read] == list(range(wanted))
    assert [(c.stage, c.object_type, c.object_id, c.field, c.applied) for c in read] == JOURNAL[
        :wanted
    ]


def test_runs_json_writes_the_changes_as_they_come_and_escapes_them(
    org: Services, tmp_path: Path
) -> None:
    """`roster runs N --json` streams the changes (a first sync's 1.3 million held whole took
    4.4 GB): the text is still the one document `_emit` writes, hostile characters escaped."""
    import json

    from click.testing import CliRunner

    from console.cli import main

    run_id = write_run(org, [*JOURNAL, ("push", "account", "ad:\u2028x\u202e", "title", True)])
    db = org.ctx.db.sqlite_path
    result = CliRunner().invoke(main, ["runs", str(run_id), "--json", "--db", str(db)])
    assert result.exit_code == 0, result.output
    out = result.output
    data = json.loads(out)
    assert data["total_changes"] == len(data["changes"]) == len(JOURNAL) + 1
    assert data["changes"][-1]["object_id"] == "ad:\u2028x\u202e"
    assert "\u2028" not in out and "\\u2028" in out and "\\u202e" in out
    assert (
        json.dumps(data, indent=2, ensure_ascii=False).translate(
            {0x2028: "\\u2028", 0x202E: "\\u202e"}
        )
        + "\n"
        == out
    )
    empty = write_run(org, [])
    result = CliRunner().invoke(main, ["runs", str(empty), "--json", "--db", str(db)])
    assert json.loads(result.output)["changes"] == [] and '"changes": [],' in result.output


def test_a_change_not_applied_says_so_only_in_a_run_that_applied_some(org: Services) -> None:
    """A dry run, or a run that applied nothing (blocked, plan changed), says so in its title:
    "not applied" on each of its rows only took the room of the values (hostile review). A
    run that applied some (a cancel while writing, a refused push) marks the rest."""
    from screens.widgets.plan_tree import journal_tree

    def rows(applied: list[bool], dry_run: bool = False) -> list[dict]:
        journal = [("import", "account", f"a{n}", "", done) for n, done in enumerate(applied)]
        run_id = write_run(org, journal)
        if dry_run:
            with org.ctx.db.session() as session:
                run = session.get(Run, run_id)
                assert run is not None
                run.dry_run = True
                session.add(run)
                session.commit()
        _, _, stages = journal_tree(org, run_id, 10)
        return [change for o in stages[0].objects for change in o.changes]

    assert all("applied" not in row for row in rows([False, False]))
    assert all("applied" not in row for row in rows([False, False], dry_run=True))
    assert [row["applied"] for row in rows([True, False])] == [True, False]
