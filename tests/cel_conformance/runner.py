"""Run the CEL specification's conformance tests through Roster's engine (and cel-python's).

`load_cases()` reads the vendored `data/*.textproto` (google/cel-spec `tests/simple/testdata`,
see data/ORIGIN.md); `run_roster(case)` compiles the test's expression with `CelEngine.compile`
for a context whose variables are exactly the test's declared and bound names (the schema
check relaxed to them), evaluates it with `CelEngine.evaluate` as previews and syncs do, and
says how the result compares with what the specification expects. `run_celpy(case)` does the
same with cel-python's own evaluator, for the table in bench/cel_conformance.py.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .textproto import Message, parse

DATA = Path(__file__).resolve().parent / "data"

# The core files: CEL itself and the strings extension Roster ships.
CORE_FILES = (
    "basic", "comparisons", "conversions", "fields", "fp_math", "integer_math", "lists",
    "logic", "macros", "macros2", "parse", "plumbing", "string", "string_ext", "timestamps",
)  # fmt: skip
OPTIONAL_FILES = ("optionals",)
ALL_FILES = CORE_FILES + OPTIONAL_FILES

KNOWN_FAILURES = Path(__file__).resolve().parent / "known_failures.txt"

# Outcomes
PASS = "pass"
WRONG = "wrong value"  # a value where an error or another value is expected: never acceptable
ERROR = "error"  # an error (compile or evaluation) where a value is expected
CRASH = "crash"  # an exception that is not the engine's own error

_PROTO_WORDS = ("TestAllTypes", "NestedTestAllTypes", "google.protobuf", "cel.expr.",
                "NestedEnum", "GlobalEnum", "TestRequired", "proto2", "proto3")  # fmt: skip
_WELL_KNOWN = ("google.protobuf.Timestamp", "google.protobuf.Duration")


@dataclass(frozen=True)
class Case:
    file: str
    section: str
    name: str
    expr: str
    variables: tuple[str, ...]
    bindings: dict[str, Message] = field(hash=False, compare=False)
    expected: Message | None  # the expected ExprValue's `value`; None when an error is expected
    skip: str = ""  # why the test is not runnable here ("" when it is)

    @property
    def id(self) -> str:
        return f"{self.file}/{self.section}/{self.name}"


def _mentions_proto(message: Any) -> bool:
    if isinstance(message, Message):
        for name, values in message.items():
            if name == "object_value":
                for value in values:
                    if not (
                        isinstance(value, Message)
                        and len(value) == 1
                        and any(w in next(iter(value)) for w in _WELL_KNOWN)
                    ):
                        return True
            elif name in ("message_type", "enum_value") or any(_mentions_proto(v) for v in values):
                if name == "message_type" and all(
                    isinstance(v, bytes) and v.decode() in _WELL_KNOWN for v in values
                ):
                    continue
                return True
    return False


def _why_not_runnable(test: Message, expr: str) -> str:
    if test.get("container"):
        return "needs a container (namespace resolution)"
    if test.get("check_only"):
        return "checks types only"
    if any(word in expr for word in _PROTO_WORDS) and not any(w in expr for w in _WELL_KNOWN):
        return "needs protobuf message types"
    for name in ("value", "bindings", "type_env", "typed_result"):
        for value in test.get(name, []):
            if _mentions_proto(value):
                return "needs protobuf message types"
    if test.get("unknown") or test.get("any_unknowns"):
        return "expects unknowns"
    return ""


def load_file(stem: str) -> list[Case]:
    document = parse((DATA / f"{stem}.textproto").read_text(encoding="utf-8"))
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for section in document.messages("section"):
        section_name = section.text("name")
        for test in section.messages("test"):
            name = test.text("name")
            key = f"{section_name}/{name}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:  # a few names repeat inside a section
                name = f"{name}#{seen[key]}"
            expr = test.text("expr")
            variables: list[str] = []
            for declaration in test.messages("type_env"):
                variables.append(declaration.text("name"))
            bindings: dict[str, Message] = {}
            for binding in test.messages("bindings"):
                holder = binding.message("value")
                inner = holder.message("value") if holder is not None else None
                bindings[binding.text("key")] = inner if inner is not None else Message()
                variables.append(binding.text("key"))
            expected: Message | None
            if test.get("eval_error"):
                expected = None
            else:
                expected = test.message("value") or Message(bool_value=["true"])
            cases.append(
                Case(
                    stem,
                    section_name,
                    name,
                    expr,
                    tuple(dict.fromkeys(variables)),
                    bindings,
                    expected,
                    _why_not_runnable(test, expr),
                )
            )
    return cases


def load_cases(files: tuple[str, ...] = ALL_FILES) -> list[Case]:
    return [case for stem in files for case in load_file(stem)]


# ---- values: the textproto ExprValue -> a CEL value, and any CEL value -> a comparable form ---


def to_celpy(value: Message) -> Any:
    """A conformance `Value` message as cel-python's CEL value (what Roster computes with)."""
    from celpy import celtypes

    (kind, items), *_ = value.items()
    item = items[-1]
    if kind == "int64_value":
        return celtypes.IntType(int(item))  # type: ignore[arg-type]
    if kind == "uint64_value":
        return celtypes.UintType(int(item))  # type: ignore[arg-type]
    if kind == "double_value":
        return celtypes.DoubleType(float(item))  # type: ignore[arg-type]
    if kind == "string_value":
        assert isinstance(item, bytes)
        return celtypes.StringType(item.decode("utf-8"))
    if kind == "bytes_value":
        assert isinstance(item, bytes)
        return celtypes.BytesType(item)
    if kind == "bool_value":
        return celtypes.BoolType(item in ("true", "True", 1, "t"))
    if kind == "null_value":
        return None
    if kind == "list_value":
        assert isinstance(item, Message)
        return celtypes.ListType([to_celpy(v) for v in item.messages("values")])
    if kind == "map_value":
        assert isinstance(item, Message)
        result = celtypes.MapType()
        for entry in item.messages("entries"):
            key, entry_value = entry.message("key"), entry.message("value")
            assert key is not None and entry_value is not None
            result[to_celpy(key)] = to_celpy(entry_value)
        return result
    if kind == "object_value":
        assert isinstance(item, Message)
        (type_url, payloads), *_ = item.items()
        payload = payloads[-1]
        assert isinstance(payload, Message)
        seconds = int(payload.one("seconds", 0))  # type: ignore[arg-type]
        nanos = int(payload.one("nanos", 0))  # type: ignore[arg-type]
        if type_url.endswith("google.protobuf.Duration]"):
            return celtypes.DurationType(seconds=seconds, nanos=nanos)
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        return celtypes.TimestampType(moment + datetime.timedelta(microseconds=nanos // 1000))
    raise ValueError(f"unsupported value kind {kind}")


def expected_form(value: Message) -> Any:
    """The comparable form of an expected `Value` message."""
    (kind, items), *_ = value.items()
    item = items[-1]
    if kind == "type_value":
        return ("type", item.decode() if isinstance(item, bytes) else str(item))
    if kind == "list_value":
        assert isinstance(item, Message)
        return ("list", tuple(expected_form(v) for v in item.messages("values")))
    if kind == "map_value":
        assert isinstance(item, Message)
        entries = []
        for entry in item.messages("entries"):
            key, entry_value = entry.message("key"), entry.message("value")
            assert key is not None and entry_value is not None
            entries.append((expected_form(key), expected_form(entry_value)))
        return ("map", frozenset(entries))
    return form(to_celpy(value))


_TYPE_NAMES = {
    "BoolType": "bool", "IntType": "int", "UintType": "uint", "DoubleType": "double",
    "StringType": "string", "BytesType": "bytes", "ListType": "list", "MapType": "map",
    "NullType": "null_type", "TimestampType": "google.protobuf.Timestamp",
    "DurationType": "google.protobuf.Duration", "TypeType": "type", "NoneType": "null_type",
}  # fmt: skip


def form(value: Any) -> Any:
    """A CEL value as a hashable, type-tagged form: `1`, `1u` and `1.0` differ; NaN is NaN."""
    from celpy import celtypes

    if value is None or isinstance(value, celtypes.NullType):
        return ("null",)
    if isinstance(value, celtypes.BoolType | bool):
        return ("bool", bool(value))
    if isinstance(value, celtypes.UintType):
        return ("uint", int(value))
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("double", "nan" if math.isnan(value) else float(value))
    if isinstance(value, str):
        return ("string", str.__str__(value))
    if isinstance(value, bytes):
        return ("bytes", bytes(value))
    if isinstance(value, datetime.datetime):
        return ("timestamp", value.astimezone(datetime.UTC).isoformat())
    if isinstance(value, datetime.timedelta):
        return ("duration", value.total_seconds())
    if isinstance(value, dict):
        return ("map", frozenset((form(k), form(v)) for k, v in dict.items(value)))
    if isinstance(value, list | tuple):
        return ("list", tuple(form(item) for item in value))
    if isinstance(value, type):
        for klass in value.__mro__:
            if klass.__name__ in _TYPE_NAMES:
                return ("type", _TYPE_NAMES[klass.__name__])
        return ("type", value.__name__)
    name = getattr(value, "cel_type_name", None)
    if isinstance(name, str):
        return ("type", name)
    return ("other", type(value).__name__, repr(value)[:80])


# ---- running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # PASS, WRONG, ERROR, CRASH
    detail: str = ""


def judge(case: Case, produce: Callable[[], Any]) -> Outcome:
    """Run `produce` (which returns a CEL value or raises the evaluator's error types, given as
    `_EvaluatorError`) and compare with the test's expectation."""
    try:
        value = produce()
    except _EvaluatorError as error:
        if case.expected is None:
            return Outcome(PASS)
        return Outcome(ERROR, str(error.args[0])[:200])
    except Exception as error:  # noqa: BLE001 — a crash is an outcome the table counts
        return Outcome(CRASH, f"{type(error).__name__}: {str(error)[:160]}")
    if case.expected is None:
        return Outcome(WRONG, f"expected an error, got {form(value)!r}"[:240])
    expected = expected_form(case.expected)
    actual = form(value)
    if actual == expected:
        return Outcome(PASS)
    return Outcome(WRONG, f"expected {expected!r}, got {actual!r}"[:240])


class _EvaluatorError(Exception):
    pass


_roster_engine: Any = None


def run_roster(case: Case) -> Outcome:
    """Compile and evaluate through `engine.cel.CelEngine`, as previews and syncs do."""
    global _roster_engine
    from engine.cel import CelCompileError, CelEngine, CelEvalError, ContextSpec

    if _roster_engine is None:
        _roster_engine = CelEngine()
    engine = _roster_engine
    spec = ContextSpec(
        "conformance",
        case.variables,
        "any value",
        "user",
        variable_kinds={name: "dyn" for name in case.variables},
    )

    def produce() -> Any:
        try:
            program = engine.compile(spec, case.expr)
        except CelCompileError as error:
            raise _EvaluatorError(f"compile: {error}") from None
        variables = {name: to_celpy(value) for name, value in case.bindings.items()}
        try:
            return engine.evaluate(program, variables)
        except CelEvalError as error:
            raise _EvaluatorError(error.message) from None

    return judge(case, produce)


_celpy_environment: Any = None


def run_celpy(case: Case) -> Outcome:
    """The same test through cel-python's own evaluator (its default Environment)."""
    global _celpy_environment
    import celpy
    from celpy.evaluation import CELEvalError

    if _celpy_environment is None:
        from engine.cel.engine import quiet_celpy_loggers

        quiet_celpy_loggers()
        _celpy_environment = celpy.Environment()
    environment = _celpy_environment

    def produce() -> Any:
        try:
            program = environment.program(environment.compile(case.expr))
        except celpy.CELParseError as error:
            raise _EvaluatorError(f"compile: {error}") from None
        variables = {name: to_celpy(value) for name, value in case.bindings.items()}
        try:
            value = program.evaluate(variables)
        except CELEvalError as error:
            raise _EvaluatorError(str(error)) from None
        if isinstance(value, CELEvalError):
            raise _EvaluatorError(str(value))
        return value

    return judge(case, produce)


# ---- the known failures -------------------------------------------------------------------


def known_failures() -> dict[str, str]:
    """test id -> why it fails, from known_failures.txt (`id  reason`: two spaces or more
    between them, since a few test names contain one; `#` starts a comment line)."""
    found: dict[str, str] = {}
    for line in KNOWN_FAILURES.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, reason = line.partition("  ")
        found[test_id.strip()] = reason.strip()
    return found


@dataclass
class Tally:
    runnable: int = 0
    passed: int = 0
    wrong: int = 0
    errors: int = 0
    crashes: int = 0

    def add(self, outcome: Outcome) -> None:
        self.runnable += 1
        if outcome.kind == PASS:
            self.passed += 1
        elif outcome.kind == WRONG:
            self.wrong += 1
        elif outcome.kind == ERROR:
            self.errors += 1
        else:
            self.crashes += 1

    @property
    def rate(self) -> float:
        return self.passed / self.runnable if self.runnable else 0.0


def runnable(cases: list[Case]) -> Iterator[Case]:
    return (case for case in cases if not case.skip)
