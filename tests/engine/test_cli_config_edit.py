"""`roster config get|set|delete|move|edit` and `roster audit` through the real command line,
with EDITOR set to a small script that edits the file the way an admin would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from console.cli import main
from tests.engine.org import CONFIG, write_org

HR_FILTER = CONFIG["directories"][0]["filter"]

# The "editor": round N applies the Nth step of $EDIT_PLAN to the file and keeps a copy of what
# it was shown in seen.N. Steps: {"replace": [old, new]}, {"write": text}, {"keep": true},
# {"exit": code}.
EDITOR = f"""#!{sys.executable}
import json, os, pathlib, sys
plan = json.loads(pathlib.Path(os.environ["EDIT_PLAN"]).read_text())
folder = pathlib.Path(os.environ["EDIT_PLAN"]).parent
count = len(list(folder.glob("seen.*"))) + 1
file = pathlib.Path(sys.argv[1])
text = file.read_text()
(folder / f"seen.{{count}}").write_text(text)
step = plan[count - 1]
if "replace" in step:
    old, new = step["replace"]
    assert old in text, (old, text)
    file.write_text(text.replace(old, new))
elif "write" in step:
    file.write_text(step["write"])
sys.exit(step.get("exit", 0))
"""


@pytest.fixture
def store(tmp_path: Path) -> tuple[CliRunner, Path]:
    runner = CliRunner()
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert runner.invoke(main, ["init", "--empty", "--db", str(db)]).exit_code == 0
    result = runner.invoke(main, ["config", "import", str(config), "--db", str(db)])
    assert result.exit_code == 0, result.output
    return runner, db


def run(runner: CliRunner, db: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(main, [*args, "--db", str(db)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "editor"
    folder.mkdir()
    script = folder / "edit.py"
    script.write_text(EDITOR)
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.setenv("EDIT_PLAN", str(folder / "plan.json"))
    return folder


def plan(folder: Path, *steps: dict[str, object]) -> None:
    (folder / "plan.json").write_text(json.dumps(list(steps)))


def test_get_prints_yaml_a_text_as_it_is_and_json(store: tuple[CliRunner, Path]) -> None:
    runner, db = store
    code, out, _ = run(runner, db, "config", "get", "directories.idp")
    assert code == 0
    assert out == (
        "app: idp\n"
        'filter: \'account.type == "SERVICE_ACCOUNT" ? "IGNORE" : "CREATE"\'\n'
        "merge_rules:\n"
        "  - name: email\n"
        "    account: {preset: all_emails, strip_plus_tag: true}\n"
        "    user: {preset: all_emails}\n"
    )
    assert run(runner, db, "config", "get", "directories.hr.filter") == (0, HR_FILTER + "\n", "")
    code, out, _ = run(runner, db, "config", "get", "directories.hr.merge_rules", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["email", "employee_id"]
    code, out, err = run(runner, db, "config", "get", "directories.nope")
    assert code == 1 and out == ""
    assert (
        err == "Error: directories.nope: there is no directory `nope`; there are: hr, idp, feed\n"
    )


def test_set_shows_the_diff_dry_run_changes_nothing_errors_exit_1(
    store: tuple[CliRunner, Path],
) -> None:
    runner, db = store
    _, exported, _ = run(runner, db, "config", "export")
    code, out, _ = run(
        runner, db, "config", "set", "directories.hr.filter", '"CREATE"', "--dry-run"
    )
    assert code == 0
    assert out.splitlines() == [
        f"-{HR_FILTER}",
        '+"CREATE"',
        "if saved (against the saved configuration): 0 created and 0 removed people, "
        "0 accounts with another owner",
        "Dry run: would change directories.hr.filter (1 change). Nothing was changed.",
    ]
    assert run(runner, db, "config", "export")[1] == exported

    code, out, err = run(runner, db, "config", "set", "directories.hr.filter", "account.nope")
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "Error: directories.hr.filter: the edit has 1 problem; nothing was changed.",
        "  directories.hr.filter: unknown field `nope` (line 1, column 9 of the expression) "
        "(other values are read from the profile: `account.profile.nope`)",
    ]
    code, out, err = run(runner, db, "config", "set", "settings.deletion_threshold", "{max: [")
    assert code == 1 and "the value for settings.deletion_threshold is not YAML" in err
    assert run(runner, db, "config", "export")[1] == exported

    code, out, _ = run(runner, db, "config", "set", "directories.hr.filter", '"CREATE"', "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] and data["applied"] and data["after"] == '"CREATE"'
    assert data["changes"][0]["path"] == "directories.hr.filter"
    code, out, _ = run(
        runner, db, "config", "set", "settings.deletion_threshold.max_objects", "400"
    )
    assert code == 0 and out.splitlines()[:2] == ["-500", "+400"]
    code, out, _ = run(runner, db, "config", "set", "directories.hr.filter", '"CREATE"')
    assert (code, out) == (0, "directories.hr.filter already says this; nothing was changed.\n")


def test_delete_move_and_the_audit(store: tuple[CliRunner, Path]) -> None:
    runner, db = store
    code, out, _ = run(runner, db, "config", "move", "directories.feed", "0")
    assert code == 0 and out.endswith("Saved directories.feed (1 change).\n")
    code, out, _ = run(runner, db, "config", "delete", "attributes.department.flow_rules.idp")
    assert code == 0
    code, _, err = run(runner, db, "config", "move", "directories.feed", "9")
    assert code == 1 and "the new position must be from 0 to 2 (0 is first); got 9" in err
    code, _, err = run(runner, db, "config", "move", "directories.feed")
    assert code == 2  # usage

    code, out, _ = run(runner, db, "audit", "--json", "--limit", "2")
    entries = json.loads(out)
    assert [(e["action"], e["path"]) for e in entries] == [
        ("config.edit", "attributes.department.flow_rules.idp"),
        ("config.edit", "directories.feed"),
    ]
    assert entries[0]["before"]["update"] == 45 and entries[0]["after"] is None
    code, out, _ = run(runner, db, "audit", "--object", "attributes.department")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].endswith("  config.edit  attributes.department.flow_rules.idp")
    assert lines[1:2] == ["    -app: idp"]
    assert "config.import  attributes" in out
    code, out, _ = run(runner, db, "audit", "--object", "push_rules.nothing")
    assert (code, out) == (0, "No audit entries about push_rules.nothing.\n")


def test_edit_reopens_with_the_errors_until_valid(
    store: tuple[CliRunner, Path], editor: Path
) -> None:
    runner, db = store
    plan(
        editor,
        {"replace": ["filter: '\"MATCH_ONLY\"'", "filter: account.nope"]},
        {"replace": ["filter: account.nope", "filter: '\"CREATE\"'"]},
    )
    code, out, err = run(runner, db, "config", "edit", "directories.feed")
    assert code == 0, err
    first = (editor / "seen.1").read_text()
    assert first.startswith("# Roster: editing directories.feed.")
    assert first.endswith("app: feed\nfilter: '\"MATCH_ONLY\"'\n")
    second = (editor / "seen.2").read_text().splitlines()
    error = second.index("filter: account.nope") - 1
    assert second[error] == (
        "# ERROR: unknown field `nope` (other values are read from the profile: "
        "`account.profile.nope`)"
    )
    assert out.splitlines()[-1] == "Saved directories.feed (1 change)."
    assert run(runner, db, "config", "get", "directories.feed.filter")[1] == '"CREATE"\n'
    code, out, _ = run(runner, db, "audit", "--object", "directories.feed", "--limit", "1")
    assert "config.edit  directories.feed" in out


def test_edit_marks_yaml_errors_and_problems_elsewhere(
    store: tuple[CliRunner, Path], editor: Path
) -> None:
    runner, db = store
    plan(
        editor,
        {"replace": ["  - app: feed\n", "  - app: feed\n  bad: [\n"]},
        {"replace": ["  bad: [\n", ""]},
    )
    code, _, err = run(runner, db, "config", "edit")  # the whole configuration, abandoned
    assert code == 1 and "nothing was changed" in err
    second = (editor / "seen.2").read_text().splitlines()
    # at the line YAML could not read; taken out again before the text is read, so the second
    # save (the error fixed by undoing it) is the text as it was: abandoned
    assert second[second.index("  bad: [") - 1].startswith("  # ERROR: not valid YAML: ")

    for seen in editor.glob("seen.*"):
        seen.unlink()
    plan(editor, {"write": "app: idp\nfilter: '\"CREATE\"'\n"}, {"write": ""})
    code, _, err = run(runner, db, "config", "edit", "directories.hr")
    assert code == 1 and "nothing was changed" in err
    second = (editor / "seen.2").read_text().splitlines()
    # renaming hr to idp lists idp twice: a problem of another object, so at the top
    assert second[3:6] == [
        "# ERROR: directories.1.app: `idp` is listed as a directory twice (directories[0] "
        "already lists it; keep one entry)",
        "app: idp",
        "filter: '\"CREATE\"'",
    ]


def test_edit_abandoned_unchanged_emptied_or_editor_failed(
    store: tuple[CliRunner, Path], editor: Path
) -> None:
    runner, db = store
    _, exported, _ = run(runner, db, "config", "export")
    for steps in ([{"keep": True}], [{"write": "\n\n"}], [{"replace": ["feed", "x"], "exit": 1}]):
        for seen in editor.glob("seen.*"):
            seen.unlink()
        plan(editor, *steps)
        code, out, err = run(runner, db, "config", "edit", "directories.feed")
        assert (code, out) == (1, "")
        assert err == "The edit was abandoned; nothing was changed.\n"
    assert run(runner, db, "config", "export")[1] == exported
    code, out, _ = run(runner, db, "audit", "--limit", "1", "--json")
    assert json.loads(out)[0]["action"] == "config.import"


def test_edit_of_the_whole_file(store: tuple[CliRunner, Path], editor: Path) -> None:
    runner, db = store
    plan(editor, {"replace": ["max_objects: 500", "max_objects: 300"]})
    code, out, err = run(runner, db, "config", "edit")
    assert code == 0, err
    assert out.splitlines()[-1] == "Saved the configuration (1 change)."
    assert run(runner, db, "config", "get", "settings.deletion_threshold.max_objects")[1] == "300\n"


def test_a_dry_run_of_a_directory_or_ownership_edit_says_what_it_does_to_people(
    store: tuple[CliRunner, Path],
) -> None:
    runner, db = store
    before = run(runner, db, "config", "export")[1]
    code, out, _ = run(
        runner, db, "config", "set", "directories.hr.filter", '"IGNORE"', "--dry-run"
    )
    assert code == 0
    assert "if saved (against the saved configuration): 0 created and" in out
    removed = int(out.split("0 created and ")[1].split(" removed")[0])
    code, out, _ = run(
        runner, db, "config", "set", "directories.hr.filter", '"IGNORE"', "--dry-run", "--json"
    )
    impact = json.loads(out)["impact"]
    assert (
        impact["people_removed"] == removed and "owner_changed" in impact
    )  # store not synced: zeros
    code, out, _ = run(runner, db, "config", "set", "settings.deletion_threshold.max_objects",
                       "300", "--dry-run")  # fmt: skip
    assert code == 0 and "if saved" not in out  # no people change: no simulation
    assert run(runner, db, "config", "export")[1] == before


def test_an_integer_beyond_64_bits_is_a_validation_error_not_a_traceback(
    store: tuple[CliRunner, Path],
) -> None:
    runner, db = store
    before = run(runner, db, "config", "export")[1]
    code, out, err = run(
        runner, db, "config", "set", "settings.deletion_threshold.max_objects", "9" * 29
    )
    assert code == 1 and "Traceback" not in err
    assert "settings.deletion_threshold.max_objects: `max_objects` is 9999" in err
    assert run(runner, db, "config", "export")[1] == before


def test_a_refused_name_with_a_line_break_is_one_line_of_the_error(
    store: tuple[CliRunner, Path],
) -> None:
    """The path of the refused object is built from its name: its line break was printed,
    splitting the error over two lines (hostile review)."""
    runner, db = store
    code, _, err = run(runner, db, "config", "set", "directories.idp.merge_rules.0.name", "em\nail")
    assert code != 0
    assert "name `em\\nail` holds a line break or tab" in err
    assert len(err.strip().splitlines()) == 2, err
