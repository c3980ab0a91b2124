"""The Merge rules screen in a real terminal at 80×24, keyboard only, on the demo: reorder two
of HR's merge rules and see the matrix change, then resolve an unowned account from the
drill-down (search the person, link, pinned) and see the unowned count drop; quit."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_tmux import Terminal, installed_roster, terminal  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_reorder_and_resolve_an_unowned_account(terminal: Terminal, tmp_path: Path) -> None:  # noqa: F811
    roster = installed_roster()
    from engine.services import open_services

    db = tmp_path / "r.db"
    services = open_services(db_path=db, init="sample")
    unowned = services.dashboard().unowned
    first = services.matrix_accounts("unowned", limit=1).rows[0].key
    services.db.dispose()

    command = f"env TERM=xterm-256color {shlex.quote(roster)} --db {shlex.quote(str(db))}"
    terminal.tmux("new-session", "-d", "-s", "roster", "-x", "80", "-y", "24", command)
    terminal.wait_for("the dashboard", lambda s: "Dashboard" in s and "People" in s)
    terminal.keys("3")
    screen = terminal.wait_for(
        "the match matrix of hr", lambda s: "Match matrix · hr" in s and "1. email" in s
    )
    assert re.search(r"1\. email\s+276\s", screen), screen  # the demo: 276 matched by email

    # HR's second rule (employee-id) moves up: the matrix shows the new order's numbers
    terminal.keys("Down", "Down")
    terminal.wait_for("employee-id highlighted", lambda s: "employee-id: employee id" in s)
    terminal.keys("S-Up")
    screen = terminal.wait_for(
        "the new order", lambda s: re.search(r"1\. employee-id\s+277\s", s) is not None
    )
    assert re.search(r"2\. email\s+0\s", screen), screen

    # every unowned account; link the first one to Margaret Okafor (pinned)
    terminal.keys("u")
    terminal.wait_for("the unowned list", lambda s: f"1–50 of {unowned}" in s)
    terminal.keys("l")
    terminal.wait_for("the person search", lambda s: "Choose a user" in s)
    terminal.keys("margaret okafor", literal=True)
    terminal.wait_for("Margaret", lambda s: "1 match" in s)
    terminal.keys("Enter")
    terminal.wait_for("the link confirmation", lambda s: "Pin the link" in s)
    terminal.keys("Enter")
    terminal.wait_for("the shorter list", lambda s: f"1–50 of {unowned - 1}" in s)
    terminal.keys("Escape")
    terminal.wait_for("the screen again", lambda s: "Merge rules and ownership" in s)
    terminal.keys("C-q")
    terminal.wait_for_exit()

    services = open_services(db_path=db)
    document = yaml.safe_load(services.export_config())
    hr = next(d for d in document["directories"] if d["app"] == "hr")
    assert [rule["name"] for rule in hr["merge_rules"]] == ["employee-id", "email"]
    account = services.account_by_key(first)
    assert account.pinned and account.owner_id is not None
    assert services.person(account.owner_id).email == "margaret.okafor@example.com"
    assert services.dashboard().unowned == unowned - 1
    services.db.dispose()
