"""Testing an app from the dashboard: `t` on the apps list opens a dialog that connects to the
app under the cursor (in a worker) and shows the result, a few accounts and the fields found;
a server that is down gives its clear message, not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.widgets import DataTable, Static

from console.app import RosterApp
from engine.services import open_services
from screens.modals.app_test import AppTestModal
from tests.ldap_server import free_port
from tests.screens.helpers import settle, shown

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_t_tests_the_app_under_the_cursor(services: Any, size: tuple[int, int]) -> None:
    config = yaml.safe_load((SAMPLE / "roster.yaml").read_text(encoding="utf-8"))
    first, second = config["apps"][0], config["apps"][1]
    accounts = yaml.safe_load((SAMPLE / second["settings"]["path"]).read_text())["accounts"]
    app = RosterApp(services)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#apps-table", DataTable)
        table.focus()
        await pilot.press("down")  # the second app
        await pilot.press("t")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, AppTestModal) and modal.app_id == second["id"] != first["id"]
        text = shown(modal.query_one("#app-test-body", Static))
        assert "✓ Connected to" in text and "read the first 5 accounts" in text
        assert "file connector" in text
        for account in accounts[:5]:
            assert str(account["id"]) in text
        assert "Fields found: display_name" in text and "profile.title" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, AppTestModal)


async def test_a_server_that_is_down_says_so(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DOWN_PASSWORD", "x")
    config = {
        "version": 1,
        "apps": [
            {
                "id": "corp",
                "name": "Corp [b]LDAP[/b]",
                "connector": "ldap",
                "settings": {
                    "url": f"ldap://127.0.0.1:{free_port()}",
                    "bind_dn": "cn=roster,dc=example,dc=com",
                    "password_env": "DOWN_PASSWORD",
                    "base_dn": "dc=example,dc=com",
                    "flavour": "openldap",
                    "timeout": 2,
                    "retries": 0,
                },
            }
        ],
        "directories": [{"app": "corp"}],
    }
    services = open_services(db_path=tmp_path / "r.db", init="empty")
    services.import_config(yaml.safe_dump(config), source="test", base_dir=tmp_path)
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, AppTestModal)
        text = shown(app.screen.query_one("#app-test-body", Static))
        assert "✗ App 'corp': LDAP server ldap://127.0.0.1:" in text
        assert "cannot be reached" in text
        await pilot.press("r")  # test again: the same answer, no crash
        await settle(pilot)
        assert "cannot be reached" in shown(app.screen.query_one("#app-test-body", Static))
    services.db.dispose()


async def test_no_app_no_test(tmp_path: Path) -> None:
    services = open_services(db_path=tmp_path / "r.db", init="empty")
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert not isinstance(app.screen, AppTestModal)
    services.db.dispose()


def test_the_result_shows_the_apps_data_literally() -> None:
    from engine.services import AppTest
    from screens.modals.app_test import result_text
    from tests.hostile import BIG, BOLD, CLEAR, SHOWN, TITLE_OSC

    result = AppTest(
        app="corp",
        kind="ldap",
        ok=True,
        message="Connected to ldap://x:389 and read 1 account.",
        server="ldap://x:389",
        accounts=[
            {"external_id": CLEAR, "display_name": BOLD, "email": TITLE_OSC, "username": "",
             "status": "DISABLED"}
        ],
        fields=["display_name", f"profile.{BIG}"],
    )  # fmt: skip
    text = result_text(result).plain
    assert "\x1b" not in text and SHOWN[BOLD] in text
    assert SHOWN[CLEAR][:10] in text and SHOWN[TITLE_OSC][:12] in text
    assert len(text) < 20_000  # a megabyte field name is cut
