"""The status line a long command writes on stderr for a person at a terminal, and only there."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import console.cli_progress as cli_progress
from console.cli import main
from console.cli_progress import count_reporter, stage_reporter, working
from tests.engine.org import write_org


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_progress, "QUIET_SECONDS", 0.0)
    monkeypatch.setattr(cli_progress, "TICK_SECONDS", 0.01)


def test_a_terminal_sees_what_is_done_and_then_a_clean_line(at_once: None) -> None:
    terminal = Terminal()
    with working("Syncing", stream=terminal) as say:
        say("import (stage 1 of 6)")
        time.sleep(0.05)
    written = terminal.getvalue()
    assert "\r\x1b[KSyncing · import (stage 1 of 6) · 0 s" in written
    assert written.endswith("\r\x1b[K")  # cleared: the answer starts at the line's start


def test_nothing_is_written_off_a_terminal_or_with_json(at_once: None) -> None:
    plain, terminal = io.StringIO(), Terminal()
    with working("Syncing", stream=plain) as say:
        say("import")
        time.sleep(0.03)
    with working("Syncing", stream=terminal, as_json=True) as say:
        say("import")
        time.sleep(0.03)
    assert plain.getvalue() == "" and terminal.getvalue() == ""


def test_a_quick_command_shows_nothing() -> None:
    terminal = Terminal()
    with working("Syncing", stream=terminal) as say:
        say("import")
    assert terminal.getvalue() == ""


def test_hostile_detail_is_cut_to_the_terminal_width(at_once: None) -> None:
    terminal = Terminal()
    with working("Evaluating", stream=terminal) as say:
        say("x" * 10_000)
        time.sleep(0.03)
    longest = max(len(part) for part in terminal.getvalue().split("\r\x1b[K"))
    assert 0 < longest <= 200


def test_a_terminal_gone_away_does_not_stop_the_command(at_once: None) -> None:
    terminal = Terminal()
    terminal.close()  # writing raises ValueError
    with working("Syncing", stream=terminal) as say:
        say("import")
        time.sleep(0.03)
    # and the block's own work went on: reaching here is the test


def test_stage_words() -> None:
    said: list[str] = []
    report = stage_reporter(said.append)
    for stage, done in [("load", 0), ("import", 0), ("identify", 1), ("identify", 1), ("done", 6)]:
        report(stage, done, 6)
    assert said == [
        "reading the identity store",
        "import (stage 1 of 6)",
        "identify (stage 2 of 6)",
        "writing: identify",  # the same stage again: the run writes what it planned
    ]
    counted: list[str] = []
    count_reporter(counted.append, "records")(12_000, 100_000)
    assert counted == ["12,000 of 100,000 records"]


def test_sync_and_status_at_a_terminal(
    tmp_path: Path, at_once: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real commands: the status line goes to stderr only, the answer to stdout is as it
    was, and --json's stderr stays empty."""
    monkeypatch.setattr(cli_progress, "_for_a_person", lambda stream, as_json: not as_json)
    runner = CliRunner()
    db = tmp_path / "roster.db"
    config = write_org(tmp_path / "org")
    assert runner.invoke(main, ["init", "--empty", "--db", str(db)]).exit_code == 0
    assert runner.invoke(main, ["config", "import", str(config), "--db", str(db)]).exit_code == 0

    synced = runner.invoke(main, ["sync", "--dry-run", "--db", str(db)])
    assert synced.exit_code == 0, synced.output
    assert "Planning the sync · " in synced.stderr
    assert "Planning the sync" not in synced.stdout
    assert synced.stdout.startswith("Run 1 (dry run): planned")

    status = runner.invoke(main, ["status", "--db", str(db)])
    assert status.exit_code == 0, status.output
    assert "Checking who needs an eye · " in status.stderr
    assert status.stdout.splitlines()[0].endswith(" · 0 errors")

    quiet = runner.invoke(main, ["status", "--json", "--db", str(db)])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    board = json.loads(quiet.stdout)
    assert board["people"] == 0 and "care" in board


