"""CEL cannot eat the machine (issue 12 §1): a cost budget per evaluation, a time budget per
preview and per sync stage (`settings.cel`), validation that refuses a runaway rule, and
runtime errors that name the failing sub-expression and its column — as an admin meets them
on the command line."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import main
from tests.engine.org import CONFIG, write_org

TENFOLD = '.replace("a", "aaaaaaaaaa")'
# nine chained replaces would build a 1,000,000,000-character string (2.1 GB, 8 s before)
RUNAWAY = '"a"' + TENFOLD * 9
# ten thousand items, each compared with ten thousand: CPU, not memory (seconds per record)
TEN_THOUSAND = '"a"' + TENFOLD * 4
SLOW = f'{TEN_THOUSAND}.split("").map(x, {TEN_THOUSAND}.split("").exists(y, y == x + "b"))'


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def make_store(tmp_path: Path, config: dict[str, Any] | None = None, sync: bool = True) -> str:
    runner = CliRunner()
    db = str(tmp_path / "roster.db")
    path = write_org(tmp_path / "org", config)
    assert run(runner, "init", "--empty", "--db", db)[0] == 0
    code, out, err = run(runner, "config", "import", str(path), "--db", db)
    assert code == 0, out + err
    if sync:
        assert run(runner, "sync", "--db", db)[0] == 0
    return db


def with_cel_settings(**cel: Any) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config.setdefault("settings", {})["cel"] = cel
    return config


def test_a_runaway_expression_is_stopped_by_the_cost_budget_naming_the_sub_expression(
    tmp_path: Path,
) -> None:
    db = make_store(tmp_path)
    runner = CliRunner()
    started = time.perf_counter()
    code, out, err = run(runner, "preview", "--db", db, "--context", "push_mapping", RUNAWAY)
    assert time.perf_counter() - started < 10
    assert code == 1
    assert "went over its cost budget of 10,000,000 units" in err
    # the seventh replace is the one that would build 10,000,000 characters
    column = 1 + len('"a"') + len(TENFOLD) * 6
    assert f"error: line 1, column {column}: " in err
    assert '(in `.replace("a", "aaaaaaaaaa")`)' in err

    code, out, _ = run(
        runner, "preview", "--db", db, "--context", "push_mapping", "--all", "--json", RUNAWAY
    )
    data = json.loads(out)
    # it compiled (ok) but failed for every record: a script must not read that as success
    assert code == 1 and data["ok"] and data["count"] == 5 and data["errors"] == 5
    assert all("cost budget" in e["message"] for e in data["first_errors"])


def test_the_cost_budget_is_not_absorbed_by_or(tmp_path: Path) -> None:
    """`||` absorbs CEL errors; a blown budget is not one (the evaluation ends)."""
    db = make_store(tmp_path)
    expression = f"{RUNAWAY} == '' || true"
    code, _, err = run(
        CliRunner(), "preview", "--db", db, "--context", "push_condition", expression
    )
    assert code == 1 and "cost budget" in err


def test_a_population_preview_ends_within_its_time_budget_with_partial_counts(
    tmp_path: Path,
) -> None:
    db = make_store(tmp_path, with_cel_settings(max_seconds_per_preview=0.3))
    started = time.perf_counter()
    code, out, _ = run(
        CliRunner(), "preview", "--db", db, "--context", "push_mapping", "--all", "--json", SLOW
    )
    assert time.perf_counter() - started < 15
    data = json.loads(out)
    assert code == 1 and data["timed_out"] is True  # not every record was evaluated
    assert data["count"] < 5
    assert "went over its time budget of 0.3 s" in data["note"]
    assert "the counts are of the records evaluated so far" in data["note"]

    code, _, err = run(
        CliRunner(), "preview", "--db", db, "--context", "push_mapping", "--all", SLOW
    )
    assert code == 1 and "note: stopped after" in err


def test_a_sync_stage_over_its_time_budget_fails_the_run_and_releases_the_lock(
    tmp_path: Path,
) -> None:
    config = with_cel_settings(max_seconds_per_stage=0.3)
    config["attributes"].append({"name": "slow", "custom": True, "sources": [{"cel": SLOW}]})
    # imported into an empty store: no records to try it on, so validation cannot refuse it
    db = make_store(tmp_path, config, sync=False)
    runner = CliRunner()
    started = time.perf_counter()
    code, out, err = run(runner, "sync", "--db", db, "--json")
    assert time.perf_counter() - started < 30
    data = json.loads(out)
    assert code != 0 and data["status"] == "failed"
    assert "the attributes stage went over its time budget of 0.3 s" in data["error"]
    assert "attribute_source expression" in data["error"]
    assert "settings.cel.max_seconds_per_stage" in data["error"]
    # the lock is free: the next sync runs (and fails the same way) instead of waiting
    code, out, _ = run(runner, "sync", "--db", db, "--json")
    assert json.loads(out)["status"] == "failed"


def test_validation_refuses_a_rule_that_blows_the_budget_before_it_is_saved(
    tmp_path: Path,
) -> None:
    db = make_store(tmp_path)
    runner = CliRunner()
    value = f"{{name: padded, custom: true, sources: [{{cel: '{RUNAWAY}'}}]}}"
    code, out, err = run(runner, "config", "set", "--db", db, "attributes.padded", value)
    assert code != 0
    assert "goes over its cost budget of 10,000,000 units (settings.cel.max_cost)" in err
    assert "nothing was changed" in err
    code, out, _ = run(runner, "config", "get", "--db", db, "attributes")
    assert "padded" not in out

    # too slow for the stage's time budget, though within the cost budget
    db2 = make_store(tmp_path / "slow", with_cel_settings(max_seconds_per_stage=0.3))
    value = f"{{name: slow, custom: true, sources: [{{cel: '{SLOW}'}}]}}"
    code, _, err = run(runner, "config", "set", "--db", db2, "attributes.slow", value)
    assert code != 0 and "the expression is too slow" in err


def test_cel_settings_are_validated_exported_and_documented(tmp_path: Path) -> None:
    db = make_store(tmp_path, with_cel_settings(max_cost=50_000))
    runner = CliRunner()
    code, out, _ = run(runner, "config", "export", "--db", db)
    assert code == 0 and "max_cost: 50000" in out
    code, _, err = run(runner, "config", "set", "--db", db, "settings.cel.max_cost", "0")
    assert code != 0 and "settings.cel.max_cost" in err
    docs = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for name in ("max_cost", "max_seconds_per_preview", "max_seconds_per_stage"):
        assert name in docs


@pytest.mark.parametrize(
    ("expression", "message", "column", "part"),
    [
        (
            'subject.email + string(int("+44 20"))',
            "the text is not a whole number",
            24,
            'int("+44 20")',
        ),
        # an operator's failure is marked at the operator, and the whole operation quoted
        (
            "9223372036854775807 + size(subject.email)",
            "integer overflow",
            21,
            "9223372036854775807 + size(",
        ),
        (
            "subject.email + 1",
            "no matching overload for string + int: convert one side first",
            15,
            "subject.email + 1",
        ),
        ('size(subject.email) >= "3"', "for int >= string", 21, "size(subject.email) >="),
        ('subject.email in "abc"', "for string in string: `in` looks in a list", 15, "subject"),
        ("[subject.email] * 2", "no matching overload for list * int (in", 17, "[subject"),
        # an error inside a macro, handed on to size(): the error inside, where it happened
        ("[subject.email].map(x, x + 1).size() > 0", "for string + int", 26, "x + 1"),
        ("subject.email < now()", "make the text a timestamp first", 15, "subject.email <"),
        ('subject.email.matches("(")', "not a valid regular expression", 14, '.matches("(")'),
    ],
)
def test_runtime_errors_name_the_failing_sub_expression_and_its_column(
    tmp_path: Path, expression: str, message: str, column: int, part: str
) -> None:
    db = make_store(tmp_path)
    code, _, err = run(CliRunner(), "preview", "--db", db, "--context", "push_mapping", expression)
    assert code == 1
    assert message in err
    assert f"error: line 1, column {column}: " in err
    assert f"(in `{part}" in err
    assert f"\n{' ' * (column - 1)}^" in err  # the caret under it
    assert "Traceback" not in err


def test_an_integer_literal_too_large_is_an_error_with_its_column(tmp_path: Path) -> None:
    db = make_store(tmp_path)
    code, _, err = run(
        CliRunner(),
        "preview",
        "--db",
        db,
        "--context",
        "push_mapping",
        "subject.email + string(12345678901234567890123456)",
    )
    assert code == 1
    assert "line 1, column 24: integer literal out of range" in err
    assert "Traceback" not in err


def test_re2_never_writes_to_the_terminal(tmp_path: Path) -> None:
    """RE2 logs a bad pattern from C++ straight to the process's stderr: only Roster's own
    message may appear there."""
    db = make_store(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "console.cli", "preview", "--db", db, "--context",
         "push_condition", 'subject.email.matches("(")'],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "re2.cc" not in done.stderr and "absl" not in done.stderr
    assert "not a valid regular expression" in done.stderr
