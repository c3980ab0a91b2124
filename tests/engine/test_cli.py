"""The command line: text for people, JSON for scripts, exit codes for both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from tests.engine.org import write_org


@pytest.fixture
def store(tmp_path: Path) -> tuple[CliRunner, Path, Path]:
    runner = CliRunner()
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert runner.invoke(main, ["init", "--empty", "--db", str(db)]).exit_code == 0
    result = runner.invoke(main, ["config", "import", str(config), "--db", str(db)])
    assert result.exit_code == 0, result.output
    return runner, db, config


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sync_json_then_idempotent(store: tuple[CliRunner, Path, Path]) -> None:
    runner, db, _ = store
    code, out, _ = run(runner, "sync", "--json", "--db", str(db))
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "applied" and data["dry_run"] is False
    assert {s["name"] for s in data["stages"]} == {
        "import",
        "identify",
        "ownership",
        "attributes",
        "push",
        "provision",
    }
    assert data["changes_total"] > 0
    code, out, _ = run(runner, "--db", str(db), "sync", "--json")
    assert code == 0 and json.loads(out)["changes"] == []

    code, out, _ = run(runner, "runs", "--json", "--db", str(db))
    runs = json.loads(out)
    assert [r["status"] for r in runs] == ["applied", "applied"]
    code, out, _ = run(runner, "runs", str(runs[-1]["id"]), "--json", "--db", str(db))
    assert json.loads(out)["changes"]


def test_preview_json_one_record_all_and_errors(store: tuple[CliRunner, Path, Path]) -> None:
    runner, db, _ = store
    run(runner, "sync", "--db", str(db))
    code, out, _ = run(
        runner,
        "preview",
        "--db",
        str(db),
        "--context",
        "push_condition",
        "--all",
        'subject.department == "Engineering"',
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert data["count"] == 5 and data["summary"] == {"selected": 2, "not_selected": 3}
    assert {"count", "errors", "summary", "samples", "elapsed_ms"} <= set(data)

    code, out, _ = run(
        runner,
        "preview",
        "--db",
        str(db),
        "--context",
        "push_mapping",
        "--user",
        "ann.lee@example.com",
        "subject.jobTitle",
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["value"] == "Engineer" and data["type"] == "string"

    code, out, _ = run(
        runner,
        "preview",
        "--db",
        str(db),
        "--context",
        "push_condition",
        "--user",
        "ann.lee@example.com",
        "subject.jobTitle",
        "--json",
    )
    data = json.loads(out)
    assert code == 1 and "bool" in data["error"]["message"]

    code, out, _ = run(
        runner,
        "preview",
        "--db",
        str(db),
        "--context",
        "push_condition",
        "--all",
        'subject.departmnt == "x"',
        "--json",
    )
    data = json.loads(out)
    assert code == 1 and not data["ok"]
    assert "department" in data["error"]["hint"] + data["error"]["message"]

    code, out, _ = run(
        runner,
        "preview",
        "--db",
        str(db),
        "--context",
        "push_condition",
        "--all",
        'subject.department ==\n  "x" &&',
        "--json",
    )
    data = json.loads(out)
    assert code == 1 and data["error"]["line"] == 2 and data["error"]["column"]

    code, out, err = run(runner, "preview", "--db", str(db), "--context", "nope", "--all", "1")
    assert code == 2 and "directory_filter" in err

    code, out, _ = run(
        runner,
        "preview",
        "--db",
        str(db),
        "--context",
        "directory_filter",
        "--account",
        "hr:E5",
        'account.status == "DISABLED"',
        "--json",
    )
    assert code == 0 and json.loads(out)["value"] is True


def test_explain_link_and_unknown_names(store: tuple[CliRunner, Path, Path]) -> None:
    runner, db, _ = store
    run(runner, "sync", "--db", str(db))
    code, out, _ = run(
        runner, "explain", "ann.lee@example.com", "department", "--json", "--db", str(db)
    )
    data = json.loads(out)
    assert code == 0 and data["value"] == "Engineering"
    assert data["source"] == "hr:profile.department"
    assert {"source", "value", "outcome", "reason"} <= set(data["candidates"][0])

    code, _, err = run(runner, "explain", "nobody@example.com", "department", "--db", str(db))
    assert code == 1 and "nobody@example.com" in err
    code, _, err = run(runner, "explain", "ann.lee@example.com", "departmnt", "--db", str(db))
    assert code == 1 and "department" in err

    code, out, _ = run(
        runner, "link", "github:g2", "sam.park@example.com", "--json", "--db", str(db)
    )
    assert code == 0 and json.loads(out) == {
        "account": "github:g2",
        "owner": "sam.park@example.com",
        "pinned": True,
    }
    code, _, err = run(runner, "link", "github:zzz", "sam.park@example.com", "--db", str(db))
    assert code == 1 and "APP:EXTERNAL_ID" in err


def test_config_export_validate_import_round_trip(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    runner, db, config = store
    exported = tmp_path / "org" / "exported.yaml"
    code, _, _ = run(runner, "config", "export", str(exported), "--db", str(db))
    assert code == 0
    text = exported.read_text()
    code, out, _ = run(runner, "config", "validate", str(exported), "--json", "--db", str(db))
    assert code == 0 and json.loads(out)["ok"]
    edited = text.replace("update: 45", "update: 65")
    assert edited != text
    exported.write_text(edited)
    code, out, _ = run(runner, "config", "import", str(exported), "--dry-run", "--db", str(db))
    assert code == 0 and "flow_rules" in out and "Nothing was changed" in out
    code, out, _ = run(runner, "config", "import", str(exported), "--db", str(db))
    assert code == 0
    code, out, _ = run(runner, "config", "export", "--db", str(db))
    assert out == edited


def test_broken_config_is_rejected_with_every_problem_and_changes_nothing(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    runner, db, config = store
    before = run(runner, "config", "export", "--db", str(db))[1]
    broken = tmp_path / "org" / "broken.yaml"
    broken.write_text(
        config.read_text()
        .replace("app: idp\n", "app: nosuchapp\n", 1)
        .replace('"CREATE"\'', '"CREATE" &&\'', 1)
        .replace("max_objects: 500", "max_objects: lots")
    )
    code, out, err = run(runner, "config", "validate", str(broken), "--json", "--db", str(db))
    problems = json.loads(out)["problems"]
    assert code == 1 and len([p for p in problems if p["severity"] == "error"]) >= 3
    assert all(p["line"] for p in problems)
    code, _, err = run(runner, "config", "import", str(broken), "--db", str(db))
    assert code == 1 and "nosuchapp" in err and "nothing was imported" in err
    assert run(runner, "config", "export", "--db", str(db))[1] == before

    broken.write_text("apps: [\n")
    code, _, err = run(runner, "config", "import", str(broken), "--db", str(db))
    assert code == 1 and "line" in err


def test_init_refuses_an_existing_store(store: tuple[CliRunner, Path, Path]) -> None:
    runner, db, _ = store
    code, _, err = run(runner, "init", "--empty", "--db", str(db))
    assert code == 1 and "already holds" in err


def test_the_installed_command_reports_a_locked_sync_with_exit_4(
    store: tuple[CliRunner, Path, Path],
) -> None:
    _, db, _ = store
    import sqlite3

    with sqlite3.connect(db) as connection:
        connection.execute(
            "INSERT INTO sync_lock (name, holder, host, pid, since) VALUES "
            "('sync', 'dana', 'elsewhere', 1, '2026-01-01 00:00:00')"
        )
    roster = Path(sys.executable).with_name("roster")
    done = subprocess.run(
        [str(roster), "sync", "--db", str(db)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 4
    assert "dana" in done.stderr and "elsewhere" in done.stderr


def test_validate_without_a_store_creates_none(tmp_path: Path) -> None:
    config = write_org(tmp_path / "org")
    db = tmp_path / "never.db"
    code, out, _ = run(CliRunner(), "config", "validate", str(config), "--db", str(db))
    assert code == 0 and "valid" in out
    assert not db.exists()
