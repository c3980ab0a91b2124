"""Provisioning (docs/provisioning.md): plan a new account for one person, field by field.

An app's provisioning config maps fields of its account-creation schema to CEL expressions
(context `provisioning_field`: `subject`, and `entitlement` when the account is for a requested
entitlement). `plan_account` evaluates every field and checks it; the plan is valid only when
every field is (all or nothing), and each failing field says why.

Rules, in order, for each field of the schema:

- mapped (`source` "cel"): the expression's value. An empty result ("", null, [], {}) falls back
  to the field's default when it has one (`source` "default", with a note), exactly as the
  connector would do it, so the plan shows what will really be created.
- unmapped: the field's default (`source` "default"), or nothing (`source` "unmapped").
- required fields must be non-empty (a string of spaces counts as empty).
- values must fit the field's type, strictly: `string` takes a CEL string (use `string(x)` or
  `time.format(...)` for other values), `bool` a bool, `int` an int, `string_list` a list of
  strings (a single string is refused, not wrapped: write `[value]`, so that a mistaken
  expression cannot silently create an account with the wrong groups), `map` a map. Strings
  and list items longer than the field's `max_length` are refused.
- an expression for a key the schema does not have is an error of its own.

A person who already has an account in the app (any status except DELETED), or who is deleted,
gets no plan: the plan is refused with that reason.

This module never writes: `engine.services.provisioning` creates the account and
`engine.sync.writer` stores and journals it.
"""

from __future__ import annotations

import difflib
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.cel import (
    CelCompileError,
    CelEngine,
    CelEvalError,
    CelTimeBudgetError,
    check_result,
    empty_user_fields,
    to_python,
    type_name,
)
from engine.cel.budget import past_deadline, time_exceeded
from engine.connectors.base import format_problem, held_value
from engine.connectors.schemas import ad_distinguished_name
from engine.errors import ConnectorError, NotFound
from engine.records import Directory, Population, UserRecord

CONTEXT = "provisioning_field"
SOURCES = ("cel", "default", "unmapped")


class ProvisionRefused(ConnectorError):
    """The app's connector refused to create the account (e.g. the username exists already).
    `result` holds the plan and the failed run; nothing was changed in the store."""

    def __init__(self, message: str, result: ProvisionResult, problems: Any = None) -> None:
        super().__init__(message, problems)
        self.result = result


@dataclass
class FieldResult:
    """One field of a planned account."""

    key: str
    display_name: str = ""
    field_type: str = "string"  # the schema's type: string | bool | int | string_list | map
    required: bool = False
    source: str = "unmapped"  # "cel" | "default" | "unmapped"
    expression: str | None = None
    value: Any = None
    type: str = "null"  # the CEL type of the value, as previews show it
    ok: bool = True
    reason: str = ""  # why the field is not ok
    note: str = ""  # something worth knowing even when it is ok
    line: int | None = None  # compile errors: where in the expression
    column: int | None = None
    hint: str = ""
    # why it is not ok, as a word: "compile" (the expression does not compile), "error" (it
    # failed for this person), "empty" (required but empty), "invalid" (wrong type or too long)
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "display_name": self.display_name,
            "field_type": self.field_type,
            "required": self.required,
            "source": self.source,
            "expression": self.expression,
            "value": self.value,
            "type": self.type,
            "ok": self.ok,
            "reason": self.reason,
            "note": self.note,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
        }


@dataclass
class ProvisionPlan:
    app_id: str
    user_id: int
    user: str  # the person's email, or display name / id when they have none
    fields: list[FieldResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # reasons that are not about one field
    entitlement: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.fields)

    def values(self) -> dict[str, Any]:
        """What the connector receives: every field with a non-empty value."""
        return {f.key: f.value for f in self.fields if f.ok and not _is_empty(f.value)}

    def reasons(self) -> list[str]:
        """Every reason the plan is refused, one line each, naming the field."""
        return list(self.problems) + [f"{f.key}: {f.reason}" for f in self.fields if not f.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "app": self.app_id,
            "user": self.user,
            "user_id": self.user_id,
            "fields": [f.as_dict() for f in self.fields],
            "problems": list(self.problems),
            "entitlement": self.entitlement,
        }


