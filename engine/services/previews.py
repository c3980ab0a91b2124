"""Previews: an expression against one record or everyone in scope, and against the saved
expression at a configuration path (what an editor's draft would change)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.cel import CONTEXTS, NO_RECORD, ContextSpec, field_names, function_names
from engine.config.document import to_document
from engine.errors import InvalidInput, NotFound, RosterError
from engine.preview import Comparison, OnePreview, PopulationPreview, preview_all, preview_one
from engine.records import AccountRecord, UserRecord
from engine.services.context import ServiceContext
from engine.services.records import RecordRef, RecordsService
from engine.text import whole_number

if TYPE_CHECKING:
    from engine.config.model import RosterConfig
    from engine.services.editing import EditingService
    from engine.services.impact import ImpactService


@dataclass(frozen=True)
class Completions:
    variables: list[str]
    fields: dict[str, list[str]]  # kind -> its fields' own names
    functions: list[str]
    profile_keys: dict[str, list[str]]
    # kind -> the other names a field is also read by (first_name for givenName): offered
    # only for what no field's own name completes, so each field is offered once
    field_aliases: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedExpression:
    """The CEL expression saved at a configuration path, with the context it runs in."""

    path: str
    context: str
    text: str
    app_id: str | None = None  # account contexts: the app whose accounts it reads


PATHS_HELP = (
    "directories.APP.filter, directories.APP.merge_rules.NAME.account|user, "
    "apps.APP.ownership.rules.NAME.account|user, attributes.NAME.sources.N, "
    "push_rules.NAME.condition, push_rules.NAME.mappings.TARGET, "
    "apps.APP.provisioning.fields.FIELD"
)


def saved_expression(config: RosterConfig, path: str) -> SavedExpression:
    """Resolve PATH (objects named by their keys, README.md) to its saved CEL expression.

    Paths follow the document's shape (what `config export` writes), so they are resolved
    over the typed configuration's document form."""
    document = to_document(config)
    parts = path.split(".")

    def by_key(items: Any, key: str, value: str, what: str) -> dict[str, Any]:
        for item in items or []:
            if isinstance(item, dict) and str(item.get(key)) == value:
                return item
        names = ", ".join(str(i.get(key)) for i in items or [] if isinstance(i, dict))
        raise NotFound(f"{path}: no {what} {value!r}; there are: {names or 'none'}.")

    def cel_of(node: Any, context: str, app_id: str | None = None) -> SavedExpression:
        text = node.get("cel") if isinstance(node, dict) else node
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(
                f"{path} holds no CEL expression (a preset or a field is not an expression)."
            )
        return SavedExpression(path, context, text, app_id)

    def key_rule(rules: Any, name: str, side: str, app_id: str) -> SavedExpression:
        rule = by_key(rules, "name", name, "rule")
        if side == "account":
            return cel_of(rule.get("account"), "account_key", app_id)
        return cel_of(rule.get("user"), "user_key")

    head, rest = parts[0], parts[1:]
    if head == "directories" and rest:
        directory = by_key(document.get("directories"), "app", rest[0], "directory")
        if rest[1:] == ["filter"]:
            return cel_of(directory.get("filter"), "directory_filter", rest[0])
        if len(rest) == 4 and rest[1] == "merge_rules" and rest[3] in ("account", "user"):
            return key_rule(directory.get("merge_rules"), rest[2], rest[3], rest[0])
    elif head == "apps" and rest:
        app = by_key(document.get("apps"), "id", rest[0], "app")
        if len(rest) == 4 and rest[1:3] == ["provisioning", "fields"]:
            fields = (app.get("provisioning") or {}).get("fields") or {}
            if rest[3] not in fields:
                raise NotFound(
                    f"{path}: {rest[0]} maps no provisioning field {rest[3]!r}; it maps: "
                    f"{', '.join(fields) or 'none'}."
                )
            return cel_of(fields[rest[3]], "provisioning_field")
        sides = ("account", "user")
        if len(rest) == 5 and rest[1:3] == ["ownership", "rules"] and rest[4] in sides:
            return key_rule((app.get("ownership") or {}).get("rules"), rest[3], rest[4], rest[0])
    elif head == "attributes" and len(rest) == 3 and rest[1] == "sources":
        attribute = by_key(document.get("attributes"), "name", rest[0], "attribute")
        sources = attribute.get("sources") or []
        index = whole_number(rest[2])
        if index is None or index >= len(sources):
            raise NotFound(f"{path}: {rest[0]} has {len(sources)} sources, numbered from 0.")
        return cel_of(sources[index], "attribute_source")
    elif head == "push_rules" and rest:
        rule = by_key(document.get("push_rules"), "name", rest[0], "push rule")
        if rest[1:] == ["condition"]:
            return cel_of(rule.get("targeting"), "push_condition")
        if len(rest) == 3 and rest[1] == "mappings":
            mapping = by_key(rule.get("mappings"), "target", rest[2], "mapping")
            return cel_of(mapping, "push_mapping")
    raise InvalidInput(f"{path} names no expression; use one of: {PATHS_HELP}.")


