"""Editing provisioning mappings on the Provisioning screen (key 6), keyboard only, over the
demo store: the field editor (test on a person, the check over everyone, save, validation
errors, a conflict, unsaved changes), clearing a mapping, the proactive toggle, and map fields.
Expected values come from the demo's people and the saved configuration."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, OptionList, Static

from console.app import RosterApp
from engine.errors import NotFound
from engine.services import ConfigEdit
from screens.modals.confirm import ConfirmModal
from screens.modals.record_picker import RecordPicker
from screens.provision_field import ProvisionFieldScreen
from screens.provisioning import ProvisioningScreen
from tests.screens.helpers import settle, shown, wait_until

NICK = "apps.entra.provisioning.fields.mailNickname"
SAVED_NICK = 'subject.email.split("@")[0].lowerAscii()'
# (a mail nickname holds no space: Entra ID refuses one)
FALLBACK = '.ifEmpty(subject.displayName.lowerAscii().replace(" ", "."))'


def app_for(services: Any) -> RosterApp:
    app = RosterApp(services, start="provisioning")
    app.STORE_POLL_SECONDS = 0
    return app


def no_email(services: Any) -> Any:
    """A person who is not deleted and has no email: the demo's mailNickname fails for them."""
    return next(u for u in services.population().users if u.status != "DELETED" and not u.email)


async def open_field(pilot: Any, app_id: str, key: str) -> ProvisioningScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ProvisioningScreen)
    while screen.app_id != app_id:
        await pilot.press("down")
        await settle(pilot)
    await pilot.press("enter")  # to the fields
    await settle(pilot)
    fields = screen.query_one("#prov-fields", DataTable)
    assert fields.has_focus
    while str(fields.coordinate_to_cell_key(fields.cursor_coordinate).row_key.value) != key:
        await pilot.press("down")
    await settle(pilot)
    return screen


async def open_editor(pilot: Any, app_id: str, key: str) -> ProvisionFieldScreen:
    await open_field(pilot, app_id, key)
    await pilot.press("enter")
    await settle(pilot)
    editor = pilot.app.screen
    assert isinstance(editor, ProvisionFieldScreen)
    await wait_until(pilot, lambda: editor.check is not None, "the check over everyone")
    return editor


async def type_over(pilot: Any, text: str) -> None:
    """Select the whole expression (f7) and type over it, key by key."""
    await pilot.press("f7")
    await pilot.press(*text)
    await settle(pilot)


async def pick_person(pilot: Any, query: str) -> None:
    await pilot.press("ctrl+o")
    await pilot.pause()
    assert isinstance(pilot.app.screen, RecordPicker)
    await pilot.press(*query)
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


def text_of(screen: Any, selector: str) -> str:
    return shown(screen.query_one(selector, Static))


async def confirm(pilot: Any) -> str:
    modal = pilot.app.screen
    assert isinstance(modal, ConfirmModal)
    message = str(modal.message)
    if modal.start == "#cancel":
        await pilot.press("shift+tab")  # it opens on Cancel (destructive, or a write)
    assert modal.focused is not None and modal.focused.id == "confirm"
    await pilot.press("enter")
    await settle(pilot)
    return message


# The editor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_edit_test_on_a_person_check_and_save(services: Any, size: tuple[int, int]) -> None:
    mei = no_email(services)
    living = [u for u in services.population().users if u.status != "DELETED"]
    app = app_for(services)
    async with app.run_test(size=size) as pilot:
        editor = await open_editor(pilot, "entra", "mailNickname")
        assert editor.editor.text == SAVED_NICK
        about = text_of(editor, "#pf-about")
        assert "mailNickname (Mail nickname)" in about and "required" in about
        assert "Mail alias" in about and "e.g. ann.lee" in about and "no default" in about
        assert "Last change: imported" in text_of(editor, "#pf-last")
        # over everyone: the person without an email gets an empty required value
        check = text_of(editor, "#pf-check")
        assert f"{len(living)} people · ok {len(living) - 1} · empty 1" in check
        assert "1 person would get no account" in check and mei.display_name in check
        assert "ctrl+o" in text_of(editor, "#pf-test")  # no person yet

        await pick_person(pilot, mei.display_name)
        assert isinstance(app.screen, ProvisionFieldScreen)
        assert f"Test for {mei.display_name}" in text_of(editor, "#pf-test")
        assert "✗ required, but the expression returned an empty string" in text_of(
            editor, "#pf-test"
        )

        await pilot.press("end", *FALLBACK)
        await settle(pilot)
        nickname = mei.display_name.lower().replace(" ", ".")
        assert f'"{nickname}"  type string' in text_of(editor, "#pf-test")
        assert f"ok {len(living)} · empty 0" in text_of(editor, "#pf-check")
        assert "Every value fits." in text_of(editor, "#pf-check")
        assert editor.unsaved

        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ProvisioningScreen)
        assert screen.person is not None and screen.person.id == mei.id  # kept from the editor
        await wait_until(pilot, lambda: "changed by" in text_of(screen, "#prov-detail"), "audit")
    assert services.config_get(NICK) == SAVED_NICK + FALLBACK
    (entry,) = services.audit(NICK, limit=1)
    assert entry.action == "config.edit" and entry.after == SAVED_NICK + FALLBACK


