"""Stage 5, push (docs/push-rules.md): for every enabled push rule, the targeted people's desired
values, compared with their account in the target app; only differences are planned, values the
target's schema rejects fail for that person with the reason, and flow rules decide what may go
where.

Planning is pure; `send()` does the external writes once the store is committed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.cel import CelCompileError, CelEngine, CelEvalError, to_python
from engine.config.model import DEFAULT_DIRECTION, OUTBOUND_DIRECTIONS, PushRule, RosterConfig
from engine.connectors.base import Connector
from engine.errors import ConnectorError, InvalidInput
from engine.records import AccountRecord, UserRecord, norm_key
from engine.store.deferred import read_whole
from engine.sync.state import StageReport, WorkState
from engine.text import CONTROL_CHARACTER

STAGE = "push"
WRITABLE = OUTBOUND_DIRECTIONS


@dataclass
class PushItem:
    """One person's planned writes to one account under one rule."""

    rule: str
    app_id: str
    external_id: str
    user_id: int
    user_label: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # target -> (old, new)
    error: str = ""
    # every target the rule maintains on the account -> (what it holds, what the rule wants),
    # up to date or not (previews compare what a rule maintains, not only what it would send)
    desired: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def account_key(self) -> str:
        return f"{self.app_id}:{self.external_id}"


@dataclass
class _Mapping:
    target: str
    attribute: str | None
    program: Any
    schema: dict[str, Any] | None


def _flow_allows(config: RosterConfig, attribute: str, app_id: str) -> str | None:
    """None when flow rules let the attribute be pushed to the app, else why not."""
    for definition in config.attributes:
        if definition.name.lower() != attribute.lower():
            continue
        if not definition.authority_mode:
            return None  # mapping mode: no flow rules, nothing restricts pushing
        rule = definition.flow_rule_for(app_id)
        direction = rule.direction if rule is not None else DEFAULT_DIRECTION
        if direction in WRITABLE:
            return None
        if direction == "disabled":
            return (
                f"the flow rule for {app_id} is disabled: written only when an account is created"
            )
        return f"{app_id} is authoritative for it (inbound flow rule): it is not pushed there"
    return None


def _targeted(
    rule: PushRule,
    user: UserRecord,
    cel: CelEngine,
    program: Any,
    accounts: list[AccountRecord],
) -> bool:
    targeting = rule.targeting
    kind = targeting.kind
    if kind == "everyone":
        return True
    if kind == "cel":
        return to_python(cel.evaluate(program, cel.activation_for("push_condition", user))) is True
    for wanted in targeting.entitlements:
        if not any(
            a.app_id == wanted.app
            and wanted.entitlement in a.entitlements
            and a.status != "DELETED"
            for a in accounts
        ):
            return False
    for name, values in targeting.attributes.items():
        have = user.attributes.get(name)
        have_list = have if isinstance(have, list) else [have]
        if not {norm_key(v) for v in have_list} & {norm_key(v) for v in values}:
            return False
    return True


def _shape(value: Any, schema: dict[str, Any] | None) -> Any:
    """The desired value in the form the target stores: text, or a bool for bool fields."""
    kind = (schema or {}).get("type", "string")
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else ", ".join(str(v) for v in value) if value else ""
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _violation(target: str, value: Any, schema: dict[str, Any] | None, app_name: str) -> str:
    control = CONTROL_CHARACTER.search(value) if isinstance(value, str) else None
    if control is not None:
        return (
            f"{target} {value[:40]!r} holds the control character "
            f"\\x{ord(control.group()):02x}; "
            f"{app_name} is never sent one (fix the mapping or the value it reads)"
        )
    if schema is None:
        return ""
    kind = schema.get("type", "string")
    if kind == "bool" and not isinstance(value, bool) and value != "":
        return f"{target} must be true or false for {app_name}; got {value!r}"
    limit = schema.get("max_length")
    if kind == "string" and limit and len(str(value)) > int(limit):
        return (
            f"{target} {value!r} is {len(str(value))} characters; {app_name} allows at most {limit}"
        )
    return ""


def _same(old: Any, new: Any) -> bool:
    if isinstance(new, bool) or isinstance(old, bool):
        return str(old).lower() == str(new).lower()
    return ("" if old is None else str(old)) == ("" if new is None else str(new))