# contexts whose saved expressions decide who is a person and who owns what: comparing a draft
# of one of them can say what saving it would do to people and owners
IDENTITY_CONTEXTS = ("directory_filter", "account_key", "user_key")


class PreviewsService:
    def __init__(
        self,
        ctx: ServiceContext,
        records: RecordsService,
        editing: Callable[[], EditingService] | None = None,
        impact: Callable[[], ImpactService] | None = None,
    ) -> None:
        self.ctx = ctx
        self.records = records
        # built when first asked (a comparison's identity impact): their modules import the
        # sync stages, which a one-record preview never needs
        self._editing = editing
        self._impact = impact

    def contexts(self) -> dict[str, ContextSpec]:
        return dict(CONTEXTS)

    def _check_context(self, context: str) -> None:
        if context not in CONTEXTS:
            raise InvalidInput(f"Unknown context {context!r}; use one of {', '.join(CONTEXTS)}.")

    def preview_one(
        self, context: str, text: str, ref: RecordRef | UserRecord | AccountRecord | None
    ) -> OnePreview:
        """TEXT for one record; `ref` is None (or ignored) in the `cel` context."""
        self._check_context(context)
        if CONTEXTS[context].subject_kind == NO_RECORD:
            ref = None
        record = self.records.record(ref) if isinstance(ref, RecordRef) else ref
        return preview_one(self.ctx.cel_for_one(), context, text, record)

    def records_in_scope(
        self, context: str, app_id: str | None = None
    ) -> list[UserRecord] | list[AccountRecord]:
        population = self.ctx.population()
        if app_id is not None and app_id not in population.app_ids():
            known = population.app_ids() | {app.id for app in self.ctx.config().apps}
            if app_id not in known:  # a typo must not read as "no account matches"
                raise NotFound(
                    f"No app {app_id!r}; the apps are {', '.join(sorted(known)) or 'none yet'}."
                )
        if CONTEXTS[context].subject_kind == "account":
            apps = {app_id} if app_id is not None else self._filtered_apps(context)
            # deleted accounts are out of scope, as they are for the sync's filters
            return [
                a
                for a in population.accounts
                if a.status != "DELETED" and (apps is None or a.app_id in apps)
            ]
        return [u for u in population.users if u.status != "DELETED"]

    def _filtered_apps(self, context: str) -> list[str] | None:
        """The apps whose accounts a directory filter decides (the directories, by priority),
        or None: every app's accounts (an account key, or a store with no directory yet)."""
        if context != "directory_filter":
            return None
        directories = self.ctx.config().directories
        # a disabled directory's filter decides nothing (its accounts are ignored)
        enabled = [d.app for d in directories if d.enabled]
        return enabled or [d.app for d in directories] or None

    def scope_of(self, context: str, app_id: str | None = None) -> str:
        """Whose records a preview over everyone in CONTEXT evaluates, in words."""
        if CONTEXTS[context].subject_kind != "account":
            return "every person"
        apps = [app_id] if app_id is not None else self._filtered_apps(context)
        if apps is None:
            return "every account"
        label = "the directory" if len(apps) == 1 and app_id is None else "app"
        if len(apps) > 1:
            label = "the directories"
        return f"the accounts of {label} {', '.join(apps)}"

    def first_record(self, context: str) -> RecordRef | None:
        """The record a preview in CONTEXT starts on: a directory filter's, the first account
        of the primary directory (it never sees the other apps' accounts); else the first
        person or account; None in the `cel` context or an empty store."""
        kind = CONTEXTS[context].subject_kind
        if kind == NO_RECORD:
            return None
        apps: list[str | None] = [None]
        apps[:0] = self._filtered_apps(context) or []
        for app_id in apps:
            found = self.records.find_records(kind, "", limit=1, app_id=app_id, live=True)
            if found:
                return found[0]
        return None

    def saved_expression(self, path: str) -> SavedExpression:
        """The expression saved at a configuration path, e.g. `push_rules.ad-core.condition`."""
        return saved_expression(self.ctx.config(), path)

    def preview_all(
        self,
        context: str,
        text: str,
        *,
        app_id: str | None = None,
        compare_to: str | None = None,
        against: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        impact: bool = False,
    ) -> PopulationPreview:
        """TEXT over everyone in scope. `against` (a configuration path) compares each value
        with the saved expression's there; `compare_to` compares with a given text instead.
        `impact` with `against` naming a directory filter, a merge rule side or an ownership
        rule side: also what saving TEXT there would do to people and owners (the identify and
        ownership stages simulated over everyone: seconds on a large store)."""
        self._check_context(context)
        if CONTEXTS[context].subject_kind == NO_RECORD:
            raise InvalidInput(
                f"The {context} context has no records to evaluate over: evaluate the "
                "expression once (without --all), or choose a context such as push_condition."
            )
        label = ""
        if against is not None:
            saved = self.saved_expression(against)
            if saved.context != context:
                raise InvalidInput(
                    f"{against} is a {saved.context} expression; preview it with "
                    f"--context {saved.context} to compare."
                )
            compare_to, label = saved.text, against
            app_id = app_id or saved.app_id
        records = self.records_in_scope(context, app_id)
        result = preview_all(
            self.ctx.cel(),
            context,
            text,
            records,
            compare_to=compare_to,
            against=label,
            progress=progress,
            cancelled=cancelled,
        )
        result.scope = self.scope_of(context, app_id)
        compare = result.compare
        if impact and against is not None and context in IDENTITY_CONTEXTS and compare:
            if result.ok and not compare.error and not result.cancelled:
                self._identity_impact(compare, context, against, text, cancelled)
        return result

    def _identity_impact(
        self,
        compare: Comparison,
        context: str,
        against: str,
        text: str,
        cancelled: Callable[[], bool] | None,
    ) -> None:
        """The configuration with TEXT saved at AGAINST (validated as an edit would be, nothing
        saved), simulated against the saved one."""
        if self._editing is None or self._impact is None:
            return
        from engine.services.editing import ConfigEdit

        # a key side is {cel: ...} (with its strip_plus_tag): only the expression is replaced
        path = against if context == "directory_filter" else f"{against}.cel"
        try:
            edited = self._editing().config_edit(ConfigEdit("set", path, text), dry_run=True)
            compare.impact = self._impact().identity_impact(edited.config, cancelled=cancelled)
        except RosterError as exc:
            problems = "; ".join(str(p) for p in exc.problems[:3])
            compare.impact_error = exc.message + (f" {problems}" if problems else "")

    def completions(self, context: str, app_id: str | None = None) -> Completions:
        """Names for the editor's completion; `app_id` limits the accounts' profile keys to
        those found in that app's data (a directory filter reads one app's accounts)."""
        self._check_context(context)
        # the keys alone, read from the store's narrow columns until the population is
        # loaded: opening the playground loaded everyone first (8 s at 100,000 people)
        population = self.ctx.directory()
        return Completions(
            variables=list(CONTEXTS[context].variables),
            fields={kind: field_names(kind, aliases=False) for kind in ("user", "account")},
            functions=function_names(),
            profile_keys={
                "account": sorted(population.profile_keys("account", app_id)),
                "user": sorted(population.profile_keys("user")),
            },
            field_aliases={
                kind: field_names(kind)[len(field_names(kind, aliases=False)) :]
                for kind in ("user", "account")
            },
        )
