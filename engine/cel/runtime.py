"""What transpiled programs call at run time, besides Roster's functions.

cel-python's own helpers are correct but slow on the hot path (`bool_eq` builds a wrapper with
functools.wraps on every call; `operator_in` builds typing generics per call; `&&`, `||` and
`?:` evaluate both sides). These do the same with CEL semantics — errors are values that
`&&`, `||`, `?:` and the macros can absorb — and short-circuit where CEL allows.
"""

from __future__ import annotations

import datetime
import math
import operator
import re
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError, function_getMilliseconds

from engine.errors import StoreError

from .budget import SMALL, spend
from .objects import CelRecord
from .optionals import OptionalValue
from .strings import CelFunctionError
from .values import (
    FALSE,
    TRUE,
    StatusValue,
    StringType,
    format_duration,
    format_timestamp,
    make_string,
    type_name_of_type,
)

BoolType = celtypes.BoolType
ListType = celtypes.ListType

_OVERLOAD = "no matching overload: an operator or function got values of the wrong type"


class NoOverload(TypeError):
    """An operator given types it has no meaning for. It names the types, never the values
    (they may be a person's data), and suggests a conversion when the two types differ."""

    def __init__(self, symbol: str, left: Any, right: Any, unary: bool = False) -> None:
        a, b = type_name_of_type(type(left)), type_name_of_type(type(right))
        if unary:  # `-x`: only `right`
            message = f"no matching overload for {symbol}{b}"
            hint = "only an int or a double can be negated" + (
                ": for a bool, write !x" if b == "bool" else ""
            )
            super().__init__(f"{message}: {hint}")
            return
        message = f"no matching overload for {a} {symbol} {b}"
        hint = _overload_hint(symbol, {a, b})
        super().__init__(f"{message}: {hint}" if hint else message)


class NoConversion(NoOverload):
    """A conversion function given a type it has no overload for (its message names the type,
    never the value)."""

    def __init__(self, message: str) -> None:  # noqa: D107 - not NoOverload's operands
        TypeError.__init__(self, message)


_NUMBERS = {"int", "uint", "double"}


def _overload_hint(symbol: str, kinds: set[str]) -> str:
    """What usually fixes an operator given these two types (none when nothing simple does)."""
    if symbol == "in":
        return "`in` looks in a list or a map"
    if kinds == {"string", "timestamp"}:
        return "make the text a timestamp first: timestamp(…), RFC 3339"
    if kinds == {"string", "duration"}:
        return 'make the text a duration first: duration(…), e.g. duration("24h")'
    if "timestamp" in kinds and kinds & _NUMBERS:
        if symbol in ("+", "-"):
            return 'add or subtract a duration, e.g. duration("24h")'
        return "compare with a timestamp: timestamp(…), or now()"
    if "bool" in kinds and kinds & _NUMBERS:
        return "a bool is not a number: choose one with a condition, e.g. (flag ? 1 : 0)"
    if symbol == "%" and kinds <= _NUMBERS:
        if "double" in kinds:
            return "% takes two ints or two uints: convert first, e.g. int(x) % 2"
        return "% takes two ints or two uints: convert one side, e.g. with int(…) or uint(…)"
    if len(kinds) == 2 and kinds <= _NUMBERS:
        if "uint" in kinds:
            return "convert one side first, e.g. with int(…), uint(…) or double(…)"
        return "convert one side first, e.g. with double(…) or int(…)"
    if "duration" in kinds and kinds & _NUMBERS:
        return 'a duration does not scale: build it, e.g. duration(string(n * 60) + "s")'
    if kinds == {"string"} | (kinds & _NUMBERS) and len(kinds) == 2:
        if symbol == "+":
            return "convert one side first: string(…) to join text, int(…) or double(…) to add"
        if symbol in ("<", "<=", ">", ">="):
            return "convert one side first, e.g. with int(…), double(…) or string(…)"
        return "to compute, make the text a number first: int(…) or double(…)"
    return ""


# ---- errors as values ---------------------------------------------------------------------


def describe_exception(error: BaseException) -> str:
    """A short message for people; never includes the values being evaluated."""
    if isinstance(error, CelFunctionError):
        return str(error)[:300]
    if isinstance(error, KeyError):
        key = error.args[0] if error.args else "?"
        text = str(key)
        return f"no such key or field: {text[:60]!r}" if len(text) < 200 else "no such key"
    if isinstance(error, NameError):
        name = error.args[0] if error.args else "?"
        return f"the variable `{name}` has no value in this evaluation"
    if isinstance(error, ZeroDivisionError):
        return "division by zero"
    if isinstance(error, OverflowError):
        return "number out of range"
    if isinstance(error, MemoryError):
        return "the expression needs more memory than there is; simplify it"
    if isinstance(error, IndexError):
        return "list index out of range"
    if isinstance(error, AttributeError):
        return "this value has no fields (it is not an object or a map)"
    if isinstance(error, RecursionError):
        return "the expression is nested too deeply to evaluate"
    if isinstance(error, NoOverload):
        return str(error)
    if isinstance(error, TypeError):
        return _OVERLOAD
    if isinstance(error, ValueError):
        return _value_error(error)
    if type(error).__name__ == "ParserError":  # pendulum's, from timestamp("…")
        return "the text is not a timestamp; write it as RFC 3339, e.g. 2024-05-01T09:00:00Z"
    return f"evaluation failed ({type(error).__name__})"


