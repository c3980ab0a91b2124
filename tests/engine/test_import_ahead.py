"""Listing the changed apps in a second process while the sync loads the store
(engine.sync.import_ahead) plans exactly what listing them in the sync's own process plans; a
broken file fails its app with the same message; the second process never outlives the run,
and when it dies the run lists the apps itself."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
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

    def counted(self: ImportAhead, app_id: str, *args: Any) -> Listed | None:
        listed = take(self, app_id, *args)
        if listed is not None:
            taken.append(app_id)
        return listed

    monkeypatch.setattr(ImportAhead, "take", counted)
    return taken


def _started(monkeypatch: pytest.MonkeyPatch) -> list[ImportAhead | None]:
    """What each run's `import_ahead.start` returned."""
    started: list[ImportAhead | None] = []
    start = import_ahead.start

    def recorded(*args: Any) -> ImportAhead | None:
        started.append(start(*args))
        return started[-1]

    monkeypatch.setattr(import_ahead, "start", recorded)
    return started


def _stopped(ahead: ImportAhead | None) -> bool:
    assert ahead is not None
    return ahead._process.poll() is not None


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
    started = _started(monkeypatch)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")  # whatever the size
    ahead = demo.sync(dry_run=True)
    assert ahead.status == "planned", ahead.error
    assert {"ad", "idp", "hr_feed"} <= set(taken)
    assert _stopped(started[0])  # with the import
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
    started = _started(monkeypatch)
    load_state = pipeline.load_state

    def killing(*args: Any, **kwargs: Any) -> Any:
        ahead = started[-1]
        assert ahead is not None
        ahead._process.kill()  # as an out-of-memory killer would
        return load_state(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_state", killing)
    died = demo.sync(dry_run=True)
    assert died.status == "planned", died.error
    assert taken == []
    assert not any("second process" in note for note in died.stages[0].notes)
    monkeypatch.setattr(pipeline, "load_state", load_state)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "100000")
    assert _plan(died) == _plan(demo.sync(dry_run=True))


def test_a_run_stopped_before_its_import_stops_the_second_process(
    demo: Any, monkeypatch: Any
) -> None:
    _edit(demo)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    started = _started(monkeypatch)
    result = pipeline.run_sync(demo.db, dry_run=True, cancelled=lambda: True)
    assert result.status == "cancelled"
    assert _stopped(started[0])


def test_a_script_that_syncs_without_a_main_guard_runs_once(demo: Any, tmp_path: Any) -> None:
    """The second process is the engine's own module, never the caller's script again (as
    multiprocessing's spawned processes are)."""
    _edit(demo)
    script = tmp_path / "unguarded.py"
    marks = tmp_path / "marks"
    script.write_text(
        "from pathlib import Path\n"
        "from engine.store.db import Database\n"
        "from engine.sync.import_ahead import ImportAhead\n"
        "from engine.sync.pipeline import run_sync\n"
        f"with open({str(marks)!r}, 'a') as f: f.write('ran\\n')\n"
        "taken = []\n"
        "take = ImportAhead.take\n"
        "def counted(self, app, *args):\n"
        "    listed = take(self, app, *args)\n"
        "    taken.extend([app] if listed is not None else [])\n"
        "    return listed\n"
        "ImportAhead.take = counted\n"
        f"result = run_sync(Database('sqlite:///{demo.db.sqlite_path}'), dry_run=True)\n"
        "print(result.status, len(taken) > 2)\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "ROSTER_IMPORT_AHEAD_MB": "0"},
        timeout=120,
    )
    assert done.stdout.strip() == "planned True", done.stderr
    assert marks.read_text(encoding="utf-8") == "ran\n"


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


def test_the_threshold_reads_megabytes_and_names_nonsense(demo: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "1.5")
    assert import_ahead.threshold_bytes() == 1536 * 1024
    assert import_ahead.threshold_problem() == ""
    default = import_ahead.DEFAULT_MB * 1024 * 1024
    for nonsense in ("lots", "-3", "nan", "inf", "\x1b[31m"):
        monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", nonsense)
        assert import_ahead.threshold_bytes() == default
        assert "not a number of megabytes" in import_ahead.threshold_problem()
    assert "\x1b" not in import_ahead.threshold_problem()  # shown, never sent to the terminal
    # and a sync says so, beside what it did
    _edit(demo)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "lots")
    notes = demo.sync(dry_run=True).stages[0].notes
    assert "ROSTER_IMPORT_AHEAD_MB is 'lots', not a number of megabytes" in " ".join(notes)


