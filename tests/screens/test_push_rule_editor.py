"""Editing push rules in the console (issue 9 §2) over the real demo store: add, edit, reorder
and remove mappings, enable and disable, delete, validation errors under their fields, the
schema's limits while typing, the per-mapping preview, and who the rule targets and its push
plan before anything is saved; and the same edit through `roster config set` gives the same
configuration."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from textual.widgets import Checkbox, DataTable, Input, Select, SelectionList, Static

from console.app import RosterApp
from console.cli import main
from screens.modals.confirm import ConfirmModal
from screens.modals.push_filter_attribute import FilterAttributeModal
from screens.modals.push_mapping import PushMappingModal
from screens.push_rule_editor import PushRuleEditorScreen
from screens.push_rules import PushRulesScreen
from tests.screens.helpers import settle, shown, wait_until
from tests.screens.test_hostile_text import (  # noqa: F401 - the fixtures
    BOLD,
    CLICK,
    SHOWN,
    SIZE,
    check,
    hostile,
    hostile_store,
)
from tests.screens.test_push_rules_screen import ad_accounts_to_get_a_badge_site


async def open_push(pilot: Any) -> PushRulesScreen:
    await settle(pilot)
    await pilot.press("5")
    await pilot.pause()
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, PushRulesScreen)
    return screen


async def open_editor(pilot: Any, key: str = "e") -> PushRuleEditorScreen:
    await pilot.press(key)
    await pilot.pause()
    await settle(pilot)
    editor = pilot.app.screen
    assert isinstance(editor, PushRuleEditorScreen)
    return editor


async def add_mapping(
    pilot: Any, editor: PushRuleEditorScreen, target: str, *, attribute: str = "", cel: str = ""
) -> PushMappingModal:
    """In the editor's mappings: a, choose the target and the source; the dialog stays open."""
    editor.mappings_table.focus()
    await pilot.press("a")
    await settle(pilot)
    modal = pilot.app.screen
    assert isinstance(modal, PushMappingModal)
    modal.query_one("#map-target", Select).value = target
    if cel:
        modal.query_one("#map-kind", Select).value = "cel"
        await settle(pilot)
        modal.editor.focus()
        await pilot.press(*cel)
    else:
        modal.query_one("#map-attribute", Select).value = attribute
    await settle(pilot)
    return modal


def impact(editor: PushRuleEditorScreen) -> str:
    return shown(editor.query_one("#pe-impact", Static))


def plan(editor: PushRuleEditorScreen) -> str:
    return shown(editor.query_one("#pe-plan", Static))


def enabled_people_outside_ad_core(services: Any) -> int:
    """Enabled people without both a live AD and a live HR account: the saved ad-core
    condition leaves them out, `subject.status == UserStatus.ENABLED` alone takes them in."""
    with closing(sqlite3.connect(services.db.sqlite_path)) as connection:
        (count,) = connection.execute(
            """
            SELECT count(*) FROM person p WHERE p.status = 'ENABLED'
              AND NOT (EXISTS (SELECT 1 FROM account a WHERE a.owner_id = p.id
                               AND a.app_id = 'ad' AND a.status != 'DELETED')
                       AND EXISTS (SELECT 1 FROM account h WHERE h.owner_id = p.id
                                   AND h.app_id = 'hr' AND h.status != 'DELETED'))
            """
        ).fetchone()
    return int(count)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_add_a_mapping_and_see_the_plan_before_saving(
    services: Any, size: tuple[int, int]
) -> None:
    sites = ad_accounts_to_get_a_badge_site(services)  # worked out in SQL, not by the plan
    app = RosterApp(services)
    async with app.run_test(size=size) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        assert editor.rule_name == "ad-core" and len(editor.mappings) == 7
        assert "Against the saved rule: the same people" in impact(editor)
        assert "Nothing to push" in plan(editor)

        modal = await add_mapping(
            pilot, editor, "physicalDeliveryOfficeName", attribute="badge_site"
        )
        info = shown(modal.query_one("#map-target-info", Static))
        assert "physicalDeliveryOfficeName" in info and "at most 128 characters" in info
        preview = shown(modal.query_one("#map-preview", Static))
        assert "holds" in preview or "no account in ad" in preview
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert pilot.app.screen is editor
        assert editor.mappings[-1] == {
            "target": "physicalDeliveryOfficeName",
            "attribute": "badge_site",
        }
        # the plan of the edited rule, before saving: every targeted AD account whose owner
        # has a badge site gets it
        assert f"{len(sites):,} accounts to update, {len(sites):,} values" in plan(editor)
        # against the saved rule: the new values appear, nothing the rule wrote disappears
        assert f"saved rule: {len(sites):,} values appear or change, 0 disappear" in plan(editor)
        assert services.push_plan("ad-core").rules == {}  # nothing saved yet

        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, PushRulesScreen)
        saved = services.config_get("push_rules.ad-core.mappings.physicalDeliveryOfficeName")
        assert saved == {"target": "physicalDeliveryOfficeName", "attribute": "badge_site"}
        last = services.last_change("push_rules.ad-core")
        assert last is not None and last.action == "config.edit"
        assert len(services.push_plan("ad-core").rules["ad-core"]) == len(sites)


