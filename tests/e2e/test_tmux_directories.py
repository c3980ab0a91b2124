"""Issue 8's "Done when", in a real terminal (tmux, 80×24, 256 colours), keyboard only, on the
demo: open Directories (2), edit the HR filter so leavers stay people while the counts and
"people created / removed" change as the filter is typed, save, see the audit entry, plan a sync
from the command palette, quit. Then the same object through `roster config set` and
`roster config edit` (EDITOR a script), and `roster audit --object directories.hr` lists the
three edits."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

from tests.e2e.test_tmux import Terminal, installed_roster, terminal  # noqa: F401
from tests.engine.test_cli_config_edit import EDITOR

# The demo's HR filter ignores leavers (TERMINATED, or DISABLED in HR), so their person is
# removed; this one keeps every known kind of worker, leavers included.
KEEP_LEAVERS = (
    'account.profile.employment_type in ["FULL_TIME", "CONTRACTOR", "INTERN"] '
    '? "CREATE" : "MATCH_ONLY"'
)


def coloured(terminal: Terminal) -> str:  # noqa: F811
    """The filter editor's lines with their colours (escape sequences), to see a selection."""
    lines = terminal.tmux("capture-pane", "-e", "-p", "-t", "roster", check=False).stdout
    plain = terminal.screen().splitlines()
    top = next((i for i, line in enumerate(plain) if "Filter: CREATE" in line), 0)
    bottom = next((i for i in range(top + 1, len(plain)) if "╰" in plain[i]), len(plain))
    return "\n".join(lines.splitlines()[top + 1 : bottom])


def select_all(terminal: Terminal) -> None:  # noqa: F811
    """F7 selects the whole filter. Textual reads an escape sequence (F7 is one) after a short
    wait for more bytes, so text sent at once would overtake it: wait until the selection is
    drawn (the editor's lines change colour) before typing over it."""
    before = coloured(terminal)
    terminal.keys("F7")
    deadline = time.monotonic() + 10
    while coloured(terminal) == before:
        assert time.monotonic() < deadline, "F7 did not select the filter"
        time.sleep(0.05)


def test_directories_edit_save_audit_plan_and_the_cli(
    terminal: Terminal,  # noqa: F811
    tmp_path: Path,
) -> None:
    roster = installed_roster()
    from engine.services import ConfigEdit, open_services

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    keep = services.identity_impact(
        services.config_edit(
            ConfigEdit("set", "directories.hr.filter", KEEP_LEAVERS), dry_run=True
        ).config
    )
    only_match = services.identity_impact(
        services.config_edit(
            ConfigEdit("set", "directories.hr.filter", '"MATCH_ONLY"'), dry_run=True
        ).config
    )
    runs_before = services.runs(limit=1)[0].id
    services.db.dispose()
    assert keep.people_created > 0 and keep.people_removed == 0
    assert only_match.people_removed > 0

    command = f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}"
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "80", "-y", "24", command)
    terminal.wait_for("the dashboard", lambda s: "Dashboard" in s and "People" in s)

    terminal.keys("2")
    terminal.wait_for(
        "the directories with their counts",
        lambda s: "Roster — Directories" in s and "hr_feed" in s and "277" in s,
    )
    terminal.keys("Enter")  # hr is first: its filter editor
    terminal.wait_for(
        "the filter editor with the impact",
        lambda s: "Filter of hr" in s and "0 people would be created, 0 removed" in s,
    )

    # Typing: first a filter that only matches (people removed), then the one that keeps
    # leavers (people created); the panel follows each.
    select_all(terminal)  # what is typed replaces the whole filter
    terminal.keys('"MATCH_ONLY"', literal=True)
    screen = terminal.wait_for(
        "the impact of MATCH_ONLY",
        lambda s: f"{only_match.people_removed:,} removed" in s,
    )
    assert "Edited CREATE 0 · MATCH_ONLY 300" in screen
    select_all(terminal)
    terminal.keys(KEEP_LEAVERS, literal=True)
    screen = terminal.wait_for(
        "the impact of keeping leavers",
        lambda s: f"{keep.people_created:,} people would be created, 0 removed" in s,
    )
    assert "Edited CREATE 300" in screen

    terminal.keys("C-s")  # nobody removed: saved at once, back to the list
    screen = terminal.wait_for(
        "the audit entry of the save",
        lambda s: "Last change: changed by" in s and "directories.hr.filter" in s,
    )
    assert "Roster — Directories" in screen

    terminal.keys("C-p")
    terminal.wait_for("the command palette", lambda s: "Search for commands" in s)
    terminal.keys("plan a sync", literal=True)
    terminal.wait_for("the plan command", lambda s: "Sync: plan a sync" in s)
    terminal.keys("Enter")
    terminal.wait_for("the planned sync", lambda s: "nothing was applied" in s, 60)
    terminal.keys("C-q")
    terminal.wait_for_exit()

    services = open_services(db_path=db)
    try:
        run = services.runs(limit=1)[0]
        assert run.id > runs_before and run.status == "planned" and run.dry_run
        assert services.config_get("directories.hr.filter") == KEEP_LEAVERS
    finally:
        services.db.dispose()

    # The same object from the command line: set, then edit in $EDITOR (a script).
    def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [roster, *args, "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**terminal.env, **(env or {})},
            check=False,
        )

    setting = cli("config", "set", "directories.hr.filter", '"CREATE"')
    assert setting.returncode == 0, setting.stderr

    folder = tmp_path / "editor"
    folder.mkdir()
    script = folder / "edit.py"
    script.write_text(EDITOR)
    script.chmod(0o755)
    (folder / "plan.json").write_text(json.dumps([{"replace": ['"CREATE"', '"MATCH_ONLY"']}]))
    editing = cli(
        "config",
        "edit",
        "directories.hr.filter",
        env={"EDITOR": str(script), "EDIT_PLAN": str(folder / "plan.json")},
    )
    assert editing.returncode == 0, editing.stderr

    audit = cli("audit", "--object", "directories.hr", "--json")
    assert audit.returncode == 0, audit.stderr
    entries = [e for e in json.loads(audit.stdout) if e["action"] == "config.edit"]
    assert [e["path"] for e in entries[:3]] == ["directories.hr.filter"] * 3
    assert [e["after"] for e in entries[:3]] == ['"MATCH_ONLY"', '"CREATE"', KEEP_LEAVERS]
    human = cli("audit", "--object", "directories.hr")
    assert human.returncode == 0 and human.stdout.count("directories.hr.filter") >= 3
