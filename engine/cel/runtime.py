"""What transpiled programs call at run time, besides Roster's functions.

cel-python's own helpers are correct but slow on the hot path (`bool_eq` builds a wrapper with
functools.wraps on every call; `operator_in` builds typing generics per call; `&&`, `||` and
`?:` evaluate both sides). These do the same with CEL semantics — errors are values that
`&&`, `||`, `?:` and the macros can absorb — and short-circuit where CEL allows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

from .objects import CelRecord
from .strings import CelFunctionError
from .values import FALSE, TRUE, StatusValue, StringType

BoolType = celtypes.BoolType
ListType = celtypes.ListType

_OVERLOAD = "no matching overload: an operator or function got values of the wrong type"


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
    if isinstance(error, IndexError):
        return "list index out of range"
    if isinstance(error, AttributeError):
        return "this value has no fields (it is not an object or a map)"
    if isinstance(error, RecursionError):
        return "the expression is nested too deeply to evaluate"
    if isinstance(error, TypeError):
        return _OVERLOAD
    if isinstance(error, ValueError):
        return "invalid value for this operation"
    return f"evaluation failed ({type(error).__name__})"


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


def error_value(error: BaseException) -> CELEvalError:
    value = CELEvalError(describe_exception(error), error.__class__, ())
    value.__cause__ = error
    return value


def result(activation: Any, expression: Callable[[Any], Any]) -> Any:
    """Evaluate; an exception becomes an error value."""
    try:
        return expression(activation)
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


def _compare(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        if a.__class__ is CELEvalError:
            return a
        if b.__class__ is CELEvalError:
            return b
        return TRUE if function(a, b) else FALSE

    compare.__name__ = function.__name__
    return compare


_eq = _compare(operator.eq)
_ne = _compare(operator.ne)


def equal(a: Any, b: Any) -> Any:
    if a.__class__ is StringType and b.__class__ is StringType:
        return TRUE if str.__eq__(a, b) else FALSE
    return _eq(a, b)


def not_equal(a: Any, b: Any) -> Any:
    if a.__class__ is StringType and b.__class__ is StringType:
        return FALSE if str.__eq__(a, b) else TRUE
    return _ne(a, b)


def contained_in(item: Any, container: Any) -> Any:
    """`item in container`: list membership or map key."""
    if item.__class__ is CELEvalError:
        return item
    if container.__class__ is CELEvalError:
        return container
    if isinstance(container, dict) and not isinstance(container, CelRecord):
        try:
            if dict.__contains__(container, item):
                return TRUE
        except TypeError:
            pass
    found: Any = FALSE
    for candidate in container:
        try:
            if candidate == item:
                return TRUE
        except TypeError as error:
            found = error_value(error)
    return found


def add(a: Any, b: Any) -> Any:
    """`+` that keeps CEL types (Python's str + str gives a plain str)."""
    value = a + b
    if value.__class__ is str:
        return StringType(value)
    if value.__class__ is list:
        return ListType(value)
    return value


# ---- has() and the macros ---------------------------------------------------------------------


def has_field(activation: Any, target: Callable[[Any], Any], field: str) -> Any:
    """`has(x.field)`: false for a missing profile key, an empty record field, or any error."""
    try:
        container = target(activation)
    except Exception:
        return FALSE
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


def _items(activation: Any, source: Callable[[Any], Any]) -> Any:
    items = source(activation)
    if items.__class__ is CELEvalError:
        raise _Propagate(items)
    if isinstance(items, CelRecord):
        return list(items)
    if not isinstance(items, list | dict):
        raise TypeError("a macro needs a list or a map")
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


def _ordering(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    return _compare(function)


# Names the transpiled code uses for these (see transpile.RosterPhase1).
RUNTIME: dict[str, Any] = {
    "_result": result,
    "_and": logical_and,
    "_or": logical_or,
    "_cond": conditional,
    "_not": logical_not,
    "_has": has_field,
    "_eq": equal,
    "_ne": not_equal,
    "_lt": _ordering(operator.lt),
    "_le": _ordering(operator.le),
    "_gt": _ordering(operator.gt),
    "_ge": _ordering(operator.ge),
    "_in": contained_in,
    "_add": add,
    "_macro_exists": macro_exists,
    "_macro_all": macro_all,
    "_macro_exists_one": macro_exists_one,
    "_macro_map": macro_map,
    "_macro_filter": macro_filter,
}

OPERATORS = {
    "_==_": "_eq",
    "_!=_": "_ne",
    "_<_": "_lt",
    "_<=_": "_le",
    "_>_": "_gt",
    "_>=_": "_ge",
    "_in_": "_in",
    "_+_": "_add",
    "!_": "_not",
}
