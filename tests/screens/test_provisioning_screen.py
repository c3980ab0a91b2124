"""Provisioning screen over the real sample store: the apps that can create accounts, their
fields and mappings, a field tested against a chosen person, the plan, and creating an account
after a confirmation (or the refusal, with its reason)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList, Static

from console.app import RosterApp
from engine.store.repo import set_meta
from screens.modals.confirm import ConfirmModal
from screens.modals.record_picker import RecordPicker
from screens.provisioning import ProvisioningScreen
from tests.screens.helpers import settle, shown


def demo_folder(services: Any) -> Path:
    """Point the store at this test's own copy of the demo apps: creating writes to them."""
    folder = Path(services.db.sqlite_path).with_name("r-demo")
    with services.db.session() as session:
        set_meta(session, "config_base_dir", str(folder))
        session.commit()
    return folder


def without_account(services: Any, app_id: str) -> Any:
    population = services.population()
    have = {a.owner_id for a in population.accounts if a.app_id == app_id}
    return next(
        u
        for u in population.users
        if u.status == "ENABLED" and u.email and u.display_name and u.id not in have
    )


def with_account(services: Any, app_id: str) -> Any:
    population = services.population()
    have = {a.owner_id for a in population.accounts if a.app_id == app_id}
    return next(u for u in population.users if u.email and u.display_name and u.id in have)


async def open_provisioning(pilot: Any, app_id: str) -> ProvisioningScreen:
    await settle(pilot)
    await pilot.press("6")
    await pilot.pause()
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ProvisioningScreen)
    apps = screen.query_one("#prov-apps", OptionList)
    assert apps.has_focus
    while screen.app_id != app_id:
        await pilot.press("down")
        await settle(pilot)
    return screen


async def choose_person(pilot: Any, email: str) -> None:
    await pilot.press("o")
    await pilot.pause()
    assert isinstance(pilot.app.screen, RecordPicker)
    await pilot.press(*email)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def field_row(screen: ProvisioningScreen, key: str) -> list[str]:
    """The row's cells as (field, type, plan, mapping), whatever order the table shows them in."""
    table = screen.query_one("#prov-fields", DataTable)
    return [str(table.get_cell(key, column)) for column in ("key", "type", "plan", "mapping")]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_fields_test_and_create_an_account(services: Any, size: tuple[int, int]) -> None:
    demo_folder(services)
    person = without_account(services, "entra")
    app = RosterApp(services)
    async with app.run_test(size=size) as pilot:
        screen = await open_provisioning(pilot, "entra")
        apps = screen.query_one("#prov-apps", OptionList)
        assert {str(apps.get_option_at_index(i).id) for i in range(apps.option_count)} == {
            "ad",
            "entra",
        }
        fields = screen.query_one("#prov-fields", DataTable)
        schema = next(a for a in services.provisioning_apps() if a.id == "entra")
        assert fields.row_count == len(schema.creation_schema)
        row = field_row(screen, "userPrincipalName")
        assert row[0] == "userPrincipalName *" and row[1] == "string"
        assert row[3] == "subject.email.lowerAscii()"
        assert field_row(screen, "passwordProfile")[3].startswith("default ")
        assert "No person chosen" in shown(screen.query_one("#prov-person", Static))

        await choose_person(pilot, person.email)
        assert screen.person is not None and screen.person.id == person.id
        assert person.display_name in shown(screen.query_one("#prov-person", Static))
        assert "Ready to create" in shown(screen.query_one("#prov-plan", Static))
        assert field_row(screen, "userPrincipalName")[2] == f"{person.email.lower()} (string)"

        # Test the highlighted field: value and type.
        fields.focus()
        fields.move_cursor(row=fields.get_row_index("userPrincipalName"))
        await pilot.press("t")
        await settle(pilot)
        detail = shown(screen.query_one("#prov-detail", Static))
        assert "Test for" in detail and person.email.lower() in detail and "type string" in detail
        fields.move_cursor(row=fields.get_row_index("accountEnabled"))
        await pilot.press("t")
        await settle(pilot)
        assert "true  type bool" in shown(screen.query_one("#prov-detail", Static))

        # Create: asks first, saying what will be created; cancelling creates nothing.
        await pilot.press("c")
        await pilot.pause()
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        message = str(confirm.message)
        assert "Microsoft Entra ID (entra)" in message and person.display_name in message
        assert f"userPrincipalName = {person.email.lower()}" in message
        assert "provisioned" in message
        await pilot.press("escape")
        await settle(pilot)
        assert not any(a.app == "entra" for a in services.user_detail(person.id).accounts)

        # it opens on Cancel, as every other write does: enter alone creates nothing
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert not any(a.app == "entra" for a in services.user_detail(person.id).accounts)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("shift+tab", "enter")
        await settle(pilot)
        accounts = [a for a in services.user_detail(person.id).accounts if a.app == "entra"]
        assert len(accounts) == 1 and accounts[0].link_kind == "provisioned"
        summary = shown(screen.query_one("#prov-plan", Static))
        assert "Created" in summary and accounts[0].key in summary
        assert "provisioned" in summary


async def test_a_person_with_an_account_is_refused_with_the_reason(services: Any) -> None:
    demo_folder(services)
    person = with_account(services, "entra")
    before = len(services.user_detail(person.id).accounts)
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_provisioning(pilot, "entra")
        await choose_person(pilot, person.email)
        summary = shown(screen.query_one("#prov-plan", Static))
        assert "Cannot create" in summary and "already has an account in entra" in summary
        await pilot.press("c")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmModal)
        notes = [n.message for n in app._notifications]
        assert any("already has an account in entra" in n for n in notes)
        assert len(services.user_detail(person.id).accounts) == before


async def test_help_lists_the_provisioning_keys(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_provisioning(pilot, "ad")
        await pilot.press("question_mark")
        await pilot.pause()
        keys = dict(app.screen.rows)
        assert "o" in keys and "r" in keys
        assert any("once a person is chosen" in what for what in keys.values())
        await pilot.press("escape")
        await pilot.pause()
        await choose_person(pilot, without_account(services, "ad").email)
        await pilot.press("question_mark")
        await pilot.pause()
        keys = dict(app.screen.rows)
        for key in ("o", "t", "e", "c", "r"):
            assert key in keys, key


async def test_the_queue_lists_what_the_next_sync_creates(services: Any) -> None:
    from console.app import RosterApp
    from screens.modals.provision_queue import ProvisionQueueModal
    from tests.screens.helpers import settle

    app = RosterApp(services, start="provisioning")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ProvisionQueueModal)
        text = str(app.screen.query_one("#queue-body").content)
        assert "every approved request has its account" in text  # the demo's were created
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ProvisionQueueModal)