def test_the_import_says_which_apps_were_listed_ahead(demo: Any, monkeypatch: Any) -> None:
    _edit(demo)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    notes = demo.sync(dry_run=True).stages[0].notes
    assert "listed idp, hr_feed, ad in a second process while the store loaded" in notes, notes


def test_an_apps_first_import_is_listed_here(demo: Any, monkeypatch: Any) -> None:
    """It lists every account: sending them all back would cost more than it saves."""
    _edit(demo)
    with closing(sqlite3.connect(demo.db.sqlite_path)) as db, db:
        db.execute(
            'DELETE FROM "grant" WHERE account_id IN '
            "(SELECT id FROM account WHERE app_id = 'hr_feed')"
        )
        db.execute("DELETE FROM account WHERE app_id = 'hr_feed'")
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    taken = _taken(monkeypatch)
    assert demo.sync(dry_run=True).status == "planned"
    assert "hr_feed" not in taken and {"ad", "idp"} <= set(taken)


def test_a_file_rewritten_while_the_store_loads_is_imported_at_the_next_sync(
    demo: Any, monkeypatch: Any
) -> None:
    """Listed ahead before the rewrite, the app must keep a version older than the rewrite,
    so that the next sync reads it again. It kept the rewrite's, and every later sync took
    the app as unchanged (hostile review)."""
    _edit(demo)
    idp = demo.db.sqlite_path.parent / "r-demo" / "apps" / "idp.yaml"
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    started = _started(monkeypatch)
    load_state = pipeline.load_state

    def rewriting(*args: Any, **kwargs: Any) -> Any:
        ahead = started[-1]
        assert ahead is not None
        deadline = time.monotonic() + 60
        while "idp" not in ahead._listed and time.monotonic() < deadline:
            time.sleep(0.02)  # until the second process has listed it
        assert "idp" in ahead._listed
        text = idp.read_text(encoding="utf-8")
        idp.write_text(text.replace("Head of Engines", "Head of Rockets"), encoding="utf-8")
        return load_state(*args, **kwargs)

    monkeypatch.setattr(pipeline, "load_state", rewriting)
    assert demo.sync().status == "applied"
    monkeypatch.setattr(pipeline, "load_state", load_state)
    titles = {a.profile.get("title") for a in demo.population().accounts if a.app_id == "idp"}
    assert "Head of Engines" in titles  # what was listed
    assert demo.sync().status == "applied"
    titles = {a.profile.get("title") for a in demo.population().accounts if a.app_id == "idp"}
    assert "Head of Rockets" in titles and "Head of Engines" not in titles


def test_the_second_process_imports_nothing_from_the_current_folder(
    demo: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    """`python -m` put the current folder first on its path: an `engine` package there ran
    in the second process (hostile review)."""
    _edit(demo)
    planted = tmp_path / "planted"
    (planted / "engine").mkdir(parents=True)
    (planted / "engine" / "__init__.py").write_text(
        f"open({str(tmp_path / 'ran')!r}, 'w').write('x')\n", encoding="utf-8"
    )
    monkeypatch.chdir(planted)
    monkeypatch.setenv("ROSTER_IMPORT_AHEAD_MB", "0")
    monkeypatch.setenv("PYTHONPATH", str(planted))
    taken = _taken(monkeypatch)
    assert demo.sync(dry_run=True).status == "planned"
    assert {"ad", "idp"} <= set(taken)  # listed ahead, by Roster's own engine
    assert not (tmp_path / "ran").exists()


def test_a_store_the_second_process_cannot_read_leaves_the_app_to_the_run(
    tmp_path: Any,
) -> None:
    """Its own read of the store failing is not the app's failure: the sync lists it."""
    from engine.connectors.base import ConnectorSpec

    spec = ConnectorSpec("hr", "file", {"path": "hr.csv"}, tmp_path)
    listed = import_ahead.list_in_second_process(str(tmp_path / "gone.db"), spec, "", "", {})
    assert listed.here and listed.listing is None and not listed.error and not listed.failure