def _value_error(error: ValueError) -> str:
    """cel-python's ValueErrors, said without the value (it may be a person's data)."""
    text = str(error)
    if text == "overflow":
        return "integer overflow: the result is outside the 64-bit range of int (or uint)"
    if text.startswith("invalid literal for int()"):
        return "the text is not a whole number, so it cannot become an int"
    if text.startswith("could not convert string to float"):
        return "the text is not a number, so it cannot become a double"
    return "invalid value for this operation"


_CELPY_MESSAGES = {
    "no such overload": _OVERLOAD,
    "divide by zero": "division by zero",
    "return error for overflow": "number out of range",
    "invalid_argument": "invalid argument",
}


def describe_error_value(error: CELEvalError) -> str:
    cause = error.__cause__
    if cause is not None and not isinstance(cause, CELEvalError):
        return describe_exception(cause)
    message = str(error.args[0]) if error.args else "evaluation error"
    if message.startswith("no such member"):
        return "no such key or field" + message[len("no such member in mapping") :][:80]
    if message.startswith("undeclared reference"):
        return "a name has no value in this evaluation"
    return _CELPY_MESSAGES.get(message, message[:200])


# The error value made last in this thread's evaluation: when a function is handed one and
# fails on it (`[1].map(x, x + "b").size()`: len() of an error), that error is the one to report.
_made = threading.local()


def error_value(error: BaseException) -> CELEvalError:
    value = CELEvalError(describe_exception(error), error.__class__, ())
    value.__cause__ = error
    _made.value = value
    return value


def forget_error_values() -> None:
    """At the start of an evaluation: no error value of an earlier one is reported."""
    _made.value = None


def consumed_error(error: BaseException) -> CELEvalError | None:
    """The error value behind ERROR when ERROR is a function refusing an error value it was
    given ("object of type 'CELEvalError' has no len()"), rather than a failure of its own."""
    if isinstance(error, TypeError | AttributeError) and "CELEvalError" in str(error):
        found = getattr(_made, "value", None)
        return found if isinstance(found, CELEvalError) else None
    return None


def result(activation: Any, expression: Callable[[Any], Any]) -> Any:
    """Evaluate; an exception becomes an error value."""
    try:
        return expression(activation)
    except StoreError:
        raise  # the store failed, not the expression: never a value `||` could absorb
    except Exception as error:
        return error_value(error)


# ---- logic --------------------------------------------------------------------------------


def logical_and(activation: Any, left: Callable[[Any], Any], right: Callable[[Any], Any]) -> Any:
    """`a && b`: false if either side is false (even if the other is an error)."""
    x = result(activation, left)
    if x is FALSE or (x.__class__ is BoolType and not x):
        return FALSE
    y = result(activation, right)
    if y.__class__ is BoolType:
        if not y:
            return FALSE
        if x.__class__ is BoolType:
            return TRUE
        return x if x.__class__ is CELEvalError else error_value(TypeError("&&"))
    if y.__class__ is CELEvalError:
        return y if x.__class__ is BoolType else x if x.__class__ is CELEvalError else y
    return error_value(TypeError("&&"))


def logical_or(activation: Any, left: Callable[[Any], Any], right: Callable[[Any], Any]) -> Any:
    """`a || b`: true if either side is true (even if the other is an error)."""
    x = result(activation, left)
    if x is TRUE or (x.__class__ is BoolType and x):
        return TRUE
    y = result(activation, right)
    if y.__class__ is BoolType:
        if y:
            return TRUE
        if x.__class__ is BoolType:
            return FALSE
        return x if x.__class__ is CELEvalError else error_value(TypeError("||"))
    if y.__class__ is CELEvalError:
        return y if x.__class__ is BoolType else x if x.__class__ is CELEvalError else y
    return error_value(TypeError("||"))


def conditional(
    activation: Any,
    condition: Callable[[Any], Any],
    left: Callable[[Any], Any],
    right: Callable[[Any], Any],
) -> Any:
    """`c ? a : b`, evaluating only the branch taken."""
    chosen = result(activation, condition)
    if chosen.__class__ is BoolType:
        return result(activation, left if chosen else right)
    if chosen.__class__ is CELEvalError:
        return chosen
    return error_value(TypeError("?:"))