@dataclass
class ProvisionResult:
    """What `Services.provision` did: the plan, the run that journals it, the new account."""

    plan: ProvisionPlan
    dry_run: bool
    run_id: int | None = None
    status: str = "planned"  # planned | applied | failed
    account: str | None = None  # the created account's external id
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.plan.ok and not self.error

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "app": self.plan.app_id,
            "user": self.plan.user,
            "fields": [f.as_dict() for f in self.plan.fields],
            "problems": self.plan.reasons(),
            "account": self.account,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error or None,
        }


# --- schema ----------------------------------------------------------------------------------


def schema_of(app_row_or_schema: Any) -> list[dict[str, Any]]:
    """The creation schema (list of field dicts) of an App row, a ConnectorDescription, or a
    list of field dicts / SchemaFields, sorted by `order`."""
    schema = getattr(app_row_or_schema, "creation_schema", app_row_or_schema)
    fields = [dict(item) if isinstance(item, Mapping) else item.as_dict() for item in schema or []]
    return sorted(fields, key=lambda f: f.get("order") or 0)


def user_label(user: UserRecord) -> str:
    return user.email or user.display_name or f"person {user.id}"


# --- planning --------------------------------------------------------------------------------


def plan_account(
    cel: CelEngine,
    app_row_or_schema: Any,
    provisioning_fields: Mapping[str, str],
    user: UserRecord,
    entitlement: dict[str, Any] | None = None,
    *,
    app_id: str | None = None,
    claimed: dict[tuple[str, str, str], str] | None = None,
) -> ProvisionPlan:
    """Evaluate and check every creation field for `user`. Never raises for a bad expression
    or value: each field carries its own reason. `app_id` (taken from an App row when one is
    given) lets the plan refuse a person who already has an account in the app, and a unique
    field's value an account of the app holds or (`claimed`: in a sync) one planned before
    takes (`unique_problem`)."""
    app_id = app_id or getattr(app_row_or_schema, "id", None) or ""
    schema = schema_of(app_row_or_schema)
    plan = ProvisionPlan(app_id, user.id, user_label(user), entitlement=entitlement)
    if user.status == "DELETED":
        plan.problems.append(
            f"{plan.user} is deleted (no directory keeps them); no account is created for them."
        )
    existing = _existing_accounts(cel, app_id, user)
    if existing:
        plan.problems.append(
            f"{plan.user} already has an account in {app_id}: "
            + ", ".join(f"{app_id}:{a}" for a in existing)
            + "; no second account is created (link or re-enable the existing one instead)."
        )
    known = [f["key"] for f in schema]
    for spec in schema:
        text = provisioning_fields.get(spec["key"])
        plan.fields.append(_field_result(cel, spec, text, user, entitlement))
    for key, text in provisioning_fields.items():
        if key in known:
            continue
        near = difflib.get_close_matches(key, known, n=1) or [
            k for k in known if k.lower() == key.lower()
        ]
        plan.fields.append(
            FieldResult(
                key=key,
                display_name=key,
                source="cel",
                expression=text,
                ok=False,
                problem="unknown",
                reason=f"not a field of the account-creation schema of {app_id or 'this app'}",
                hint=(f"did you mean `{near[0]}`? " if near else "")
                + f"fields: {', '.join(known) or 'none'}",
            )
        )
    # (one who has an account is refused for that: their values would name it as taken)
    clash = None if existing else unique_problem(cel, schema, app_id, plan.values(), claimed)
    if clash is not None:
        key, why = clash
        for result in plan.fields:
            if result.key == key:
                result.ok, result.problem, result.reason = False, "invalid", why
    return plan


