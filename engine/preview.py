"""Previews: an expression against one record, or against everyone in scope (docs/concepts.md).

Pure functions over records and a CelEngine; the services facade feeds them from the store.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.cel import (
    CelCompileError,
    CelEngine,
    CelEvalError,
    CelTimeBudgetError,
    check_result,
    normalize_filter_result,
    to_python,
    type_name,
)
from engine.cel.budget import past_deadline, time_exceeded
from engine.cel.exceptions import caret_text
from engine.collector import collector_paused
from engine.errors import Problem
from engine.records import AccountRecord, UserRecord
from engine.records import record_label as record_label  # re-exported: its old home
from engine.text import one_line

if TYPE_CHECKING:
    from engine.sync.simulate import IdentityImpact

Record = UserRecord | AccountRecord
BATCH = 1000
SAMPLES = 10
FIRST_ERRORS = 5


@dataclass
class OnePreview:
    ok: bool
    value: Any = None
    type: str = ""
    error: Problem | None = None
    caret: str = ""
    elapsed_ms: float = 0.0
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "value": self.value,
            "type": self.type,
            "error": _error_dict(self.error, self.caret),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "warnings": [w.as_dict() for w in self.warnings],
        }


#: The most characters of a failing sub-expression an error quotes.
PART_SHOWN = 60


@dataclass
class PopulationPreview:
    ok: bool
    error: Problem | None = None
    caret: str = ""
    count: int = 0
    errors: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: float = 0.0
    warnings: list[Problem] = field(default_factory=list)
    cancelled: bool = False
    compare: Comparison | None = None  # set when compared with a saved expression
    # The preview ran out of its time budget (settings.cel.max_seconds_per_preview): the
    # counts are of the records evaluated before, and `note` says so.
    timed_out: bool = False
    note: str = ""
    scope: str = ""  # whose records: "every person", "the accounts of ad", …

    def as_dict(self) -> dict[str, Any]:
        data = {
            "ok": self.ok,
            "scope": self.scope,
            "error": _error_dict(self.error, self.caret),
            "count": self.count,
            "errors": self.errors,
            "first_errors": self.first_errors,
            "summary": self.summary,
            "samples": self.samples,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "warnings": [w.as_dict() for w in self.warnings],
            "cancelled": self.cancelled,
            "timed_out": self.timed_out,
            "note": self.note or None,
        }
        if self.compare is not None:
            data["compare"] = self.compare.as_dict()
        return data


@dataclass
class Comparison:
    """The expression against a saved one (`against`, e.g. a configuration path), record by
    record: how many values differ, how many became empty, and the first differences."""

    against: str
    saved: str  # the saved expression's text
    changed: int = 0
    became_empty: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)  # record, before, after
    error: str = ""  # the saved expression does not compile: nothing was compared
    # A directory filter, merge rule or ownership rule: what saving the expression would do to
    # people and owners (identify and ownership simulated with the saved configuration and with
    # the edited one), or why that could not be worked out
    impact: IdentityImpact | None = None
    impact_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "against": self.against,
            "saved": self.saved,
            "changed": self.changed,
            "became_empty": self.became_empty,
            "samples": self.samples,
            "error": self.error or None,
        }
        if self.impact is not None or self.impact_error:
            impact = self.impact
            data["people_created"] = impact.people_created if impact else None
            data["people_removed"] = impact.people_removed if impact else None
            data["owner_changed"] = impact.owner_changed if impact else None
            data["impact_samples"] = impact.as_dict()["samples"] if impact else None
            data["impact_error"] = self.impact_error or None
        return data


def _error_dict(problem: Problem | None, caret: str) -> dict[str, Any] | None:
    if problem is None:
        return None
    return {
        "message": problem.message,
        "line": problem.line,
        "column": problem.column,
        "hint": problem.hint,
        "caret": caret,
    }


def _compile(
    cel: CelEngine, context: str, text: str
) -> tuple[Any, Problem | None, str, list[Problem]]:
    try:
        program = cel.compile(context, text)
    except CelCompileError as exc:
        return None, exc.problem, exc.caret, []
    warnings = [p for p in cel.check(context, text) if p.severity == "warning"]
    return program, None, "", warnings


def _evaluate(
    cel: CelEngine,
    context: str,
    program: Any,
    record: Record | None,
    entitlement: dict[str, Any] | None = None,
    located: bool = False,
) -> tuple[Any, str | None]:
    """The record's value as plain Python, or the error message for people. `located`: an
    evaluation error that knows where in the expression it happened is raised instead."""
    try:
        variables = cel.activation_for(context, record, entitlement=entitlement, program=program)
        value = cel.evaluate(program, variables)
    except CelEvalError as exc:
        if located and exc.line is not None:
            raise
        return None, str(exc)
    problem = check_result(context, value)
    if problem:
        return None, problem
    return value, None


def preview_one(
    cel: CelEngine,
    context: str,
    text: str,
    record: Record | None,
    entitlement: dict[str, Any] | None = None,
) -> OnePreview:
    """TEXT's value for one record (None in the `cel` context, which has no record)."""
    started = time.perf_counter()
    program, problem, caret, warnings = _compile(cel, context, text)
    if program is None:
        return OnePreview(
            False, error=problem, caret=caret, elapsed_ms=(time.perf_counter() - started) * 1000
        )
    where = record_label(record) if record is not None else ""
    located: CelEvalError | None = None
    try:
        with cel.time_budget("the preview"):
            value, message = _evaluate(cel, context, program, record, entitlement, located=True)
    except CelTimeBudgetError as exc:
        value, message = None, exc.message
    except CelEvalError as exc:  # where in the expression it failed is known: say so
        value, message, located = None, None, exc
    elapsed = (time.perf_counter() - started) * 1000
    if located is not None:
        # the part as one short line: a list literal over twelve lines must not push the
        # caret and the value off a console's screen
        part = f" (in `{one_line(located.part, PART_SHOWN)}`)" if located.part else ""
        return OnePreview(
            False,
            error=Problem(
                located.message + part,
                path=where,
                line=located.line,
                column=located.column,
                hint=located.hint,
            ),
            caret=caret_text(text, located.line, located.column),
            elapsed_ms=elapsed,
            warnings=warnings,
        )
    if message is not None:
        return OnePreview(
            False, error=Problem(message, path=where), elapsed_ms=elapsed, warnings=warnings
        )
    return OnePreview(
        True, to_python(value), type_name(value), elapsed_ms=elapsed, warnings=warnings
    )


