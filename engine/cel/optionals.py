"""CEL's optional values: `x.?field`, `x[?index]`, `optional.of/none/ofNonZeroValue` and the
methods `hasValue`, `value`, `orValue`, `or`, `optMap`, `optFlatMap`.

The null-safe way to read a profile key some records lack:
`subject.profile.?cost_center.orValue("none")`. Selecting or indexing an optional gives an
optional (none stays none), so a chain after the first `.?` needs no more `?`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

from .strings import CelFunctionError
from .values import name_type


class OptionalValue:
    """An optional CEL value: `OptionalValue(v)` has a value, `NONE` has none."""

    __slots__ = ("_value", "_present")
    cel_type_name = "optional_type"

    def __init__(self, value: Any = None, present: bool = True) -> None:
        self._value = value
        self._present = present

    @property
    def present(self) -> bool:
        return self._present

    @property
    def item(self) -> Any:
        return self._value

    # `opt.field` and `opt[index]` in transpiled code
    def get(self, field: Any) -> Any:
        return optional_select(self, field)

    def __getitem__(self, index: Any) -> Any:
        return optional_index(self, index)

    def __eq__(self, other: object) -> bool:
        from .runtime import values_equal

        if not isinstance(other, OptionalValue):
            return False
        if not self._present or not other._present:
            return self._present == other._present
        return values_equal(self._value, other._value)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"optional.of({self._value!r})" if self._present else "optional.none()"


NONE = OptionalValue(None, False)
name_type(OptionalValue, "optional")  # "no matching overload for optional + int"


def _zero(value: Any) -> bool:
    """The zero value of its type: null, false, 0, 0.0, "", b"", [], {}."""
    if value is None or isinstance(value, celtypes.NullType):
        return True
    if isinstance(value, bool | int | float | str | bytes | list | dict):
        return not value
    return False


def optional_of(value: Any) -> Any:
    return value if value.__class__ is CELEvalError else OptionalValue(value)


def optional_none() -> OptionalValue:
    return NONE


def optional_of_non_zero_value(value: Any) -> Any:
    if value.__class__ is CELEvalError:
        return value
    return NONE if _zero(value) else OptionalValue(value)


def _optional(value: Any, method: str) -> OptionalValue:
    if not isinstance(value, OptionalValue):
        what = "`?` in a list or map literal" if method == "?" else f"`{method}()`"
        raise CelFunctionError(f"{what} needs an optional value, such as `x.?field`")
    return value


def has_value(value: Any) -> Any:
    return celtypes.BoolType(_optional(value, "hasValue")._present)


def value_of(value: Any) -> Any:
    optional = _optional(value, "value")
    if not optional._present:
        raise CelFunctionError("optional.none() has no value; use `.orValue(default)`")
    return optional._value


def or_value(value: Any, default: Any) -> Any:
    optional = _optional(value, "orValue")
    return optional._value if optional._present else default


def or_optional(value: Any, other: Any) -> Any:
    optional = _optional(value, "or")
    if optional._present:
        return optional
    return _optional(other, "or")


def _field_of(container: Any, field: Any) -> Any:
    """`container.?field` of a value that is not optional."""
    from .objects import CelRecord

    if isinstance(container, CelRecord):
        return OptionalValue(container[field]) if field in container._getters else NONE
    if isinstance(container, dict):
        if dict.__contains__(container, field):
            return OptionalValue(dict.__getitem__(container, field))
        return NONE
    raise CelFunctionError(f"`.?{field}` needs a map or a record")


def optional_select(container: Any, field: Any) -> Any:
    """`container.?field`: optional.of the field when the map or record has it, else none."""
    if container.__class__ is CELEvalError:
        return container
    if isinstance(container, OptionalValue):
        if not container._present:
            return NONE
        container = container._value
    return _field_of(container, field)


def optional_index(container: Any, index: Any) -> Any:
    """`container[?index]`: optional.of the item when the list or map has it, else none."""
    from .runtime import _ABSENT, _map_key, _number

    if container.__class__ is CELEvalError:
        return container
    if index.__class__ is CELEvalError:
        return index
    if isinstance(container, OptionalValue):
        if not container._present:
            return NONE
        container = container._value
    if isinstance(container, list):
        number = _number(index)
        if number is None or isinstance(index, bool) or number != int(number):
            raise CelFunctionError("a list index must be a whole number")
        position = int(number)
        if 0 <= position < len(container):
            return OptionalValue(container[position])
        return NONE
    if isinstance(container, dict):
        from .objects import CelRecord

        if isinstance(container, CelRecord):
            return _field_of(container, index)
        found = _map_key(container, index)
        return NONE if found is _ABSENT else OptionalValue(dict.__getitem__(container, found))
    raise CelFunctionError("`[?index]` needs a list or a map")


def optional_map(activation: Any, name: str, body: Callable[[Any], Any],
                 source: Callable[[Any], Any]) -> Any:  # fmt: skip
    """`opt.optMap(x, body)`: optional.of(body) with x bound to the value, or none."""
    from .runtime import _child

    optional = source(activation)
    if optional.__class__ is CELEvalError:
        return optional
    if not _optional(optional, "optMap")._present:
        return NONE
    result = body(_child(activation, name, optional._value))
    return optional_of(result)


def optional_flat_map(activation: Any, name: str, body: Callable[[Any], Any],
                      source: Callable[[Any], Any]) -> Any:  # fmt: skip
    """`opt.optFlatMap(x, body)`: body (itself an optional) with x bound to the value, or
    none."""
    from .runtime import _child

    optional = source(activation)
    if optional.__class__ is CELEvalError:
        return optional
    if not _optional(optional, "optFlatMap")._present:
        return NONE
    result = body(_child(activation, name, optional._value))
    if result.__class__ is CELEvalError:
        return result
    return _optional(result, "optFlatMap")


def optional_list(items: list[tuple[bool, Any]]) -> Any:
    """`[a, ?b]`: an optional element is left out when it is none."""
    result = celtypes.ListType()
    for optional, item in items:
        if item.__class__ is CELEvalError:
            return item
        if optional:
            if not _optional(item, "?").present:
                continue
            item = item.item
        result.append(item)
    return result


def optional_map_literal(entries: list[tuple[bool, Any, Any]]) -> Any:
    """`{k: a, ?j: b}`: an optional entry is left out when its value is none."""
    from .runtime import _ABSENT, _map_key

    result = celtypes.MapType()
    for optional, key, value in entries:
        for part in (key, value):
            if part.__class__ is CELEvalError:
                return part
        if optional:
            if not _optional(value, "?").present:
                continue
            value = value.item
        if _map_key(result, key) is not _ABSENT:
            raise CelFunctionError("a map literal has the same key twice")
        dict.__setitem__(result, key, value)
    return result


# method name -> implementation (`x.hasValue()`)
OPTIONAL_METHODS: dict[str, Callable[..., Any]] = {
    "hasValue": has_value,
    "value": value_of,
    "orValue": or_value,
    "or": or_optional,
}

# qualified name -> implementation (`optional.of(x)`)
OPTIONAL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "optional.of": optional_of,
    "optional.none": optional_none,
    "optional.ofNonZeroValue": optional_of_non_zero_value,
}

# runtime helper names in transpiled programs
OPTIONAL_RUNTIME: dict[str, Callable[..., Any]] = {
    "_opt_select": optional_select,
    "_opt_index": optional_index,
    "_opt_map": optional_map,
    "_opt_flat_map": optional_flat_map,
    "_opt_list": optional_list,
    "_opt_map_lit": optional_map_literal,
}