def logical_not(value: Any) -> Any:
    if value.__class__ is BoolType:
        return FALSE if value else TRUE
    return celtypes.logical_not(value)


# ---- comparisons and arithmetic -------------------------------------------------------------


IntType = celtypes.IntType
UintType = celtypes.UintType
DoubleType = celtypes.DoubleType
_INTEGERS = (IntType, UintType)
_SAME_CLASS_EQ = frozenset(
    (StringType, IntType, UintType, BoolType, celtypes.BytesType, celtypes.TimestampType,
     celtypes.DurationType)
)  # fmt: skip


def _number(value: Any) -> int | float | None:
    """An int, uint or double as a plain Python number; None for anything else (bool too)."""
    kind = value.__class__
    if kind is IntType or kind is UintType:
        return int(value)
    if kind is DoubleType:
        return float(value)
    if isinstance(value, bool | BoolType):
        return None
    if isinstance(value, int | float):
        return value
    return None


def _numbers_equal(a: int | float, b: int | float) -> bool:
    # CEL compares an int or uint with a double as doubles (cel-go; the spec's conformance
    # data: dyn(9223372036854775808.0) == 9223372036854775807 holds)
    if a.__class__ is float or b.__class__ is float:
        return float(a) == float(b)
    return a == b


def values_equal(a: Any, b: Any) -> bool:
    """CEL equality: numbers by value across int, uint and double (NaN equals nothing); lists
    and maps item by item; values of other different types are unequal, never an error."""
    kind = a.__class__
    if kind is b.__class__ and kind in _SAME_CLASS_EQ:
        return bool(a == b)
    if isinstance(a, str):
        return isinstance(b, str) and bool(a == b)  # a StatusValue equals every spelling
    x = _number(a)
    if x is not None:
        y = _number(b)
        return y is not None and _numbers_equal(x, y)
    if a is None or isinstance(a, celtypes.NullType):
        return b is None or isinstance(b, celtypes.NullType)
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        return all(values_equal(p, q) for p, q in zip(a, b, strict=True))
    if isinstance(a, dict) and not isinstance(a, CelRecord):
        if not isinstance(b, dict) or isinstance(b, CelRecord) or len(a) != len(b):
            return False
        for key, value in dict.items(a):
            found = _map_key(b, key)
            if found is _ABSENT or not values_equal(value, dict.__getitem__(b, found)):
                return False
        return True
    if isinstance(b, str | list) or _number(b) is not None or b is None:
        return False
    try:
        return bool(a == b)
    except TypeError:
        return False


_ABSENT = object()


def _map_key(container: dict[Any, Any], key: Any) -> Any:
    """The key of `container` equal to `key` in CEL's sense (1, 1u and 1.0 are one key), or
    _ABSENT."""
    try:
        if dict.__contains__(container, key):
            for candidate in dict.keys(container):
                if candidate.__class__ is key.__class__ and candidate == key:
                    return candidate
    except TypeError:
        pass
    for candidate in dict.keys(container):
        if values_equal(candidate, key):
            return candidate
    return _ABSENT


def equal(a: Any, b: Any) -> Any:
    if a.__class__ is StringType and b.__class__ is StringType:
        return TRUE if str.__eq__(a, b) else FALSE
    if isinstance(a, str) and isinstance(b, str):  # a StatusValue equals every spelling
        return TRUE if a == b else FALSE
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    return TRUE if values_equal(a, b) else FALSE


def not_equal(a: Any, b: Any) -> Any:
    if a.__class__ is StringType and b.__class__ is StringType:
        return FALSE if str.__eq__(a, b) else TRUE
    if isinstance(a, str) and isinstance(b, str):
        return FALSE if a == b else TRUE
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    return FALSE if values_equal(a, b) else TRUE


def _ordering(function: Callable[[Any, Any], Any], symbol: str) -> Callable[[Any, Any], Any]:
    """`<`, `<=`, `>`, `>=`: numbers across int, uint and double by value (with a double, as
    doubles); other values only with their own type (else no matching overload)."""

    def compare(a: Any, b: Any) -> Any:
        if a.__class__ is CELEvalError:
            return a
        if b.__class__ is CELEvalError:
            return b
        x = _number(a)
        if x is not None:
            y = _number(b)
            if y is None:
                raise NoOverload(symbol, a, b)
            if x.__class__ is float or y.__class__ is float:
                return TRUE if function(float(x), float(y)) else FALSE
            return TRUE if function(x, y) else FALSE
        if _number(b) is not None:
            raise NoOverload(symbol, a, b)
        try:
            return TRUE if function(a, b) else FALSE
        except TypeError:
            raise NoOverload(symbol, a, b) from None

    compare.__name__ = function.__name__
    return compare