def preview_all(
    cel: CelEngine,
    context: str,
    text: str,
    records: Sequence[Record],
    *,
    compare_to: str | None = None,
    against: str = "",
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PopulationPreview:
    """Every record's value and the summary that fits the context. With `compare_to` (the
    saved expression; `against` names it, e.g. its configuration path) each value is also
    compared with the saved expression's, in `result.compare` and the summary."""
    started = time.perf_counter()
    program, problem, caret, warnings = _compile(cel, context, text)
    if program is None:
        return PopulationPreview(
            False, error=problem, caret=caret, elapsed_ms=(time.perf_counter() - started) * 1000
        )
    baseline = None
    result = PopulationPreview(True, warnings=warnings)
    if compare_to is not None:
        result.compare = Comparison(against or "the saved expression", compare_to)
        baseline, saved_problem, _, _ = _compile(cel, context, compare_to)
        if saved_problem is not None:
            result.compare.error = f"the saved expression does not compile: {saved_problem.message}"
    summary = _Summary(context)
    # the first preview converts every record once (kept by the engine): no collections of
    # the whole heap while it does
    with cel.time_budget("the preview"), collector_paused():
        _evaluate_all(
            cel, context, program, baseline, records, result, summary, progress, cancelled
        )
    result.summary = summary.result()
    if result.compare is not None and baseline is not None:
        result.compare.changed = summary.changed
        result.compare.became_empty = summary.became_empty
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def _evaluate_all(
    cel: CelEngine,
    context: str,
    program: Any,
    baseline: Any,
    records: Sequence[Record],
    result: PopulationPreview,
    summary: _Summary,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> None:
    """Evaluate `program` (and `baseline`) for each record into `result` and `summary`, until
    the records, the preview's time budget or the caller's patience run out."""
    total = len(records)
    for start in range(0, total, BATCH):
        if cancelled is not None and cancelled():
            result.cancelled = True
            break
        try:
            _evaluate_batch(
                cel, context, program, baseline, records[start : start + BATCH], result, summary
            )
        except CelTimeBudgetError as exc:
            result.timed_out = True
            result.note = (
                f"stopped after {result.count:,} of {total:,} records: {exc.message}; "
                "the counts are of the records evaluated so far (raise "
                "settings.cel.max_seconds_per_preview to go further)"
            )
            break
        if progress is not None:
            progress(min(start + BATCH, total), total)


def _evaluate_batch(
    cel: CelEngine,
    context: str,
    program: Any,
    baseline: Any,
    records: Sequence[Record],
    result: PopulationPreview,
    summary: _Summary,
) -> None:
    for index, record in enumerate(records):
        if index % 64 == 0 and past_deadline():
            raise CelTimeBudgetError(time_exceeded().message)
        value, message = _evaluate(cel, context, program, record)
        result.count += 1
        if message is not None:
            result.errors += 1
            if len(result.first_errors) < FIRST_ERRORS:
                result.first_errors.append({"record": record_label(record), "message": message})
            continue
        plain = to_python(value)
        summary.add(plain)
        if len(result.samples) < SAMPLES:
            result.samples.append({"record": record_label(record), "value": plain})
        if baseline is not None and result.compare is not None:
            before, _ = _evaluate(cel, context, baseline, record)
            old = to_python(before) if before is not None else None
            summary.compare(old, plain)
            if old != plain and len(result.compare.samples) < SAMPLES:
                result.compare.samples.append(
                    {"record": record_label(record), "before": old, "after": plain}
                )


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


#: How the summary's keys read (PopulationPreview.summary): decisions (CREATE, MATCH_ONLY…)
#: stay as written, other keys read as words
SUMMARY_LABELS = {
    "distinct": "distinct values",
    "not_selected": "not selected",
    "became_empty": "became empty",
}


def summary_label(key: str) -> str:
    return SUMMARY_LABELS.get(key, key if key.isupper() else key.replace("_", " "))


def format_number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


class _Summary:
    """The summary that fits the context: decisions, selections or value distributions."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.decisions: Counter[str] = Counter()
        self.values: Counter[str] = Counter()
        self.empty = 0
        self.changed = 0
        self.became_empty = 0
        self.compared = False

    def add(self, value: Any) -> None:
        if self.context == "directory_filter":
            self.decisions[normalize_filter_result(value) or "INVALID"] += 1
        elif self.context == "push_condition":
            self.decisions["selected" if value is True else "not_selected"] += 1
        elif _is_empty(value):
            self.empty += 1
        else:
            self.values[_display(value)] += 1

    def compare(self, before: Any, after: Any) -> None:
        self.compared = True
        if before != after:
            self.changed += 1
            if _is_empty(after) and not _is_empty(before):
                self.became_empty += 1

    def result(self) -> dict[str, Any]:
        if self.context == "directory_filter":
            summary: dict[str, Any] = {
                k: self.decisions.get(k, 0) for k in ("CREATE", "MATCH_ONLY", "IGNORE")
            }
            if self.decisions.get("INVALID"):
                summary["INVALID"] = self.decisions["INVALID"]
        elif self.context == "push_condition":
            summary = {k: self.decisions.get(k, 0) for k in ("selected", "not_selected")}
        else:
            summary = {
                "distinct": len(self.values),
                "empty": self.empty,
                "top": [[value, count] for value, count in self.values.most_common(10)],
            }
        if self.compared:
            summary["changed"] = self.changed
            summary["became_empty"] = self.became_empty
        return summary


def _display(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)
