"""Listing the changed apps in a second process while the sync loads the store
(engine.sync.import_ahead) plans exactly what listing them in the sync's own process plans; a
broken file fails its app with the same message; the second process never outlives the run,
and when it dies the run lists the apps itself."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from engine.sync import import_ahead, pipeline
from engine.sync.import_ahead import ImportAhead, Listed


def _edit(demo: Any) -> None:
    """One change in three apps' files (YAML and CSV), as the apps would make them."""
    apps = demo.db.sqlite_path.parent / "r-demo" / "apps"
    for name, old, new in (
        ("ad.yaml", "    title: Chief Executive Officer\n", "    title: 'Boss <b>[x]</b>'\n"),
        ("idp.yaml", "    title: Head of Engineering\n", "    title: Head of Engines\n"),
        ("hr_feed.csv", ",Site Reliability Engineer,", ",Site Reliability Lead,"),
    ):
        path = apps / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The apps whose listing came from the second process, in the order merged."""
    taken: list[str] = []
    take = ImportAhead.take

    def counted(self: ImportAhead, app_id: str) -> Listed | None:
        listed = take(self, app_id)
        if listed is not None:
            taken.append(app_id)
        return listed

    monkeypatch.setattr(ImportAhead, "take", counted)
    return taken


def _plan(result: Any) -> tuple[list[Any], list[Any], list[Any]]:
    import_report = result.stages[0]
    return (
        [c.as_dict() for c in result.planned],
        sorted(import_report.counts.items()),
        sorted(import_report.failures),
    )


def test_listing_ahead_plans_what_listing_here_plans(demo: Any, monkeypatch: Any) -> None:
    _edit(demo)
    taken = _taken(monkeypatch)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")  # whatever the size
    ahead = demo.sync(dry_run=True)
    assert ahead.status == "planned", ahead.error
    assert {"ad", "idp", "hr_feed"} <= set(taken)
    assert not multiprocessing.active_children()  # stopped with the import
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "100000")
    taken.clear()
    here = demo.sync(dry_run=True)
    assert taken == []
    assert _plan(ahead) == _plan(here)
    assert any("Boss <b>[x]</b>" in str(c.new) for c in ahead.planned)
    applied = demo.sync()  # and the listing ahead of an applying run is the one applied
    assert applied.status == "applied", applied.error
    assert [c.as_dict() for c in applied.planned] == [c.as_dict() for c in here.planned]


def test_small_files_are_listed_here(demo: Any, monkeypatch: Any) -> None:
    """The second process's start costs more than listing the demo's files."""
    _edit(demo)
    monkeypatch.delenv("ROSTER_IMPORT_AHEAD_MB", raising=False)
    taken = _taken(monkeypatch)
    assert demo.sync(dry_run=True).status == "planned"
    assert taken == []


def test_a_file_broken_ahead_fails_its_app_as_it_would_here(demo: Any, monkeypatch: Any) -> None:
    _edit(demo)
    idp = demo.db.sqlite_path.parent / "r-demo" / "apps" / "idp.yaml"
    idp.write_text(idp.read_text(encoding="utf-8") + "  - [unclosed\n", encoding="utf-8")
    taken = _taken(monkeypatch)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    ahead = demo.sync(dry_run=True)
    assert "idp" in taken
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "100000")
    here = demo.sync(dry_run=True)
    failures = dict(ahead.stages[0].failures)
    assert "idp.yaml" in failures["idp"] and "line" in failures["idp"]
    assert _plan(ahead) == _plan(here)


def test_a_second_process_that_dies_leaves_the_listing_to_the_run(
    demo: Any, monkeypatch: Any
) -> None:
    _edit(demo)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    taken = _taken(monkeypatch)
    load_state = pipeline.load_state

    def killing(*args: Any, **kwargs: Any) -> Any:
        for child in multiprocessing.active_children():
            child.kill()  # as an out-of-memory killer would
        return load_state(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_state", killing)
    died = demo.sync(dry_run=True)
    assert died.status == "planned", died.error
    assert taken == []
    monkeypatch.setattr(pipeline, "load_state", load_state)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "100000")
    assert _plan(died) == _plan(demo.sync(dry_run=True))


def test_a_run_stopped_before_its_import_stops_the_second_process(
    demo: Any, monkeypatch: Any
) -> None:
    _edit(demo)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    started: list[Any] = []
    start = import_ahead.start

    def recorded(*args: Any) -> Any:
        started.append(start(*args))
        return started[-1]

    monkeypatch.setattr(import_ahead, "start", recorded)
    result = pipeline.run_sync(demo.db, dry_run=True, cancelled=lambda: True)
    assert result.status == "cancelled"
    assert started and started[0] is not None
    assert not multiprocessing.active_children()


def test_a_killed_runs_writes_to_settle_are_settled_before_any_listing(
    demo: Any, monkeypatch: Any
) -> None:
    """Settling them can change what the store knows of the accounts the listing compares."""
    _edit(demo)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    monkeypatch.setattr(pipeline.recovery, "has_unsettled", lambda session: True)
    started: list[Any] = []
    monkeypatch.setattr(import_ahead, "start", lambda *args: started.append(args))
    assert demo.sync(dry_run=True).status == "planned"
    assert started == []


def test_the_threshold_reads_megabytes_and_falls_back_on_nonsense(monkeypatch: Any) -> None:
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "1.5")
    assert import_ahead.threshold_bytes() == 1536 * 1024
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "lots")
    assert import_ahead.threshold_bytes() == import_ahead.DEFAULT_MB * 1024 * 1024
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "-3")
    assert import_ahead.threshold_bytes() == 0
