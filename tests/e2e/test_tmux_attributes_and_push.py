"""Issue 9's "Done when" walk in a real terminal (tmux, 120×40, 256 colours), keyboard only, on
the demo: add the custom attribute `cost_center_label` from a CEL source and see its values
before saving; disable the AD flow rule of `department` and see the pushes that disappear; map
the new attribute to `extensionAttribute5` in the AD push rule and see the push plan before
saving; plan a sync; quit. Then the same edits through `roster config set` on a copy of the
store give the same `config export`. (The Entra `mailNickname` step is
tests/e2e/test_tmux_provisioning.py, at 80×24.)"""

from __future__ import annotations

import re
import shlex
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_tmux import Terminal, installed_roster, terminal  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e

LABEL = 'accounts.hr.profile.cost_center + " / " + subject.department'


def choose(terminal: Terminal, label: str, options: list[str], wanted: str) -> None:  # noqa: F811
    """Pick WANTED in the focused select of a dialog's row LABEL (the label padded as the
    dialog draws it, "Target    "; OPTIONS in the list's order, the prompt's first word first
    when it has one): open it, move, choose; then move again from what it shows, if a key was
    lost to a list still opening (a loaded machine lost one Down in CI)."""
    shown = re.compile("│ " + re.escape(label) + r"(\S+)")
    press(terminal, "Enter", *["Down"] * options.index(wanted), "Enter")
    for _ in range(3):
        time.sleep(0.5)
        found = shown.search(terminal.screen())
        current = found.group(1) if found else ""
        if current == wanted:
            return
        if current in options:
            step = options.index(wanted) - options.index(current)
            press(terminal, "Enter", *(["Down"] * step if step > 0 else ["Up"] * -step), "Enter")
        else:  # still on its prompt
            press(terminal, "Enter", *["Down"] * options.index(wanted), "Enter")
    terminal.wait_for(f"{label}{wanted}", lambda s: f"{label}{wanted}" in s)


def press(terminal: Terminal, *keys: str) -> None:  # noqa: F811
    """Keys one at a time, as a person types them: a select's list opens before the arrow
    that moves in it arrives."""
    for key in keys:
        terminal.keys(key)
        time.sleep(0.25)


