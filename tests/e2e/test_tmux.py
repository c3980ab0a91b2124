"""The real `roster` command in a real terminal: tmux at 120×40, 256 colours.

Opens the console on a temporary sample store, waits for the dashboard, opens the CEL
playground with 9, types an expression, waits for its value, leaves the editor with esc
and quits with q.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.prerequisites import missing

pytestmark = pytest.mark.e2e

TMUX = shutil.which("tmux")


def roster_command() -> str | None:
    beside_python = Path(sys.executable).with_name("roster")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("roster")


def installed_roster() -> str:
    roster = roster_command()
    if roster is None:
        missing("the roster command is not installed (pip install -e .)")
    return roster


class Terminal:
    """One tmux server on its own socket, holding one pane."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = env

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def screen(self) -> str:
        result = self.tmux("capture-pane", "-p", "-t", "roster", check=False)
        return result.stdout if result.returncode == 0 else ""

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "roster", check=False).returncode == 0

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "roster", *(["-l"] if literal else []), *keys)

    def wait_for(self, what: str, check: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            if not self.alive():
                pytest.fail(f"roster exited while waiting for {what}; last screen:\n{screen}")
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout} s waiting for {what}; screen:\n{screen}")

    def wait_for_exit(self, timeout: float = 10) -> None:
        """Wait until roster has exited and its pane is gone."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                pytest.fail(f"roster did not exit within {timeout} s; screen:\n{self.screen()}")
            time.sleep(0.1)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    if TMUX is None:
        missing("tmux is not installed; the end-to-end console tests drive roster in tmux")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "TEXTUAL"))}
    env.update({"TERM": "xterm-256color", "COLORTERM": "", "NO_COLOR": ""})
    env.pop("NO_COLOR")
    term = Terminal(f"roster-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}", env)
    try:
        yield term
    finally:
        term.tmux("kill-server", check=False)
        socket_dir = Path(env.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (socket_dir / term.socket).unlink(missing_ok=True)


def test_console_opens_previews_and_quits(terminal: Terminal, tmp_path: Path) -> None:
    roster = installed_roster()
    from engine.services import open_services

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    dashboard = services.dashboard()
    first_account = services.first_record("directory_filter")  # the playground starts on it
    assert first_account is not None
    app_id = services.record(first_account).app_id
    services.db.dispose()

    command = f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}"
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "120", "-y", "40", command)

    screen = terminal.wait_for(
        "the dashboard",
        lambda s: "Dashboard" in s and "People" in s and f"{dashboard.people:,}" in s,
    )
    assert "Unowned" in screen and "Last runs" in screen

    terminal.keys("9")
    screen = terminal.wait_for(
        "the CEL playground", lambda s: "Expression" in s and "Variables:" in s
    )
    assert "Run all" in screen  # the footer tells what ctrl+r does

    # The first context is directory_filter, previewed against the first directory account.
    terminal.keys(f'account.appId == "{app_id}"', literal=True)
    screen = terminal.wait_for(
        "the value of the expression", lambda s: "type bool" in s and "true" in s
    )
    assert "Error" not in screen

    # q types a "q" in the editor; esc leaves the editor, and then q quits.
    terminal.keys("Escape")
    terminal.wait_for("focus to leave the editor", lambda s: "e Edit" in s)
    terminal.keys("q")
    terminal.wait_for_exit()


def test_a_change_in_hr_is_planned_applied_and_pushed_from_the_console(
    terminal: Terminal, tmp_path: Path
) -> None:
    """Edit the demo's HR file as the HR system would, plan a sync, apply it after the
    confirmation, quit; the AD file then holds the new department."""
    roster = installed_roster()
    import yaml

    from engine.services import open_services
    from engine.setup import demo_folder_for

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    folder = demo_folder_for(services.db)
    services.db.dispose()
    hr_path = folder / "apps" / "hr.yaml"
    hr = yaml.safe_load(hr_path.read_text(encoding="utf-8"))
    priya = next(a for a in hr["accounts"] if a["id"] == "E10019")
    priya["profile"]["department"] = "Finance"
    hr_path.write_text(yaml.safe_dump(hr, sort_keys=False, allow_unicode=True), encoding="utf-8")

    command = f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}"
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "120", "-y", "40", command)
    terminal.wait_for("the dashboard", lambda s: "Dashboard" in s and "People" in s)
    terminal.keys("8")
    terminal.wait_for("the sync screen", lambda s: "Sync now" in s)
    terminal.keys("s")  # sync now: a dry run first, then a confirmation
    screen = terminal.wait_for("the confirmation", lambda s: "changes to apply" in s, 60)
    assert "push" in screen
    terminal.keys("a")  # apply: the dialog starts on Cancel
    terminal.wait_for("the applied run", lambda s: "applied" in s, 60)
    terminal.keys("C-q")
    terminal.wait_for_exit()

    ad = yaml.safe_load((folder / "apps" / "ad.yaml").read_text(encoding="utf-8"))
    assert (
        next(a for a in ad["accounts"] if a["id"] == "priya.shah")["profile"]["department"]
        == "Finance"
    )