def test_field(
    cel: CelEngine,
    app_row_or_schema: Any,
    provisioning_fields: Mapping[str, str],
    user: UserRecord,
    key: str,
    entitlement: dict[str, Any] | None = None,
    *,
    text: str | None = None,
    app_id: str | None = None,
) -> FieldResult:
    """One field against one person: value and type, or the error. `text` tests an expression
    that is not saved yet (an editor's draft) instead of the configured one."""
    app_id = app_id or getattr(app_row_or_schema, "id", None) or "this app"
    spec = field_spec(app_row_or_schema, key, app_id)
    expression = text if text is not None else provisioning_fields.get(spec["key"])
    return _field_result(cel, spec, expression, user, entitlement)


def field_spec(app_row_or_schema: Any, key: str, app_id: str) -> dict[str, Any]:
    """The creation field KEY (exact, else ignoring case); NotFound names the fields."""
    schema = schema_of(app_row_or_schema)
    spec = next((f for f in schema if f["key"] == key), None)
    if spec is None:
        spec = next((f for f in schema if f["key"].lower() == key.lower()), None)
    if spec is None:
        known = [f["key"] for f in schema]
        near = difflib.get_close_matches(key, known, n=1)
        raise NotFound(
            f"{app_id} has no account-creation field {key!r}"
            + (f" (did you mean {near[0]!r}?)" if near else "")
            + f"; its fields are: {', '.join(known) or 'none'}."
        )
    return spec


test_field.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# --- one field over everyone -----------------------------------------------------------------

CHECK_OUTCOMES = ("ok", "empty", "invalid", "error")
CHECK_BATCH = 500  # people between two looks at `cancelled` and two progress reports
CHECK_SAMPLES = 5  # people shown per outcome


@dataclass
class FieldCheck:
    """One creation field's expression over everyone who could get an account (every person
    who is not deleted): how many get a value that fits (`ok`), an empty value (`empty`: a
    required field then blocks their account; an optional one is left out), a value of the
    wrong type or too long (`invalid`), or an evaluation error (`error`), with a few people of
    each. An expression that does not compile checks nobody: `compile_error` says where."""

    app_id: str
    key: str
    field_type: str
    required: bool
    expression: str | None
    total: int = 0  # people in scope
    checked: int = 0  # people evaluated (fewer than total when cancelled)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECK_OUTCOMES, 0))
    defaulted: int = 0  # of the ok ones, how many take the field's default (unmapped: all)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    compile_error: FieldResult | None = None
    cancelled: bool = False
    # the check ran out of the preview time budget (settings.cel.max_seconds_per_preview):
    # the counts are of the people checked so far, and `note` says so
    timed_out: bool = False
    note: str = ""
    elapsed_ms: float = 0.0
    # a unique field (an account's id, a sign-in name: SchemaField.unique), of the people who
    # have no account in the app yet: how many get a value another of them gets too, and how
    # many the value of an account the app already holds; a few of each ("'ann.lee': Ann Lee,
    # Ann Lee"). The second account of a value would be refused by the app.
    shared: int = 0
    taken: int = 0
    # of the people `blocked` counts, those without an account in the app yet: the ones the
    # mapping keeps from getting one now (the others have theirs; it matters for rehires)
    blocked_without_account: int = 0
    shared_samples: list[str] = field(default_factory=list)
    taken_samples: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> int:
        """People who would get no account because of this field."""
        blocking = self.counts["invalid"] + self.counts["error"]
        return blocking + (self.counts["empty"] if self.required else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app_id,
            "field": self.key,
            "field_type": self.field_type,
            "required": self.required,
            "expression": self.expression,
            "total": self.total,
            "checked": self.checked,
            "counts": dict(self.counts),
            "defaulted": self.defaulted,
            "blocked": self.blocked,
            "samples": {k: list(v) for k, v in self.samples.items()},
            "compile_error": self.compile_error.as_dict() if self.compile_error else None,
            "cancelled": self.cancelled,
            "timed_out": self.timed_out,
            "note": self.note,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "shared": self.shared,
            "taken": self.taken,
            "blocked_without_account": self.blocked_without_account,
            "shared_samples": list(self.shared_samples),
            "taken_samples": list(self.taken_samples),
        }


