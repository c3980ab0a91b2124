"""Attributes screen (key 4) and its editor over the real demo store: the list with counts and
errors, adding a custom attribute from a CEL source with its values before saving, editing and
reordering sources, the source dialog's fields with counts, flow rules (the AD rule of
department disabled: whose pushes disappear, the validator's warning), deleting (and the
refusal when a push rule maps the attribute), validation errors, hostile text, 80×24.

Expected numbers are counted from the stored records, not from the code under test."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from textual.widgets import DataTable, Input, OptionList, Select, Static

from console.app import RosterApp
from engine.services import ConfigEdit
from screens.attribute_editor import AttributeEditorScreen
from screens.attributes import AttributesScreen
from screens.modals.attribute_errors import AttributeErrorsModal
from screens.modals.attribute_source import SourceModal
from screens.modals.confirm import ConfirmModal
from screens.modals.error import ErrorModal
from screens.modals.flow_rule import FlowRuleModal
from tests.screens.helpers import settle, shown, wait_until

COST_CEL = '"hr" in accounts ? accounts.hr.profile.cost_center.upperAscii() : ""'


def exported(services: Any) -> dict[str, Any]:
    return yaml.safe_load(services.export_config())


def attribute_of(document: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((a for a in document["attributes"] if a["name"] == name), None)


def stored_with_value(services: Any, name: str) -> int:
    """People whose stored attribute (what the last sync computed) is non-empty."""
    users = [u for u in services.population().users if u.status != "DELETED"]
    return sum(1 for u in users if u.attributes.get(name) not in (None, "", []))


def cost_center_people(services: Any) -> int:
    """Live people with an HR account whose cost_center is filled (what COST_CEL yields)."""
    population = services.population()
    count = 0
    for user in population.users:
        if user.status == "DELETED":
            continue
        hr = [a for a in population.accounts_of(user.id) if a.app_id == "hr"]
        if hr and str(hr[0].profile.get("cost_center", "")).strip():
            count += 1
    return count


async def open_screen(pilot: Any) -> AttributesScreen:
    screen = pilot.app.screen
    assert isinstance(screen, AttributesScreen)
    await wait_until(pilot, lambda: screen.impact is not None, "the counts", 30)
    await settle(pilot)
    return screen


async def goto(pilot: Any, screen: AttributesScreen, name: str) -> None:
    target = next(i for i, v in enumerate(screen.views) if v.name == name)
    screen.table.focus()
    await pilot.pause()
    while screen.table.cursor_row != target:
        await pilot.press("down" if screen.table.cursor_row < target else "up")
    await settle(pilot)


async def editor(pilot: Any) -> AttributeEditorScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AttributeEditorScreen)
    await wait_until(pilot, lambda: screen._ready, "the editor", 10)
    await settle(pilot, 30)
    return screen


def preview_of(screen: AttributeEditorScreen) -> str:
    return shown(screen.query_one("#ed-preview", Static))


async def test_the_list_keeps_every_column_in_sight_after_the_terminal_shrinks(
    services: Any,
) -> None:
    # a column kept the width of its widest cell ever: after 120 columns and back to 80,
    # Mode, People and ! were pushed out of sight (newcomer review)
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        for size in ((120, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            await settle(pilot, 20)
        table = screen.table
        assert table.virtual_size.width <= table.size.width
        assert [str(c.label) for c in table.columns.values()][-3:] == ["Mode", "People", "!"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_list_shows_every_standard_and_custom_attribute(
    services: Any, size: tuple[int, int]
) -> None:
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(pilot)
        names = [v.name for v in screen.views]
        assert names[:9] == [
            "manager_email",
            "directory_status",
            "employment_type",
            "employment_status",
            "department",
            "job_title",
            "additional_username",
            "employee_id",
            "additional_email",
        ]
        assert names[9:] == ["cost_center", "phone", "location", "country", "vendor", "badge_site"]
        row = [str(c) for c in screen.table.get_row_at(names.index("department"))]
        assert row[0] == "department" and row[1] == "std · one" and row[3] == "authority"
        assert row[2].startswith("hr:profile.dep")
        assert int(row[4].replace(",", "")) == stored_with_value(services, "department")
        vendor = [str(c) for c in screen.table.get_row_at(names.index("vendor"))]
        assert vendor[1] == "custom · one" and vendor[3] == "fallback"
        assert int(vendor[4]) == stored_with_value(services, "vendor")
        await goto(pilot, screen, "department")
        detail = shown(screen.query_one("#attr-detail", Static))
        assert "1. hr:profile.department" in detail and "2. ad:profile.department" in detail
        assert "ad bidirectional  create 40 · update 45 · delete 30" in detail
        assert "ad-core: department ← department" in detail
        # nothing is cut off sideways: the table never scrolls horizontally
        assert screen.table.max_scroll_x == 0
        # the store's counts are the computed ones on a settled store; while a count is under
        # way they are shown dimmed, and the border says so
        stored = services.stored_value_counts()
        computed = screen.impact.attributes.items()
        assert stored == {name: o.with_value for name, o in computed if o.with_value}
        impact, screen.impact = screen.impact, None
        screen.stored = stored
        screen.fill()
        row = screen.table.get_row_at(names.index("department"))
        assert str(row[4]) == f"{stored['department']:,}" and row[4].style == "dim"
        assert "as the last sync left them; counting…" in str(screen.table.border_subtitle)
        screen.impact = impact


async def test_a_failing_source_is_marked_and_its_errors_listed(services: Any) -> None:
    services.config_edit(
        ConfigEdit(
            "set",
            "attributes.seat",
            {"name": "seat", "custom": True, "sources": [{"cel": "accounts.badge.profile.site"}]},
        )
    )
    population = services.population()
    without_badge = sum(
        1
        for u in population.users
        if u.status != "DELETED"
        and not any(a.app_id == "badge" for a in population.accounts_of(u.id))
    )
    assert without_badge  # the demo has people without a badge
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "seat")
        row = [str(c) for c in screen.table.get_row_at(screen.table.cursor_row)]
        assert row[5] == "!"
        assert f"{without_badge:,} people: a source fails" in shown(
            screen.query_one("#attr-detail", Static)
        )
        await pilot.press("v")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, AttributeErrorsModal)
        table = modal.query_one(DataTable)
        assert table.row_count == min(without_badge, 200)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1].startswith("cel: accounts.badge")
        assert "badge" in shown(modal.query_one("#errors-detail", Static))
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


async def test_add_a_custom_attribute_from_cel_and_see_its_values_before_saving(
    services: Any,
) -> None:
    expected = cost_center_people(services)
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("a")
        ed = await editor(pilot)
        assert ed.focused is ed.query_one("#ed-name", Input)
        await pilot.press(*"cost_center_label")
        await pilot.press("tab", "tab")  # the multi-valued box, then the sources
        assert ed.focused is ed.query_one("#ed-sources", DataTable)
        await pilot.press("a")
        await settle(pilot)
        source = app.screen
        assert isinstance(source, SourceModal)
        kind = source.query_one("#source-kind", Select)
        kind.focus()
        await pilot.press("enter", "down", "enter")  # "A CEL expression"
        await settle(pilot)
        assert source.kind == "cel"
        source.editor.text = COST_CEL
        await settle(pilot)
        value = shown(source.query_one("#source-status", Static))
        assert "(string)" in value  # the value for the first person, with its type
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is ed
        assert ed.sources == [{"cel": COST_CEL}]
        cell = str(ed.query_one("#ed-sources", DataTable).get_row_at(0)[1])
        assert cell.startswith('cel: "hr" in accounts')
        preview = preview_of(ed)
        assert f"Values: {expected:,} people with a value" in preview
        # nothing is saved yet: no "saved" value or definition to compare with
        assert f"If added: {expected:,} people get a value" in preview
        assert "saved" not in preview
        assert '"" → "' in preview  # a new attribute: empty before
        assert attribute_of(exported(services), "cost_center_label") is None  # not saved yet
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is screen
        saved = attribute_of(exported(services), "cost_center_label")
        assert saved == {
            "name": "cost_center_label",
            "custom": True,
            "multi_valued": False,
            "sources": [{"cel": COST_CEL}],
        }
        await wait_until(pilot, lambda: screen.impact is not None, "the counts", 30)
        await settle(pilot)
        assert screen.selected is not None and screen.selected.name == "cost_center_label"
        assert services.last_change("attributes.cost_center_label") is not None
        # back on the list, the arrows move in it at once
        assert app.focused is screen.table, app.focused
        await pilot.press("up")
        await settle(pilot)
        assert screen.selected is not None and screen.selected.name != "cost_center_label"


async def test_reorder_sources_previews_the_changes_then_saves(services: Any) -> None:
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "job_title")
        await pilot.press("e")
        ed = await editor(pilot)
        assert ed.focused is ed.query_one("#ed-sources", DataTable)
        await pilot.press("shift+down")  # hr's title is now tried after the IdP's
        await settle(pilot, 30)
        rows = [
            str(r[1])
            for r in (ed.query_one("#ed-sources", DataTable).get_row_at(i) for i in range(2))
        ]
        assert rows == ["idp:profile.title", "hr:profile.job_title"]
        # people whose IdP title is filled and differs from the HR one change
        population = services.population()
        differ = 0
        for user in population.users:
            if user.status == "DELETED":
                continue
            accounts = population.accounts_of(user.id)
            idp = next((a.profile.get("title", "") for a in accounts if a.app_id == "idp"), "")
            if idp and idp != user.attributes.get("job_title", ""):
                differ += 1
        preview = preview_of(ed)
        gist = str(ed.query_one("#ed-preview-box").border_subtitle)
        if differ:
            assert f"{differ:,} {'person' if differ == 1 else 'people'} change" in preview
            # the gist in the box's border too, seen however short the box is
            assert gist.startswith(f"{differ:,} {'person' if differ == 1 else 'people'} change")
        else:
            assert "no one's value changes" in preview and gist.startswith("no value changes")
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is screen
        sources = attribute_of(exported(services), "job_title")["sources"]  # type: ignore[index]
        assert sources == [
            {"app": "idp", "field": "profile.title"},
            {"app": "hr", "field": "profile.job_title"},
        ]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_preview_lists_what_the_attributes_reading_it_become(
    services: Any, size: tuple[int, int]
) -> None:
    # `title_tag` reads job_title: an edit of job_title changes it too, and the preview said
    # nothing of it (it named the edited attribute alone)
    document = {"name": "title_tag", "custom": True, "sources": [{"cel": 'subject.jobTitle + "!"'}]}
    services.config_edit(ConfigEdit("set", "attributes.title_tag", document))
    services.sync()
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=size) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "job_title")
        await pilot.press("e")
        ed = await editor(pilot)
        await pilot.press("d")  # HR's title removed: the IdP's, or none
        await settle(pilot, 30)
        await wait_until(pilot, lambda: "Attributes that read it" in preview_of(ed), "readers", 30)
        preview = preview_of(ed)
        population = services.population()
        differ = 0
        for user in population.users:
            if user.status == "DELETED":
                continue
            accounts = population.accounts_of(user.id)
            idp = next((a.profile.get("title", "") for a in accounts if a.app_id == "idp"), "")
            differ += idp != user.attributes.get("job_title", "")
        assert differ > 0
        who = "person changes" if differ == 1 else "people change"
        assert f"title_tag: {differ:,} {who}" in preview
        gist = str(ed.query_one("#ed-preview-box").border_subtitle)
        assert "1 attribute reading it changes" in gist


async def test_the_source_dialog_lists_the_apps_fields_with_counts(services: Any) -> None:
    hr = [a for a in services.population().accounts if a.app_id == "hr"]
    with_department = sum(1 for a in hr if str(a.profile.get("department", "")).strip())
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "department")
        await pilot.press("e")
        ed = await editor(pilot)
        await pilot.press("enter")  # the first source
        await settle(pilot)
        source = app.screen
        assert isinstance(source, SourceModal)
        assert source.chosen_field() == "profile.department"
        status = shown(source.query_one("#source-status", Static))
        assert f"{len(hr):,} accounts in hr" in status
        assert f"hr:profile.department: {with_department:,} with a value" in status
        options = source.query_one("#source-fields", OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(p.startswith("profile.department") and "e.g. " in p for p in prompts)
        # another field: the edit is held by the editor until it is saved
        await pilot.press("up")
        chosen = source.chosen_field()
        await pilot.press("enter")
        await settle(pilot, 30)
        assert app.screen is ed
        assert ed.sources[0] == {"app": "hr", "field": chosen}
        assert ed.unsaved
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("shift+tab", "enter")  # Discard
        await settle(pilot)
        assert app.screen is screen
        assert attribute_of(exported(services), "department")["sources"][0] == {  # type: ignore[index]
            "app": "hr",
            "field": "profile.department",
        }


async def test_disabling_the_ad_flow_rule_of_department_shows_whose_pushes_disappear(
    services: Any,
) -> None:
    # ad-core targets enabled people with an HR and an AD account and writes department to
    # each of their AD accounts: those are the pushes that disappear
    population = services.population()
    pushed = 0
    for user in population.users:
        accounts = population.accounts_of(user.id)
        apps = {a.app_id for a in accounts}
        if user.status == "ENABLED" and {"ad", "hr"} <= apps:
            pushed += sum(1 for a in accounts if a.app_id == "ad")
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "department")
        await pilot.press("f")
        ed = await editor(pilot)
        flow = ed.query_one("#ed-flow", DataTable)
        assert ed.focused is flow
        assert [str(c) for c in flow.get_row_at(1)] == ["ad", "bidirectional", "40", "45", "30"]
        await pilot.press("down", "enter")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, FlowRuleModal)
        await pilot.press("enter", "down", "enter")  # bidirectional → disabled
        await settle(pilot)
        assert modal.direction == "disabled"
        # a score out of range is refused under the fields
        create = modal.query_one("#flow-create", Input)
        create.value = "150"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is modal
        assert "150 is not a score" in shown(modal.query_one("#flow-error", Static))
        create.value = "40"
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is ed
        assert [str(c) for c in flow.get_row_at(1)] == ["ad", "disabled", "40", "45", "30"]
        preview = preview_of(ed)
        assert pushed and f"ad-core (ad): {pushed:,} pushes disappear" in preview
        assert "no longer pushed" in preview
        assert "flow rule for `ad` is disabled" in preview  # the validator's warning
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is screen
        rules = attribute_of(exported(services), "department")["flow_rules"]  # type: ignore[index]
        assert {"app": "ad", "direction": "disabled", "create": 40, "update": 45, "delete": 30} in (
            rules
        )


async def test_space_cycles_a_flow_rules_direction_and_rules_can_be_added_and_removed(
    services: Any,
) -> None:
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "country")
        await pilot.press("f")
        ed = await editor(pilot)
        assert "fallback" in shown(ed.query_one("#ed-mode", Static))
        await pilot.press("a")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, FlowRuleModal)
        await pilot.press("ctrl+s")  # the first app without a rule, inbound, scores 50
        await settle(pilot, 30)
        assert ed.flow_rules == [
            {"app": "hr", "direction": "inbound", "create": 50, "update": 50, "delete": 50}
        ]
        assert "authority" in shown(ed.query_one("#ed-mode", Static))
        await pilot.press("space")
        await settle(pilot, 30)
        assert ed.flow_rules[0]["direction"] == "outbound"
        # hr is outbound yet a source: the validator warns
        assert "its flow rule is outbound" in preview_of(ed)
        await pilot.press("d")
        await settle(pilot, 30)
        assert ed.flow_rules == [] and not ed.unsaved
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


async def test_validation_errors_are_shown_under_the_name(services: Any) -> None:
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_screen(pilot)
        await pilot.press("a")
        ed = await editor(pilot)
        error = ed.query_one("#ed-name-error", Static)
        for name, words in (
            ("1bad", "cannot be used in CEL"),
            ("department", "is a standard attribute"),
            ("Phone", "exists already"),
        ):
            ed.query_one("#ed-name", Input).value = name
            await settle(pilot, 30)
            assert words in shown(error), (name, shown(error))
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.screen is ed and words in shown(error)
        assert attribute_of(exported(services), "1bad") is None
        # a source the validator refuses is named under the sources
        ed.query_one("#ed-name", Input).value = "ok_name"
        ed.sources.append({"cel": "subject.nope +"})
        ed.fill_sources()
        ed.changed()
        await settle(pilot, 30)
        assert "sources" in shown(ed.query_one("#ed-sources-error", Static))
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is ed
        assert attribute_of(exported(services), "ok_name") is None


async def test_delete_an_attribute_and_the_refusal_when_a_push_rule_maps_it(
    services: Any,
) -> None:
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "location")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("shift+tab", "enter")  # Remove (Cancel is focused first)
        await settle(pilot, 30)
        assert attribute_of(exported(services), "location") is None
        assert "location" not in [v.name for v in screen.views]

        await goto(pilot, screen, "department")
        await pilot.press("d")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        assert "ad-core: department ← department" in str(confirm.message)
        await pilot.press("shift+tab", "enter")
        await settle(pilot, 30)
        refusal = app.screen
        assert isinstance(refusal, ErrorModal)
        assert "department" in refusal.message and "push_rules" in refusal.message
        assert attribute_of(exported(services), "department") is not None
        await pilot.press("escape")
        await settle(pilot)


async def test_removing_an_attribute_names_the_attributes_that_read_it(services: Any) -> None:
    for name, cel in (
        ("base", '"X"'),
        ("rd", 'subject.attributes.base + "!"'),
        ("rd2", 'subject.attributes.rd + "?"'),
    ):
        document = {"name": name, "custom": True, "sources": [{"cel": cel}]}
        services.config_edit(ConfigEdit("set", f"attributes.{name}", document))
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "base")
        await pilot.press("d")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmModal)
        text = str(confirm.message)
        assert "Attributes read it (from the next sync they read it cleared):" in text
        assert "  rd\n" in text and "  rd2 (through rd)" in text
        await pilot.press("escape")
        await settle(pilot)
        assert attribute_of(exported(services), "base") is not None


async def test_a_standard_attribute_not_mapped_yet_can_be_mapped(services: Any) -> None:
    services.config_edit(ConfigEdit("delete", "attributes.employment_type"))
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await goto(pilot, screen, "employment_type")
        row = [str(c) for c in screen.table.get_row_at(screen.table.cursor_row)]
        assert row[2].startswith("(not mapped")
        await pilot.press("enter")
        ed = await editor(pilot)
        assert ed.kind == "standard" and ed.name_value == "employment_type"
        ed.sources.append({"app": "hr", "field": "profile.employment_type"})
        ed.fill_sources()
        ed.changed()
        await settle(pilot, 30)
        assert "people with a value" in preview_of(ed)
        await pilot.press("ctrl+s")
        await settle(pilot, 30)
        assert app.screen is screen
        assert attribute_of(exported(services), "employment_type") == {
            "name": "employment_type",
            "sources": [{"app": "hr", "field": "profile.employment_type"}],
        }


async def test_hostile_values_show_literally(tmp_path: Any) -> None:
    from tests.hostile import RAW_CONTROL, SHOWN, open_hostile_org
    from tests.screens.test_hostile_text import check

    services = open_hostile_org(tmp_path)
    try:
        app = RosterApp(services, start="attributes")
        async with app.run_test(size=(160, 50)) as pilot:
            screen = await open_screen(pilot)
            await goto(pilot, screen, "department")
            text = check(app, "department")
            assert not RAW_CONTROL.search(text)
            await pilot.press("e")
            ed = await editor(pilot)
            preview = preview_of(ed)
            assert not RAW_CONTROL.search(preview)
            check(app)
            assert any(SHOWN[v] in preview for v in SHOWN), preview
            await pilot.press("escape")
            await settle(pilot)
            await goto(pilot, screen, "badge")
            check(app, "badge")
    finally:
        services.db.dispose()


async def test_a_save_that_lands_while_another_screen_is_shown_closes_the_editor_later(
    services: Any,
) -> None:
    # The admin saves and switches to another screen (a number key) before the save lands:
    # the editor must not pop the screen now shown (that crashed the console); it closes when
    # the admin comes back.
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_screen(pilot)
        await pilot.press("a")
        ed = await editor(pilot)
        await app.switch_mode("push")
        await settle(pilot)
        shown_now = app.screen
        ed.close("cost_center_label")  # what the save's message does when it lands
        await settle(pilot)
        assert app.screen is shown_now  # nothing popped under the admin's eyes
        await app.switch_mode("attributes")
        await settle(pilot)
        assert app.screen is screen  # the editor closed on the way back


async def test_esc_in_the_source_dialog_asks_before_losing_a_typed_expression(
    services: Any,
) -> None:
    app = RosterApp(services, start="attributes")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot)
        await pilot.press("a")
        ed = await editor(pilot)
        await pilot.press(*"x_label", "tab", "tab", "a")
        await settle(pilot)
        source = app.screen
        assert isinstance(source, SourceModal)
        source.query_one("#source-kind", Select).focus()
        await pilot.press("enter", "down", "enter")  # "A CEL expression"
        await settle(pilot)
        source.editor.text = 'subject.department + "!"'
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)  # asked, not thrown away
        await pilot.press("enter")  # Cancel has the focus: back to the expression
        await settle(pilot)
        assert app.screen is source and source.editor.text == 'subject.department + "!"'
        source.editor.text = ""
        await settle(pilot)
        await pilot.press("escape")  # nothing typed: closes at once
        await settle(pilot)
        assert app.screen is ed