def test_a_narrow_terminal_keeps_the_seconds_and_never_wraps(
    at_once: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line wider than the terminal wraps, and clearing it leaves its first rows behind
    (hostile review: stdout to a file, a 40-column terminal, one leftover line a second)."""
    monkeypatch.setattr(cli_progress, "_columns", lambda stream: 30)
    terminal = Terminal()
    with working("Planning the sync", stream=terminal) as say:
        say("identify (stage 2 of 6)")
        time.sleep(0.05)
    drawn = [part for part in terminal.getvalue().split("\r\x1b[K") if part]
    assert drawn and all(len(line) <= 29 and line.endswith(" s") for line in drawn), drawn
    assert "Planning the sync · id… · 0 s" in drawn, drawn


def test_a_command_in_the_background_leaves_the_prompt_alone(
    at_once: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_progress, "_in_the_foreground", lambda stream: False)
    terminal = Terminal()
    with working("Syncing", stream=terminal) as say:
        say("import")
        time.sleep(0.05)
    assert terminal.getvalue() == ""


def test_the_columns_are_the_stream_s_own_terminal() -> None:
    """Not stdout's (shutil.get_terminal_size): stdout may be a file while stderr is the
    terminal. A real pseudo-terminal of 33 columns."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 10, 33, 0, 0))
        with os.fdopen(os.dup(follower), "w") as stream:
            assert cli_progress._columns(stream) == 33
    finally:
        os.close(leader)
        os.close(follower)


def test_the_command_line_exits_at_once_and_closes_its_store(tmp_path: Path) -> None:
    """Python's collection at exit walked every object still alive: 8 s after a command on a
    store of 100,000 people, so what is alive is frozen as the command exits. The store's
    connections, held in cycles, are closed first: frozen, they stayed open and SQLite left
    its log beside the file with the last writes only in it (hostile review: a copy of the
    file alone lost them). Seen from a handler that runs after the command's own."""
    import sqlite3
    import subprocess
    import sys
    from contextlib import closing

    db = tmp_path / "r.db"

    def roster(*args: str) -> str:
        script = (
            "import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
            "from console.cli import main\n"
            f"sys.argv = ['roster', *{list(args)!r}, '--db', {str(db)!r}]\n"
            "main()\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert roster("init", "--empty").splitlines()[-1] == "frozen True"
    assert roster("users", "grant", "someone-else", "viewer").splitlines()[-1] == "frozen True"
    assert not (tmp_path / "r.db-wal").exists() and not (tmp_path / "r.db-shm").exists()
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())  # the file alone, as a plain backup copies it
    with closing(sqlite3.connect(copy)) as connection:
        grants = connection.execute("SELECT os_user, role FROM role_grant").fetchall()
    assert ("someone-else", "viewer") in grants


def test_long_lines_are_broken_between_words_at_a_terminal() -> None:
    """A line wider than the terminal is broken at spaces with its further lines indented
    under it (the terminal cut a leaver's line mid-word); words longer than the width stay
    whole; short lines keep their spacing."""
    from console.cli_wrap import cells, wrapped

    leaver = (
        "  oliver.grant@example.com (hr:E10018, not a person in Roster): disabled in hr, but "
        "still enabled in ad:oliver.grant, entra:oliver.grant@example.com, slack:U0RP8Q9MSJN"
    )
    lines = wrapped(leaver, 60).split("\n")
    assert len(lines) == 4 and all(len(line) <= 60 for line in lines), lines
    assert lines[0].startswith("  oliver.grant@") and all(
        line.startswith("    ") and not line.startswith("     ") for line in lines[1:]
    )
    assert " ".join(line.strip() for line in lines) == leaver.strip()  # nothing lost
    assert wrapped("  hr      300 accounts  ok", 60) == "  hr      300 accounts  ok"
    path = "/" + "a" * 90
    assert wrapped(f"cannot read {path}", 40) == f"cannot read\n  {path}"
    assert wrapped(leaver, 12) == leaver  # too narrow to help: the terminal's own wrapping
    # a wide character takes two columns (counted as one, a CJK name ran past the margin)
    wide = "  山田太郎 " * 8
    assert all(cells(line) <= 40 for line in wrapped(wide.rstrip(), 40).split("\n"))
    assert cells("山田") == 4 and cells("e\u0301") == 1


def test_the_command_line_wraps_only_at_a_terminal(tmp_path: Path) -> None:
    """`roster status` in a real pseudo-terminal of 60 columns: no line wider than it, every
    leaver still listed whole; the same command into a pipe prints one line per leaver."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    db = tmp_path / "r.db"
    script = "import sys; from console.cli import main; sys.argv[0] = 'roster'; main()"
    init = subprocess.run(
        [sys.executable, "-c", script, "init", "--sample", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert init.returncode == 0, init.stderr
    piped = subprocess.run(
        [sys.executable, "-c", script, "status", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    leavers = [line for line in piped.stdout.splitlines() if "but still enabled in" in line]
    assert leavers and max(len(line) for line in leavers) > 60

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", script, "status", "--db", str(db)],
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=subprocess.DEVNULL,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=300) == 0
    finally:
        os.close(leader)
    shown = b"".join(chunks).decode().replace("\r\n", "\n").splitlines()
    # the care list's items are broken between words, under themselves; the rest (the store's
    # path, a command to copy) is printed as it is
    start = next(i for i, line in enumerate(shown) if line.startswith("Leavers who can"))
    block = shown[start + 1 : start + 1 + len(leavers) * 3]
    items = [line for line in block if line.startswith("  ")]
    assert items and all(len(line) <= 60 for line in items), items
    joined = " ".join(line.strip() for line in items)
    for leaver in leavers:
        assert leaver.strip() in joined
    # the rest is as it was: the store's line whole, however wide (the terminal wraps it)
    assert f"  store: {db}" in shown
