"""The CLI's text for people never passes data's escape sequences or control characters to the
terminal (they are shown as `\\x1b`), and the console's entry ends with a nonzero status and a
short report when the console fails."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from console.cli import main
from engine.text import one_line, printable, show_value
from tests.hostile import BIG, CLICK, CLOSE, DEPARTMENT, NUL, OVERRIDE, SHOWN, TITLE_OSC

# Anything a terminal would obey instead of show (the line breaks of the output aside).
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.hostile import open_hostile_org

    folder = tmp_path_factory.mktemp("hostile-cli")
    services = open_hostile_org(folder)
    services.db.dispose()
    return folder / "roster.db"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


# The rule -------------------------------------------------------------------------------------


def test_printable_shows_controls_escapes_and_bidi_visibly() -> None:
    assert printable(TITLE_OSC) == "Chief \\x1b]0;pwned\\x07Officer"
    assert printable("a\x1b[2Jb\x9bc\x7fd") == "a\\x1b[2Jb\\x9bc\\x7fd"
    assert printable(OVERRIDE) == "Eve \\u202etxt.exe"
    assert (
        printable("\u2066x\u2069 zero\u200bwidth\ufeff")
        == "\\u2066x\\u2069 zero\\u200bwidth\\ufeff"
    )
    assert printable(NUL) == "nul\\x00byte"
    assert printable("cr\rlf") == "cr\\rlf"
    # Markup is not this module's business: it stays as typed.
    assert printable(DEPARTMENT) == DEPARTMENT and printable(CLICK) == CLICK
    # Right-to-left text, joiners and accents are text.
    assert printable("שרה כהן 👩\u200d💻 Zoë") == "שרה כהן 👩\u200d💻 Zoë"


def test_lines_and_tabs_are_kept_in_text_and_escaped_on_one_line() -> None:
    assert printable("a\nb\tc") == "a\nb\tc"
    assert printable("a\nb\tc", one_line=True) == "a\\nb\\tc"
    assert one_line("  a &&\n    b\t") == "a && b"


def test_length_is_bounded_without_reading_the_whole_string() -> None:
    shown = printable(BIG, 100)
    assert shown == "B" * 99 + "…" and len(shown) == 100
    # Escapes lengthen the text: the bound holds after escaping.
    assert printable("\x1b" * 50, 10) == "\\x1b\\x1b\\…"
    assert printable("short", 10) == "short"
    assert printable(BIG, None) == BIG


def test_show_value_for_people() -> None:
    assert show_value(None) == "—" and show_value("") == "—" and show_value([]) == "—"
    assert show_value(["a", CLOSE]) == "a, [/]"
    assert show_value({"k": TITLE_OSC}) == '{"k": "Chief \\u001b]0;pwned\\u0007Officer"}'
    assert show_value("x\ny") == "x\\ny"
    assert show_value(7) == "7" and show_value(True) == "true"


# The CLI's text output ------------------------------------------------------------------------


def test_preview_text_shows_the_escape_of_a_value(hostile_db: Path) -> None:
    code, out, _ = run(
        "preview",
        "--db",
        str(hostile_db),
        "--context",
        "attribute_source",
        "--user",
        "ann@example.com",
        'subject.jobTitle + "\\x9b" + subject.displayName + "\\u202e"',
    )
    assert code == 0
    assert not RAW.search(out)
    assert 'value:  "Chief \\u001b]0;pwned\\u0007Officer\\x9bAnn [bold]x[/]\\u202e"' in out


def test_explain_text_shows_values_and_sources_literally(hostile_db: Path) -> None:
    code, out, _ = run("explain", "--db", str(hostile_db), "sara@example.com", "note")
    assert code == 0
    assert not RAW.search(out)
    assert '"nul\\u0000byte"' in out  # JSON's own escape of the NUL byte
    code, out, _ = run("explain", "--db", str(hostile_db), "eve@example.com", "job_title")
    assert code == 0
    # A megabyte value is cut (each message at most 20,000 characters), not poured out.
    assert max(len(line) for line in out.splitlines()) <= 20_000 and len(out) < 50_000
    assert out.count("B" * 1000) >= 1 and "…" in out


def test_runs_text_shows_journal_values_escaped(hostile_db: Path) -> None:
    code, out, _ = run("runs", "--db", str(hostile_db), "1")
    assert code == 0
    assert not RAW.search(out)
    assert SHOWN[TITLE_OSC] in out
    assert f"chat:{CLICK}" in out
    assert SHOWN[OVERRIDE] in out
    assert SHOWN[NUL] in out


def test_json_output_keeps_the_data_exact(hostile_db: Path) -> None:
    code, out, _ = run("explain", "--db", str(hostile_db), "ann@example.com", "job_title", "--json")
    assert code == 0
    assert json.loads(out)["value"] == TITLE_OSC


# The console's exit status ---------------------------------------------------------------------


def test_console_failure_exits_nonzero_with_a_short_report(
    hostile_db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from console import crash
    from console.app import RosterApp

    monkeypatch.setattr(crash, "crash_dir", lambda: tmp_path / "crashes")

    def fail(self: Any) -> None:
        raise RuntimeError(f"secret {TITLE_OSC}")

    monkeypatch.setattr(RosterApp, "run", fail)
    code, out, err = run("--db", str(hostile_db))
    assert code == 1
    assert "Roster stopped: an unexpected error (RuntimeError)" in err
    assert "secret" not in err and "Traceback" not in err and not RAW.search(err)
    reports = list((tmp_path / "crashes").iterdir())
    assert len(reports) == 1 and str(reports[0]) in err
    assert "secret" in reports[0].read_text()  # the details are in the file


def test_console_exit_status_is_the_apps(hostile_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.app import RosterApp

    def ended_by_an_error(self: Any) -> None:
        self._return_code = 1  # what Textual sets when an unhandled error stops the app

    monkeypatch.setattr(RosterApp, "run", ended_by_an_error)
    assert run("--db", str(hostile_db))[0] == 1

    def quit_normally(self: Any) -> None:
        self._return_code = 0

    monkeypatch.setattr(RosterApp, "run", quit_normally)
    assert run("--db", str(hostile_db))[0] == 0


def test_json_output_escapes_bidi_and_c1_and_keeps_the_value(hostile_db: Path) -> None:
    code, out, _ = run(
        "preview",
        "--db",
        str(hostile_db),
        "--context",
        "attribute_source",
        "--user",
        "eve@example.com",
        'subject.displayName + "\\x9b"',
        "--json",
    )
    assert code == 0
    assert not RAW.search(out)
    assert "\\u202e" in out and "\\u009b" in out
    assert json.loads(out)["value"] == OVERRIDE + "\x9b"


def test_a_value_cannot_forge_a_line_of_the_run_log(tmp_path: Path) -> None:
    """A line break in an app's value is shown as `\\n` in `roster runs` and `push-plan`:
    printed raw, it wrote a fake "[ownership]" change under the real one (hostile review)."""
    from tests.engine.org import edit, open_org

    services = open_org(tmp_path)
    assert services.sync().status == "applied"
    forged = "  [ownership] slack:U9 owner: — → ann.lee@example.com  (linked by admin, pinned)"

    def rename(data: dict[str, Any]) -> None:
        data["accounts"][0]["display_name"] = f"Ann Lee\n{forged}\u2028\tend"

    edit(tmp_path / "org", "slack", rename)
    result = services.sync()
    assert result.status == "applied", result.error
    code, out, _ = run("runs", "--db", str(tmp_path / "roster.db"), str(result.run_id))
    assert code == 0
    assert not any(line.startswith("  [ownership] slack:U9") for line in out.splitlines())
    assert f"Ann Lee\\n{forged}\\u2028\\tend" in out


def test_config_export_to_a_terminal_shows_bidi_escaped_and_to_a_pipe_exact(
    demo: Any,
) -> None:
    """A filter holding a right-to-left override was printed raw by `roster config export`
    (YAML writes such characters as they are; hostile review). To a terminal it is shown as
    its escape; to a pipe or a file the text stays exact, so it imports back."""
    import os
    import subprocess
    import sys

    from engine.services.editing import ConfigEdit

    db = str(demo.db.sqlite_path)
    demo.config_edit(
        ConfigEdit(
            "set",
            "directories.hr.filter",
            'account.displayName == "a\u202eb" ? "IGNORE" : "CREATE"',
        )
    )
    command = [sys.executable, "-c", "from console.cli import main; main()", "config", "export"]
    env = {**os.environ, "ROSTER_DB": db}
    piped = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert "a\u202eb" in piped.stdout
    leader, follower = os.openpty()
    try:
        done = subprocess.run(command, stdout=follower, stderr=subprocess.PIPE, env=env)
        assert done.returncode == 0, done.stderr
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed: all of it read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    text = shown.decode("utf-8")
    assert "a\\u202eb" in text and "\u202e" not in text
