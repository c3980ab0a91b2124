"""Issue 12 §2: a store that stays locked (another process holds SQLite's write lock) gives a
clear message after the busy timeout, never a traceback and never rows of personal data, and
the run it interrupted is marked failed, never left "running"."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import engine.store.db
import engine.sync.pipeline as pipeline
from console.cli import main
from tests.engine.org import HR, write_org

SECRET = "zoe.secret@example.com"


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


class Holder:
    """Another process's write lock on the store (`BEGIN IMMEDIATE` from a plain connection)."""

    def __init__(self, db: Path) -> None:
        self.connection = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self.held = False

    def take(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.connection.execute("ROLLBACK")
            self.held = False


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Holder]]:
    monkeypatch.setattr(engine.store.db, "BUSY_TIMEOUT_SECONDS", 0.3)
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert cli("init", "--empty", "--db", str(db))[0] == 0
    assert cli("config", "import", str(config), "--db", str(db))[0] == 0
    assert cli("sync", "--db", str(db))[0] == 0
    # a new person, whose rows the next sync writes
    hr = {"accounts": [*HR["accounts"], {**HR["accounts"][0], "id": "E9", "email": SECRET}]}
    hr["accounts"][-1]["employee_ids"] = ["E9"]
    (tmp_path / "org" / "hr.yaml").write_text(yaml.safe_dump(hr))
    holder = Holder(db)
    yield db, holder
    holder.give_back()
    holder.connection.close()


def clean(text: str) -> None:
    assert "Traceback" not in text
    assert SECRET not in text and "[parameters" not in text and "INSERT" not in text


def runs(db: Path) -> list[dict[str, Any]]:
    code, out, _ = cli("runs", "--json", "--db", str(db))
    assert code == 0
    return list(json.loads(out))


def test_a_store_locked_before_the_sync_starts(store: tuple[Path, Holder]) -> None:
    db, holder = store
    holder.take()
    code, out, err = cli("sync", "--db", str(db))
    assert code == 1
    assert err.startswith(f"Error: The identity store sqlite:///{db} stayed locked for 0.3 s")
    assert "try again when that process has finished" in err
    clean(out + err)
    holder.give_back()
    assert [r["status"] for r in runs(db)] == ["applied"]


def test_a_store_locked_while_applying_marks_the_run_failed(
    store: tuple[Path, Holder], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, holder = store
    original_import, original_finish = pipeline.run_import, pipeline._finish

    def import_then_lock(*args: Any, **kwargs: Any) -> Any:
        imported = original_import(*args, **kwargs)
        holder.take()  # another process takes the write lock while the run plans
        return imported

    def finish_after_release(*args: Any) -> None:
        holder.give_back()  # ... and lets go once this run has given up writing
        original_finish(*args)

    monkeypatch.setattr(pipeline, "run_import", import_then_lock)
    monkeypatch.setattr(pipeline, "_finish", finish_after_release)
    code, out, err = cli("sync", "--json", "--db", str(db))
    assert code == 1
    data = json.loads(out)
    assert data["status"] == "failed"
    assert data["error"].startswith(f"The identity store sqlite:///{db} stayed locked for 0.3 s")
    clean(data["error"] + err)  # (the plan's changes name the new person: that is the plan)
    (last, _) = runs(db)
    assert last["status"] == "failed" and "stayed locked" in last["error"]
    clean(last["error"])


def test_a_store_locked_to_the_end_leaves_no_running_run(
    store: tuple[Path, Holder], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, holder = store
    original_import = pipeline.run_import

    def import_then_lock(*args: Any, **kwargs: Any) -> Any:
        imported = original_import(*args, **kwargs)
        holder.take()  # held until after this command has ended
        return imported

    monkeypatch.setattr(pipeline, "run_import", import_then_lock)
    code, out, err = cli("sync", "--db", str(db))
    assert code == 1
    assert "stayed locked for 0.3 s" in err and "the next sync marks it failed" in err
    clean(out + err)
    holder.give_back()
    monkeypatch.setattr(pipeline, "run_import", original_import)
    # the next sync (this same process: the lock's pid is alive) finds the run stale
    code, out, err = cli("sync", "--db", str(db))
    assert code == 0, out + err
    statuses = [(r["status"], r["error"]) for r in runs(db)]
    assert statuses[0][0] == "applied"
    assert statuses[1][0] == "failed" and statuses[1][1].startswith("interrupted")
    assert "running" not in [status for status, _ in statuses]