async def test_the_console_edit_and_config_set_give_the_same_export(
    services: Any, sample_store: Path, tmp_path: Path
) -> None:
    # the same demo store, a second copy, edited through the command line
    other = tmp_path / "cli-store"
    shutil.copytree(sample_store, other)
    result = CliRunner().invoke(
        main,
        [
            "config",
            "set",
            "push_rules.ad-core.mappings.extensionAttribute5",
            "{attribute: cost_center}",
            "--db",
            str(other / "r.db"),
        ],
    )
    assert result.exit_code == 0, result.output

    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        await add_mapping(pilot, editor, "extensionAttribute5", attribute="cost_center")
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, PushRulesScreen)

    exported = CliRunner().invoke(main, ["config", "export", "--db", str(other / "r.db")])
    assert exported.exit_code == 0
    assert "extensionAttribute5" in services.export_config()
    assert services.export_config() == exported.stdout


async def test_a_saved_rule_opens_on_its_mappings_and_a_adds_one(services: Any) -> None:
    """Opened on its name, a saved rule took the `a` its mappings' box offers as text: the
    name became "ad-corea" (newcomer review). It opens on the mappings; a new rule on its name."""
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        assert app.focused is editor.mappings_table
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, PushMappingModal)
        await pilot.press("escape")
        await settle(pilot)
        assert editor.query_one("#pe-name", Input).value == "ad-core"
        await pilot.press("escape")
        await settle(pilot)
        new = await open_editor(pilot, "a")
        assert app.focused is new.query_one("#pe-name", Input)