def contained_in(item: Any, container: Any) -> Any:
    """`item in container`: list membership or map key, with CEL equality."""
    if item.__class__ is CELEvalError:
        return item
    if container.__class__ is CELEvalError:
        return container
    if isinstance(container, dict) and not isinstance(container, CelRecord):
        if isinstance(item, str):
            try:
                return TRUE if dict.__contains__(container, item) else FALSE
            except TypeError:
                pass
        return FALSE if _map_key(container, item) is _ABSENT else TRUE
    if isinstance(container, CelRecord):
        container = list(container)  # its field names
    elif not isinstance(container, list):
        raise NoOverload("in", item, container)
    if isinstance(item, str):
        for candidate in container:
            if isinstance(candidate, str) and candidate == item:
                return TRUE
        return FALSE
    for candidate in container:
        if values_equal(candidate, item):
            return TRUE
    return FALSE


# The operand types CEL's standard arithmetic takes (the language definition's overloads):
# numbers only with their own kind, never a bool. Python's operators would add a bool to an
# int, an int to a uint, and divide an int by a double with `//`, each a wrong answer.
_SAME_NUMBER = {("int", "int"), ("uint", "uint"), ("double", "double")}
_ARITHMETIC: dict[str, frozenset[tuple[str, str]]] = {
    "+": frozenset(
        _SAME_NUMBER
        | {("string", "string"), ("bytes", "bytes"), ("list", "list")}
        | {("timestamp", "duration"), ("duration", "timestamp"), ("duration", "duration")}
    ),
    "-": frozenset(
        _SAME_NUMBER
        | {("timestamp", "timestamp"), ("timestamp", "duration"), ("duration", "duration")}
    ),
    "*": frozenset(_SAME_NUMBER),
    "/": frozenset(_SAME_NUMBER),
    "%": frozenset({("int", "int"), ("uint", "uint")}),
}
_KIND_OF_CLASS: dict[type, str] = {}


def _kind(value: Any) -> str:
    kind = value.__class__
    name = _KIND_OF_CLASS.get(kind)
    if name is None:
        name = _KIND_OF_CLASS[kind] = type_name_of_type(kind)
    return name


def _check_operands(symbol: str, a: Any, b: Any) -> None:
    """Refuse operands CEL has no `symbol` for (NoOverload), before Python's operator runs."""
    if (_kind(a), _kind(b)) not in _ARITHMETIC[symbol]:
        raise NoOverload(symbol, a, b)


def add(a: Any, b: Any) -> Any:
    """`+` that keeps CEL types (Python's str + str gives a plain str)."""
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    _check_operands("+", a, b)
    try:
        value = a + b
    except TypeError:
        raise NoOverload("+", a, b) from None
    if value.__class__ is str:
        return make_string(value)  # StringType(value) without its Python-level checks
    if value.__class__ is list:
        return ListType(value)
    if isinstance(value, datetime.timedelta):
        return _in_range(value)
    return _celtyped(value)


def _celtyped(value: Any) -> Any:
    """A result Python's operator gave as a plain float, timedelta or bytes, as the CEL type
    (`type(1.0 + 1.0) == double`); the CEL types it keeps are returned as they are."""
    kind = value.__class__
    if kind is float:
        return DoubleType(value)
    if kind is datetime.timedelta:
        return celtypes.DurationType(value)
    if kind is bytes:
        return celtypes.BytesType(value)
    return value


def negate(value: Any) -> Any:
    """Unary `-`: CEL negates ints and doubles only (cel-python took any Python number)."""
    if value.__class__ is CELEvalError:
        return value
    kind = _kind(value)
    if kind == "int":
        return -value  # IntType's own `-` reports leaving the int range
    if kind == "double":
        return DoubleType(-float(value))
    raise NoOverload("-", None, value, unary=True)


def add_metered(a: Any, b: Any) -> Any:
    """`+` in a metered program (budget.py): a string or list it builds spends its size."""
    if isinstance(a, str | list) and isinstance(b, str | list):
        size = len(a) + len(b)
        if size > SMALL:
            spend(size)
    return add(a, b)


# cel-go's range of durations (int64 nanoseconds) and of timestamps (years 1 to 9999)
_DURATION_MICROS = (2**63 - 1) // 1000