def footer(screen: str) -> str:
    """The key bindings line: the focused widget's keys come first."""
    lines = [line for line in screen.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def test_attribute_flow_rule_and_push_mapping_before_saving(
    terminal: Terminal,  # noqa: F811
    tmp_path: Path,
) -> None:
    roster = installed_roster()
    from engine.services import open_services

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    ad = next(t for t in services.push_choices().targets if t.app == "ad")
    fields = [f.key for f in ad.fields]
    attributes = [a.name for a in services.config().attributes]
    services.db.dispose()
    copy = tmp_path / "copy.db"  # the same store, edited through the CLI below
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)

    command = f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}"
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "120", "-y", "40", command)
    terminal.wait_for("the dashboard", lambda s: "Dashboard" in s and "People" in s)

    # 1. a custom attribute from a CEL source, its values shown before saving
    terminal.keys("4")
    terminal.wait_for("the attributes", lambda s: "Roster — Attributes" in s and "People" in s)
    terminal.keys("a")
    terminal.wait_for("the new attribute", lambda s: "New attribute" in s)
    terminal.keys("cost_center_label", literal=True)
    terminal.wait_for("the preview of the named attribute", lambda s: "has no sources" in s)
    terminal.keys("Tab")  # the multi-valued box
    time.sleep(0.3)
    terminal.keys("Tab")  # the sources
    time.sleep(0.3)
    terminal.keys("a")
    terminal.wait_for("the source dialog", lambda s: "Add a source · cost_center_label" in s)
    press(terminal, "BTab", "BTab", "Enter")  # from the fields list back to the kind
    press(terminal, "Down", "Enter")  # "A CEL expression": the editor takes the focus
    terminal.wait_for("the CEL editor", lambda s: "Type an expression" in s)
    terminal.keys(LABEL, literal=True)
    terminal.wait_for("its value for a person", lambda s: '/ Engineering"' in s and "(string)" in s)
    terminal.keys("C-s")
    screen = terminal.wait_for(
        "the values before saving",
        lambda s: (
            "1.  cel: accounts.hr.profile.cost_center" in s
            and "people with a value" in s
            and "CC-2100 / Engineering" in s
        ),
    )
    assert "nothing is saved until ctrl+s" in screen
    terminal.keys("C-s")
    terminal.wait_for(
        "the saved attribute in the list",
        lambda s: "Roster — Attributes" in s and "cost_center_label" in s and "Saved" in s,
    )
    # the list reloads and counts again (its failing sources are marked) before moving on
    terminal.wait_for("the counts", lambda s: "a source fails (v lists them)" in s)

    # 2. department's AD flow rule to disabled: the AD pushes of department disappear
    going_down = False
    # down the list as an admin does, to department (a key at a time, looking at the detail:
    # the list may reload once more after the save and keep its own place)
    for _ in range(3 * (len(attributes) + 10)):
        screen = terminal.screen()
        if "department · standard" in screen:
            break
        going_down = going_down or "manager_email · standard" in screen  # the top
        terminal.keys("Down" if going_down else "Up")
        time.sleep(0.3)
    terminal.wait_for("department highlighted", lambda s: "department · standard" in s)
    terminal.keys("f")
    terminal.wait_for("department's flow rules", lambda s: "ad     bidirectional" in s)
    press(terminal, "Down", "space")  # the ad row; bidirectional -> disabled
    screen = terminal.wait_for(
        "the pushes that disappear",
        lambda s: "ad     disabled" in s and "pushes disappear" in s,
    )
    assert "ad-core" in screen
    terminal.keys("C-s")
    terminal.wait_for(
        "saved, with the validator's warning",
        lambda s: "Saved attributes.department" in s or "flow rule for `ad` is disabled" in s,
    )

    # 3. the new attribute to extensionAttribute5 in ad-core: the plan before saving
    terminal.keys("5")
    terminal.wait_for("the push rules", lambda s: "Roster — Push rules" in s and "ad-core" in s)
    terminal.keys("e")
    terminal.wait_for("the rule editor", lambda s: "Push rule ad-core" in s and "Targets 266" in s)
    # a saved rule opens on its mappings: wait for the footer to show the table's keys
    # before pressing one (a key typed before then lands in the rule's name)
    terminal.wait_for("the mappings focused", lambda s: "a Add" in footer(s))
    terminal.keys("a")
    terminal.wait_for("the mapping dialog", lambda s: "Add a mapping · ad-core → ad" in s)
    choose(terminal, "Target    ", fields, "extensionAttribute5")
    # the attribute list is alphabetical, under its "choose an attribute" prompt
    press(terminal, "Tab", "Tab")
    names = ["choose", *sorted([*attributes, "cost_center_label"])]
    choose(terminal, "Attribute ", names, "cost_center_label")
    terminal.keys("C-s")
    screen = terminal.wait_for(
        "the push plan before saving",
        lambda s: (
            "extensionAttribute5  attribute  cost_center_label" in s
            and "values appear or change" in s
        ),
    )
    assert "Push plan if saved" in screen
    terminal.keys("C-s")
    terminal.wait_for("the rule saved", lambda s: "Saved the push rule ad-core" in s)

    # 4. plan a sync: the new values are planned for AD
    terminal.keys("8")
    terminal.wait_for("the sync screen", lambda s: "Roster — Sync" in s)
    terminal.keys("p")
    terminal.wait_for(
        "the plan", lambda s: "nothing was applied" in s and "accounts to update" in s, 60
    )
    terminal.keys("C-q")
    terminal.wait_for_exit()

    def cli(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [roster, *args, "--db", str(store)],
            capture_output=True,
            text=True,
            timeout=60,
            env=terminal.env,
            check=False,
        )

    edits = [
        (
            "attributes.cost_center_label",
            f"{{name: cost_center_label, custom: true, sources: [{{cel: '{LABEL}'}}]}}",
        ),
        (
            "attributes.department.flow_rules.ad",
            "{app: ad, direction: disabled, create: 40, update: 45, delete: 30}",
        ),
        (
            "push_rules.ad-core.mappings.extensionAttribute5",
            "{target: extensionAttribute5, attribute: cost_center_label}",
        ),
    ]
    for path, value in edits:
        done = cli("config", "set", path, value, store=copy)
        assert done.returncode == 0, done.stderr
    edited, scripted = cli("config", "export", store=db), cli("config", "export", store=copy)
    assert edited.returncode == 0 and scripted.returncode == 0
    assert "cost_center_label" in edited.stdout and "extensionAttribute5" in edited.stdout
    assert edited.stdout == scripted.stdout
