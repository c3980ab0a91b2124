"""Provisioning: the apps that can create accounts; for the highlighted app its account-creation
fields in the schema's order with their mapping (CEL or default), type and required mark, and the
highlighted field's description, placeholder, default and last change; a chosen person; a Test of
the highlighted field against that person (value and type, or the error); the plan of every field
for that person; and Create, after a confirmation saying what will be created.

Mappings are edited here: enter (or e) opens the field's editor (screens/provision_field.py), d
clears a mapping and p turns the app's proactive provisioning on or off, each after a
confirmation and saved through the audited configuration edit.

Creating never skips a check: the engine evaluates every field again and refuses (nothing is
created) when any field fails or the person already has an account in the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, get_current_worker

from engine.records import link_label
from engine.services import ConfigEdit, ProvisionRefused
from engine.text import show_value
from screens.base import RosterScreen
from screens.modals.confirm import ConfirmModal
from screens.modals.record_picker import RecordPicker
from screens.provision_field import ProvisionFieldScreen, field_path
from screens.provision_text import (
    clear_message,
    field_about,
    field_outcome,
    is_unset,
    mapping_text,
    result_text,
)
from screens.rule_text import object_path
from screens.saving import EditRefused, EditSaved, offer_reload, save_edit
from screens.text import literal, one_line, plain, safe
from screens.widgets.audit_line import LastChangeLoaded, change_line, load_last_change
from screens.widgets.fit import Fit, natural_width
from screens.widgets.plan_tree import plural

if TYPE_CHECKING:
    from engine.services import (
        AuditEntry,
        FieldResult,
        ProvisioningApp,
        ProvisionPlan,
        RecordRef,
        Services,
    )

MAPPING_WIDTH = 40
VALUE_WIDTH = 24
#: On a narrow terminal the fields table keeps the plan (or, before a person is chosen, the
#: mapping) in view: a field's name is cut to FIELD_NARROW (the detail under the table has it
#: whole), the type goes last, the plan column takes the rest (at least PLAN_NARROW) and is
#: headed "Plan", a value there drops its (type) before it is cut.
FIELD_NARROW = 20
PLAN_NARROW = 12
#: What the plan column keeps of its width, on a wide table, when the mapping needs room
PLAN_SHARE = 32
MAPPING_NARROW = 16
PLAN_LABEL = "Plan for the person"
FIELD_KEYS = ("key", "type", "plan", "mapping")
CONFIRM_FIELDS = 10


class ProvisioningScreen(RosterScreen):
    """Per app: creation fields and mappings; test a field; plan and create one account."""

    TITLE_TEXT = "Provisioning"
    CSS_PATH = Path(__file__).with_name("provisioning.tcss")
    AUTO_FOCUS = "#prov-apps"

    NEEDS: ClassVar[dict[str, str]] = {
        "edit": "admin",
        "create": "admin",
        "clear": "admin",
        "proactive": "admin",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "o",
            "choose_person",
            "Person",
            tooltip="Choose the person to test and plan for",
        ),
        Binding(
            "t",
            "test",
            "Test",
            tooltip="Test the highlighted field for the person: value, type",
        ),
        Binding(
            "e",
            "edit",
            "Edit",
            tooltip="Edit the highlighted field's mapping: test it, check it on everyone, save",
        ),
        Binding(
            "c",
            "create",
            "Create",
            tooltip="Create the person's account in this app (asks first)",
        ),
        # r and a stay out of the footer (in help and the palette) so the global keys fit at 80
        # columns; the screen reloads by itself when a run ends.
        Binding(
            "r",
            "refresh",
            "Refresh",
            show=False,
            tooltip="Read the apps again and plan the person again",
        ),
        Binding(
            "a",
            "queue",
            "Queue",
            show=False,
            tooltip="Accounts the next sync creates for approved access requests",
        ),
        Binding(
            "d",
            "clear",
            "Clear",
            show=False,
            tooltip="Clear the highlighted field's mapping (the default applies; asks first)",
        ),
        Binding(
            "p",
            "proactive",
            "Proactive",
            show=False,
            tooltip="Turn proactive provisioning (accounts for approved requests) on or off",
        ),
    ]

    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("enter", "On a field: edit its mapping (same as e)"),
        ("t c", "Test and create work once a person is chosen (o)"),
        ("tab", "Move between the apps and the fields"),
        ("", "The plan column shows every field for the chosen person: value (type) or ✗ why."),
        ("", "An app marked auto creates accounts for approved access requests at each sync."),
    ]

    class AppsLoaded(Message):
        def __init__(self, apps: list[ProvisioningApp], version: str) -> None:
            super().__init__()
            self.apps = apps
            self.version = version

    class PlanLoaded(Message):
        def __init__(self, app_id: str, person: int, plan: ProvisionPlan) -> None:
            super().__init__()
            self.app_id = app_id
            self.person = person
            self.plan = plan

    class Tested(Message):
        def __init__(self, app_id: str, person: int, result: FieldResult) -> None:
            super().__init__()
            self.app_id = app_id
            self.person = person
            self.result = result

    class Created(Message):
        def __init__(self, app_id: str, person: int, result: Any) -> None:
            super().__init__()
            self.app_id = app_id
            self.person = person
            self.result = result

    class ProactiveCounted(Message):
        def __init__(self, app_id: str, queue: Any) -> None:
            super().__init__()
            self.app_id = app_id
            self.queue = queue

    class Refused(Message):
        def __init__(self, app_id: str, person: int, message: str) -> None:
            super().__init__()
            self.app_id = app_id
            self.person = person
            self.message = message

    def __init__(self, services: Services, **kwargs: Any) -> None:
        super().__init__(services, **kwargs)
        self.apps: list[ProvisioningApp] = []
        self.app_id: str | None = None
        self.person: RecordRef | None = None
        self.plan: ProvisionPlan | None = None
        self.creating = False
        self.outcome: Text | None = None  # what the last create did, shown above the plan
        self.created = False  # the outcome is a created account
        self.version: str | None = None  # the configuration version the apps were read at
        self.test_result: FieldResult | None = None  # the last Test of the highlighted field
        self.last: tuple[str, AuditEntry | None] | None = None  # a field path's last change
        self._layout: tuple[tuple[str, str, int], ...] | None = None  # the fields' columns

    # Layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="prov-body"):
            with Vertical(id="prov-left"):
                apps = OptionList(id="prov-apps")
                apps.border_title = "Apps"
                yield apps
                yield Static("", id="prov-person")
                yield Static("", id="prov-plan")
            with Vertical(id="prov-right"):
                fields: DataTable[Any] = DataTable(id="prov-fields", cursor_type="row")
                for label, key in zip(
                    ("Field", "Type", PLAN_LABEL, "Mapping"), FIELD_KEYS, strict=True
                ):
                    fields.add_column(label, key=key)
                fields.border_title = (
                    "Creation fields — enter edit · t test · d clear"
                    if self.permits("edit")
                    else "Creation fields — t test"
                )
                yield fields
                yield Static("", id="prov-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.load_apps()
        self.show_person()

    # Apps ---------------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="prov-apps",
        exit_on_error=False,
        name="Reading the provisioning apps",
    )
    def load_apps(self, fresh: bool = False) -> None:
        if fresh:
            self.services.invalidate()
        version = self.services.config_version()
        apps = self.services.provisioning_apps()
        if not get_current_worker().is_cancelled:
            self.post_message(self.AppsLoaded(apps, version))

    def on_provisioning_screen_apps_loaded(self, message: ProvisioningScreen.AppsLoaded) -> None:
        self.apps = message.apps
        self.version = message.version
        options = self.query_one("#prov-apps", OptionList)
        # the app highlighted now: a key may have moved the highlight before its event reached
        # this screen (then `app_id` is still the previous one), and a reload keeps it
        at = options.highlighted
        shown = options.get_option_at_index(at).id if at is not None else None
        options.clear_options()
        for app in self.apps:
            label = plain(app.id, style="bold", limit=60)
            config = app.provisioning
            if config is None:
                label.append(" no config", style="yellow")
            elif config.proactive:
                label.append(" auto", style="green")
            options.add_option(Option(label, id=app.id))
        options.border_subtitle = plural(len(self.apps), "app")
        if not self.apps:
            self.app_id = None
            self.query_one("#prov-detail", Static).update(
                "No app can create accounts: give an app's connector a creation schema "
                "(a flavour, or creation_schema: in its settings) and import the configuration."
            )
            return
        ids = [a.id for a in self.apps]
        keep = shown if shown in ids else self.app_id
        index = ids.index(keep) if keep in ids else 0
        options.highlighted = index
        self.select_app(ids[index], force=True)

    def current_app(self) -> ProvisioningApp | None:
        return next((a for a in self.apps if a.id == self.app_id), None)

    @on(OptionList.OptionHighlighted, "#prov-apps")
    def _app_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        # a reload refills the list: the highlight events of the refill arrive after the
        # app to keep was chosen, and must not switch back to the first app
        options = event.option_list
        current = options.highlighted
        if current is None or options.get_option_at_index(current).id != event.option.id:
            return
        if event.option.id is not None:
            self.select_app(event.option.id)

    @on(OptionList.OptionSelected, "#prov-apps")
    def _app_selected(self) -> None:
        self.query_one("#prov-fields", DataTable).focus()

    def select_app(self, app_id: str, force: bool = False) -> None:
        if app_id == self.app_id and not force:
            return
        self.app_id = app_id
        self.plan = None
        self.test_result = None
        self.outcome = None
        self.created = False
        self.show_fields()
        self.show_plan_summary()
        self.plan_person()
        self.refresh_bindings()

    def expressions(self) -> dict[str, str]:
        app = self.current_app()
        return dict(app.provisioning.fields) if app and app.provisioning else {}

    def field_columns(
        self, rows: list[tuple[str, Fit, Text, Fit, Fit]]
    ) -> tuple[tuple[str, str, int], ...]:
        """(label, key, width) of each column in the order shown (every width set, so the
        table never shows rows at its labels' widths before it has measured them). On a
        narrow table the type goes last (the detail under the table has it): before a person
        is chosen the mapping follows the field (the plan column only says "—"); once one
        is, the plan does, cut to stay in view, then the mapping."""
        table = self.query_one("#prov-fields", DataTable)
        field, kind, plan, mapping = (
            natural_width(label, [row[index + 1] for row in rows])
            for index, label in enumerate(("Field", "Type", PLAN_LABEL, "Mapping"))
        )
        wide = (
            ("Field", "key", field),
            ("Type", "type", kind),
            (PLAN_LABEL, "plan", plan),
            ("Mapping", "mapping", mapping),
        )
        if not table.size.width:
            return wide
        inner = table.size.width - table.styles.scrollbar_size_vertical
        padding = 2 * table.cell_padding
        room = inner - field - kind - plan - 4 * padding  # the mapping's
        if mapping > room and plan > PLAN_SHARE:
            # a refused field's reason gives way to the mapping down to PLAN_SHARE: both
            # read in part rather than one whole and the other cut to nothing
            given = min(mapping - room, plan - PLAN_SHARE)
            plan, room = plan - given, room + given
            wide = (*wide[:2], (PLAN_LABEL, "plan", plan), wide[3])
        if min(mapping, MAPPING_NARROW) <= room:
            # cut (with an ellipsis) to end in view
            return (*wide[:3], ("Mapping", "mapping", min(mapping, room)))
        field = min(field, FIELD_NARROW)
        if self.plan is None:
            rest = max(inner - field - 2 * padding, PLAN_NARROW)
            return (
                ("Field", "key", field),
                ("Mapping", "mapping", min(mapping, rest)),
                ("Type", "type", kind),
                ("Plan", "plan", plan),
            )
        plan = min(plan, max(inner - field - 2 * padding, PLAN_NARROW))
        rest = max(inner - field - plan - 3 * padding, PLAN_NARROW)
        return (
            ("Field", "key", field),
            ("Plan", "plan", plan),
            ("Mapping", "mapping", min(mapping, rest)),
            ("Type", "type", kind),
        )

    def show_fields(self, *, refit: bool = False) -> None:
        app = self.current_app()
        expressions = self.expressions()
        plan = {f.key: f for f in self.plan.fields} if self.plan is not None else {}
        table = self.query_one("#prov-fields", DataTable)
        rows: list[tuple[str, Fit, Text, Fit, Fit]] = []
        for field in app.creation_schema if app else []:
            key = field["key"]
            result = plan.get(key)
            label = plain(key, limit=60)
            if field.get("required"):
                label.append(" *", style="bold yellow")
            if result is not None:
                outcome = Fit(
                    field_outcome(result, VALUE_WIDTH),
                    field_outcome(result, VALUE_WIDTH, typed=False),
                )
            else:
                outcome = Fit(Text("—", style="dim"))
            rows.append(
                (
                    key,
                    Fit(label),
                    plain(field.get("type", "string"), limit=20),
                    outcome,
                    Fit(mapping_text(field, expressions.get(key), MAPPING_WIDTH)),
                )
            )
        columns = self.field_columns(rows)
        if refit and columns == self._layout:
            return
        self._layout = columns
        order = [FIELD_KEYS.index(key) for _, key, _ in columns]
        row = table.cursor_row
        with self.app.batch_update():
            table.clear(columns=True)
            for heading, key, width in columns:
                table.add_column(heading, key=key, width=width)
            for key, *cells in rows:
                table.add_row(*(cells[index] for index in order), key=key)
            if 0 <= row < table.row_count:
                table.move_cursor(row=row)
        if refit:
            return
        name = (app.name or app.id) if app else ""
        table.border_subtitle = Text(f"{safe(name, 60)} · * required") if name else ""
        self.show_field_detail()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_fields, refit=True)  # once the table has its width

    def selected_field(self) -> dict[str, Any] | None:
        app = self.current_app()
        schema = app.creation_schema if app else []
        row = self.query_one("#prov-fields", DataTable).cursor_row
        return schema[row] if 0 <= row < len(schema) else None

    @on(DataTable.RowHighlighted, "#prov-fields")
    def _field_highlighted(self) -> None:
        self.test_result = None
        self.show_field_detail()

    @on(DataTable.RowSelected, "#prov-fields")
    def _field_chosen(self) -> None:
        self.action_edit()

    def show_field_detail(self, result: FieldResult | None = None) -> None:
        """The highlighted field in full: what the schema says of it (type, required,
        description, placeholder, default), its mapping, a test or plan outcome, and the last
        change of its mapping."""
        field = self.selected_field()
        detail = self.query_one("#prov-detail", Static)
        if field is None or self.app_id is None:
            detail.update("")
            return
        key = field["key"]
        expression = self.expressions().get(key)
        text = field_about(field)
        text.append("\n")
        if expression:
            text.append("CEL: ", style="dim")
            text.append_text(one_line(expression, style="magenta"))
        elif not is_unset(field.get("default")):
            text.append("Not mapped: takes its default ")
            text.append_text(literal(field["default"], 80, "cyan"))
        else:
            text.append("Not mapped and no default: left empty.", style="dim")
        if result is not None:
            self.test_result = result
        elif self.test_result is not None and self.test_result.key == key:
            result = self.test_result  # a test shown stays until the person or field changes
        shown = result
        if shown is None and self.plan is not None:
            shown = next((f for f in self.plan.fields if f.key == key), None)
        # the last change before the test: at 80×24 the detail's last lines may be cut, and
        # the plan's value is in the table too
        path = field_path(self.app_id, key)
        if self.last is not None and self.last[0] == path:
            text.append("\n")
            text.append_text(change_line(self.last[1]))
        else:
            self.load_last_change(path)
        if shown is not None and self.person is not None:
            text.append("\n")
            verb = "Test" if result is not None else "Plan"
            text.append_text(result_text(shown, self.person_name(), verb=verb))
        detail.update(text)

    def load_last_change(self, path: str) -> None:
        load_last_change(self, self.services, path)

    def on_last_change_loaded(self, message: LastChangeLoaded) -> None:
        self.last = (message.key, message.entry)
        field = self.selected_field()
        if field is not None and self.app_id is not None:
            if field_path(self.app_id, field["key"]) == message.key:
                self.show_field_detail()

    # Person -------------------------------------------------------------------------------

    def person_name(self) -> str:
        return self.person.label if self.person is not None else ""

    def show_person(self) -> None:
        view = self.query_one("#prov-person", Static)
        if self.person is None:
            # two lines: the left column is 18 characters wide at 80 columns
            view.update(Text("No person chosen:\no chooses one.", style="yellow"))
            return
        text = Text()
        name, _, email = self.person.label.partition(" <")
        text.append(safe(name), style="bold")
        if email:
            text.append("\n" + safe(email.rstrip(">")), style="dim")
        view.update(text)

    def action_choose_person(self) -> None:
        def chosen(ref: RecordRef | None) -> None:
            if ref is not None:
                self.person = ref
                self.plan = None
                self.test_result = None
                self.outcome = None
                self.created = False
                self.show_person()
                self.show_fields()
                self.plan_person()
                self.refresh_bindings()

        self.app.push_screen(RecordPicker(self.services, "user"), chosen)

    # Plan ---------------------------------------------------------------------------------

    def plan_person(self) -> None:
        app = self.current_app()
        if self.person is None or app is None:
            self.show_plan_summary()
            return
        if app.provisioning is None:
            self.show_plan_summary()
            return
        self.plan = None
        self.show_plan_summary()
        self.load_plan(app.id, self.person.id)

    @work(
        thread=True,
        exclusive=True,
        group="prov-plan",
        exit_on_error=False,
        name="Planning the account",
    )
    def load_plan(self, app_id: str, person: int) -> None:
        plan = self.services.provision_plan(app_id, person)
        if not get_current_worker().is_cancelled:
            self.post_message(self.PlanLoaded(app_id, person, plan))

    def on_provisioning_screen_plan_loaded(self, message: ProvisioningScreen.PlanLoaded) -> None:
        if message.app_id != self.app_id or self.person is None or message.person != self.person.id:
            return
        self.plan = message.plan
        self.show_fields()
        self.show_plan_summary()
        self.refresh_bindings()

    def show_plan_summary(self) -> None:
        view = self.query_one("#prov-plan", Static)
        app = self.current_app()
        if app is None:
            view.update("")
            return
        if app.provisioning is None:
            view.update(
                Text(
                    f"{safe(app.id)} has no provisioning config: add provisioning: fields: "
                    "to it in the configuration and import it.",
                    style="yellow",
                )
            )
            return
        if self.person is None:
            # the person's box above says how to choose one: the same words twice read as two
            # steps (a walk at 80×24)
            view.update(Text("The plan for their account shows here.", style="dim"))
            return
        plan = self.plan
        text = Text()
        if self.outcome is not None:
            text.append_text(self.outcome)
            if self.created:
                view.update(text)  # the plan now only says they have an account
                return
            text.append("\n")
        if plan is None:
            text.append("Planning…", style="dim")
            view.update(text)
            return
        if plan.ok:
            text.append("Ready to create", style="bold green")
            then = " c creates it." if self.permits("create") else ""
            text.append(f"\nevery field ok ({len(plan.fields)}).{then}", style="dim")
        else:
            text.append("Cannot create", style="bold red")
            text.append(": nothing would be created.\n")
            # reasons about no one field whole; the fields' by name only: the plan column and
            # the field's detail give their reasons (the same sentences here, in this narrow
            # panel, folded into a column of words at 80×24)
            for reason in plan.problems:
                text.append(f"✗ {safe(reason)}\n", style="red")
            refused = [f.key for f in plan.fields if not f.ok]
            if refused:
                # one name a line, unprefixed: "✗ userPrincipalName" folds at 80×24
                text.append(f"✗ refused field{'s' if len(refused) != 1 else ''}:\n", style="red")
                for key in refused:
                    text.append(f"{safe(key, 40)}\n", style="red")
                text.append("The plan column says why.", style="dim")
            text.rstrip()
        view.update(text)

    # Test ---------------------------------------------------------------------------------

    def action_test(self) -> None:
        field = self.selected_field()
        if field is None or self.person is None or self.app_id is None:
            if self.person is None:
                self.notify("Choose a person first (o).", severity="warning")
            return
        self.test_field(self.app_id, field["key"], self.person.id)

    @work(
        thread=True,
        exclusive=True,
        group="prov-test",
        exit_on_error=False,
        name="Testing the field",
    )
    def test_field(self, app_id: str, key: str, person: int) -> None:
        result = self.services.provision_test(app_id, key, person)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Tested(app_id, person, result))

    def on_provisioning_screen_tested(self, message: ProvisioningScreen.Tested) -> None:
        field = self.selected_field()
        if message.app_id != self.app_id or field is None or field["key"] != message.result.key:
            return
        self.show_field_detail(message.result)

    # Edit, clear, proactive ---------------------------------------------------------------

    def action_edit(self) -> None:
        field = self.selected_field()
        app = self.current_app()
        if field is None or app is None:
            return

        editor = ProvisionFieldScreen(
            self.services, app.id, field, app_name=app.name, person=self.person
        )

        def closed(saved: bool | None) -> None:
            if editor.person is not None and editor.person != self.person:
                self.person = editor.person  # the person tested on in the editor: plan for them
                self.test_result = None
                self.show_person()
                if not saved:
                    self.plan_person()
            if saved:
                self.last = None
                self.action_refresh()
            self.query_one("#prov-fields", DataTable).focus()

        self.app.push_screen(editor, closed)

    def action_clear(self) -> None:
        field = self.selected_field()
        app = self.current_app()
        if field is None or app is None:
            return
        key = field["key"]
        expression = self.expressions().get(key)
        if expression is None:
            self.notify(f"{app.id}.{key} is not mapped; nothing to clear.", markup=False)
            return
        message = clear_message(app.id, field, expression)
        edit = ConfigEdit("delete", field_path(app.id, key))

        def answered(yes: bool | None) -> None:
            if yes:
                save_edit(self, self.services, edit, self.version, tag="clear")

        self.app.push_screen(
            ConfirmModal("Clear the mapping", message, "Clear", destructive=True), answered
        )

    def action_proactive(self) -> None:
        app = self.current_app()
        if app is None:
            return
        if app.provisioning is not None and app.provisioning.proactive:
            self.ask_proactive(app, None)
        elif app.provisioning is None:
            self.notify(
                f"{app.id} has no mappings yet: map its required fields first (enter).",
                markup=False,
            )
        else:  # what turning it on creates, counted first: the dialog says it
            self.notify(f"Counting what {app.id} would create…", markup=False, timeout=2)
            self.count_proactive(app.id)

    @work(
        thread=True,
        exclusive=True,
        group="prov-proactive",
        exit_on_error=False,
        name="Counting the accounts it would create",
    )
    def count_proactive(self, app_id: str) -> None:
        queue = self.services.provision_queue(as_if_proactive=app_id)
        if not get_current_worker().is_cancelled:
            self.post_message(self.ProactiveCounted(app_id, queue))

    def on_provisioning_screen_proactive_counted(
        self, message: ProvisioningScreen.ProactiveCounted
    ) -> None:
        app = self.current_app()
        if app is not None and app.id == message.app_id:
            self.ask_proactive(app, message.queue)

    def ask_proactive(self, app: ProvisioningApp, queue: Any) -> None:
        """Confirm turning APP's proactive provisioning off, or on (QUEUE: what it would
        create at the next sync, and what it could not; None when it is on)."""
        on_now = app.provisioning is not None and app.provisioning.proactive
        name = safe(f"{app.name} ({app.id})" if app.name != app.id else app.id, 80)
        message = Text()
        if on_now:
            message.append("Turn off proactive provisioning for ")
            message.append(name, style="bold")
            message.append(
                "?\n\nFrom the next sync, approved access requests no longer create accounts "
                f"in {safe(app.id)}; they wait until it is turned on again, or until an admin "
                "creates the account here (c). Accounts already created stay."
            )
        elif queue is not None:
            message.append("Turn on proactive provisioning for ")
            message.append(name, style="bold")
            message.append(
                "?\n\nAt the next sync, every approved access request for an entitlement of "
                f"{safe(app.id)} whose person has no account there yet creates one, from these "
                "mappings, and links it at once.\n\n"
            )
            mine = [item for item in queue.ready if item.app == app.id]
            count = len(mine)
            message.append(
                f"As the store is now, that is {count:,} account{'s' if count != 1 else ''}",
                style="bold yellow" if count else "bold",
            )
            if mine:
                who = ", ".join(item.user for item in mine[:3])
                more = f" and {count - 3:,} more" if count > 3 else ""
                message.append(f": {safe(who, 160)}{more}")
            message.append(".")
            problems = [p for p in queue.problems if p.startswith(f"{app.id} ")]
            if problems:
                message.append(f"\n{len(problems):,} cannot be created: ", style="yellow")
                message.append(safe(problems[0], 200), style="dim")
            message.append(" The queue (a) lists them once it is on.", style="dim")
        edit = ConfigEdit(
            "set", object_path("apps", app.id, "provisioning", "proactive"), value=not on_now
        )

        def answered(yes: bool | None) -> None:
            if yes:
                save_edit(self, self.services, edit, self.version, tag="proactive")

        verb = "Turn off" if on_now else "Turn on"
        # it changes what every sync does (it creates accounts): enter alone never does
        modal = ConfirmModal(f"{verb} proactive provisioning", message, verb, start_on_cancel=True)
        self.app.push_screen(modal, answered)

    def on_edit_saved(self, message: EditSaved) -> None:
        result = message.result
        self.version = result.version
        self.last = None
        who = f" by {message.last.actor}" if message.last is not None else ""
        what = {
            "clear": f"Cleared {result.path}{who}: new accounts take the field's default.",
            "proactive": f"Saved {result.path} = {str(result.after).lower()}{who}. "
            + (
                "The next sync creates accounts for approved access requests."
                if result.after
                else "The next sync creates no accounts for access requests."
            ),
        }.get(message.tag, f"Saved {result.path}{who}.")
        self.notify(what, title="Saved", markup=False)
        self.store_changed("configuration")
        self.action_refresh()

    def on_edit_refused(self, message: EditRefused) -> None:
        if message.conflict:
            offer_reload(self, message.error, self.action_refresh, keeps="nothing was changed")
            return
        from screens.saving import problems_text

        self.notify(str(problems_text(message.error)), title="Not saved", severity="error")

    # Create -------------------------------------------------------------------------------

    def action_create(self) -> None:
        app = self.current_app()
        if app is None or self.person is None:
            if self.person is None:
                self.notify("Choose a person first (o).", severity="warning")
            return
        plan = self.plan
        if plan is None:
            self.notify("The plan is still being computed; try again in a moment.")
            return
        if not plan.ok:
            self.notify(
                "\n".join(plan.reasons()[:5]),
                title=f"Nothing created in {app.id}",
                severity="error",
                timeout=10,
            )
            return
        message = Text()
        message.append("Create an account in ")
        message.append(safe(f"{app.name} ({app.id})"), style="bold")
        message.append(" for ")
        message.append(safe(self.person_name()), style="bold")
        message.append(" with:\n\n")
        values = list(plan.values().items())
        for key, field_value in values[:CONFIRM_FIELDS]:
            message.append(f"  {safe(key, 60)}", style="cyan")
            message.append(f" = {show_value(field_value, 50)}\n")
        if len(values) > CONFIRM_FIELDS:
            message.append(f"  … and {len(values) - CONFIRM_FIELDS} more fields\n", style="dim")
        message.append(
            f"\nThe account is created in {safe(app.id)} now and linked to this person at once "
            f"(linked by: {link_label('provisioned')}). Every field is checked again first."
        )
        app_id, person = app.id, self.person.id

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.creating = True
                self.refresh_bindings()
                self.query_one("#prov-plan", Static).update(
                    Text(f"Creating the account in {safe(app_id)}…", style="bold")
                )
                self.create_account(app_id, person)

        # it writes to the app: enter alone never does (every other write opens on Cancel)
        modal = ConfirmModal("Create account", message, "Create", start_on_cancel=True)
        self.app.push_screen(modal, confirmed)

    @work(
        thread=True,
        exclusive=True,
        group="prov-create",
        exit_on_error=False,
        name="Creating the account",
    )
    def create_account(self, app_id: str, person: int) -> None:
        try:
            result = self.services.provision(app_id, person)
        except ProvisionRefused as refused:
            self.post_message(self.Refused(app_id, person, refused.message))
            return
        self.post_message(self.Created(app_id, person, result))

    def on_provisioning_screen_created(self, message: ProvisioningScreen.Created) -> None:
        self.creating = False
        result = message.result
        self.store_changed("run", result.run_id)  # the other screens reload
        if result.status == "applied":
            key = f"{message.app_id}:{result.account}"
            self.notify(
                f"Created {key} and linked it to {self.person_name()} (run {result.run_id}).",
                title="Account created",
            )
            self.created = True
            self.outcome = Text()
            self.outcome.append("Created ", style="bold green")
            self.outcome.append(safe(key), style="bold")
            self.outcome.append(f"\nlinked (provisioned), run {result.run_id}", style="dim")
            self.plan_person()  # the plan now says the person has an account
        else:
            self.refuse(message.app_id, result.error or "; ".join(result.plan.reasons()))
            self.plan_person()
        self.refresh_bindings()

    def on_provisioning_screen_refused(self, message: ProvisioningScreen.Refused) -> None:
        self.creating = False
        self.store_changed("run")  # the refusal is recorded as a failed run
        self.refuse(message.app_id, message.message)
        self.refresh_bindings()

    def refuse(self, app_id: str, reason: str) -> None:
        self.notify(reason, title=f"Nothing created in {app_id}", severity="error", timeout=10)
        self.created = False
        self.outcome = Text()
        self.outcome.append(f"{safe(app_id)} refused", style="bold red")
        self.outcome.append(": nothing was created.\n")
        self.outcome.append(safe(reason, lines=True), style="red")
        self.show_plan_summary()

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.group == "prov-create":
            self.creating = False
            self.plan_person()  # show what the store holds now
            self.refresh_bindings()
        elif worker.group == "prov-plan":
            self.query_one("#prov-plan", Static).update(
                Text("The plan could not be computed (see the error).", style="red")
            )

    # Keys ---------------------------------------------------------------------------------

    def action_queue(self) -> None:
        from screens.modals.provision_queue import ProvisionQueueModal

        self.app.push_screen(ProvisionQueueModal(self.services))

    def action_refresh(self) -> None:
        self.plan = None
        self.last = None  # read again: a change made from the CLI since (second review)
        self.load_apps(fresh=True)

    def reload(self) -> None:
        if not self.creating:
            self.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.permits(action):
            return False  # not for this role (engine.roles): not shown
        app = self.current_app()
        has_app = app is not None
        configured = app is not None and app.provisioning is not None
        if action == "choose_person":
            return has_app
        if action == "test":
            if not configured:
                return False
            return True if self.person is not None else None
        if action in ("edit", "clear", "proactive"):
            return has_app
        if action == "create":
            if not configured or self.creating:
                return False
            return True if self.person is not None else None
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()