def _in_range(value: Any) -> Any:
    if isinstance(value, datetime.timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        if abs(micros) > _DURATION_MICROS:
            raise OverflowError("duration out of range")
    return value


def subtract(a: Any, b: Any) -> Any:
    """`-`, with durations kept in CEL's range (cel-python lets them grow)."""
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    _check_operands("-", a, b)
    try:
        return _celtyped(_in_range(operator.sub(a, b)))
    except TypeError:
        raise NoOverload("-", a, b) from None


def multiply(a: Any, b: Any) -> Any:
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    _check_operands("*", a, b)
    try:
        return _celtyped(operator.mul(a, b))
    except TypeError:
        raise NoOverload("*", a, b) from None


def remainder(a: Any, b: Any) -> Any:
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    _check_operands("%", a, b)
    if b == -1 and a == _INT_MIN and isinstance(a, celtypes.IntType):
        # the quotient, 2^63, is out of range: cel-go calls the remainder an overflow too
        raise ValueError("overflow")
    try:
        return operator.mod(a, b)
    except TypeError:
        raise NoOverload("%", a, b) from None


_INT_MIN = -(2**63)


_INT_RANGE = 2.0**63


def to_int(value: Any) -> Any:
    """`int(x)`: a double must lie strictly inside the int range (cel-go), else an error."""
    if value.__class__ is CELEvalError:
        return value
    if isinstance(value, float):
        if not -_INT_RANGE < float(value) < _INT_RANGE:  # NaN fails too
            raise OverflowError("int out of range")
        return IntType(int(value))
    return IntType(value)


def get_milliseconds(value: Any, *zone: Any) -> Any:
    """`getMilliseconds()`: of a duration, the milliseconds past its seconds (cel-go), not its
    total; of a timestamp, as cel-python does."""
    if value.__class__ is CELEvalError:
        return value
    if isinstance(value, datetime.timedelta) and not zone:
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        millis = abs(micros) // 1000 % 1000
        return IntType(-millis if micros < 0 else millis)
    return function_getMilliseconds(value, *zone)


# ---- timestamps and durations: microseconds, never a silently rounded nanosecond -----------
# A timestamp or duration is a Python datetime or timedelta, which keep microseconds. A value
# written with finer nanoseconds (`timestamp("…T00:00:00.000000001Z")`, `duration("1ns")`)
# cannot be held exactly, so it is an error that says so instead of a rounded value whose
# comparisons, sums and text would be quietly off.

_SUB_MICROSECOND = re.compile(r"\.\d{6}(\d+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_NANOS_PER_UNIT = {
    "h": 3_600_000_000_000, "m": 60_000_000_000, "s": 1_000_000_000, "ms": 1_000_000,
    "us": 1_000, "µs": 1_000, "ns": 1,
}  # fmt: skip
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_PRECISION = "Roster keeps times to the microsecond (6 decimals of a second)"


def _duration_nanos(text: str) -> Decimal | None:
    """The exact length of a duration text in nanoseconds, or None if it is not one."""
    body = text[1:] if text[:1] in "+-" else text
    position = 0
    total = Decimal(0)
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None:
            return None
        try:
            total += Decimal(match.group(1)) * _NANOS_PER_UNIT[match.group(2)]
        except InvalidOperation:
            return None
        position = match.end()
    return total if position else None


def to_timestamp(value: Any) -> Any:
    """`timestamp(x)`: a timestamp is itself; a text with nanoseconds past the microsecond is
    an error (see above); the rest as cel-python reads it."""
    if value.__class__ is CELEvalError:
        return value
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, int) and not isinstance(value, bool | BoolType):  # seconds since 1970
        return celtypes.TimestampType(_EPOCH + datetime.timedelta(seconds=int(value)))
    if isinstance(value, str):
        finer = _SUB_MICROSECOND.search(value)
        if finer is not None and finer.group(1).strip("0"):
            raise CelFunctionError(f"timestamp(): {value[:40]!r} has nanoseconds; {_PRECISION}")
    return celtypes.TimestampType(value)


def to_duration(value: Any) -> Any:
    """`duration(x)`: a duration is itself; a text that is not a whole number of microseconds
    is an error (see above)."""
    if value.__class__ is CELEvalError:
        return value
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, str):
        nanos = _duration_nanos(str.__str__(value))
        if nanos is not None and nanos % 1000:
            raise CelFunctionError(f"duration(): {value[:40]!r} has nanoseconds; {_PRECISION}")
    return _in_range(celtypes.DurationType(value))


def to_string(value: Any) -> Any:
    """`string(x)`: timestamps in RFC 3339 with their fraction of a second, durations in
    seconds with theirs (`1.5s`); the rest as cel-python writes it."""
    kind = value.__class__
    if kind is StringType or kind is CELEvalError:
        return value
    if isinstance(value, datetime.datetime):
        return StringType(format_timestamp(value))
    if isinstance(value, datetime.timedelta):
        return StringType(format_duration(value))
    if kind is BoolType or isinstance(value, bool):  # CEL says "true", Python "True"
        return StringType("true" if value else "false")
    if isinstance(value, int | float | bytes | str):  # int, uint, double, bytes (UTF-8)
        return StringType(value)  # type: ignore[arg-type]  # (cel-python's own conversions)
    # CEL has no string() of a list, a map, a record, null or a type: cel-python gave its own
    # Python text ("ListType([StringType('a')])"), which a push rule then wrote to an app
    # (hostile review)
    name = type_name_of_type(kind)
    hint = ': for a list of strings, join them (xs.join(", "))' if name == "list" else ""
    raise NoConversion(
        f"no matching overload for string({name}): string() converts a string, a number, a "
        f"bool, bytes, a timestamp or a duration{hint}"
    )