async def test_a_value_everyone_would_share_is_said_under_the_counts(services: Any) -> None:
    """sAMAccountName is an account's id: the same value for everyone fits the field, yet the
    app refuses all but one account of it. The check says so under its counts."""
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "ad", "sAMAccountName")
        assert "someone else gets too" not in text_of(editor, "#pf-check")
        await type_over(pilot, '"same.name"')
        await wait_until(
            pilot, lambda: "someone else gets too" in text_of(editor, "#pf-check"), "the check"
        )
        assert "'same.name': " in text_of(editor, "#pf-check")
        assert "Every value fits the field, but the app takes each value once" in text_of(
            editor, "#pf-check"
        )
        assert "Every value fits." not in text_of(editor, "#pf-check")
        # saving it asks first, saying why; esc saves nothing
        await pilot.press("ctrl+s")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        assert "refuses a second time" in str(modal.message)
        await pilot.press("escape")
        await settle(pilot)
    assert services.config_get("apps.ad.provisioning.fields.sAMAccountName") != '"same.name"'


async def test_a_compile_error_is_shown_under_the_expression_and_not_saved(
    services: Any,
) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "entra", "mailNickname")
        await pick_person(pilot, "margaret")
        await type_over(pilot, "subject.email +")
        problem = editor.editor.problem_text
        assert problem.startswith("Error at line 1, column 16")
        assert "does not compile" in text_of(editor, "#pf-test")
        assert "Not checked: the expression does not compile" in text_of(editor, "#pf-check")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is editor  # refused before saving
        assert any("fix it before saving" in n.message for n in app._notifications)
        # a value of the wrong type: saved config is valid CEL, but the test says why
        await type_over(pilot, "size(subject.email)")
        assert "✗ expected a string, got int" in text_of(editor, "#pf-test")
        assert "would get no account" in text_of(editor, "#pf-check")
    assert services.config_get(NICK) == SAVED_NICK


async def test_saving_a_mapping_that_fails_for_some_asks_first(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "entra", "mailNickname")
        await type_over(pilot, "string(size(subject.email))")
        # "0" for the person without an email: ok; every value is a string
        await type_over(pilot, 'subject.email.split("@")[0]')
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = await confirm(pilot)
        assert "1 of" in message and "would get no account" in message
        assert isinstance(app.screen, ProvisioningScreen)
    assert services.config_get(NICK) == 'subject.email.split("@")[0]'
    assert editor.saved == 'subject.email.split("@")[0]'


async def test_escape_and_quit_ask_before_losing_an_unsaved_mapping(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "entra", "mailNickname")
        await type_over(pilot, "subject.givenName")
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "Quit without saving?" in str(app.screen.title_text)
        await pilot.press("escape")  # stay
        await settle(pilot)
        assert app.screen is editor and editor.editor.text == "subject.givenName"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "Discard the unsaved mapping?" in str(app.screen.title_text)
        await pilot.press("escape")  # keep editing
        await settle(pilot)
        assert app.screen is editor
        await pilot.press("escape")
        await settle(pilot)
        await confirm(pilot)  # discard
        assert isinstance(app.screen, ProvisioningScreen)
    assert services.config_get(NICK) == SAVED_NICK


#: A mail nickname no two people get (mailNickname is unique in Entra)
OWN_NICK = '"n" + subject.id'  # (ASCII: Entra ID takes no other letters in a nickname)


async def test_a_conflicting_edit_offers_a_reload_and_keeps_the_text(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "entra", "mailNickname")
        # (a nickname each person alone gets: a shared one would be asked about first)
        # bob changes another field (no conflict: other objects never refuse an edit) and
        # this very mapping (a conflict)
        services.grant_role("bob", "admin")  # another admin, elsewhere
        services.config_edit(
            ConfigEdit("set", "apps.entra.provisioning.fields.jobTitle", value='"x"'),
            actor="bob",
        )
        services.config_edit(ConfigEdit("set", NICK, value='"bob"'), actor="bob")
        await type_over(pilot, OWN_NICK)
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = await confirm(pilot)  # Reload
        assert "bob" in message and "Nothing was saved" in message
        await wait_until(
            pilot, lambda: editor.version == services.config_version(), "the new version"
        )
        assert editor.editor.text == OWN_NICK
        assert services.config_get(NICK) == '"bob"'
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ProvisioningScreen)
    assert services.config_get(NICK) == OWN_NICK
    assert services.config_get("apps.entra.provisioning.fields.jobTitle") == '"x"'


# Clearing -----------------------------------------------------------------------------------


