"""Issue 12 §2: a failed app import shows on the dashboard until an import of that app
succeeds; the run that met it is "applied-with-failures"."""

from __future__ import annotations

from typing import Any

from console.app import RosterApp
from screens.dashboard import DashboardScreen
from tests.screens.helpers import settle
from tests.screens.test_sync_screen import demo_folder


async def warnings_shown(services: Any) -> str:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        return str(app.screen.query_one("#warnings").content)


async def test_the_dashboard_shows_a_failed_import_until_it_succeeds(services: Any) -> None:
    slack = demo_folder(services) / "apps" / "slack.yaml"
    good = slack.read_text(encoding="utf-8")
    slack.write_text("accounts: [ {id: broken\n", encoding="utf-8")
    result = services.sync()
    assert result.status == "applied-with-failures" and result.exit_code == 5
    assert [f["app"] for f in result.failures] == ["slack"]
    text = await warnings_shown(services)
    assert "Slack: last import failed: App 'slack': cannot read" in text, text
    assert f"Run {result.run_id} applied-with-failures: the apps above failed" in text

    slack.write_text(good, encoding="utf-8")
    assert services.sync().status == "applied"
    text = await warnings_shown(services)
    assert "last import failed" not in text and "with-failures" not in text


async def test_a_dry_run_that_could_not_read_an_app_names_it(services: Any) -> None:
    """A dry run records no import status: its failed apps read "ok" in the list, and the
    warning said "the apps above failed to import" of none of them (newcomer review)."""
    slack = demo_folder(services) / "apps" / "slack.yaml"
    slack.write_text("accounts: [ {id: broken\n", encoding="utf-8")
    result = services.sync(dry_run=True)
    assert result.status == "planned-with-failures"
    dashboard = services.dashboard()
    line = f"Run {result.run_id} planned-with-failures: slack could not be read: "
    assert any(w.startswith(line) for w in dashboard.warnings), dashboard.warnings
    assert dashboard.errors >= 1
    text = await warnings_shown(services)
    assert "the apps above" not in text and "slack could not be read" in text, text