def divide(a: Any, b: Any) -> Any:
    """`/`: doubles divide as IEEE 754 says (1.0/0.0 is +inf, 0.0/0.0 is NaN; cel-python gives
    inf for both); ints and uints as cel-python does (truncated, an error for 0)."""
    if a.__class__ is DoubleType and b.__class__ is DoubleType:
        x, y = float(a), float(b)
        if y == 0.0:
            if x == 0.0 or math.isnan(x):
                return DoubleType(math.nan)
            return DoubleType(math.copysign(math.inf, x) * math.copysign(1.0, y))
        return DoubleType(x / y)
    if a.__class__ is CELEvalError:
        return a
    if b.__class__ is CELEvalError:
        return b
    _check_operands("/", a, b)
    try:
        return operator.truediv(a, b)
    except TypeError:
        raise NoOverload("/", a, b) from None


# ---- has() and the macros ---------------------------------------------------------------------


def has_field(activation: Any, target: Callable[[Any], Any], field: str) -> Any:
    """`has(x.field)`: false for a missing profile key, an empty record field, or any error."""
    try:
        container = target(activation)
    except StoreError:
        raise
    except Exception:
        return FALSE
    if isinstance(container, OptionalValue):  # has(x.?y.z): false when x.?y is none
        if not container.present:
            return FALSE
        container = container.item
    if isinstance(container, CelRecord):
        if field not in container._getters:
            return FALSE
        value = container[field]
        if value is None or (isinstance(value, str | list | dict) and len(value) == 0):
            return FALSE
        return TRUE
    if isinstance(container, StatusValue):
        return TRUE if field == "status" else FALSE
    if isinstance(container, dict):
        return TRUE if dict.__contains__(container, field) else FALSE
    return FALSE


def has_index(activation: Any, target: Callable[[Any], Any], key: Callable[[Any], Any]) -> Any:
    """`has(x["key"])`, which CEL does not have, read as `"key" in x` (with has()'s meaning
    for records and profiles: an empty or missing key is not had)."""
    name = key(activation)
    if name.__class__ is CELEvalError:
        return name
    if isinstance(name, str):
        return has_field(activation, target, str.__str__(name))
    return contained_in(name, target(activation))


def _items(activation: Any, source: Callable[[Any], Any]) -> Any:
    items = source(activation)
    if items.__class__ is CELEvalError:
        raise _Propagate(items)
    if isinstance(items, CelRecord):
        items = list(items)
    elif not isinstance(items, list | dict):
        raise TypeError("a macro needs a list or a map")
    if len(items) > SMALL:
        spend(len(items))  # a step per item (macros run only in metered programs)
    return items


class _Propagate(Exception):
    def __init__(self, value: CELEvalError) -> None:
        self.value = value


def _child(activation: Any, name: str, value: Any) -> Any:
    child = object.__new__(type(activation))
    variables = dict(activation.__dict__)
    variables[name] = value
    child.__dict__ = variables
    return child


def _quantify(activation: Any, name: str, body: Callable[[Any], Any],
              source: Callable[[Any], Any], decisive: bool) -> Any:  # fmt: skip
    """exists (decisive=True) and all (decisive=False): the first item whose body gives the
    decisive value settles it; errors count only when no item does, as CEL specifies."""
    try:
        items = _items(activation, source)
    except _Propagate as error:
        return error.value
    failure = None
    for item in items:
        value = result(_child(activation, name, item), body)
        if value.__class__ is BoolType:
            if bool(value) is decisive:
                return TRUE if decisive else FALSE
        else:
            failure = value if value.__class__ is CELEvalError else error_value(TypeError())
    if failure is not None:
        return failure
    return FALSE if decisive else TRUE


def macro_exists(activation: Any, name: str, body: Callable[[Any], Any],
                 source: Callable[[Any], Any]) -> Any:  # fmt: skip
    return _quantify(activation, name, body, source, decisive=True)


def macro_all(activation: Any, name: str, body: Callable[[Any], Any],
              source: Callable[[Any], Any]) -> Any:  # fmt: skip
    return _quantify(activation, name, body, source, decisive=False)