async def test_clear_a_mapping_from_the_list_after_a_confirmation(services: Any) -> None:
    path = "apps.entra.provisioning.fields.usageLocation"
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_field(pilot, "entra", "usageLocation")
        await pilot.press("d")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal) and modal.destructive
        await pilot.press("enter")  # opens on Cancel: enter keeps the mapping
        await settle(pilot)
        assert services.config_get(path)
        await pilot.press("d")
        await settle(pilot)
        message = await confirm(pilot)
        assert "usageLocation" in message and "ifEmpty" in message
        assert "leave the field empty" in message  # no default in the schema
        await wait_until(
            pilot, lambda: "usageLocation" not in screen.expressions(), "the reloaded mapping"
        )
        assert "Not mapped and no default" in text_of(screen, "#prov-detail")
        # a field that is not mapped has nothing to clear
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmModal)
    with pytest.raises(NotFound):
        services.config_get(path)
    assert services.audit(path, limit=1)[0].after is None


async def test_an_empty_expression_saved_clears_the_mapping(services: Any) -> None:
    path = "apps.entra.provisioning.fields.accountEnabled"
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "entra", "accountEnabled")
        await pilot.press("f7", "backspace")
        await settle(pilot)
        assert "take the default" in text_of(editor, "#pf-check")  # everyone: the default
        await pilot.press("ctrl+s")
        await settle(pilot)
        message = await confirm(pilot)
        assert "New accounts then take the default true" in message
        assert isinstance(app.screen, ProvisioningScreen)
    with pytest.raises(NotFound):
        services.config_get(path)


# Proactive ------------------------------------------------------------------------------------


async def test_the_proactive_toggle_says_what_it_does_and_saves(services: Any) -> None:
    path = "apps.entra.provisioning.proactive"
    assert services.config_get(path) is True
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_field(pilot, "entra", "displayName")
        apps = screen.query_one("#prov-apps", OptionList)
        assert "auto" in str(apps.get_option("entra").prompt)
        await pilot.press("p")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmModal)
        await pilot.press("escape")
        await settle(pilot)
        assert services.config_get(path) is True
        await pilot.press("p")
        await settle(pilot)
        message = await confirm(pilot)
        assert "Turn off proactive provisioning for Microsoft Entra ID (entra)" in message
        assert "approved access requests no longer create accounts" in message
        await wait_until(pilot, lambda: services.config_get(path) is False, "saved")
        await settle(pilot)
        assert "auto" not in str(apps.get_option("entra").prompt)
        await pilot.press("p")
        await settle(pilot)
        message = await confirm(pilot)
        assert "At the next sync, every approved access request" in message
        # what it would create, counted before it is turned on (second review)
        ready = [q for q in services.provision_queue(as_if_proactive="entra").ready]
        assert f"As the store is now, that is {len(ready):,} account" in message
        await settle(pilot)
        assert "auto" in str(apps.get_option("entra").prompt)
    assert services.config_get(path) is True
    assert [e.after for e in services.audit(path, limit=2)] == [True, False]


# Map fields -----------------------------------------------------------------------------------


async def test_a_map_field_takes_a_cel_map(services: Any) -> None:
    path = "apps.entra.provisioning.fields.onPremisesExtensionAttributes"
    text = '{"extensionAttribute1": subject.displayName, "extensionAttribute2": "5000"}'
    app = app_for(services)
    async with app.run_test(size=(120, 40)) as pilot:
        editor = await open_editor(pilot, "entra", "onPremisesExtensionAttributes")
        assert "· map" in text_of(editor, "#pf-about")
        await pick_person(pilot, "margaret")
        await type_over(pilot, "subject.displayName")
        assert "✗ expected a map, got string" in text_of(editor, "#pf-test")
        await type_over(pilot, '{1: "a"}')
        assert "only with string keys" in text_of(editor, "#pf-test")
        await type_over(pilot, text)
        result = text_of(editor, "#pf-test")
        assert '"extensionAttribute2": "5000"' in result and "type map" in result
        assert "Every value fits." in text_of(editor, "#pf-check")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ProvisioningScreen)
    assert services.config_get(path) == text


async def test_hostile_text_typed_in_the_editor_is_shown_literally(services: Any) -> None:
    app = app_for(services)
    async with app.run_test(size=(80, 24)) as pilot:
        editor = await open_editor(pilot, "entra", "jobTitle")
        await pick_person(pilot, "margaret")
        # markup and an escape sequence in a CEL string: the value is shown as written
        await type_over(pilot, '"[bold]x[/] \\x1b[2J"')
        result = text_of(editor, "#pf-test")
        assert '"[bold]x[/] \\u001b[2J"  type string' in result
        assert "\x1b" not in result
        # a value too long for the field: the reason, not the megabyte
        await type_over(pilot, 'subject.displayName + "' + "x" * 200 + '"')
        assert "characters long; at most 128 are allowed" in text_of(editor, "#pf-test")
        assert "would get no account" in text_of(editor, "#pf-check")
        await pilot.press("escape")
        await settle(pilot)
        await confirm(pilot)  # discard
    assert services.config_get("apps.entra.provisioning.fields.jobTitle") == "subject.jobTitle"
