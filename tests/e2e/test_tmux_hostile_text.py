"""The real `roster` in tmux over data that is hostile to a terminal: `[/]` typed into every
search box (Users, the record pickers, the CEL playground) is shown as typed and the console
keeps running; escape sequences in the data never reach the terminal (tmux's pane title stays
as it was although a job title holds a title-setting sequence); quitting exits with status 0.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from tests.e2e.test_tmux import Terminal, roster_command, terminal  # noqa: F401 - the fixture
from tests.hostile import open_hostile_org

pytestmark = pytest.mark.e2e


def line_with(screen: str, text: str) -> str:
    return next((line for line in screen.splitlines() if text in line), "")


def test_markup_typed_in_every_search_box_and_escapes_in_data(
    terminal: Terminal,  # noqa: F811
    tmp_path: Path,
) -> None:
    roster = roster_command()
    if roster is None:
        pytest.skip("the roster command is not installed (pip install -e .)")
    services = open_hostile_org(tmp_path)
    services.db.dispose()
    db = tmp_path / "roster.db"
    status = tmp_path / "status"

    command = (
        f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}; "
        f"echo $? > {shlex.quote(str(status))}"
    )
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "120", "-y", "40", command)
    terminal.tmux("set-option", "-t", "roster", "remain-on-exit", "off", check=False)
    before = terminal.tmux("display-message", "-p", "-t", "roster", "#{pane_title}").stdout

    screen = terminal.wait_for(
        "the dashboard", lambda s: "Dashboard" in s and "HR R&D [/EMEA]" in s, 30
    )
    assert "Chat [bold]x[/]" in screen and "AD [@click=app.quit]q[/]" in screen

    # Users: the search field.
    terminal.keys("7")
    terminal.wait_for("the Users screen", lambda s: "Name or email" in s)
    terminal.keys("[/]", literal=True)
    screen = terminal.wait_for(
        "the search for [/]",
        lambda s: "[/]" in line_with(s, "▊") or "1 person" in s or "Nobody matches" in s,
    )
    terminal.wait_for("the results of [/]", lambda s: "1 person" in s or "Nobody matches" in s)
    # her detail loads after the result shows (a worker of its own): wait for it
    screen = terminal.wait_for("her detail", lambda s: "Chief " in s)
    assert "Ann [bold]x[/]" in screen  # her name holds [/]: found, and shown as typed
    assert "Chief \\x1b]0;pwned" in screen  # her job title, the escape made visible
    terminal.keys("Escape")  # to the results (a key sent at once would read as alt+key)
    terminal.wait_for("focus to leave the search", lambda s: "esc Results" not in s)

    # Provisioning: the record picker's search field.
    terminal.keys("6")
    # ready once its apps are listed: until then `o` has no app to choose a person for (the
    # footer shows it only then), and the first visit imports the sync's modules
    terminal.wait_for(
        "the Provisioning screen", lambda s: "Creation fields" in s and "o Person" in s
    )
    terminal.keys("o")
    terminal.wait_for("the record picker", lambda s: "Choose a user" in s)
    terminal.keys("[/]", literal=True)
    # her name holds [/]: found, and shown as typed
    terminal.wait_for("the picker's match", lambda s: "1 match." in s and "Ann [bold]x[/]" in s)
    terminal.keys("Escape")
    terminal.wait_for("the picker to close", lambda s: "Choose a user" not in s)

    # CEL playground: the editor, then its record picker.
    terminal.keys("9")
    terminal.wait_for("the CEL playground", lambda s: "Expression" in s and "Variables:" in s)
    terminal.keys('"[/]"', literal=True)
    terminal.wait_for("the value of a string holding [/]", lambda s: 'got string "[/]"' in s, 20)
    terminal.keys("C-o")
    terminal.wait_for("the record picker", lambda s: "Choose an account" in s)
    terminal.keys("[/]", literal=True)
    screen = terminal.wait_for("the picker's search for [/]", lambda s: "2 matches." in s)
    assert "[@click=app.quit]q[/]" in screen  # the chat account's id: text, not an action
    assert "Ann in chat [link=file:///etc/passwd]x[/link]" in screen
    terminal.keys("Escape")
    terminal.wait_for("the picker to close", lambda s: "Choose an account" not in s)

    # Nothing in the data reached the terminal as a control sequence.
    after = terminal.tmux("display-message", "-p", "-t", "roster", "#{pane_title}").stdout
    assert "pwned" not in after and "cel" not in after and after == before
    assert terminal.alive()

    terminal.keys("C-q")
    deadline = time.monotonic() + 10
    while terminal.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not terminal.alive(), f"roster did not exit; screen:\n{terminal.screen()}"
    assert status.read_text().strip() == "0"