async def test_edit_reorder_and_remove_mappings(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        targets = [m["target"] for m in editor.mappings]
        assert targets[:2] == ["title", "department"]
        table = editor.mappings_table
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("shift+down")
        await settle(pilot)
        assert [m["target"] for m in editor.mappings][:2] == ["department", "title"]
        assert table.cursor_row == 1
        # edit the company mapping: a shorter CEL
        table.move_cursor(row=2)
        await pilot.pause()
        assert editor.mappings[2]["target"] == "company"
        detail = shown(editor.query_one("#pe-mapping-detail", Static))
        assert detail.count("Example Corp") == 2  # the whole multi-line CEL, not its start
        await pilot.press("enter")
        await settle(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, PushMappingModal)
        assert "CONTRACTOR" in modal.editor.text
        modal.editor.text = '"Example Corp"'
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert editor.mappings[2] == {"target": "company", "cel": '"Example Corp"'}
        # remove `c`
        table.move_cursor(row=3)
        assert editor.mappings[3]["target"] == "c"
        await pilot.press("d")
        await settle(pilot)
        assert "c" not in [m["target"] for m in editor.mappings]
        await pilot.press("ctrl+s")
        await settle(pilot)
        mappings = services.config_get("push_rules.ad-core.mappings")
        assert [m["target"] for m in mappings] == [
            "department",
            "title",
            "company",
            "employeeID",
            "extensionAttribute1",
            "extensionAttribute3",
        ]
        assert mappings[2] == {"target": "company", "cel": '"Example Corp"'}


async def test_validation_errors_are_shown_under_their_fields(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        # a broken condition: the problem under it, with its line and column
        editor.condition.text = "subject.status == "
        await settle(pilot)
        problem = editor.condition.problem_text
        assert "line 1, column" in problem
        assert "cannot be saved" in impact(editor)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert pilot.app.screen is editor  # not saved
        assert services.config_get("push_rules.ad-core.condition").startswith("subject.status")
        editor.condition.text = "true"
        await settle(pilot)
        assert editor.condition.problem_text == ""

        # a second enabled rule on AD: refused, under the rule
        name = editor.query_one("#pe-name", Input)
        name.value = ""
        await settle(pilot)
        assert "Name the rule" in shown(editor.query_one("#pe-name-error", Static))
        name.value = "entra-licensed"  # another rule's name
        await settle(pilot)
        assert "two push rules are named" in shown(editor.query_one("#pe-name-error", Static))

        # a target another mapping writes, in the dialog
        modal = await add_mapping(pilot, editor, "title", attribute="job_title")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert pilot.app.screen is modal
        assert "already writes title" in shown(modal.query_one("#map-target-error", Static))
        # no source
        modal.query_one("#map-target", Select).value = "description"
        modal.query_one("#map-kind", Select).value = "cel"
        await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Type a CEL transform" in shown(modal.query_one("#map-source-error", Static))


async def test_a_new_rule_with_a_second_enabled_rule_on_the_app_is_refused(
    services: Any,
) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot, "a")
        assert editor.saved_name is None
        editor.query_one("#pe-name", Input).value = "entra-extra"
        editor.query_one("#pe-app", Select).value = "entra"
        await settle(pilot)
        await add_mapping(pilot, editor, "department", attribute="department")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "cannot be saved" in impact(editor)
        error = shown(editor.query_one("#pe-rule-error", Static))
        assert "two enabled push rules target `entra`" in error
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert pilot.app.screen is editor
        assert [r.name for r in services.config().push_rules] == [
            "ad-core",
            "entra-licensed",
            "ad-phones-pilot",
        ]
        # switched off, it is valid and saved
        editor.query_one("#pe-enabled", Checkbox).value = False
        await settle(pilot)
        assert "disabled: syncs push nothing" in plan(editor)
        assert "A new rule" in impact(editor)
        assert shown(editor.query_one("#pe-rule-error", Static)) == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, PushRulesScreen)
        added = services.config().push_rule("entra-extra")
        assert added is not None and added.enabled is False and added.app == "entra"
        assert [m.target for m in added.mappings] == ["department"]


