"""Equality and ordering across types, division, int() and duration ranges as CEL specifies."""

from __future__ import annotations

import pytest

from engine.cel import CelCompileError, CelEngine, CelEvalError, ContextSpec, to_python
from engine.records import UserRecord

SPEC = ContextSpec("numbers", (), "any", "user", variable_kinds={})


@pytest.fixture(scope="module")
def engine() -> CelEngine:
    return CelEngine()


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1.0 == 1", True),
        ("1u == 1", True),
        ("dyn(1) < 2u", True),
        ("dyn(2.5) > 2", True),
        ("dyn(9223372036854775807) < 9223372036854775808.0", False),  # as doubles
        ("[1, 'foo'].exists(e, e == '10')", False),
        ("1 == 'a'", False),
        ("null == 0", False),
        ("[1, 2.0] == [1u, 2]", True),
        ("{1: 'a'} == {1u: 'a'}", True),
        ("2u in [1, 2]", True),
        ("2.0 in {2: 'x'}", True),
        ("'key' in {1u: 'str'}", False),
        ("0.0/0.0 == 0.0/0.0", False),
        ("0.0/0.0 != 0.0/0.0", True),
        ("1.0/0.0 > 1e308", True),
        ("int(2.9)", 2),
        ("duration('1.234s').getMilliseconds()", 234),
        ("duration('-1.234s').getMilliseconds()", -234),
        ("type(1) == int", True),
        ("type('a') == string", True),
        ("type(1u) == int", False),
        ("type(int) == type", True),
        ("[1, 2].map(x, type(x) == int).all(b, b)", True),
        # what the arithmetic does take
        ("7 / 2", 3),
        ("7.0 / 2.0", 3.5),
        ("7u / 2u", 3),
        ("7 % 3", 1),
        ("7u % 3u", 1),
        ("-7 % 3 == -1 && 7 % -1 == 0 && (-9223372036854775807 - 1) % 1 == 0", True),
        ("[1] + [true]", [1, True]),
        ("size(b'a' + b'c')", 2),
        ("1 < 1.5 && 1 == 1.0", True),  # comparisons do cross number kinds
        ("string(timestamp('2020-01-01T00:00:00Z') + duration('1h'))", "2020-01-01T01:00:00Z"),
        ("string(duration('1h') + timestamp('2020-01-01T00:00:00Z'))", "2020-01-01T01:00:00Z"),
        ("duration('1h') + duration('30m') == duration('90m')", True),
        # results keep their CEL type
        (
            "type(1.0 + 1.0) == double && type(2.0 - 1.0) == double && type(2.0 * 3.0) == double",
            True,
        ),
        ("type(duration('1h') - duration('2h')) == type(duration('1h'))", True),
        ("type(b'a' + b'b') == bytes", True),
        ("-1.5 == 0.0 - 1.5 && type(-1.5) == double && - -3 == 3", True),
        ("-9223372036854775808 < 0", True),
    ],
)
def test_values(engine: CelEngine, expression: str, expected: object) -> None:
    assert to_python(engine.evaluate(engine.compile(SPEC, expression), {})) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("int(-9223372036854775808.0)", "number out of range"),
        ("duration('200000000000s') - duration('-200000000000s')", "number out of range"),
        ("1 < 'a'", "no matching overload"),
        # CEL's arithmetic takes numbers of one kind and never a bool; Python's would answer
        # (1 / 2.0 was 0: an int floor-divided by a double)
        ("1 / 2.0", "no matching overload for int / double: convert one side first"),
        ("1.0 + 1", "no matching overload for double + int"),
        ("2.0 * 3", "no matching overload for double * int"),
        ("1u + 1", "no matching overload for uint + int: convert one side first, e.g. with int"),
        ("5 - 1u", "no matching overload for int - uint"),
        ("true + 1", "no matching overload for bool + int: a bool is not a number"),
        ("1 - true", "no matching overload for int - bool"),
        ("true % 2", "no matching overload for bool % int"),
        ("true + true", "no matching overload for bool + bool"),
        ("5.5 % 2.0", "no matching overload for double % double: % takes two ints or two"),
        ("5 % 2.0", "int % double: % takes two ints or two uints: convert first, e.g. int(x)"),
        ("1u % 2", "uint % int: % takes two ints or two uints: convert one side"),
        ("duration('1h') * 2", "no matching overload for duration * int: a duration does not"),
        # unary minus: ints and doubles only
        ("-true", "no matching overload for -bool: only an int or a double can be negated: for"),
        ("-(1u)", "no matching overload for -uint: only an int or a double can be negated"),
        ("-'a'", "no matching overload for -string"),
        ("-(-9223372036854775807 - 1)", "overflow"),
        # the quotient is 2^63, out of range: cel-go's remainder says so too
        ("(-9223372036854775807 - 1) % -1", "integer overflow"),
        ("(-9223372036854775807 - 1) / -1", "integer overflow"),
        ("optional.of(1) + 1", "no matching overload for optional + int"),
        ("{1: 2} + {3: 4}", "no matching overload for map + map"),
        ("null + 1", "no matching overload for null + int"),
        ("[1.5].map(x, x * 2)", "no matching overload for double * int"),
    ],
)
def test_errors(engine: CelEngine, expression: str, message: str) -> None:
    with pytest.raises(CelEvalError) as error:
        engine.evaluate(engine.compile(SPEC, expression), {})
    assert message in error.value.message


def test_a_profile_double_equals_an_integer_literal(engine: CelEngine) -> None:
    user = UserRecord(1, email="a@example.com", attributes={"level": 3.0})
    program = engine.compile("push_condition", "subject.profile.level == 3")
    assert to_python(engine.evaluate(program, engine.activation_for("push_condition", user)))


def test_a_type_name_is_no_comprehension_variable(engine: CelEngine) -> None:
    with pytest.raises(CelCompileError) as error:
        engine.compile(SPEC, "[1].map(int, int + 1)")
    assert error.value.problem.message == "`int` is the name of a type"
