"""A viewer's and an operator's console (DESIGN §14): the keys their role may not use are not
offered, pressing them does nothing, and the header says the role."""

from __future__ import annotations

from typing import Any

from console.app import RosterApp
from console.palette import RosterCommands
from engine.services import Services
from engine.store.db import Database
from screens.dashboard import DashboardScreen
from screens.directories import DirectoriesScreen
from screens.sync import SyncScreen
from screens.users import UsersScreen
from tests.screens.helpers import settle, wait_until
from tests.screens.test_app import footer_keys


def as_user(services: Any, user: str, role: str) -> Services:
    services.grant_role(user, role)
    return Services(Database(services.db.url), actor=user)


async def test_a_viewer_sees_no_key_that_changes_anything(services: Any) -> None:
    viewer = as_user(services, "vera", "viewer")
    runs = len(services.runs(None))
    app = RosterApp(viewer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert app.title == "Roster · viewer"
        keys = footer_keys(app)
        assert "r" in keys and "p" not in keys and "s" not in keys and "t" not in keys
        await pilot.press("s")  # sync now: not for a viewer, nothing happens
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, DirectoriesScreen)
        keys = footer_keys(app)
        assert not {"a", "e", "d", "E", "space"} & set(keys), keys
        commands = [c.title for c in RosterCommands(app.screen).commands()]
        assert not any("$EDITOR" in c or c.startswith("Sync:") for c in commands), commands
        assert any(c.startswith("Go to") for c in commands)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, DirectoriesScreen)  # no editor opened
        await pilot.press("enter")  # the filter editor opens as a preview, and says so
        await settle(pilot)
        assert any("A preview only" in str(n.message) for n in app._notifications)
        assert "^s" not in footer_keys(app)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert not {"l", "u", "p"} & set(footer_keys(app))
        await pilot.press("escape", "8")  # (the search had the focus)
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        assert not {"p", "s"} & set(footer_keys(app))
        await pilot.press("p")
        await settle(pilot)
        assert app.screen.running is None  # no plan started
    assert len(services.runs(None)) == runs  # nothing ran


async def test_an_operator_syncs_and_a_role_granted_meanwhile_shows(services: Any) -> None:
    operator = as_user(services, "otto", "operator")
    app = RosterApp(operator)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert {"p", "s"} <= set(footer_keys(app))
        assert app.title == "Roster · operator"
        await pilot.press("2")
        await settle(pilot)
        assert "a" not in footer_keys(app)
        commands = [c.title for c in RosterCommands(app.screen).commands()]
        assert "Sync: sync now" in commands and not any("$EDITOR" in c for c in commands)
        # an admin makes otto an admin while his console is open: the keys appear
        services.grant_role("otto", "admin")
        app.look_at_store()
        await wait_until(pilot, lambda: app.role == "admin", "the new role to be noticed")
        await settle(pilot)
        assert app.title == "Roster" and "a" in footer_keys(app)


async def test_a_viewer_made_operator_is_offered_syncs_by_the_sync_screen(services: Any) -> None:
    viewer = as_user(services, "vera", "viewer")
    app = RosterApp(viewer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        status = app.screen.query_one("#sync-status")
        assert "Syncs need the operator role" in str(status.render())
        services.grant_role("vera", "operator")
        app.look_at_store()
        await wait_until(pilot, lambda: app.role == "operator", "the new role to be noticed")
        await settle(pilot)
        assert "plans a sync" in str(status.render())


async def test_a_console_whose_role_is_revoked_closes(services: Any) -> None:
    viewer = as_user(services, "vera", "viewer")
    app = RosterApp(viewer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        services.revoke_role("vera")
        app.look_at_store()
        await wait_until(pilot, lambda: app.return_code == 7, "the console to close")
