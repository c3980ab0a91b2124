"""Identity decisions that must not be silent (issue 12 §6), as the console shows them: held
blanks in the sync confirmation, the person's flag, the dashboard's lists."""

from __future__ import annotations

from typing import Any

import yaml
from textual.widgets import Checkbox, DataTable, Static

from console.app import RosterApp
from screens.dashboard import DashboardScreen
from screens.modals.sync_confirm import SyncConfirmModal
from screens.sync import SyncScreen
from tests.screens.helpers import settle, shown
from tests.screens.test_sync_screen import demo_folder
from tests.screens.test_users_screen import open_person


def edit_hr(services: Any, change: Any, app: str = "hr") -> None:
    path = demo_folder(services) / "apps" / f"{app}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["accounts"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def drop_john(accounts: list[dict[str, Any]]) -> None:
    accounts[:] = [a for a in accounts if a["id"] != "E10003"]


def john(services: Any) -> Any:
    return services.user_by_email("john.bjork@example.com")


async def test_sync_now_lists_held_values_and_the_box_clears_them(services: Any) -> None:
    edit_hr(services, drop_john)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal) and not modal.blocked
        summary = str(modal.summary())
        assert "Held (7): values kept because only a source account gone" in summary
        assert "john.bjork@example.com: manager_email" in summary and "(hr:E10003 gone)" in summary
        box = modal.query_one("#confirm-deletes", Checkbox)
        assert not box.value and not modal.query_one("#apply").disabled  # optional
        box.focus()
        await pilot.press("space")
        await pilot.pause()
        modal.query_one("#apply").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SyncScreen)
        latest = services.runs(limit=1)[0]
        assert latest.status == "applied" and not latest.dry_run
    services.invalidate()
    assert john(services).attributes.get("cost_center") == ""


async def test_apply_without_the_box_keeps_the_held_values(services: Any) -> None:
    edit_hr(services, drop_john)
    app = RosterApp(services, start="sync")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SyncConfirmModal)
        modal.query_one("#apply").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert services.runs(limit=1)[0].status == "applied"
    services.invalidate()
    assert john(services).attributes.get("cost_center") == "CC-2200"


async def test_the_person_screen_flags_a_lost_hr_record(services: Any) -> None:
    edit_hr(services, drop_john)
    services.sync()
    app = RosterApp(services, start="users")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_person(pilot, "john.bjork")
        person = shown(screen.query_one("#users-person", Static))
        assert "! lost their hr record (hr:E10003); kept by idp" in person
        # the values kept back say so where they show, not only in the run that held them
        attributes = screen.query_one("#users-attributes", DataTable)
        assert str(attributes.get_cell("cost_center", "value")) == "CC-2200"
        assert str(attributes.get_cell("cost_center", "source")) == "held: hr:E10003 gone"
    detail = services.user_detail(john(services).id).to_json()
    held = {a["name"]: a["held_from"] for a in detail["attributes"] if a["held_from"]}
    assert held["cost_center"] == ["hr:E10003"] and len(held) == 7


async def test_the_dashboard_lists_manager_cycles_and_leavers_still_enabled(
    services: Any,
) -> None:
    def cycle_and_leaver(accounts: list[dict[str, Any]]) -> None:
        ceo = next(a for a in accounts if a["id"] == "E10001")
        ceo["profile"]["manager_email"] = "amara.martinez@example.com"  # who reports to her
        priya = next(a for a in accounts if a["id"] == "E10019")  # Priya Shah leaves
        priya["status"] = "DISABLED"
        priya["profile"]["employment_status"] = "TERMINATED"

    edit_hr(services, cycle_and_leaver)

    def idp_leaver(accounts: list[dict[str, Any]]) -> None:
        next(a for a in accounts if a["email"] == "priya.shah@example.com")["status"] = "DISABLED"

    edit_hr(services, idp_leaver, "idp")
    assert services.sync().status == "applied"
    app = RosterApp(services, start="dashboard")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        care = shown(app.screen.query_one("#care", Static))
        # what needs attention is above the fold at 80x24, before the apps and runs
        strips = app.screen._compositor.render_strips()
        visible = "\n".join("".join(segment.text for segment in strip) for strip in strips)
        assert "Needs attention" in visible and "Manager cycles: 1" in visible, visible
    assert "Manager cycles: 1" in care
    assert (
        "margaret.okafor@example.com → amara.martinez@example.com → margaret.okafor@example.com"
        in care
    )
    assert "Leavers who can still sign in: " in care
    assert (
        "priya.shah@example.com: removed, but still enabled in ad:priya.shah, "
        "badge:BDG-00019, entra:priya.shah@example.com, slack:U076ADP4VGE" in care
    )


async def test_the_link_confirmation_shows_what_else_changes(services: Any) -> None:
    from textual.widgets import Input

    from screens.modals.confirm import ConfirmModal

    idp = next(
        f"{a.app_id}:{a.external_id}"
        for a in services.population().accounts
        if a.app_id == "idp" and a.email == "john.bjork@example.com"
    )
    app = RosterApp(services, start="users")
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await open_person(pilot, "ann lee")
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one(Input).value = idp
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        message = str(confirm.message)
        assert "It also changes, at the next sync:" in message
        assert "john.bjork@example.com · additional_email: john.bjork@example.com → —" in message
        await pilot.press("escape")
        await settle(pilot)
    assert services.account_by_key(idp).link_kind != "manual"


async def test_the_link_confirmation_lists_the_pushes(services: Any) -> None:
    from textual.widgets import Input

    from screens.modals.confirm import ConfirmModal

    app = RosterApp(services, start="users")
    async with app.run_test(size=(120, 50)) as pilot:
        await settle(pilot)
        await open_person(pilot, "ann lee")
        await pilot.press("l")
        await pilot.pause()
        app.screen.query_one(Input).value = "hr:E10003"
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        message = str(confirm.message)
        assert (
            "push ad:ann.lee (ann.lee@example.com) · title: IT Operations Manager → Head of "
            "Product" in message
        )
        await pilot.press("escape")
        await settle(pilot)
    assert services.account_by_key("hr:E10003").link_kind != "manual"
