"""What the push-rule editor needs besides the plan (docs/push-rules.md): the apps a rule
can target with their push schemas, the entitlements and attributes a filter can name, who an
edited rule's targeting selects against the saved rule's, and one mapping's value for one person
checked against the target's schema.

Everything runs over the cached records (no sync stage, no write): cheap enough to follow the
admin's typing. The rules are the push stage's own (`engine.sync.push`), so a preview and a sync
never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from engine.cel import CelCompileError, CelEvalError
from engine.config.expressions import direct_readers, expressions
from engine.config.model import PushRule, RosterConfig
from engine.connectors.base import SchemaField
from engine.errors import InvalidInput, NotFound, Problem
from engine.preview import preview_one
from engine.records import UserRecord, record_label
from engine.services.context import ServiceContext
from engine.store.models import App, Entitlement
from engine.sync.push import flow_blocks, is_targeted, schema_violation, shape_value

SAMPLES = 10


@dataclass(frozen=True)
class PushTarget:
    """An app a push rule may write to: its push schema, and whether other names are allowed."""

    app: str
    name: str
    fields: list[SchemaField]
    custom: bool  # the connector accepts target attributes outside the schema

    def field(self, key: str) -> SchemaField | None:
        return next((f for f in self.fields if f.key.lower() == key.lower()), None)


@dataclass(frozen=True)
class EntitlementChoice:
    app: str
    id: str
    name: str


@dataclass(frozen=True)
class PushChoices:
    """What a push rule's fields can name: target apps (those whose connector can push), every
    entitlement in the store, the configured attributes (name -> multi-valued)."""

    targets: list[PushTarget]
    entitlements: list[EntitlementChoice]
    attributes: dict[str, bool]

    def target(self, app: str) -> PushTarget | None:
        return next((t for t in self.targets if t.app == app), None)


@dataclass(frozen=True)
class TargetingImpact:
    """Who a rule's (edited) targeting selects, and against the saved rule's targeting who
    enters and who leaves. The enabled switch is not considered: it is about the targeting."""

    rule: str
    people: int  # live people considered
    targeted: int
    with_account: int  # targeted people with an account in the rule's app: those pushed to
    entered: int
    left: int
    entered_samples: list[str] = field(default_factory=list)
    left_samples: list[str] = field(default_factory=list)
    errors: int = 0  # people the condition failed for (they are not targeted)
    error_samples: list[str] = field(default_factory=list)
    compared: bool = True  # False: no saved rule to compare with (a new rule)
    cancelled: bool = False


@dataclass(frozen=True)
class MappingPreview:
    """One mapping for one person: the source's value, what would be pushed, what the account
    holds now, and why the target would refuse it."""

    person: str
    value: Any = None  # what the attribute or the CEL gives
    pushed: Any = None  # in the form the target stores
    account: str = ""  # APP:EXTERNAL_ID of the person's account in the app ("" when none)
    current: Any = None  # what that account holds now
    problem: str = ""  # the schema refuses the value (too long, not true/false)
    blocked: str = ""  # flow rules keep the attribute from this app
    error: Problem | None = None  # the CEL failed (compile error: with line and column)
    caret: str = ""
    # the configuration's rules and sources that read a field of this name (object paths):
    # a push into it changes what they find (a badge ownership rule matching on it)
    read_by: list[str] = field(default_factory=list)


def _schema_field(data: dict[str, Any]) -> SchemaField:
    known = set(SchemaField.__dataclass_fields__)
    return SchemaField(**{k: v for k, v in data.items() if k in known})


class PushEditorService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def push_choices(self) -> PushChoices:
        config = self.ctx.config()
        with self.ctx.db.session() as session:
            apps = {row.id: row for row in session.scalars(select(App))}
            entitlements = [
                EntitlementChoice(row.app_id, row.external_id, row.name)
                for row in session.scalars(select(Entitlement))
            ]
        targets = []
        for app in config.apps:
            row = apps.get(app.id)
            capabilities = (row.capabilities or {}) if row is not None else {}
            if not capabilities.get("push"):
                continue
            schema = [_schema_field(f) for f in (row.push_schema or [])] if row else []
            targets.append(
                PushTarget(
                    app.id,
                    app.title,
                    sorted(schema, key=lambda f: (f.order, f.key.lower())),
                    bool(capabilities.get("custom_push_attributes")),
                )
            )
        entitlements.sort(key=lambda e: (e.app, e.name.lower() or e.id.lower(), e.id))
        attributes = {a.name: a.is_multi_valued for a in config.attributes}
        return PushChoices(targets, entitlements, attributes)

    def push_targeting(
        self,
        edited: RosterConfig,
        rule: str,
        *,
        saved_rule: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> TargetingImpact:
        """Who RULE of EDITED targets; against SAVED_RULE of the saved configuration (its name
        before the edit; None for a new rule) who enters and who leaves."""
        new = edited.push_rule(rule)
        if new is None:
            names = ", ".join(r.name for r in edited.push_rules) or "none"
            raise NotFound(
                f"No push rule {rule!r} in the edited configuration; there are: {names}."
            )
        old = self.ctx.config().push_rule(saved_rule) if saved_rule is not None else None
        population = self.ctx.population()
        cel = self.ctx.cel()
        new_program = _condition(cel, new)
        old_program = _condition(cel, old) if old is not None else None
        people = targeted = with_account = entered = left = errors = 0
        entered_samples: list[str] = []
        left_samples: list[str] = []
        error_samples: list[str] = []
        for index, user in enumerate(population.users):
            if user.status == "DELETED":
                continue
            if cancelled is not None and index % 500 == 0 and cancelled():
                return TargetingImpact(rule, people, targeted, with_account, 0, 0, cancelled=True)
            people += 1
            accounts = population.accounts_of(user.id)
            label = record_label(user)
            try:
                now = is_targeted(new, user, cel, new_program, accounts)
            except CelEvalError as exc:
                errors += 1
                if len(error_samples) < SAMPLES:
                    error_samples.append(f"{label}: {exc}")
                now = False
            if now:
                targeted += 1
                if any(a.app_id == new.app and a.status != "DELETED" for a in accounts):
                    with_account += 1
            if old is None:
                continue
            try:
                before = is_targeted(old, user, cel, old_program, accounts)
            except CelEvalError:
                before = False
            if now and not before:
                entered += 1
                if len(entered_samples) < SAMPLES:
                    entered_samples.append(label)
            elif before and not now:
                left += 1
                if len(left_samples) < SAMPLES:
                    left_samples.append(label)
        return TargetingImpact(
            rule,
            people,
            targeted,
            with_account,
            entered,
            left,
            entered_samples,
            left_samples,
            errors,
            error_samples,
            compared=old is not None,
        )

    def push_mapping_preview(
        self,
        app_id: str,
        target: str,
        who: str | int | UserRecord,
        *,
        attribute: str | None = None,
        cel: str | None = None,
        config: RosterConfig | None = None,
    ) -> MappingPreview:
        """One mapping (ATTRIBUTE or CEL into TARGET of APP_ID) for one person, shaped and
        checked as the push stage does. CONFIG (an edited configuration) decides the flow rules;
        by default the saved one."""
        population = self.ctx.population()
        if isinstance(who, UserRecord):
            user = who
        else:
            found = (
                population.user_by_id(who)
                if isinstance(who, int)
                else next(iter(population.users_by_email(who)), None)
            )
            if found is None:
                raise NotFound(f"There is no person {who!r}; choose another.")
            user = found
        if (attribute is None) == (cel is None):
            raise InvalidInput("a mapping reads a person's attribute or a CEL expression: give one")
        with self.ctx.db.session() as session:
            row = session.get(App, app_id)
            schema_rows = list(row.push_schema or []) if row is not None else []
            app_name = (row.name or app_id) if row is not None else app_id
        folded = target.lower()
        schema = next((f for f in schema_rows if str(f.get("key", "")).lower() == folded), None)
        label = record_label(user)
        account = next(
            (
                a
                for a in population.accounts_of(user.id)
                if a.app_id == app_id and a.status != "DELETED"
            ),
            None,
        )
        key = (schema or {}).get("key", target)
        where = f"{account.app_id}:{account.external_id}" if account is not None else ""
        current = account.profile.get(key) if account is not None else None
        if attribute is not None:
            value = user.attributes.get(attribute, "")
            blocked = flow_blocks(config or self.ctx.config(), attribute, app_id) or ""
        else:
            one = preview_one(self.ctx.cel(), "push_mapping", cel or "", user)
            if not one.ok:
                return MappingPreview(
                    label, account=where, current=current, error=one.error, caret=one.caret
                )
            value, blocked = one.value, ""
        pushed = shape_value(value, schema)
        problem = schema_violation(target, pushed, schema, app_name)
        readers = self.readers_of_field(app_id, str(key), config)
        return MappingPreview(
            label, value, pushed, where, current, problem, blocked, read_by=readers
        )

    def readers_of_field(
        self, app_id: str, target: str, config: RosterConfig | None = None
    ) -> list[str]:
        """The object paths of the rules and sources of CONFIG (by default the saved one) that
        read a field named TARGET: APP_ID's direct sources of it, and every CEL expression that
        selects a field or key of that name (whichever app's: a name is what CEL shows), but
        not the push mapping into TARGET itself."""
        config = config or self.ctx.config()
        cel = self.ctx.cel()
        folded = target.casefold()
        found = direct_readers(config, app_id, target)
        for expression in expressions(config):
            if expression.path.endswith(f".mappings.{target}"):
                continue
            try:
                program = cel.compile(expression.context, expression.text)
            except CelCompileError:
                continue  # the configuration's checks say what is wrong with it
            # the fields it selects, and the profile keys it reads (`a.profile.x` of an
            # account a list or a macro holds)
            read = {*program.names, *(k.key for k in program.keys if k.map == "profile")}
            if any(name.casefold() == folded for name in read):
                found.append(expression.path)
        return found


def _condition(cel: Any, rule: PushRule) -> Any:
    if rule.targeting.kind != "cel":
        return None
    try:
        return cel.compile("push_condition", rule.targeting.cel or "")
    except CelCompileError as exc:
        raise InvalidInput(f"push rule {rule.name!r}: targeting: {exc.problem}") from exc


__all__ = [
    "EntitlementChoice",
    "MappingPreview",
    "PushChoices",
    "PushEditorService",
    "PushTarget",
    "TargetingImpact",
]
