"""Add or edit one mapping of a push rule: the target attribute, picked from the target app's push
schema (or a name of your own where the connector allows it), and its source, a person's
attribute or a CEL transform (context push_mapping) in the shared CEL editor.

While the admin types, the mapping is worked out for one person (ctrl+o chooses who): the
source's value, what would be pushed, what the account holds now, and the schema's verdict
(too long, not true/false) under the field. The dialog returns the mapping as document data
(`{target, attribute}` or `{target, cel}`); the rule's editor saves the whole rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Select, Static
from textual.worker import get_current_worker

from screens.base import RosterModal
from screens.modals.confirm import close_or_ask
from screens.modals.record_picker import RecordPicker
from screens.text import literal, plain, safe
from screens.widgets.cel_editor import CelEditor
from screens.widgets.text_input import TextInput

if TYPE_CHECKING:
    from engine.services import (
        Completions,
        MappingPreview,
        PushTarget,
        RecordRef,
        SchemaField,
        Services,
    )

CONTEXT = "push_mapping"
CUSTOM = "__custom__"
ATTRIBUTE, CEL = "attribute", "cel"
VALUE_WIDTH = 60


def field_words(field: SchemaField) -> str:
    """ "string, at most 64 characters" / "true or false" / "list of text"."""
    kinds = {
        "string": "text",
        "bool": "true or false",
        "int": "a whole number",
        "string_list": "a list of text",
        "map": "a map",
    }
    words = kinds.get(field.type, field.type)
    if field.max_length:
        words += f", at most {field.max_length:,} characters"
    return words


def mapping_document(target: str, kind: str, source: str) -> dict[str, Any]:
    return {"target": target, kind: source}


class PushMappingModal(RosterModal["dict[str, Any] | None"]):
    """Returns the mapping as document data, or None when cancelled."""

    DEFAULT_CSS = """
    PushMappingModal {
        align: center middle;
        & > Vertical {
            width: 96;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            background: $surface;
            padding: 0 1;
        }
        & VerticalScroll { height: auto; max-height: 1fr; }
        & .map--row { height: auto; }
        & .map--row > Static { width: 10; padding: 0 1 0 0; }
        & .map--row > Select, & .map--row > Input { width: 1fr; }
        & .map--info { height: auto; color: $text-muted; padding: 0 1; }
        & .map--error { height: auto; color: $text-error; padding: 0 1; display: none; }
        & .map--error.-visible { display: block; }
        & #map-preview { height: auto; max-height: 4; padding: 0 1; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "done", "Done", priority=True, tooltip="Keep the mapping in the rule"),
        Binding("escape", "cancel", "Cancel", tooltip="Close (asks when there are changes)"),
        Binding(
            "ctrl+o",
            "choose_person",
            "Person",
            tooltip="Choose the person the mapping is worked out for",
        ),
    ]

    class Setup(Message):
        def __init__(self, completions: Completions, person: RecordRef | None) -> None:
            super().__init__()
            self.completions = completions
            self.person = person

    class PreviewReady(Message):
        def __init__(self, key: tuple[str, str, str], preview: MappingPreview) -> None:
            super().__init__()
            self.key = key
            self.preview = preview

    def __init__(
        self,
        services: Services,
        *,
        app: str,
        target: PushTarget | None,
        mapping: dict[str, Any] | None,
        attributes: list[str],
        taken: list[str],
        rule: str,
    ) -> None:
        super().__init__()
        self.services = services
        self.app_id = app
        self.target = target
        self.mapping = dict(mapping) if mapping is not None else None
        self.attributes = attributes
        self.taken = [t.casefold() for t in taken]
        self.rule = rule
        self.person: RecordRef | None = None
        self._initial: dict[str, Any] | None = None

    # Layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        mapping = self.mapping or {}
        current_target = str(mapping.get("target", ""))
        fields = self.target.fields if self.target is not None else []
        options: list[tuple[Any, str]] = [
            (plain(f"{f.key} — {field_words(f)}"), f.key) for f in fields
        ]
        known = self.target.field(current_target) if self.target and current_target else None
        custom_allowed = self.target is not None and self.target.custom
        if custom_allowed or (current_target and known is None):
            options.append(("Another attribute (a name of your own)…", CUSTOM))
        if known is not None:
            selected: str = known.key
        elif current_target or not options[:1] or options[0][1] == CUSTOM:
            selected = CUSTOM
        else:
            selected = str(options[0][1])
        kind = CEL if isinstance(mapping.get("cel"), str) else ATTRIBUTE
        with Vertical() as box:
            verb = "Edit the mapping" if self.mapping else "Add a mapping"
            box.border_title = Text(f"{verb} · {safe(self.rule, 40)} → {safe(self.app_id, 30)}")
            box.border_subtitle = "ctrl+s done · esc cancel · ctrl+o person"
            with VerticalScroll():
                with Horizontal(classes="map--row"):
                    yield Static("Target")
                    yield Select(
                        options or [("(no push schema)", CUSTOM)],
                        value=selected,
                        allow_blank=False,
                        compact=True,
                        id="map-target",
                    )
                yield TextInput(
                    current_target if known is None else "",
                    placeholder="the attribute's name in the app, e.g. extensionAttribute9",
                    compact=True,
                    id="map-custom",
                )
                yield Static("", classes="map--info", id="map-target-info")
                yield Static("", classes="map--error", id="map-target-error")
                with Horizontal(classes="map--row"):
                    yield Static("From")
                    yield Select(
                        [("a person's attribute", ATTRIBUTE), ("a CEL transform", CEL)],
                        value=kind,
                        allow_blank=False,
                        compact=True,
                        id="map-kind",
                    )
                attribute = mapping.get("attribute")
                attribute_options = [(plain(name), name) for name in self.attributes]
                if isinstance(attribute, str) and attribute not in self.attributes:
                    attribute_options.append((plain(f"{attribute} (not configured)"), attribute))
                with Horizontal(classes="map--row", id="map-attribute-row"):
                    yield Static("Attribute")
                    yield Select(
                        attribute_options,
                        value=attribute if isinstance(attribute, str) else Select.NULL,
                        prompt="choose an attribute",
                        compact=True,
                        id="map-attribute",
                    )
                yield CelEditor(str(mapping.get("cel") or ""), id="map-cel")
                yield Static("", classes="map--error", id="map-source-error")
                yield Static("", id="map-preview")

    def on_mount(self) -> None:
        self.show_target()
        self.show_kind()
        self._initial = self.document()
        self.query_one("#map-target", Select).focus()
        self.load_setup()

    # Reading the form ---------------------------------------------------------------------

    @property
    def editor(self) -> CelEditor:
        return self.query_one("#map-cel", CelEditor)

    @property
    def kind(self) -> str:
        value = self.query_one("#map-kind", Select).value
        return value if isinstance(value, str) else ATTRIBUTE

    @property
    def target_name(self) -> str:
        value = self.query_one("#map-target", Select).value
        if value == CUSTOM or not isinstance(value, str):
            return self.query_one("#map-custom", Input).value.strip()
        return value

    def document(self) -> dict[str, Any]:
        if self.kind == CEL:
            return mapping_document(self.target_name, CEL, self.editor.text)
        value = self.query_one("#map-attribute", Select).value
        return mapping_document(
            self.target_name, ATTRIBUTE, value if isinstance(value, str) else ""
        )

    def schema_field(self) -> SchemaField | None:
        name = self.target_name
        return self.target.field(name) if self.target is not None and name else None

    # Showing ---------------------------------------------------------------------------

    def show_target(self) -> None:
        custom = self.query_one("#map-target", Select).value == CUSTOM
        self.query_one("#map-custom", Input).display = custom
        info = Text()
        field = self.schema_field()
        if field is not None:
            info.append(safe(field.key), style="bold")
            info.append(f": {field_words(field)}")
            if field.description:
                info.append(" · " + safe(field.description, 200), style="dim")
        elif custom:
            if self.target is not None and self.target.custom:
                info.append(
                    f"{safe(self.app_id)} accepts attributes outside its push schema; "
                    "the app checks the name when it is written.",
                    style="dim",
                )
            else:
                info.append(
                    f"{safe(self.app_id)} accepts only the attributes of its push schema: "
                    "choose one of them.",
                    style="yellow",
                )
        self.query_one("#map-target-info", Static).update(info)

    def show_kind(self) -> None:
        cel = self.kind == CEL
        self.query_one("#map-attribute-row").display = not cel
        self.editor.display = cel

    def show_error(self, where: str, text: str) -> None:
        view = self.query_one(f"#map-{where}-error", Static)
        view.update(plain(text, lines=True))
        view.set_class(bool(text), "-visible")

    # Setup and the preview ------------------------------------------------------------

    def load_setup(self) -> None:
        def run() -> None:
            completions = self.services.completions(CONTEXT)
            people = self.services.find_records("user", "", limit=1)
            if not get_current_worker().is_cancelled:
                self.post_message(self.Setup(completions, people[0] if people else None))

        self.run_worker(
            run,
            thread=True,
            exclusive=True,
            group="map-setup",
            exit_on_error=False,
            name="Loading names for completion",
        )

    def on_push_mapping_modal_setup(self, message: PushMappingModal.Setup) -> None:
        self.editor.set_completions(message.completions, "user")
        if self.person is None:
            self.person = message.person
        self.preview()

    def preview(self) -> None:
        view = self.query_one("#map-preview", Static)
        document = self.document()
        source = str(document.get(self.kind) or "")
        target = self.target_name
        if not target:
            view.update(Text("Choose or name the target attribute.", style="dim"))
            return
        if not source.strip():
            self.workers.cancel_group(self, "map-preview")
            self.editor.clear_problem()
            what = "Type a CEL transform" if self.kind == CEL else "Choose an attribute"
            view.update(Text(f"{what}; its value for a person shows here.", style="dim"))
            return
        if self.person is None:
            view.update(Text("No person to work it out for (ctrl+o chooses one).", style="dim"))
            return
        key = (target, self.kind, source)
        person = self.person

        def run() -> None:
            kwargs = {"attribute": source} if key[1] == ATTRIBUTE else {"cel": source}
            preview = self.services.push_mapping_preview(self.app_id, target, person.id, **kwargs)
            if not get_current_worker().is_cancelled:
                self.post_message(self.PreviewReady(key, preview))

        self.run_worker(
            run,
            thread=True,
            exclusive=True,
            group="map-preview",
            exit_on_error=False,
            name="Working out the mapping",
        )

    def on_push_mapping_modal_preview_ready(self, message: PushMappingModal.PreviewReady) -> None:
        document = self.document()
        if message.key != (self.target_name, self.kind, str(document.get(self.kind) or "")):
            return  # an older text; the newer one's preview is on its way
        preview = message.preview
        out = Text()
        out.append(safe(preview.person, 50), style="bold")
        out.append(": ")
        if preview.error is not None:
            self.editor.show_problem(preview.error, preview.caret)
            out.append("no value — the error is under the transform", style="red")
        else:
            if self.kind == CEL:
                self.editor.clear_problem()
            out.append_text(literal(preview.value, VALUE_WIDTH))
            if preview.pushed != preview.value:
                out.append(" → pushes ", style="dim")
                out.append_text(literal(preview.pushed, VALUE_WIDTH))
        out.append("\n")
        if preview.account:
            out.append(safe(preview.account, 50), style="cyan")
            out.append(" holds ", style="dim")
            out.append_text(literal(preview.current, VALUE_WIDTH))
        else:
            out.append(f"no account in {safe(self.app_id, 30)}: nothing is pushed for them", "dim")
        out.append("  ctrl+o: another person", style="dim")
        if preview.read_by:
            shown = ", ".join(safe(path, 70) for path in preview.read_by[:2])
            more = len(preview.read_by) - 2
            out.append("\n⚠ also read by ", style="yellow")
            out.append(shown + (f" and {more} more" if more > 0 else ""), style="yellow")
            out.append(": pushing into it changes what they find", style="yellow")
        self.query_one("#map-preview", Static).update(out)
        problem = preview.problem or preview.blocked
        self.show_error("source", f"✗ {problem}" if problem else "")

    # Events ----------------------------------------------------------------------------

    @on(Select.Changed, "#map-target")
    def _target_changed(self) -> None:
        self.show_target()
        self.show_error("target", "")
        self.preview()

    @on(Input.Changed, "#map-custom")
    def _custom_changed(self) -> None:
        self.show_target()
        self.show_error("target", "")
        self.preview()

    @on(Select.Changed, "#map-kind")
    def _kind_changed(self) -> None:
        self.show_kind()
        self.show_error("source", "")
        if self.kind == CEL:  # typing goes to the transform (after the list has closed)
            self.call_after_refresh(self.editor.focus)
        self.preview()

    @on(Select.Changed, "#map-attribute")
    def _attribute_changed(self) -> None:
        self.show_error("source", "")
        self.preview()

    @on(CelEditor.Changed, "#map-cel")
    def _cel_changed(self, event: CelEditor.Changed) -> None:
        event.stop()
        self.show_error("source", "")
        self.preview()

    def action_choose_person(self) -> None:
        def chosen(ref: RecordRef | None) -> None:
            if ref is not None:
                self.person = ref
                self.preview()

        self.app.push_screen(RecordPicker(self.services, "user"), chosen)

    def show_problem(self, field: str, text: str) -> None:
        """A problem the rule's validation found in this mapping (the editor passes it on)."""
        self.show_error("target" if field == "target" else "source", text)

    # Done / cancel -------------------------------------------------------------------

    def action_done(self) -> None:
        document = self.document()
        target = document["target"]
        if not target:
            self.show_error("target", "Name the attribute to write in the app.")
            self.query_one("#map-custom", Input).focus()
            return
        if target.casefold() in self.taken:
            self.show_error(
                "target",
                f"This rule already writes {target}: a target is written by one mapping. "
                "Edit that mapping instead, or choose another target.",
            )
            return
        field = self.schema_field()
        if field is None and self.target is not None and not self.target.custom:
            self.show_error(
                "target",
                f"{target} is not in {self.app_id}'s push schema and {self.app_id} accepts no "
                "other attributes: choose one from the list.",
            )
            return
        source = document.get(self.kind)
        if not isinstance(source, str) or not source.strip():
            if self.kind == CEL:
                self.show_error("source", "Type a CEL transform, or map a person's attribute.")
                self.editor.focus()
            else:
                self.show_error("source", "Choose the attribute whose value is pushed.")
                self.query_one("#map-attribute", Select).focus()
            return
        self.dismiss(document)

    def action_cancel(self) -> None:
        close_or_ask(self, self.document() != self._initial, "The mapping")