def plan_push(
    state: WorkState,
    config: RosterConfig,
    apps: dict[str, Any],
    cel: CelEngine,
    report: StageReport,
    only_rule: str | None = None,
    without_account: list[str] | None = None,
    targeted: set[int] | None = None,
    every: list[PushItem] | None = None,
    people: set[int] | None = None,
    reconsider: set[int] | None = None,
    troubled: list[UserRecord] | None = None,
) -> list[PushItem]:
    """Every enabled rule's differences, journalled in the state. Items with an `error` are
    people the target's schema (or an expression) refuses: recorded, never sent. People who
    are targeted but have no account in the app are appended to `without_account`; every
    targeted person's id is added to `targeted`, and every planned item, up to date or not,
    to `every`. `people`: only these people (what a link would push for them).

    `reconsider`: the people whose record or accounts can have changed since the last applied
    run (a sync's incremental plan); the others' plans are what that run left, up to date.
    A rule whose expressions read beyond their person (other people, the clock) still
    reconsiders everyone. People whose targeting or values failed are added to `troubled`
    (records, not ids: a person this run creates is numbered when written),
    so that the next run reconsiders them and reports them again."""
    items: list[PushItem] = []
    not_made: dict[str, list[str]] = {}  # app -> why each of its people was not pushed
    owned = state.accounts_by_owner()
    unchanged: set[int] = set()  # the people left as the last applied run planned them
    for rule in config.push_rules:
        if not rule.enabled or (only_rule and rule.name != only_rule):
            continue
        name, app_id = rule.name, rule.app
        app = apps.get(app_id)
        if app is None:
            report.problems.append(
                f"push rule {name!r}: app {app_id!r} is not in the store; "
                "import the configuration again"
            )
            continue
        schema = {f["key"].lower(): f for f in (app.push_schema or [])}
        mappings = _compile_mappings(rule, config, cel, schema, report)
        condition = None
        if rule.targeting.kind == "cel":
            try:
                condition = cel.compile("push_condition", rule.targeting.cel or "")
            except CelCompileError as exc:
                raise InvalidInput(f"push rule {name!r}: targeting: {exc.problem}") from exc
        only = people
        programs = [condition, *(m.program for m in mappings)]
        if reconsider is not None and not any(
            p is not None and p.reads_beyond_its_record for p in programs
        ):
            only = reconsider if people is None else people & reconsider
        if only is not None:  # their accounts in the app are compared next
            read_whole(a for u in only for a in owned.get(u, ()) if a.app_id == app_id)
        for user in state.users.values():
            if user.status == "DELETED":
                continue
            if only is not None and user.id not in only:
                if people is None or user.id in people:
                    unchanged.add(user.id)
                continue
            accounts = owned.get(user.id, [])
            try:
                if not _targeted(rule, user, cel, condition, accounts):
                    continue
            except CelEvalError as exc:
                report.problems.append(f"{name}: {state.user_label(user)}: targeting: {exc}")
                not_made.setdefault(app_id, []).append(
                    f"{name}: {state.user_label(user)}: targeting: {exc}"
                )
                if troubled is not None:
                    troubled.append(user)
                continue
            report.bump("targeted")
            if targeted is not None:
                targeted.add(user.id)
            targets = [a for a in accounts if a.app_id == app_id and a.status != "DELETED"]
            if not targets:
                report.bump("targeted_without_account")
                if without_account is not None:
                    without_account.append(f"{name}: {state.user_label(user)}")
                continue
            for account in targets:
                item = _plan_one(name, app, account, user, mappings, cel, state)
                if every is not None:
                    every.append(item)
                if item.error:
                    report.bump("failed")
                    if troubled is not None:
                        troubled.append(user)
                    report.problems.append(
                        f"{name}: {item.account_key} ({item.user_label}): {item.error}"
                    )
                    not_made.setdefault(app_id, []).append(
                        f"{name}: {item.account_key}: {item.error}"
                    )
                    items.append(item)
                elif item.changes:
                    report.bump("accounts_to_update")
                    report.bump("values", len(item.changes))
                    for target, (old, new) in item.changes.items():
                        state.journal(
                            STAGE,
                            "account",
                            item.account_key,
                            target,
                            old,
                            new,
                            f"push rule {name!r} for {item.user_label}",
                        )
                    items.append(item)
                else:
                    report.bump("up_to_date")
    if unchanged:
        report.counts["people_unchanged"] = len(unchanged)
    for app_id, reasons in sorted(not_made.items()):
        # what makes the run "with failures" (exit 5), as a push the app refused does: the
        # values were not sent (hostile review: a failing mapping left every push of its rule
        # undone, and the run said "applied")
        more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
        report.fail(
            app_id,
            f"{len(reasons):,} {'push' if len(reasons) == 1 else 'pushes'} not made (an "
            f"expression failed, or the app's schema refuses the value): {reasons[0]}{more}",
        )
    return items


