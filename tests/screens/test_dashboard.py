"""Dashboard over the real sample store: the counts, apps, runs and warnings it shows."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Static

from console.app import RosterApp
from screens.dashboard import DashboardScreen
from tests.screens.helpers import settle, shown


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_dashboard_shows_the_store(services: Any, size: tuple[int, int]) -> None:
    expected = services.dashboard()
    app = RosterApp(services)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        for name in ("people", "accounts", "unowned", "unmerged", "errors"):
            card = screen.query_one(f"#count-{name}", Static)
            assert shown(card) == f"{getattr(expected, name):,}", name
            assert card.region.width >= 10 and card.region.y < size[1]
        assert expected.people > 0 and expected.accounts > expected.people

        apps = screen.query_one("#apps-table", DataTable)
        assert apps.row_count == len(expected.apps)
        names = {str(apps.get_row_at(i)[0]) for i in range(apps.row_count)}
        assert names == {a.name or a.id for a in expected.apps}
        for app_summary in expected.apps:
            row = apps.get_row(str(app_summary.id))
            assert str(row[2]) == f"{app_summary.accounts:,}"

        runs = screen.query_one("#runs-table", DataTable)
        assert runs.row_count == max(len(expected.last_runs), 1)
        warnings = shown(screen.query_one("#warnings", Static))
        for warning in expected.warnings:
            assert warning in warnings


async def test_refresh_reloads(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        card = app.screen.query_one("#count-people", Static)
        card.update("stale")
        await pilot.press("r")
        await settle(pilot)
        assert shown(card) == f"{services.dashboard().people:,}"