def check_field(
    cel: CelEngine,
    app_row_or_schema: Any,
    provisioning_fields: Mapping[str, str],
    users: Iterable[UserRecord],
    key: str,
    *,
    text: str | None = None,
    app_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> FieldCheck:
    """`test_field` for every person in `users` that is not deleted, counted by outcome (see
    FieldCheck). `text` checks a draft instead of the saved expression; None or blank checks
    what the field gets unmapped (its default). Never raises for a bad expression."""
    started = time.perf_counter()
    app_id = app_id or getattr(app_row_or_schema, "id", None) or "this app"
    spec = field_spec(app_row_or_schema, key, app_id)
    people = [u for u in users if u.status != "DELETED"]
    expression = text if text is not None else provisioning_fields.get(spec["key"])
    check = FieldCheck(
        app_id,
        spec["key"],
        spec.get("type") or "string",
        bool(spec.get("required")),
        expression,
        total=len(people),
    )
    if expression is not None and expression.strip():
        try:
            cel.compile(CONTEXT, expression)
        except CelCompileError:
            check.compile_error = _field_result(
                cel, spec, expression, people[0] if people else UserRecord(id=0), None
            )
            check.elapsed_ms = (time.perf_counter() - started) * 1000
            return check
    values: Values | None = {} if spec.get("unique") else None
    try:
        with cel.time_budget("the check"):
            _check_people(cel, spec, expression, people, check, progress, cancelled, values)
    except CelTimeBudgetError as exc:
        check.timed_out = True
        check.note = (
            f"stopped after {check.checked:,} of {check.total:,} people: {exc.message}; the "
            "counts are of the people checked so far (raise "
            "settings.cel.max_seconds_per_preview to go further)"
        )
    if values:
        _unique_values(cel, app_id, spec["key"], values, check)
    check.elapsed_ms = (time.perf_counter() - started) * 1000
    return check


def _unique_values(
    cel: CelEngine, app_id: str, key: str, values: Values, check: FieldCheck
) -> None:
    """Count, among VALUES (of the people without an account in the app), those several people
    get and those an account of the app already holds (`account_holding`)."""
    for folded, (given, people) in sorted(values.items()):
        names = ", ".join(user_label(u) for u in people[:3]) + (
            f" and {len(people) - 3:,} more" if len(people) > 3 else ""
        )
        shown = given if len(given) <= 60 else given[:59] + "…"
        if len(people) > 1:
            check.shared += len(people)
            if len(check.shared_samples) < CHECK_SAMPLES:
                check.shared_samples.append(f"{shown!r}: {names}")
        holder = account_holding(cel.population, app_id, key, given)
        if holder is not None:
            check.taken += len(people)
            if len(check.taken_samples) < CHECK_SAMPLES:
                # the account, when its id is not the value itself
                held_by = holder if len(holder) <= 60 else holder[:59] + "…"
                which = "" if holder.casefold() == folded else f" (account {held_by!r})"
                check.taken_samples.append(f"{shown!r}{which}: {names}")


#: Of each population (a sync's, the services'), the values its accounts hold, by (app, field):
#: built once, when a unique field is first checked (read-only after, as the population)
_HELD: weakref.WeakKeyDictionary[Population, dict[tuple[str, str], dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)
_HELD_LOCK = threading.Lock()


def account_holding(population: Directory | None, app_id: str, key: str, value: str) -> str | None:
    """The id of the account of APP (not deleted) that holds VALUE (ignoring case) as its id,
    its username or its own value of the unique creation field KEY (`held_value`): what the
    app's connector refuses a new account. Without a loaded population, the ids alone (the
    store's lookups, one query each)."""
    wanted = value.strip()
    if not isinstance(population, Population):
        account = population.account(app_id, wanted) if population is not None else None
        return account.external_id if account and account.status != "DELETED" else None
    with _HELD_LOCK:
        held = _HELD.setdefault(population, {}).get((app_id, key))
        if held is None:
            held = _HELD[population][(app_id, key)] = _held_values(population, app_id, key)
    return held.get(wanted.casefold())


def _held_values(population: Population, app_id: str, key: str) -> dict[str, str]:
    held: dict[str, str] = {}
    for account in population.accounts:
        if account.app_id != app_id or account.status == "DELETED":
            continue
        ident = account.external_id
        for text in (ident, account.username, held_value(account, key)):
            if text.strip():
                held.setdefault(text.strip().casefold(), ident)
    return held


def unique_problem(
    cel: CelEngine,
    schema: list[dict[str, Any]],
    app_id: str,
    values: Mapping[str, Any],
    claimed: dict[tuple[str, str, str], str] | None = None,
) -> tuple[str, str] | None:
    """(field, why) when a unique field of a new account's VALUES is held by an account of
    the app (`account_holding`) or, in a sync, CLAIMED by an account it plans before this one
    ((app, field, folded value) -> whose); None when each is free. What the app refuses at
    creation, said before: a dry run promised accounts the sync then had refused."""
    for key, value, to_change in _unique_values_of(schema, values):
        holder = account_holding(cel.population, app_id, key, value)
        what = f"{value!r}" if key == to_change else f"its {key} {value!r}"
        if holder is not None:
            return to_change, (
                f"{what} is taken: the account {app_id}:{holder} has it ({app_id} takes each "
                "value once; that account may be someone else's: change the mapping, or link "
                "it if it is this person's)"
            )
        other = (claimed or {}).get((app_id, key, value.strip().casefold()))
        if other is not None:
            return to_change, (
                f"{what} goes to {other}, whose account this sync creates first ({app_id} "
                "takes each value once: change the mapping so that they differ)"
            )
    return None


def _unique_values_of(
    schema: list[dict[str, Any]], values: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(key, value, the field to change) of each value a new account takes once: its unique
    fields' and, in AD, the distinguished name it gets (CN=displayName in its ou: the
    displayName's to change)."""
    found = []
    for spec in schema:
        value = values.get(spec["key"])
        if spec.get("unique") and isinstance(value, str) and value.strip():
            found.append((spec["key"], value.strip(), spec["key"]))
    keys = {spec["key"] for spec in schema}
    if {"sAMAccountName", "ou"} <= keys:
        distinguished = ad_distinguished_name(values)
        if distinguished is not None:
            found.append(("distinguishedName", distinguished, "displayName"))
    return found


def claim_unique(
    schema: list[dict[str, Any]],
    app_id: str,
    values: Mapping[str, Any],
    who: str,
    claimed: dict[tuple[str, str, str], str],
) -> None:
    """Note a planned account's unique values as WHO's (`unique_problem`)."""
    for key, value, _ in _unique_values_of(schema, values):
        claimed.setdefault((app_id, key, value.casefold()), who)


#: A unique field's values: folded -> (the first as given, the people who get it)
Values = dict[str, tuple[str, list[UserRecord]]]


def _check_people(
    cel: CelEngine,
    spec: dict[str, Any],
    expression: str | None,
    people: list[UserRecord],
    check: FieldCheck,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
    values: Values | None = None,
) -> None:
    """Each person's value, counted (FieldCheck); `values`: the ok values of those with no
    account in the app yet, folded, with who gets them (a unique field's)."""
    for start in range(0, len(people), CHECK_BATCH):
        if cancelled is not None and cancelled():
            check.cancelled = True
            break
        for index, person in enumerate(people[start : start + CHECK_BATCH]):
            if index % 64 == 0 and past_deadline():
                raise CelTimeBudgetError(time_exceeded().message)
            result = _field_result(cel, spec, expression, person, None)
            outcome = result.problem or ("empty" if _is_empty(result.value) else "ok")
            if outcome not in check.counts:  # pragma: no cover - every problem is counted
                outcome = "invalid"
            check.counts[outcome] += 1
            check.checked += 1
            blocking = outcome in ("invalid", "error") or (outcome == "empty" and check.required)
            if blocking and not _existing_accounts(cel, check.app_id, person):
                check.blocked_without_account += 1
            if (
                values is not None
                and outcome == "ok"
                and isinstance(result.value, str)
                and not _existing_accounts(cel, check.app_id, person)
            ):
                given = result.value.strip()
                values.setdefault(given.casefold(), (given, []))[1].append(person)
            if outcome == "ok" and result.source == "default":
                check.defaulted += 1
            shown = check.samples.setdefault(outcome, [])
            if len(shown) < CHECK_SAMPLES:
                shown.append(
                    {
                        "person": user_label(person),
                        "id": person.id,
                        "value": result.value,
                        "type": result.type,
                        "reason": result.reason,
                    }
                )
        if progress is not None:
            progress(min(start + CHECK_BATCH, len(people)), len(people))


# --- one field -------------------------------------------------------------------------------


def _field_result(
    cel: CelEngine,
    spec: Mapping[str, Any],
    text: str | None,
    user: UserRecord,
    entitlement: dict[str, Any] | None,
) -> FieldResult:
    field_type = spec.get("type") or "string"
    result = FieldResult(
        key=spec["key"],
        display_name=spec.get("display_name") or spec["key"],
        field_type=field_type,
        required=bool(spec.get("required")),
        expression=text,
    )
    default = spec.get("default")
    raw: Any
    program = None
    if text is not None and str(text).strip():
        result.source = "cel"
        try:
            program = cel.compile(CONTEXT, text)
            raw = cel.evaluate(program, cel.activation_for(CONTEXT, user, entitlement=entitlement))
        except CelCompileError as exc:
            result.ok, result.problem = False, "compile"
            result.reason = f"the expression does not compile: {exc.problem.message}"
            result.line, result.column, result.hint = (
                exc.problem.line,
                exc.problem.column,
                exc.problem.hint,
            )
            return result
        except CelEvalError as exc:
            result.ok, result.problem = False, "error"
            result.reason = f"the expression failed for this person: {exc.message}"
            return result
        result.type = type_name(raw)
        if field_type == "map" and isinstance(raw, dict):
            # to_python would turn a key 1 into "1": a map field's keys are attribute names
            unfit = check_result(CONTEXT, raw)
            if unfit:
                result.ok, result.problem = False, "invalid"
                result.reason = unfit.replace(f"{CONTEXT} may return", "the field takes")
                return result
        try:
            result.value = to_python(raw)
        except Exception as exc:  # noqa: BLE001 - a value we cannot show is a field error
            result.ok, result.problem = False, "invalid"
            result.reason = f"the expression returned a {result.type} that cannot be used ({exc})"
            return result
        if _is_empty(result.value) and not _is_empty(default):
            result.note = (
                f"the expression returned {_empty_words(result.value)}; the field's default is used"
            )
            result.source = "default"
            result.value, result.type = default, type_name(default)
    elif not _is_empty(default):
        result.source = "default"
        result.value, result.type = default, type_name(default)
    else:
        result.source = "unmapped"
    if _is_empty(result.value):
        if result.required:
            result.ok, result.problem = False, "empty"
            result.reason = (
                f"required, but the expression returned {_empty_words(result.value)}"
                + _empty_inputs(program, user, cel.population)
                if result.source == "cel"
                else "required, but no expression maps it and it has no default"
            )
        return result
    reason = check_value(
        field_type, result.value, result.type, spec.get("max_length"), spec.get("format") or ""
    )
    if reason:
        result.ok, result.problem = False, "invalid"
        result.reason = reason
    return result


def check_value(
    field_type: str, value: Any, kind: str, max_length: Any = None, fmt: str = ""
) -> str:
    """Empty when a non-empty plain value fits the field type, else the reason. `kind` is the
    value's CEL type name (it tells a timestamp from the string it converts to); `fmt` a text's
    format (engine.connectors.base.format_problem)."""
    expected = {
        "string": "a string",
        "bool": "true or false",
        "int": "a whole number (int)",
        "string_list": "a list of strings",
        "map": "a map",
    }.get(field_type)
    if expected is None:
        return f"the schema gives this field an unknown type {field_type!r}"
    got = f"got {_shown(value, kind)}"
    if field_type == "string":
        if kind != "string" or not isinstance(value, str):
            hint = (
                "format it with time.format(...)"
                if kind in ("timestamp", "duration")
                else "convert it with string(...)"
            )
            return f"expected {expected}, {got} ({hint})"
        return _too_long([value], max_length) or format_problem(fmt, value)
    if field_type == "bool":
        if not isinstance(value, bool):
            return f"expected {expected}, {got}"
        return ""
    if field_type == "int":
        if isinstance(value, bool) or not isinstance(value, int) or kind not in ("int", "uint"):
            hint = " (convert it with int(...))" if kind in ("string", "double") else ""
            return f"expected {expected}, {got}{hint}"
        return ""
    if field_type == "string_list":
        if isinstance(value, str):
            return (
                f"expected {expected}, got a single string {_shown(value, kind)[7:]} "
                "(write [value] to make a list of one)"
            )
        if not isinstance(value, list):
            return f"expected {expected}, {got}"
        bad = [item for item in value if not isinstance(item, str)]
        if bad:
            return (
                f"expected {expected}, but item {value.index(bad[0]) + 1} is "
                f"{_shown(bad[0], type_name(bad[0]))}"
            )
        return _too_long(value, max_length)
    if not isinstance(value, dict):  # map
        return f"expected {expected}, {got}"
    return ""


# --- helpers ---------------------------------------------------------------------------------


def _existing_accounts(cel: CelEngine, app_id: str, user: UserRecord) -> list[str]:
    population = cel.population
    if population is None or not app_id:
        return []
    return sorted(
        a.external_id
        for a in population.accounts_of(user.id)
        if a.app_id == app_id and a.status != "DELETED"
    )


_CEL_STRINGS = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")
_SUBJECT_FIELD = re.compile(r"\bsubject\s*\.\s*([A-Za-z_]\w*)")


def _empty_inputs(program: Any, user: UserRecord, population: Directory | None) -> str:
    """Why an expression gave nothing, when the person's fields it reads are empty: an admin
    reading "returned an empty string" otherwise looks for a fault in the expression."""
    if program is None:
        return ""
    # the fields it selects on the person itself: `subject.profile.email` and a map's own
    # `.email` read no subject.email (hostile pass); the compiled names alone cannot tell
    text = _CEL_STRINGS.sub('""', program.text)
    selected = set(_SUBJECT_FIELD.findall(text)) & set(program.names)
    empty = empty_user_fields(frozenset(selected), user, population)
    if not empty:
        return ""
    fields = " and ".join(f"subject.{name}" for name in empty)
    verb = "is" if len(empty) == 1 else "are"
    return f": it reads {fields}, which {verb} empty for this person"


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False


def _empty_words(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string" if value == "" else "only spaces"
    if isinstance(value, list):
        return "an empty list"
    return "an empty map"


def _shown(value: Any, kind: str) -> str:
    if kind == "string" and isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "…"
        return f'string "{text}"'
    if kind == "bool":
        return f"bool {'true' if value else 'false'}"
    if kind in ("int", "uint", "double"):
        return f"{kind} {value}"
    return kind


def _too_long(values: Iterable[str], max_length: Any) -> str:
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
        return ""
    for item in values:
        if len(item) > max_length:
            return f"{len(item)} characters long; at most {max_length} are allowed"
    return ""


def invalid_plan_message(plan: ProvisionPlan) -> str:
    reasons = [reason.rstrip(".") for reason in plan.reasons()]
    return f"No account was created in {plan.app_id} for {plan.user}: " + "; ".join(reasons) + "."


__all__ = [
    "CONTEXT",
    "FieldCheck",
    "FieldResult",
    "ProvisionPlan",
    "ProvisionRefused",
    "ProvisionResult",
    "check_field",
    "check_value",
    "invalid_plan_message",
    "plan_account",
    "schema_of",
    "test_field",
]