async def test_the_schema_limit_and_the_preview_while_typing(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        modal = await add_mapping(pilot, editor, "extensionAttribute9", cel='"USA1"')
        assert "at most 1,024" in shown(modal.query_one("#map-target-info", Static)) or (
            "text" in shown(modal.query_one("#map-target-info", Static))
        )
        assert shown(modal.query_one("#map-source-error", Static)) == ""
        modal.query_one("#map-target", Select).value = "c"
        await settle(pilot)
        assert "at most 3 characters" in shown(modal.query_one("#map-target-info", Static))
        error = shown(modal.query_one("#map-source-error", Static))
        assert "'USA1' is 4 characters; Active Directory allows at most 3" in error
        preview = shown(modal.query_one("#map-preview", Static))
        person = modal.person
        assert person is not None and '"USA1"' in preview
        # a CEL error shows under the transform, with where it is
        modal.editor.text = "subject.department +"
        await settle(pilot)
        assert "line 1, column" in modal.editor.problem_text
        assert "the error is under the transform" in shown(modal.query_one("#map-preview", Static))
        # the person's value of an attribute, and what their AD account holds
        modal.query_one("#map-kind", Select).value = "attribute"
        modal.query_one("#map-attribute", Select).value = "country"
        await settle(pilot)
        user = services.person(person.id)
        preview = shown(modal.query_one("#map-preview", Static))
        assert user.attributes.get("country", "") in preview and "holds" in preview


async def test_disable_enable_and_delete_say_what_stops(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_push(pilot)
        targeted = services.push_targeting(services.config(), "ad-core")
        await pilot.press("space")
        await settle(pilot)
        confirm = pilot.app.screen
        assert isinstance(confirm, ConfirmModal)
        message = str(confirm.message)
        assert "Syncs stop writing title, department" in message
        assert f"{targeted.with_account:,} accounts in ad" in message
        await pilot.press("escape")  # cancel: nothing changes
        await settle(pilot)
        assert services.config().push_rule("ad-core").enabled is True
        await pilot.press("space")
        await settle(pilot)
        await pilot.press("tab", "enter")  # Cancel has the focus: move to the confirm button
        await settle(pilot)
        assert services.config().push_rule("ad-core").enabled is False
        table = screen.query_one("#push-rules", DataTable)
        assert str(table.get_row("ad-core")[2]) == "off"
        # enabling asks nothing
        await pilot.press("space")
        await settle(pilot)
        assert services.config().push_rule("ad-core").enabled is True
        # delete the disabled pilot rule
        table.move_cursor(row=2)
        await settle(pilot)
        assert screen.selected == "ad-phones-pilot"
        await pilot.press("d")
        await settle(pilot)
        confirm = pilot.app.screen
        assert isinstance(confirm, ConfirmModal)
        assert "disabled already" in str(confirm.message)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert [r.name for r in services.config().push_rules] == ["ad-core", "entra-licensed"]
        assert table.row_count == 2
        last = services.last_change("push_rules.ad-phones-pilot")
        assert last is not None and last.after is None


async def test_a_changed_condition_shows_who_enters(services: Any) -> None:
    entering = enabled_people_outside_ad_core(services)
    assert entering > 0
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        editor.condition.text = "subject.status == UserStatus.ENABLED"
        await settle(pilot)
        text = impact(editor)
        assert f"{entering:,} enter, 0 leave" in text
        assert "Enter: " in text
        # who enters has no AD account to write to: the plan, against the saved rule, says so
        await wait_until(pilot, lambda: "Against the saved rule" in plan(editor), "the plan")
        assert "Nothing to push" in plan(editor)


async def test_a_renamed_rule_is_compared_with_what_it_was(services: Any) -> None:
    """Renaming read as a new rule: "every value appears" beside "nothing to push" (newcomer
    review). The same rule under another name keeps the same values written."""
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        editor.query_one("#pe-name", Input).value = "ad-main"
        await settle(pilot)
        await wait_until(pilot, lambda: "Against the saved rule" in plan(editor), "the plan")
        assert "the same values are kept written" in plan(editor), plan(editor)
        assert "the same people" in impact(editor)


async def test_long_cel_is_shown_whole_in_the_rules_list(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_push(pilot)
        await pilot.press("m")
        await pilot.pause()
        targeting = shown(screen.query_one("#push-targeting", Static))
        assert 'c1.user.v1.HasApp(subject, "hr")' in targeting  # the condition's last line
        mappings = screen.query_one("#push-mappings", DataTable)
        mappings.focus()
        mappings.move_cursor(row=2)
        await pilot.pause()
        detail = screen.query_one("#push-mapping-detail", Static)
        assert shown(detail).count("Example Corp") == 2
        # the region follows the new text at the next layout pass, which a loaded machine delays
        await wait_until(pilot, lambda: detail.region.height >= 3, "the detail to grow")
        assert "Last change" in shown(screen.query_one("#push-last", Static))


async def test_moving_a_mapping_alone_is_saved(services: Any) -> None:
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        table = editor.mappings_table
        table.focus()
        table.move_cursor(row=6)
        await pilot.press("shift+up", "shift+up")
        await settle(pilot)
        assert editor.mappings[4]["target"] == "extensionAttribute3"
        assert "the same values are kept written" in plan(editor)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(pilot.app.screen, PushRulesScreen)
        targets = [m["target"] for m in services.config_get("push_rules.ad-core.mappings")]
        assert targets[4:] == ["extensionAttribute3", "employeeID", "extensionAttribute1"]


async def test_the_editor_shows_hostile_names_and_cel_literally(hostile: Any) -> None:  # noqa: F811
    app = RosterApp(hostile, start="push")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        editor = pilot.app.screen
        assert isinstance(editor, PushRuleEditorScreen)
        check(app, SHOWN[BOLD], f"ad (AD {SHOWN[CLICK]})")
        editor.mappings_table.focus()
        editor.mappings_table.move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(pilot.app.screen, PushMappingModal)
        check(app, '" [/] \\x1b[2J"')
        assert app.is_running


def people_on_leave_in_all_staff(services: Any) -> int:
    """People the saved entra-licensed filter selects only because LEAVE is accepted."""
    with closing(sqlite3.connect(services.db.sqlite_path)) as connection:
        (count,) = connection.execute(
            """
            SELECT count(*) FROM person p
            WHERE p.status != 'DELETED'
              AND upper(json_extract(p.attributes, '$.employment_status')) = 'LEAVE'
              AND EXISTS (SELECT 1 FROM account a JOIN "grant" g ON g.account_id = a.id
                          JOIN entitlement e ON e.id = g.entitlement_id
                          WHERE a.owner_id = p.id AND a.app_id = 'entra'
                            AND a.status != 'DELETED' AND e.external_id = 'grp-all-staff')
            """
        ).fetchone()
    return int(count)


async def test_a_filter_of_entitlements_and_attribute_values(services: Any) -> None:
    leaving = people_on_leave_in_all_staff(services)
    assert leaving > 0
    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_push(pilot)
        screen.query_one("#push-rules", DataTable).move_cursor(row=1)
        await settle(pilot)
        editor = await open_editor(pilot)
        assert editor.kind == "filter"
        selected = editor.query_one("#pe-entitlements", SelectionList).selected
        assert selected == [("entra", "grp-all-staff")]
        assert editor.filter_attributes == {"employment_status": ["ACTIVE", "LEAVE"]}
        table = editor.query_one("#pe-attributes", DataTable)
        table.focus()
        await pilot.press("enter")
        await settle(pilot)
        modal = pilot.app.screen
        assert isinstance(modal, FilterAttributeModal)
        values = modal.query_one("#filter-values", Input)
        assert values.value == "ACTIVE, LEAVE"
        values.value = ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Give the values" in shown(modal.query_one("#filter-error", Static))
        values.value = "ACTIVE"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert editor.filter_attributes == {"employment_status": ["ACTIVE"]}
        assert f"0 enter, {leaving:,} leave" in impact(editor)
        await pilot.press("ctrl+s")
        await settle(pilot)
        saved = services.config_get("push_rules.entra-licensed.targeting")
        # (one accepted value is written as itself, as `config export` writes it)
        assert saved["attributes"] == {"employment_status": "ACTIVE"}
        assert saved["entitlements"] == [{"app": "entra", "entitlement": "grp-all-staff"}]


async def test_a_conflict_then_reload_never_undoes_the_other_change(services: Any) -> None:
    # Someone adds a mapping to ad-core while the admin renames it in the editor: the save is
    # refused; Reload puts the rule as saved now in the form, so saving again keeps the mapping.
    from engine.services import ConfigEdit

    app = RosterApp(services)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        editor.query_one("#pe-name", Input).value = "ad-core-v2"
        await settle(pilot)
        mapping = {"target": "extensionAttribute5", "attribute": "cost_center"}
        services.grant_role("bob", "admin")  # another admin, elsewhere
        services.config_edit(
            ConfigEdit("set", "push_rules.ad-core.mappings.extensionAttribute5", mapping),
            actor="bob",
        )
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)  # refused: who and when, Reload offered
        await pilot.press("enter")  # Reload
        await settle(pilot, 30)
        assert app.screen is editor
        await wait_until(pilot, lambda: len(editor.mappings) == 8, "the saved rule", 10)
        assert editor.query_one("#pe-name", Input).value == "ad-core"
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        saved = services.config_get("push_rules.ad-core")
        assert {"target": "extensionAttribute5", "attribute": "cost_center"} in saved["mappings"]


async def test_a_mapping_into_a_field_a_rule_reads_says_so(services: Any) -> None:
    """The demo's badge ownership rule matches on AD's extensionAttribute2: a mapping into
    it says so before it is kept (newcomer review: 30 badges changed owner unannounced)."""
    app = RosterApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_push(pilot)
        editor = await open_editor(pilot)
        modal = await add_mapping(pilot, editor, "extensionAttribute2", attribute="cost_center")
        await wait_until(
            pilot,
            lambda: "also read by" in shown(modal.query_one("#map-preview", Static)),
            "the readers of the field",
        )
        preview = shown(modal.query_one("#map-preview", Static))
        assert "apps.badge.ownership.rules.badge-number.user" in preview
        assert "pushing into it changes what they find" in preview
        modal.query_one("#map-target", Select).value = "extensionAttribute9"
        await settle(pilot)
        assert "also read by" not in shown(modal.query_one("#map-preview", Static))
