"""Issue 9 §3's part of "Done when", in a real terminal (tmux, 80×24, 256 colours), keyboard
only, on the demo: open Provisioning (6), edit the Entra `mailNickname` mapping, test it on a
person (the one without an email, for whom the saved mapping fails) and see the check over
everyone follow the text, save, see the audit entry, quit. Then the same edit through
`roster config set` on a copy of the store gives the same `config export`."""

from __future__ import annotations

import shlex
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.e2e.test_tmux import Terminal, installed_roster, terminal  # noqa: F401

PATH = "apps.entra.provisioning.fields.mailNickname"
SAVED = 'subject.email.split("@")[0].lowerAscii()'
# (a mail nickname holds no space: Entra ID refuses one)
FALLBACK = '.ifEmpty(subject.displayName.lowerAscii().replace(" ", "."))'


def test_edit_the_entra_mail_nickname_and_test_it_on_a_person(
    terminal: Terminal,  # noqa: F811
    tmp_path: Path,
) -> None:
    roster = installed_roster()
    from engine.services import open_services

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    people = [u for u in services.population().users if u.status != "DELETED"]
    person = next(u for u in people if not u.email)
    assert services.config_get(PATH) == SAVED
    services.db.dispose()
    copy = tmp_path / "copy.db"  # the same store, edited through the CLI below
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)

    command = f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}"
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "80", "-y", "24", command)
    terminal.wait_for("the dashboard", lambda s: "Dashboard" in s and "People" in s)

    terminal.keys("6")
    # the list is filled by a worker: a key pressed before it is (an empty list) does nothing
    terminal.wait_for("the provisioning apps", lambda s: "Provisioning" in s and "2 apps" in s)
    terminal.keys("Down")  # entra
    terminal.wait_for("entra's fields", lambda s: "mailNickname *" in s)
    terminal.keys("Enter")  # to the fields: displayName, then mailNickname
    time.sleep(0.5)  # as a person would: the focus moves before the next key
    terminal.keys("Down")
    terminal.wait_for("mailNickname's detail", lambda s: "Mail alias" in s)
    terminal.keys("Enter")
    terminal.wait_for(
        "the editor with the check over everyone",
        lambda s: (
            "Mapping of entra" in s
            and f"ok {len(people) - 1} · empty 1" in s
            and "1 person would get no account" in s
        ),
    )

    terminal.keys("C-o")
    terminal.wait_for("the person picker", lambda s: "Cancel" in s or "search" in s.lower())
    terminal.keys(person.display_name, literal=True)
    # the name shows in the search box at once; the search's answer lists it a second time
    terminal.wait_for("the person found", lambda s: s.count(person.display_name) >= 2, 20)
    terminal.keys("Enter")
    terminal.wait_for(
        "the test on the person",
        lambda s: f"Test for {person.display_name}: ✗ required" in s,
    )

    terminal.keys("End")
    terminal.keys(FALLBACK, literal=True)
    nickname = person.display_name.lower().replace(" ", ".")
    screen = terminal.wait_for(
        "the test and the check of the edited text",
        lambda s: f'"{nickname}"  type string' in s and "Every value fits." in s,
    )
    assert f"ok {len(people)} · empty 0" in screen

    terminal.keys("C-s")
    terminal.wait_for(
        "the audit entry of the save",
        lambda s: "Roster — Provisioning" in s and "Last change: changed by" in s,
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

    setting = cli("config", "set", PATH, SAVED + FALLBACK, store=copy)
    assert setting.returncode == 0, setting.stderr
    edited, scripted = cli("config", "export", store=db), cli("config", "export", store=copy)
    assert edited.returncode == 0 and scripted.returncode == 0
    assert SAVED + FALLBACK in edited.stdout
    assert edited.stdout == scripted.stdout