def _compile_mappings(
    rule: PushRule,
    config: RosterConfig,
    cel: CelEngine,
    schema: dict[str, dict[str, Any]],
    report: StageReport,
) -> list[_Mapping]:
    mappings: list[_Mapping] = []
    name, app_id = rule.name, rule.app
    for mapping in rule.mappings:
        target = mapping.target
        attribute = mapping.attribute
        if attribute:
            blocked = _flow_allows(config, attribute, app_id)
            if blocked:
                report.bump("skipped_by_flow_rules")
                report.notes.append(f"{name}: {attribute} → {target} skipped: {blocked}")
                continue
            mappings.append(_Mapping(target, attribute, None, schema.get(target.lower())))
            continue
        try:
            program = cel.compile("push_mapping", mapping.cel or "")
        except CelCompileError as exc:
            raise InvalidInput(f"push rule {name!r}, mapping {target}: {exc.problem}") from exc
        mappings.append(_Mapping(target, None, program, schema.get(target.lower())))
    return mappings


def _plan_one(
    name: str,
    app: Any,
    account: AccountRecord,
    user: UserRecord,
    mappings: list[_Mapping],
    cel: CelEngine,
    state: WorkState,
) -> PushItem:
    item = PushItem(name, account.app_id, account.external_id, user.id, state.user_label(user))
    for mapping in mappings:
        try:
            if mapping.attribute:
                raw = user.attributes.get(mapping.attribute, "")
            else:
                raw = to_python(
                    cel.evaluate(mapping.program, cel.activation_for("push_mapping", user))
                )
        except CelEvalError as exc:
            item.error = f"{mapping.target}: {exc}"
            return item
        desired = _shape(raw, mapping.schema)
        problem = _violation(mapping.target, desired, mapping.schema, app.name or app.id)
        if problem:
            item.error = problem  # all or nothing for this person: the others go on
            return item
        key = (mapping.schema or {}).get("key", mapping.target)
        current = account.profile.get(key)
        item.desired[key] = (current, desired)
        if not _same(current, desired):
            item.changes[key] = (current, desired)
    return item


def reads_pushed_accounts(config: RosterConfig, cel: CelEngine) -> bool:
    """Whether an enabled rule's targeting or mappings can give another value once an app lists
    back what was pushed to it: an expression reading a person's accounts' data
    (ListAppUsersForUser), other people or the clock. (A mapping from an attribute moves only
    when the attribute does, which the read-back's recomputation tells.)"""
    for rule in config.push_rules:
        if not rule.enabled:
            continue
        expressions = [("push_mapping", m.cel or "") for m in rule.mappings if not m.attribute]
        if rule.targeting.kind == "cel":
            expressions.append(("push_condition", rule.targeting.cel or ""))
        for context, text in expressions:
            try:
                program = cel.compile(context, text)
            except CelCompileError:
                return True  # the plan reported it; nothing is taken as settled
            if program.reads_own_account_data or program.reads_beyond_its_record:
                return True
    return False


def send(
    items: list[PushItem],
    connectors: Mapping[str, Connector],
    before_write: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], str]:
    """Write the planned values; returns the failures by (app, external id) with the reason.
    `before_write(app_id)` is called just before each app is written to."""
    failures: dict[tuple[str, str], str] = {}
    by_app: dict[str, dict[str, dict[str, Any]]] = {}
    for item in items:
        if item.error:
            continue
        by_app.setdefault(item.app_id, {}).setdefault(item.external_id, {}).update(
            {target: new for target, (_, new) in item.changes.items()}
        )
    for app_id, changes in by_app.items():
        connector = connectors[app_id]
        if before_write is not None:
            before_write(app_id)
        try:
            refused = connector.update_accounts(changes)
        except ConnectorError as exc:
            refused = {external_id: exc for external_id in changes}
        for external_id, error in refused.items():
            failures[(app_id, external_id)] = error.message
    return failures


# What the push editor's previews use: one person, one mapping, the same rules as the stage.


def is_targeted(
    rule: PushRule,
    user: UserRecord,
    cel: CelEngine,
    program: Any,
    accounts: list[AccountRecord],
) -> bool:
    """Whether RULE's targeting selects USER (PROGRAM: its compiled CEL condition, if any)."""
    return _targeted(rule, user, cel, program, accounts)


def shape_value(value: Any, schema: dict[str, Any] | None) -> Any:
    """A mapping's value in the form the target stores (as the push stage shapes it)."""
    return _shape(value, schema)


def schema_violation(target: str, value: Any, schema: dict[str, Any] | None, app: str) -> str:
    """Why the target's schema refuses VALUE (too long, not a bool), or ""."""
    return _violation(target, value, schema, app)


def same_value(old: Any, new: Any) -> bool:
    """Whether an app's value OLD already is the pushed value NEW (as the stage compares)."""
    return _same(old, new)


def flow_blocks(config: RosterConfig, attribute: str, app_id: str) -> str | None:
    """Why flow rules keep ATTRIBUTE from being pushed to APP_ID, or None when they allow it."""
    return _flow_allows(config, attribute, app_id)