def macro_exists_one(activation: Any, name: str, body: Callable[[Any], Any],
                     source: Callable[[Any], Any]) -> Any:  # fmt: skip
    try:
        items = _items(activation, source)
    except _Propagate as error:
        return error.value
    count = 0
    for item in items:
        value = result(_child(activation, name, item), body)
        if value.__class__ is not BoolType:
            return value if value.__class__ is CELEvalError else error_value(TypeError())
        count += 1 if value else 0
    return TRUE if count == 1 else FALSE


def macro_map(activation: Any, name: str, body: Callable[[Any], Any],
              source: Callable[[Any], Any]) -> Any:  # fmt: skip
    try:
        items = _items(activation, source)
    except _Propagate as error:
        return error.value
    values = []
    for item in items:
        value = result(_child(activation, name, item), body)
        if value.__class__ is CELEvalError:
            return value
        values.append(value)
    return ListType(values)


def macro_filter(activation: Any, name: str, body: Callable[[Any], Any],
                 source: Callable[[Any], Any]) -> Any:  # fmt: skip
    try:
        items = _items(activation, source)
    except _Propagate as error:
        return error.value
    values = []
    for item in items:
        value = result(_child(activation, name, item), body)
        if value.__class__ is CELEvalError:
            return value
        if value.__class__ is not BoolType:
            return error_value(TypeError())
        if value:
            values.append(item)
    return ListType(values)


# ---- two-variable comprehensions -------------------------------------------------------------
# `list.exists(i, v, …)` binds the index and the item, `map.all(k, v, …)` the key and the value;
# transformList / transformMap / transformMapEntry build a list or a map from them, keeping only
# the pairs a filter (an optional third argument) accepts.


def _entries(activation: Any, source: Callable[[Any], Any]) -> list[tuple[Any, Any]]:
    items = source(activation)
    if items.__class__ is CELEvalError:
        raise _Propagate(items)
    entries: list[tuple[Any, Any]]
    if isinstance(items, CelRecord):
        entries = [(StringType(name), items[name]) for name in items]
    elif isinstance(items, dict):
        entries = list(dict.items(items))
    elif isinstance(items, list):
        entries = [(IntType(index), item) for index, item in enumerate(items)]
    else:
        raise TypeError("a macro needs a list or a map")
    if len(entries) > SMALL:
        spend(len(entries))  # a step per item (macros run only in metered programs)
    return entries


def _bind(activation: Any, names: tuple[str, str], first: Any, second: Any) -> Any:
    child = object.__new__(type(activation))
    variables = dict(activation.__dict__)
    variables[names[0]] = first
    variables[names[1]] = second
    child.__dict__ = variables
    return child


def _quantify2(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
               source: Callable[[Any], Any], decisive: bool) -> Any:  # fmt: skip
    try:
        entries = _entries(activation, source)
    except _Propagate as error:
        return error.value
    failure = None
    for first, second in entries:
        value = result(_bind(activation, names, first, second), body)
        if value.__class__ is BoolType:
            if bool(value) is decisive:
                return TRUE if decisive else FALSE
        else:
            failure = value if value.__class__ is CELEvalError else error_value(TypeError())
    if failure is not None:
        return failure
    return FALSE if decisive else TRUE


def macro2_exists(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
                  source: Callable[[Any], Any]) -> Any:  # fmt: skip
    return _quantify2(activation, names, body, source, decisive=True)


def macro2_all(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
               source: Callable[[Any], Any]) -> Any:  # fmt: skip
    return _quantify2(activation, names, body, source, decisive=False)


def macro2_exists_one(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
                      source: Callable[[Any], Any]) -> Any:  # fmt: skip
    try:
        entries = _entries(activation, source)
    except _Propagate as error:
        return error.value
    count = 0
    for first, second in entries:
        value = result(_bind(activation, names, first, second), body)
        if value.__class__ is not BoolType:
            return value if value.__class__ is CELEvalError else error_value(TypeError())
        count += 1 if value else 0
    return TRUE if count == 1 else FALSE


def _transform(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
               source: Callable[[Any], Any], keep: Callable[[Any], Any] | None,
               collect: Callable[[Any, Any], None]) -> CELEvalError | None:  # fmt: skip
    """Evaluate `body` for each pair `keep` accepts and hand (key, value) to `collect`; the
    first error is returned (and stops the loop)."""
    try:
        entries = _entries(activation, source)
    except _Propagate as error:
        return error.value
    for first, second in entries:
        bound = _bind(activation, names, first, second)
        if keep is not None:
            wanted = result(bound, keep)
            if wanted.__class__ is not BoolType:
                return wanted if wanted.__class__ is CELEvalError else error_value(TypeError())
            if not wanted:
                continue
        value = result(bound, body)
        if value.__class__ is CELEvalError:
            return value
        try:
            collect(first, value)
        except StoreError:
            raise
        except Exception as error:
            return error_value(error)
    return None


