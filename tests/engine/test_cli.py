"""The command line: text for people, JSON for scripts, exit codes for both."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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

    assert run(runner, "sync", "--dry-run", "--db", str(db))[0] == 0
    code, out, _ = run(runner, "runs", "--json", "--db", str(db))
    assert [r["dry_run"] for r in json.loads(out)] == [True, False, False]
    code, out, _ = run(runner, "runs", "--applied", "--json", "--db", str(db))
    assert code == 0
    runs = json.loads(out)
    assert [r["status"] for r in runs] == ["applied", "applied"]
    code, out, _ = run(runner, "runs", str(runs[-1]["id"]), "--json", "--db", str(db))
    assert code == 0 and json.loads(out)["changes"]
    # a run keeps its notes: why the second sync did nothing
    code, out, _ = run(runner, "runs", str(runs[0]["id"]), "--db", str(db))
    assert code == 0 and f"\n    nothing changed since run {runs[-1]['id']}" in out


def test_preview_json_one_record_all_and_errors(store: tuple[CliRunner, Path, Path]) -> None:
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
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

    # compiles, but fails for every record: the exit status says so, as the count does
    code, out, _ = run(
        runner, "preview", "--db", str(db), "--context", "push_mapping", "--all", "subject.id + 1"
    )
    assert code == 1 and "5 records" in out and "5 errors" in out

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
    assert run(runner, "sync", "--db", str(db))[0] == 0
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
    linked = json.loads(out)
    assert code == 0 and {k: linked[k] for k in ("account", "owner", "pinned")} == {
        "account": "github:g2",
        "owner": "sam.park@example.com",
        "pinned": True,
    }
    # moving it to someone else says whose it was, and that it was linked by hand (a second
    # admin's link replaced the first's in silence: team review)
    code, out, _ = run(runner, "link", "github:g2", "ann.lee@example.com", "--db", str(db))
    assert code == 0
    assert "it was sam.park@example.com's, linked by hand" in out, out
    # and that what follows from it is the next sync's, where to see it
    assert "applied at the next sync: `roster sync --dry-run` shows it" in out, out
    code, out, _ = run(
        runner, "link", "github:g2", "ann.lee@example.com", "--json", "--db", str(db)
    )
    assert json.loads(out)["previous_owner"] is None  # it was hers already
    code, _, err = run(runner, "link", "github:zzz", "sam.park@example.com", "--db", str(db))
    assert code == 1 and "app 'github' has no account with the id 'zzz'" in err


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
    assert code == 0 and out == edited


def test_broken_config_is_rejected_with_every_problem_and_changes_nothing(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    runner, db, config = store
    code, before, _ = run(runner, "config", "export", "--db", str(db))
    assert code == 0
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
    assert run(runner, "config", "export", "--db", str(db))[:2] == (0, before)

    broken.write_text("apps: [\n")
    code, _, err = run(runner, "config", "import", str(broken), "--db", str(db))
    assert code == 1 and "line" in err


@pytest.mark.parametrize(
    "literal",
    ["12345678901234567890123456", "18446744073709551616u", "-9223372036854775809",
     "0x1FFFFFFFFFFFFFFFF"],
)  # fmt: skip
def test_preview_of_an_integer_literal_out_of_range_is_a_compile_error(
    store: tuple[CliRunner, Path, Path], literal: str
) -> None:
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    expression = f'subject.email == "x" || {literal} > 0'
    for scope in (["--user", "ann.lee@example.com"], ["--all"]):
        code, out, err = run(
            runner, "--db", str(db), "preview", "--context", "push_condition", *scope,
            "--json", "--", expression,
        )  # fmt: skip
        _no_traceback(out, err)
        data = json.loads(out)
        assert code == 1 and data["ok"] is False
        error = data["error"]
        assert error["message"].startswith("integer literal out of range: int is 64-bit")
        assert (error["line"], error["column"]) == (1, 25)
        assert error["caret"].splitlines()[1] == " " * 24 + "^"
    code, out, err = run(
        runner, "--db", str(db), "preview", "--context", "push_mapping",
        "--user", "ann.lee@example.com", "--", literal,
    )  # fmt: skip
    _no_traceback(out, err)
    assert code == 1 and "line 1, column 1: integer literal out of range" in err
    code, out, _ = run(
        runner, "--db", str(db), "preview", "--context", "push_mapping",
        "--user", "ann.lee@example.com", "--json", "--", "-9223372036854775808",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["value"] == -9223372036854775808


def test_config_with_an_integer_literal_out_of_range_names_the_line(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    runner, db, config = store
    text = config.read_text()
    old = "filter: '\"MATCH_ONLY\"'"
    assert old in text
    line = text[: text.index(old)].count("\n") + 1
    broken = tmp_path / "org" / "big.yaml"
    broken.write_text(
        text.replace(old, 'filter: \'1 > 99999999999999999999 ? "IGNORE" : "CREATE"\'')
    )
    code, out, err = run(runner, "config", "validate", str(broken), "--json", "--db", str(db))
    _no_traceback(out, err)
    (problem,) = [p for p in json.loads(out)["problems"] if p["severity"] == "error"]
    assert code == 1 and problem["line"] == line and problem["column"] == 16
    assert problem["message"].startswith("integer literal out of range")
    code, out, err = run(runner, "config", "validate", str(broken), "--db", str(db))
    assert code == 1 and f"line {line}, column 16: integer literal out of range" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"version: 1\napps: [\x1b]0;x\x07\n", "line 2, column 8: the file contains a control "
         "character (\\x1b), which YAML does not allow"),
        (b"version: 1\napps: []\n# \x00\n", "line 3, column 3: the file contains a control "
         "character (\\x00)"),
    ],
    ids=["escape", "nul"],
)  # fmt: skip
def test_a_control_character_in_a_config_file_is_a_problem_not_a_traceback(
    store: tuple[CliRunner, Path, Path], tmp_path: Path, content: bytes, expected: str
) -> None:
    runner, db, _ = store
    code, before, _ = run(runner, "config", "export", "--db", str(db))
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    code, out, err = run(runner, "config", "validate", str(bad), "--db", str(db))
    _no_traceback(out, err)
    assert code == 1 and expected in err and "\x1b" not in err + out
    code, out, _ = run(runner, "config", "validate", str(bad), "--json", "--db", str(db))
    (problem,) = json.loads(out)["problems"]
    assert code == 1 and problem["line"] and problem["column"] and problem["hint"]
    code, out, err = run(runner, "config", "import", str(bad), "--db", str(db))
    _no_traceback(out, err)
    assert code == 1 and expected in err and "nothing was imported" in err
    assert run(runner, "config", "export", "--db", str(db))[:2] == (0, before)


def test_an_empty_or_latin1_config_file_is_a_clear_error(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    runner, db, _ = store
    code, before, _ = run(runner, "config", "export", "--db", str(db))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    for command in ("validate", "import"):
        code, out, err = run(runner, "config", command, str(empty), "--db", str(db))
        _no_traceback(out, err)
        assert code == 1 and "the configuration is empty" in err
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("version: 1\napps: []\n# café\n".encode("latin-1"))
    for command in ("validate", "import"):
        code, out, err = run(runner, "config", command, str(latin), "--db", str(db))
        _no_traceback(out, err)
        assert code == 1 and "utf-8" in err.lower()
    assert run(runner, "config", "export", "--db", str(db))[:2] == (0, before)


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


# --- which store: only the default one is created on first start --------------------------------


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize(
    "command",
    [
        ["explain", "ann.lee@example.com", "department"],
        ["sync"],
        ["runs", "--json"],
        [],  # the console
    ],
    ids=["explain", "sync", "runs", "console"],
)
def test_a_mistyped_db_is_an_error_and_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "new" / "dir" / "x.db"
    result = CliRunner().invoke(main, ["--db", str(db), *command])
    assert result.exit_code == 1, result.output
    assert f"No identity store at {db}" in result.stderr
    assert f"roster init --db {db}" in result.stderr
    _no_traceback(result.stdout, result.stderr)
    assert not (tmp_path / "new").exists()


def test_a_missing_store_named_by_the_environment_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "typo.db"
    monkeypatch.setenv("ROSTER_DB", str(db))
    code, _, err = run(CliRunner(), "sync")
    assert code == 1 and f"roster init --db {db}" in err
    monkeypatch.delenv("ROSTER_DB")
    monkeypatch.setenv("ROSTER_DATABASE_URL", f"sqlite:///{tmp_path / 'typo2.db'}")
    code, _, err = run(CliRunner(), "explain", "ann.lee@example.com", "department")
    assert code == 1 and "roster init --database-url sqlite:///" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_init_creates_an_explicit_store_and_its_folder(tmp_path: Path) -> None:
    db = tmp_path / "new" / "dir" / "x.db"
    code, out, _ = run(CliRunner(), "init", "--empty", "--json", "--db", str(db))
    assert code == 0
    assert json.loads(out) == {
        "ok": True,
        "mode": "empty",
        "store": str(db),
        "people": 0,
        "accounts": 0,
        "apps": 0,
    }
    code, out, _ = run(CliRunner(), "runs", "--json", "--db", str(db))
    assert (code, json.loads(out)) == (0, [])


def test_init_sample_and_empty_exclude_each_other(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for flags in (["--sample", "--empty"], ["--empty", "--sample"]):
        code, _, err = run(CliRunner(), "init", *flags, "--db", str(db))
        assert code == 2 and "--sample and --empty" in err
    assert not db.exists()


def test_the_default_store_is_created_on_first_start_in_the_data_directory(
    isolated_home: Path,
) -> None:
    # tests/conftest.py: no store from the environment, the data directory in a temporary HOME
    assert not {"ROSTER_DB", "ROSTER_DATABASE_URL"} & set(os.environ)
    default = isolated_home / ".local" / "share" / "roster" / "roster.db"
    assert not default.exists()
    code, out, err = run(CliRunner(), "runs", "--json")
    assert code == 0, err
    assert f"No identity store at {default}; creating it with the demo organisation" in err
    assert [(r["status"], r["dry_run"]) for r in json.loads(out)] == [("applied", False)]
    assert default.exists()
    code, out, err = run(CliRunner(), "runs", "--json")  # opened, not created again
    assert code == 0 and err == "" and len(json.loads(out)) == 1


def test_the_store_on_the_command_line_wins_over_the_environment(
    store: tuple[CliRunner, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    empty = tmp_path / "empty.db"
    assert run(runner, "init", "--empty", "--db", str(empty))[0] == 0
    monkeypatch.setenv("ROSTER_DATABASE_URL", f"sqlite:///{empty}")

    def department(*args: str) -> tuple[int, str]:
        code, out, err = run(runner, *args, "--json")
        return code, json.loads(out)["value"] if code == 0 else err

    where = ("explain", "ann.lee@example.com", "department")
    code, err = department(*where)  # the environment alone: the empty store
    assert code == 1 and "ann.lee@example.com" in err
    assert department(*where, "--db", str(db)) == (0, "Engineering")
    assert department("--db", str(db), *where) == (0, "Engineering")
    monkeypatch.delenv("ROSTER_DATABASE_URL")
    monkeypatch.setenv("ROSTER_DB", str(empty))
    assert department("--db", str(db), *where) == (0, "Engineering")
    assert department(*where, "--database-url", f"sqlite:///{db}") == (0, "Engineering")

    monkeypatch.setenv("ROSTER_DATABASE_URL", f"sqlite:///{db}")
    code, _, err = run(runner, *where)  # both variables: which one is meant?
    assert code == 2 and "ROSTER_DB and ROSTER_DATABASE_URL" in err
    code, _, err = run(runner, *where, "--db", str(db), "--database-url", f"sqlite:///{empty}")
    assert code == 2 and "--db and --database-url" in err


def test_config_export_into_a_missing_folder_names_it(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    runner, db, _ = store
    target = tmp_path / "missing" / "dir" / "x.yaml"
    code, out, err = run(runner, "config", "export", str(target), "--db", str(db))
    assert code == 1 and out == ""
    assert err == (
        f"Error: Cannot write the configuration to {target}: the folder {target.parent} does "
        "not exist. Create it first, or give a file in an existing folder.\n"
    )
    assert not (tmp_path / "missing").exists()


def test_the_installed_console_refuses_a_missing_store(tmp_path: Path) -> None:
    roster = Path(sys.executable).with_name("roster")
    db = tmp_path / "missing.db"
    done = subprocess.run(
        [str(roster), "--db", str(db)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"Error: No identity store at {db}; nothing was created. Check the path, or create a "
        f"store there with `roster init --db {db}`.\n"
    )
    assert not db.exists()


def test_sync_text_says_what_the_plan_changes(store: tuple[CliRunner, Path, Path]) -> None:
    """One HR department change: each stage line says what the plan changes (one account, one
    person's department), not the stage's counters over everything it looked at."""
    import copy

    import yaml

    from tests.engine.org import HR

    runner, db, config = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    hr = copy.deepcopy(HR)
    hr["accounts"][0]["profile"]["department"] = "Finance"  # Ann Lee, from Engineering
    (config.parent / "hr.yaml").write_text(yaml.safe_dump(hr, sort_keys=False))
    code, out, _ = run(runner, "sync", "--dry-run", "--db", str(db))
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "1 change · 1 account changed (profile 1)" in lines["import"]
    assert "identify    no changes" in lines["identify"]
    assert "1 change · 1 user changed (department 1)" in lines["attributes"]
    assert "looked at: unchanged 14 · changed 1" in out


@pytest.mark.parametrize(
    "url", ["nonsense", "postgresql://bob:s3cr3t@db.example:5432x/prod", "garbage://"]
)
def test_a_database_url_that_is_not_one_is_a_clear_error(url: str) -> None:
    result = CliRunner().invoke(main, ["--database-url", url, "runs"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "s3cr3t" not in result.output
    if url != "garbage://":  # a well-formed URL of an unknown driver fails when opened
        assert "is not an SQLAlchemy URL" in result.stderr


def test_runs_text_shows_kind_mode_and_only_the_changed_keys(
    store: tuple[CliRunner, Path, Path],
) -> None:
    import copy

    import yaml

    from tests.engine.org import HR

    runner, db, config = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    hr = copy.deepcopy(HR)
    hr["accounts"][0]["profile"]["department"] = "Finance"  # Ann Lee, from Engineering
    (config.parent / "hr.yaml").write_text(yaml.safe_dump(hr, sort_keys=False))
    assert run(runner, "sync", "--db", str(db))[0] == 0
    code, out, _ = run(runner, "runs", "--db", str(db))
    assert code == 0
    header, newest = out.splitlines()[:2]
    assert header.split() == ["run", "started", "kind", "mode", "status", "changes", "by"]
    assert newest.split()[0] == "2" and newest.split()[3:6] == ["sync", "apply", "applied"]
    assert newest.split()[6] != "—" and int(newest.split()[6].replace(",", "")) > 0
    code, out, _ = run(runner, "runs", "2", "--db", str(db))
    assert code == 0
    assert out.splitlines()[0].startswith("Run 2 (sync, apply): applied")
    # the stages' counts, as the sync printed them and the console's Sync screen shows them
    lines = out.splitlines()
    assert any(line.startswith("  import      ") and "changed 1" in line for line in lines)
    assert "[import] hr:E1 profile.department: Engineering → Finance  (" in out
    assert "'Engineering'" not in out and "phone" not in out  # no reprs, no unchanged keys
    # the first sync created Ann: her attributes are one change, shown a value at a time
    code, out, _ = run(runner, "runs", "1", "--db", str(db))
    (line,) = [x for x in out.splitlines() if "[attributes] ann.lee@example.com " in x]
    assert "attributes.department: — → Engineering" in line, line
    assert "attributes.job_title: — → Engineer" in line, line


def test_runs_shows_the_first_changes_and_says_how_to_see_the_rest(
    store: tuple[CliRunner, Path, Path],
) -> None:
    """A first sync of a large organisation journals hundreds of thousands of changes: the text
    shows the first ones and how many more there are; --limit 0 and --json show them all."""
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    code, out, _ = run(runner, "runs", "1", "--json", "--db", str(db))
    total = len(json.loads(out)["changes"])
    assert code == 0 and total > 5
    # written as the changes are read, the text is the one JSON document it always was
    assert out == json.dumps(json.loads(out), indent=2, ensure_ascii=False) + "\n"

    def shown(*args: str) -> list[str]:
        code, out, _ = run(runner, "runs", "1", *args, "--db", str(db))
        assert code == 0, out
        return out.splitlines()

    lines = shown("--limit", "5")
    assert len([line for line in lines if line.startswith("  [")]) == 5
    more = total - 5
    assert lines[-1] == (
        f"  … and {more:,} more change{'s' if more != 1 else ''}: "
        "`roster runs 1 --limit 0` shows them all, `--json` too."
    )
    everything = shown("--limit", "0")
    assert len([line for line in everything if line.startswith("  [")]) == total
    assert "more change" not in everything[-1]
    code, out, _ = run(runner, "runs", "1", "--json", "--limit", "2", "--db", str(db))
    limited = json.loads(out)
    assert code == 0 and len(limited["changes"]) == 2
    assert limited["total_changes"] == total  # says how many --limit left out
    # a run id or a limit beyond what the store holds is refused, not a traceback
    for args in (["runs", "9" * 23], ["runs", "1", "--limit", "9" * 23], ["runs", "abc"]):
        code, out, err = run(runner, *args, "--db", str(db))
        assert code == 2 and "Traceback" not in out + err, out + err
        assert "Invalid value" in out + err and "integer range" not in out + err, out + err
    # the list of runs takes it too
    assert run(runner, "sync", "--dry-run", "--db", str(db))[0] == 0
    code, out, _ = run(runner, "runs", "--limit", "1", "--db", str(db))
    assert code == 0 and len(out.splitlines()) == 2 and out.splitlines()[1].split()[0] == "2"
    code, out, err = run(runner, "runs", "--limit", "-1", "--db", str(db))
    assert code == 2 and "-1" in out + err


def test_preview_in_the_cel_context_needs_no_record(store: tuple[CliRunner, Path, Path]) -> None:
    runner, db, _ = store
    code, out, _ = run(
        runner, "--db", str(db), "preview", "--context", "cel", "--json",
        '{"a": 1}.?b.orValue(41) + 1',
    )  # fmt: skip
    assert code == 0 and json.loads(out)["value"] == 42
    code, out, err = run(runner, "--db", str(db), "preview", "--context", "cel", "subject.email")
    assert code == 1 and "no record" in out + err and "push_condition" in out + err
    code, out, err = run(runner, "--db", str(db), "preview", "--context", "cel", "--all", "1")
    assert code == 2 and "leave out --user, --account, --all" in out + err


def test_a_one_record_preview_warns_of_a_readable_store_before_it_looks(
    store: tuple[CliRunner, Path, Path],
) -> None:
    """The driver path (engine/services/one_record.py) says what opening the services says:
    the permission warning comes first, even when the person is not there."""
    runner, db, _ = store
    db.chmod(0o644)
    code, out, err = run(
        runner, "--db", str(db), "preview", "--context", "push_condition", "--user", "no@x", "true"
    )
    assert code == 1 and "can be read by users outside its group" in err
    assert "No person has the email" in err
    assert err.index("can be read by users") < err.index("No person has the email")
    code, out, err = run(runner, "--db", str(db), "preview", "--context", "cel", "--json", "1 + 1")
    assert code == 0 and json.loads(out)["value"] == 2 and "Warning" not in err


def test_a_preview_without_a_record_says_it_took_the_first(
    store: tuple[CliRunner, Path, Path],
) -> None:
    runner, db, _ = store
    run(runner, "--db", str(db), "sync")
    code, out, err = run(runner, "--db", str(db), "preview", "--context", "push_condition", "true")
    assert code == 0 and "record: " in out
    assert "no record was named: the first user; give --user EMAIL or --all" in err
    code, out, err = run(
        runner, "--db", str(db), "preview", "--context", "push_condition", "--json", "true"
    )
    assert code == 0 and json.loads(out)["value"] is True and err == ""


def test_an_unknown_app_is_named_not_taken_for_no_match(
    store: tuple[CliRunner, Path, Path],
) -> None:
    runner, db, _ = store
    run(runner, "--db", str(db), "sync")
    code, out, err = run(
        runner, "--db", str(db), "preview", "--context", "account_key", "--all", "--app", "hrx",
        "account.email",
    )  # fmt: skip
    assert code == 1 and "No app 'hrx'; the apps are" in err and "hr" in err
    code, out, err = run(
        runner, "--db", str(db), "preview", "--context", "account_key", "--account",
        "hrx:E10001", "account.email",
    )  # fmt: skip
    assert code == 1 and "no account is in an app 'hrx'; the apps are" in err


def test_a_store_copied_with_its_folder_reads_and_writes_its_own_demo_files(
    tmp_path: Path,
) -> None:
    """`cp -r` of a demo store (r.db and r-demo/ beside it) made a second store that synced
    from, and pushed into, the first one's files."""
    import shutil

    first = tmp_path / "first"
    code, _, err = run(CliRunner(), "init", "--db", str(first / "r.db"))
    assert code == 0, err
    second = tmp_path / "second"
    shutil.copytree(first, second)
    hr = second / "r-demo" / "apps" / "hr.yaml"
    original = (first / "r-demo" / "apps" / "hr.yaml").read_text(encoding="utf-8")
    assert "job_title: Software Engineer" in original
    hr.write_text(
        original.replace("job_title: Software Engineer", "job_title: Copied Engineer", 1),
        encoding="utf-8",
    )
    code, out, err = run(CliRunner(), "sync", "--json", "--db", str(second / "r.db"))
    assert code == 0, err
    assert len(json.loads(out)["changes"]) > 0  # the copy's own HR file was read
    code, out, err = run(CliRunner(), "sync", "--json", "--db", str(first / "r.db"))
    assert code == 0 and json.loads(out)["changes"] == [], out  # the first store: untouched
    assert (first / "r-demo" / "apps" / "hr.yaml").read_text(encoding="utf-8") == original


@pytest.mark.parametrize("folder", ["why?", "50%", "a%3Fb", "hash#tag", "sp ace é"])
def test_a_store_in_a_folder_with_url_characters_is_that_store(tmp_path: Path, folder: str) -> None:
    """A store path holding "?" or "%" once opened another file (the URL's query began at
    "?", its "%" escapes were undone): every command then said there was no store."""
    runner = CliRunner()
    db = tmp_path / folder / "roster.db"
    db.parent.mkdir()
    config = write_org(tmp_path / "org")
    assert runner.invoke(main, ["init", "--empty", "--db", str(db)]).exit_code == 0
    assert db.exists()
    result = runner.invoke(main, ["config", "import", str(config), "--db", str(db)])
    assert result.exit_code == 0, result.output
    code, out, err = run(runner, "sync", "--json", "--db", str(db))
    assert code == 0, err
    assert json.loads(out)["status"] == "applied"
    code, out, err = run(runner, "runs", "--json", "--db", str(db))
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["applied"], err
    assert {p.name for p in tmp_path.iterdir()} == {folder, "org"}  # no store anywhere else
    assert {p.name for p in db.parent.iterdir()} <= {"roster.db", "roster.db-wal", "roster.db-shm"}


def test_a_store_damaged_by_hand_says_so_instead_of_a_traceback(
    store: tuple[CliRunner, Path, Path],
) -> None:
    import sqlite3
    from contextlib import closing

    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("UPDATE config_object SET body = '{\"x\": ' WHERE section = 'settings'")
    for args in (["sync"], ["sync", "--json"], ["status"]):
        result = runner.invoke(main, [*args, "--db", str(db)])
        shown = result.stdout + result.stderr
        assert "Traceback" not in shown, (args, shown)
        assert "The stored configuration is damaged" in shown and "not JSON" in shown, shown
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert result.exit_code != 0 or args == ["status"]  # the dashboard shows it as a problem


def test_preview_against_says_how_many_more_than_it_shows(demo: Any) -> None:
    """Five samples of hundreds of changes: the rest is counted, not silently dropped."""
    runner = CliRunner()
    args = ["preview", "--db", str(demo.db.sqlite_path), "--context", "directory_filter"]
    result = runner.invoke(main, [*args, "--against", "directories.hr.filter", '"IGNORE"'])
    assert result.exit_code == 0, result.output
    out = result.stdout
    changed = int(re.search(r"against directories\.hr\.filter: ([\d,]+) changed", out)[1])  # type: ignore[index]
    assert changed > 5 and out.count("  changed: hr:") == 5
    assert f"  … and {changed - 5:,} more changed" in out
    removed = re.search(r"(\d[\d,]*) removed", out)
    assert removed and int(removed[1].replace(",", "")) > 5
    assert f"  … and {int(removed[1].replace(',', '')) - 5:,} more removed" in out


def test_preview_help_names_every_context() -> None:
    from engine.cel import CONTEXTS

    shown = " ".join(CliRunner().invoke(main, ["preview", "--help"]).stdout.split())
    assert all(name in shown for name in CONTEXTS), shown


def test_a_url_whose_path_holds_a_question_mark_says_what_it_means(tmp_path: Path) -> None:
    folder = tmp_path / "we?ird"
    folder.mkdir()
    result = CliRunner().invoke(
        main, ["status", "--database-url", f"sqlite:///{folder}/r.db", "--json"]
    )
    assert result.exit_code != 0
    assert "the path ends at '?'" in result.stderr and "--db" in result.stderr
    assert not list(tmp_path.rglob("*.db"))  # nothing was created, anywhere
    plain = CliRunner().invoke(main, ["status", "--database-url", f"sqlite:///{tmp_path}/x.db"])
    assert plain.exit_code != 0 and "the path ends at" not in plain.stderr


def test_people_list_searches_and_an_unknown_email_names_the_closest(
    store: tuple[CliRunner, Path, Path],
) -> None:
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    code, out, _ = run(runner, "people", "list", "ANN", "--db", str(db))
    assert code == 0 and "ann.lee@example.com" in out and "Ann Lee" in out
    assert out.rstrip().endswith("\n1 person")
    code, out, _ = run(runner, "people", "list", "--json", "--db", str(db))
    everyone = json.loads(out)["total"]
    assert everyone == len(json.loads(out)["people"]) > 1
    code, out, _ = run(runner, "people", "list", "--limit", "1", "--json", "--db", str(db))
    listed = json.loads(out)
    assert code == 0 and len(listed["people"]) == 1 and listed["more"] is True
    assert listed["total"] == everyone
    assert set(listed["people"][0]) == {"id", "display_name", "email", "status"}
    code, out, _ = run(runner, "people", "list", "--limit", "1", "--db", str(db))
    assert f"1 of {everyone} people shown: narrow the search, or give --limit" in out
    code, out, _ = run(runner, "people", "list", "\x1b[31mzz%_", "--db", str(db))
    assert code == 0 and "Nobody matches " in out and "\x1b" not in out
    # 0 lists everyone, as `roster runs --limit 0` does (newcomer review); below it is refused
    code, out, _ = run(runner, "people", "list", "--limit", "0", "--json", "--db", str(db))
    assert code == 0 and len(json.loads(out)["people"]) == everyone
    code, _, err = run(runner, "people", "list", "--limit", "-1", "--db", str(db))
    assert code == 2 and "--limit" in err

    # a typo, and a wrong domain: the closest people are named
    code, _, err = run(runner, "people", "show", "ann.le@example.com", "--db", str(db))
    assert code == 1 and "Did you mean ann.lee@example.com" in err
    code, _, err = run(runner, "explain", "ann.lee@example.org", "department", "--db", str(db))
    assert code == 1 and "Did you mean ann.lee@example.com" in err
    code, _, err = run(runner, "people", "show", "qq@example.com", "--db", str(db))
    assert code == 1 and "Did you mean" not in err and "roster people list TEXT" in err


def test_people_show_lines_up_its_columns(demo: Any) -> None:
    """Each column of a person's accounts starts where the one above it does, whatever the
    link kind ("dir-create", "ownership") or the length of an id."""
    runner, db = CliRunner(), str(demo.db.sqlite_path)
    code, out, _ = run(runner, "people", "show", "priya.shah@example.com", "--db", db)
    assert code == 0, out
    lines = out.splitlines()
    accounts = lines[lines.index("accounts:") + 1 :]
    assert len(accounts) > 3 and any("dir-create" in a for a in accounts)
    assert len({a.index("Priya Shah") for a in accounts}) == 1, accounts
    assert len({a.index("ENABLED") for a in accounts}) == 1, accounts
    attributes = lines[lines.index("attributes:") + 1 : lines.index("accounts:")]
    assert len({len(a) - len(a[2:].split(" ", 1)[1].lstrip()) for a in attributes}) == 1
    # by id too, as its help says: people without an email have only their id
    priya = demo.person("priya.shah@example.com")
    code, by_id, _ = run(runner, "people", "show", str(priya.id), "--db", db)
    assert code == 0 and by_id == out
    assert out.startswith("Priya Shah <priya.shah@example.com> · ")
    # without an email, the name alone (it read "Mei Tanaka <>")
    nameless = next(u for u in demo.population().users if not u.email and u.display_name)
    code, out, _ = run(runner, "people", "show", str(nameless.id), "--db", db)
    assert code == 0 and out.startswith(f"{nameless.display_name} · "), out


def test_every_command_naming_a_person_takes_their_id(demo: Any) -> None:
    """A person without an email has only their id: `people show` took it, while `explain`,
    `link` and `preview --user` said "No person has the email '22'" (docs review), so such a
    person could not be linked or explained from the CLI."""
    runner, db = CliRunner(), str(demo.db.sqlite_path)
    nameless = next(u for u in demo.population().users if not u.email and u.display_name)
    who = str(nameless.id)
    code, out, err = run(runner, "explain", who, "department", "--db", db)
    assert code == 0 and out.startswith(f"{nameless.display_name} · department"), out + err
    code, out, err = run(
        runner, "preview", "--context", "attribute_source", "--user", who, "subject.id", "--db", db
    )
    assert code == 0 and f'value:  "{who}"' in out, out + err
    account = next(a for a in demo.population().accounts if a.owner_id is None)
    key = f"{account.app_id}:{account.external_id}"
    code, out, err = run(runner, "link", key, who, "--dry-run", "--db", db)
    assert code == 0 and f"Would link {key} to {nameless.display_name}" in out, out + err
    code, out, err = run(runner, "link", key, who, "--json", "--db", db)
    assert code == 0 and json.loads(out)["owner"] == nameless.display_name, out + err
    # an id no one has is refused as a missing person, not as an email
    code, _, err = run(runner, "explain", "999999", "department", "--db", db)
    assert code == 1 and "There is no person 999999." in err and "the email" not in err, err
    # digits that are no id, in every command that names a person: refused, no traceback
    # (Python's int() read "²" as a digit and failed; 5,000 digits exceed its limit)
    for odd in ("²", "9" * 5000):
        for args in (
            ("explain", odd, "department"),
            ("people", "show", odd),
            ("provision", "test", "entra", "mailNickname", "--user", odd),
            ("provision", "entra", "--user", odd, "--dry-run"),
        ):
            code, out, err = run(runner, *args, "--db", db)
            assert code == 1 and "No person has the email" in err, (args[0], out, err)
            assert "Traceback" not in err and len(err) < 2000


def test_a_directory_filter_is_previewed_over_the_directories_accounts(demo: Any) -> None:
    """A filter only ever decides directory accounts: --all covers those (and says so), and a
    preview naming no record starts on the primary directory's first account."""
    runner, db = CliRunner(), str(demo.db.sqlite_path)
    code, out, _ = run(
        runner, "preview", "--db", db, "--context", "directory_filter", "--all", "true", "--json"
    )
    data = json.loads(out)
    directories = ["hr", "idp", "hr_feed"]
    assert code == 0 and data["scope"] == "the accounts of the directories hr, idp, hr_feed"
    live = [a for a in demo.population().accounts if a.status != "DELETED"]
    assert data["count"] == sum(1 for a in live if a.app_id in directories)
    assert all(s["record"].split(":")[0] in directories for s in data["samples"])
    code, out, _ = run(
        runner, "preview", "--db", db, "--context", "directory_filter", "--all", "true",
        "--app", "ad",
    )  # fmt: skip
    assert code == 0 and "(the accounts of app ad)" in out.splitlines()[0]
    code, out, _ = run(runner, "preview", "--db", db, "--context", "account_key", "--all", "1")
    assert f"{len(live):,} records (every account)" in out
    code, out, err = run(runner, "preview", "--db", db, "--context", "directory_filter", "true")
    assert code == 0 and out.startswith("record: hr:") and "the first account" in err
    # what a value decides, where its text does not say it (the summary counts decisions)
    assert "value:  true  (CREATE)" in out
    code, out, _ = run(runner, "preview", "--db", db, "--context", "directory_filter", '"IGNORE"')
    assert 'value:  "IGNORE"\n' in out
    code, out, _ = run(runner, "preview", "--db", db, "--context", "directory_filter", "--all", "3")
    assert "got int 3" in out
    code, out, _ = run(
        runner, "preview", "--db", db, "--context", "directory_filter", "--all", "false"
    )
    assert "→ false  (IGNORE)" in out
    assert demo.first_record("directory_filter").detail.startswith("hr:")
    assert demo.first_record("user_key").kind == "user" and demo.first_record("cel") is None


def test_a_people_search_takes_its_text_as_typed_and_bounds_it(
    store: tuple[CliRunner, Path, Path],
) -> None:
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    for text in ("%", "_", "a_n", "\\"):  # not LIKE wildcards: nobody's name holds these
        code, out, _ = run(runner, "people", "list", text, "--db", str(db))
        assert code == 0 and "Nobody matches " in out, text
    code, _, err = run(runner, "people", "list", "x" * 300, "--db", str(db))
    assert code == 1 and "A search is at most 200 characters (this one has 300)" in err
    code, _, err = run(runner, "people", "show", "y" * 300 + "@example.com", "--db", str(db))
    assert code == 1 and "No person has the email" in err


def test_a_disabled_directory_is_out_of_a_filter_previews_scope(demo: Any) -> None:
    runner, db = CliRunner(), str(demo.db.sqlite_path)
    assert run(runner, "config", "disable", "directories.hr", "--db", db)[0] == 0
    code, out, _ = run(
        runner, "preview", "--db", db, "--context", "directory_filter", "--all", "true"
    )
    assert code == 0 and "(the accounts of the directories idp, hr_feed)" in out
    assert demo.first_record("directory_filter").detail.startswith("idp:")


def test_small_words_the_newcomer_review_asked_for(
    store: tuple[CliRunner, Path, Path], tmp_path: Path
) -> None:
    """A header over `people list`; `merge-matrix APP` explains only its own table; `app test`
    says its accounts are a sample."""
    runner, db, _ = store
    assert run(runner, "sync", "--db", str(db))[0] == 0
    code, out, _ = run(runner, "people", "list", "ann", "--db", str(db))
    assert code == 0 and out.split("\n")[0].split() == ["person", "status", "email", "name"]
    code, out, _ = run(runner, "merge-matrix", "slack", "--db", str(db))
    assert code == 0 and "owned: the rules" in out and "matched: the first rule" not in out
    code, out, _ = run(runner, "merge-matrix", "hr", "--db", str(db))
    assert code == 0 and "matched: the first rule" in out and "owned: the rules" not in out

    export = tmp_path / "vpn.csv"
    export.write_text("id,display_name,email,last_login\nu1,Ann Lee,ann.lee@example.com,2026\n")
    app = f"{{name: VPN, connector: file, settings: {{path: {export}}}}}"
    assert run(runner, "config", "set", "apps.vpn", app, "--db", str(db))[0] == 0
    code, out, _ = run(runner, "app", "test", "vpn", "--db", str(db))
    assert code == 0 and "profile.last_login" in out


def test_version_says_which_roster_without_opening_a_store(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"], env={"HOME": str(tmp_path)})
    assert result.exit_code == 0
    assert result.stdout.strip() == f"roster {version('roster')}"
    assert not list(tmp_path.rglob("*.db"))


def test_an_email_that_is_all_digits_is_told_apart_from_an_id() -> None:
    """Nothing stops an app from giving someone the email "7": it read as person 7's id, and
    a link went to the wrong person (hostile pass). Such a clash is refused, naming both."""
    from engine.errors import NotFound
    from engine.records import Population, UserRecord
    from engine.services.records import user_by_email

    ann = UserRecord(7, "ann@example.com", display_name="Ann")
    seven = UserRecord(9, "7", display_name="Seven")
    people = Population([ann, seven], [], {})
    with pytest.raises(NotFound, match=r"'7' is the id of Ann and the email of Seven \(id 9\)"):
        user_by_email(people, "7")
    assert user_by_email(people, "9") is seven  # no clash: the id


def test_an_id_is_ascii_digits_wherever_a_person_is_looked_up_by_one() -> None:
    """CEL's directory functions reached person 89 from "8_9", person 10 from "１０" and
    " 10" (Python's int() reads them all; hostile pass)."""
    from engine.records import Population, UserRecord
    from engine.text import whole_number

    people = Population([UserRecord(10, "ten@x"), UserRecord(89, "eighty-nine@x")], [], {})
    assert people.user_by_id("10") is not None and people.user_by_id(89) is not None
    for odd in ("8_9", "１０", " 10", "²", "9" * 5000, "-10", ""):
        assert whole_number(odd) is None and people.user_by_id(odd) is None, odd
