"""The $EDITOR round trip from the console in a real terminal: the palette asks for an object
path, the console hands the terminal to the editor (App.suspend), the editor (a script that
edits like an admin: first an error, then the fix) saves, and the console comes back with the
edit saved and audited."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.e2e.test_tmux import Terminal, installed_roster, terminal  # noqa: F401
from tests.engine.test_cli_config_edit import EDITOR


def test_an_object_edited_in_the_editor_from_the_palette(
    terminal: Terminal,  # noqa: F811
    tmp_path: Path,
) -> None:
    roster = installed_roster()
    from engine.services import open_services

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    services.db.dispose()
    folder = tmp_path / "editor"
    folder.mkdir()
    script = folder / "edit.py"
    script.write_text(EDITOR)
    script.chmod(0o755)
    steps = [
        {"replace": [': "MATCH_ONLY"', ": MATCH_ONLYX"]},
        {"replace": [": MATCH_ONLYX", ': "IGNORE"']},
    ]
    (folder / "plan.json").write_text(json.dumps(steps))

    command = (
        f"env TERM=xterm-256color EDITOR={shlex.quote(str(script))} "
        f"EDIT_PLAN={shlex.quote(str(folder / 'plan.json'))} "
        f"{shlex.quote(roster)} --db {shlex.quote(str(db))}"
    )
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "80", "-y", "24", command)
    terminal.wait_for("the dashboard", lambda s: "Dashboard" in s and "People" in s)
    terminal.keys("C-p")
    terminal.wait_for("the command palette", lambda s: "Search for commands" in s)
    terminal.keys("edit a configuration object", literal=True)
    terminal.wait_for("the edit command", lambda s: "$EDITOR" in s)
    terminal.keys("Enter")
    terminal.wait_for("the path box", lambda s: "Object paths name objects" in s)
    terminal.keys("directories.hr.filter", literal=True)
    terminal.keys("Enter")
    screen = terminal.wait_for(
        "the console back with the edit saved",
        lambda s: "Saved directories.hr.filter" in s,
        30,
    )
    assert "Dashboard" in screen
    terminal.keys("C-q")
    terminal.wait_for_exit()

    assert (folder / "seen.2").exists()  # reopened once, with the error
    assert "# ERROR: unknown name `MATCH_ONLYX`" in (folder / "seen.2").read_text()
    services = open_services(db_path=db)
    try:
        assert services.config_get("directories.hr.filter").endswith(': "IGNORE"\n')
        entry = services.last_change("directories.hr.filter")
        assert entry is not None and entry.action == "config.edit"
    finally:
        services.db.dispose()