def macro2_transform_list(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
                          source: Callable[[Any], Any],
                          keep: Callable[[Any], Any] | None = None) -> Any:  # fmt: skip
    """`x.transformList(i, v, [filter,] value)`: the values, as a list."""
    values: list[Any] = []
    failure = _transform(
        activation, names, body, source, keep, lambda _key, value: values.append(value)
    )
    return failure if failure is not None else ListType(values)


def macro2_transform_map(activation: Any, names: tuple[str, str], body: Callable[[Any], Any],
                         source: Callable[[Any], Any],
                         keep: Callable[[Any], Any] | None = None) -> Any:  # fmt: skip
    """`x.transformMap(k, v, [filter,] value)`: the same keys (a list's indexes), new values."""
    found = celtypes.MapType()
    failure = _transform(
        activation,
        names,
        body,
        source,
        keep,
        lambda key, value: dict.__setitem__(found, key, value),
    )
    return failure if failure is not None else found


def macro2_transform_map_entry(activation: Any, names: tuple[str, str],
                               body: Callable[[Any], Any], source: Callable[[Any], Any],
                               keep: Callable[[Any], Any] | None = None) -> Any:  # fmt: skip
    """`x.transformMapEntry(k, v, [filter,] {key: value})`: a map of the entries the body
    gives; two pairs giving the same key are an error."""
    found = celtypes.MapType()

    def merge(_key: Any, entry: Any) -> None:
        if not isinstance(entry, dict) or isinstance(entry, CelRecord):
            raise CelFunctionError("transformMapEntry() needs a map such as {key: value}")
        for key, value in dict.items(entry):
            if _map_key(found, key) is not _ABSENT:
                raise CelFunctionError(f"transformMapEntry() gives the key {str(key)[:60]!r} twice")
            dict.__setitem__(found, key, value)

    failure = _transform(activation, names, body, source, keep, merge)
    return failure if failure is not None else found


# Names the transpiled code uses for these (see transpile.RosterPhase1).
RUNTIME: dict[str, Any] = {
    "_result": result,
    "_and": logical_and,
    "_or": logical_or,
    "_cond": conditional,
    "_not": logical_not,
    "_has": has_field,
    "_has_index": has_index,
    "_eq": equal,
    "_ne": not_equal,
    "_lt": _ordering(operator.lt, "<"),
    "_le": _ordering(operator.le, "<="),
    "_gt": _ordering(operator.gt, ">"),
    "_ge": _ordering(operator.ge, ">="),
    "_in": contained_in,
    "_add": add,
    "_add_m": add_metered,
    "_div": divide,
    "_sub": subtract,
    "_mul": multiply,
    "_mod": remainder,
    "_neg": negate,
    "_to_int": to_int,
    "_get_milliseconds": get_milliseconds,
    "_to_timestamp": to_timestamp,
    "_to_duration": to_duration,
    "_to_string": to_string,
    "_macro_exists": macro_exists,
    "_macro_all": macro_all,
    "_macro_exists_one": macro_exists_one,
    "_macro_map": macro_map,
    "_macro_filter": macro_filter,
    "_macro2_exists": macro2_exists,
    "_macro2_all": macro2_all,
    "_macro2_exists_one": macro2_exists_one,
    "_macro2_transform_list": macro2_transform_list,
    "_macro2_transform_map": macro2_transform_map,
    "_macro2_transform_map_entry": macro2_transform_map_entry,
}

# The comprehensions cel-python does not know, by name: (the runtime helper, how many
# variables, the numbers of arguments it takes). `existsOne` with one variable is `exists_one`.
COMPREHENSIONS: dict[str, tuple[str, tuple[int, ...]]] = {
    "exists": ("_macro2_exists", (3,)),
    "all": ("_macro2_all", (3,)),
    "existsOne": ("_macro2_exists_one", (3,)),
    "transformList": ("_macro2_transform_list", (3, 4)),
    "transformMap": ("_macro2_transform_map", (3, 4)),
    "transformMapEntry": ("_macro2_transform_map_entry", (3, 4)),
}

# In a metered program (budget.py) these build values that spend from the budget.
METERED_OPERATORS = {"_+_": "_add_m"}

OPERATORS = {
    "_==_": "_eq",
    "_!=_": "_ne",
    "_<_": "_lt",
    "_<=_": "_le",
    "_>_": "_gt",
    "_>=_": "_ge",
    "_in_": "_in",
    "_+_": "_add",
    "_/_": "_div",
    "_-_": "_sub",
    "_*_": "_mul",
    "_%_": "_mod",
    "-_": "_neg",
    "int": "_to_int",
    "timestamp": "_to_timestamp",
    "duration": "_to_duration",
    "string": "_to_string",
    "getMilliseconds": "_get_milliseconds",
    "!_": "_not",
}
