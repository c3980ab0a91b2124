"""CEL values Roster adds to cel-python's, and conversion between CEL and plain Python.

`to_cel` is a type-dispatch converter (several times faster than `celpy.json_to_cel`);
`to_python` turns any CEL result into JSON-able Python for previews and the CLI.
"""

from __future__ import annotations

import base64
import datetime
import functools
from collections.abc import Callable
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

StringType = celtypes.StringType
# StringType(x) runs a Python __new__ with type checks; for a str this is the same, in C.
make_string: Callable[[str], StringType] = functools.partial(str.__new__, StringType)
TRUE = celtypes.BoolType(True)
FALSE = celtypes.BoolType(False)
EMPTY = StringType("")

# Prefixes admins meet in the wild in front of status and type names.
_STATUS_PREFIXES = ("USER_STATUS_", "APP_USER_TYPE_", "USER_TYPE_", "ACCOUNT_TYPE_", "STATUS_")
_NORMALIZED: dict[str, str] = {}
# ConductorOne's user types (`UserType.HUMAN`, `USER_TYPE_SERVICE`…) name what its app-user
# types call USER, SERVICE_ACCOUNT and SYSTEM_ACCOUNT (the types Roster's people and accounts
# carry): `subject.type == UserType.HUMAN` pasted from ConductorOne is true for a person.
# AGENT has no counterpart here and equals only itself.
_TYPE_ALIASES = {"HUMAN": "USER", "SERVICE": "SERVICE_ACCOUNT", "SYSTEM": "SYSTEM_ACCOUNT"}


def status_token(text: str) -> str:
    """`"user_status_enabled"`, `"Enabled"`, `"ENABLED"` -> `"ENABLED"`."""
    upper = str.upper(text)
    found = _NORMALIZED.get(upper)
    if found is None:
        found = upper.strip()
        for prefix in _STATUS_PREFIXES:
            if found.startswith(prefix):
                found = found[len(prefix) :]
                break
        found = _TYPE_ALIASES.get(found, found)
        if len(_NORMALIZED) < 10_000:
            _NORMALIZED[upper] = found
    return found


class StatusValue(StringType):
    """A status or type name that equals every spelling of itself.

    `UserStatus.ENABLED`, `"USER_STATUS_ENABLED"`, `"enabled"` all compare equal to the
    status of an ENABLED record. It is a CEL string in every other respect.
    `status.status` returns itself (some admins write it that way).
    """

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, str):
            return status_token(self) == status_token(other)
        if other is None:
            return False
        return NotImplemented

    def __ne__(self, other: Any) -> bool:
        if isinstance(other, str):
            return status_token(self) != status_token(other)
        if other is None:
            return True
        return NotImplemented

    def __hash__(self) -> int:
        return hash(status_token(self))

    def __repr__(self) -> str:
        return f"StatusValue({str.__repr__(self)})"

    @classmethod
    def of(cls, text: str) -> StatusValue:
        return str.__new__(cls, text)

    def get(self, key: str) -> StatusValue:
        if key == "status":
            return self
        raise KeyError(key)


class ProfileMap(celtypes.MapType):
    """A profile or attributes map: a key no record has reads as "" (as ConductorOne does).

    `has(x.profile.key)` is still false for a missing key (see `functions.has_field`).
    """

    def __missing__(self, key: Any) -> Any:
        return EMPTY

    get = dict.__getitem__  # type: ignore[assignment]
    __getitem__ = dict.__getitem__

    def __repr__(self) -> str:
        return f"ProfileMap({dict.__repr__(self)})"


def _list(value: Any) -> celtypes.ListType:
    if all(item.__class__ is str for item in value):
        return celtypes.ListType(map(make_string, value))
    return celtypes.ListType([to_cel(item) for item in value])


def _key(key: Any) -> Any:
    # Keys stay plain str: they hash in C, and compare equal to CEL strings.
    return str(key) if isinstance(key, str) else to_cel(key)


def _map(value: Any) -> celtypes.MapType:
    result = celtypes.MapType()
    for key, item in value.items():
        dict.__setitem__(result, _key(key), to_cel(item))
    return result


def _timestamp(value: datetime.datetime) -> celtypes.TimestampType:
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return celtypes.TimestampType(value.astimezone(datetime.UTC))


def _date(value: datetime.date) -> celtypes.TimestampType:
    return celtypes.TimestampType(
        datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    )


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    str: make_string,
    bool: celtypes.BoolType,
    int: celtypes.IntType,
    float: celtypes.DoubleType,
    list: _list,
    tuple: _list,
    set: lambda value: _list(sorted(value, key=str)),
    frozenset: lambda value: _list(sorted(value, key=str)),
    dict: _map,
    bytes: celtypes.BytesType,
    datetime.datetime: _timestamp,
    datetime.date: _date,
    datetime.timedelta: celtypes.DurationType,
    type(None): lambda value: None,
}

_CEL_TYPES = (
    celtypes.StringType,
    celtypes.BoolType,
    celtypes.IntType,
    celtypes.UintType,
    celtypes.DoubleType,
    celtypes.ListType,
    celtypes.MapType,
    celtypes.BytesType,
    celtypes.TimestampType,
    celtypes.DurationType,
)


def to_cel(value: Any) -> Any:
    """Plain Python (JSON-like, datetimes) -> CEL values. CEL values pass through."""
    converter = _CONVERTERS.get(type(value))
    if converter is not None:
        return converter(value)
    if isinstance(value, _CEL_TYPES):
        return value
    for kind, converter in _CONVERTERS.items():
        if isinstance(value, kind):
            return converter(value)
    return StringType(str(value))


def profile_map(values: dict[str, Any]) -> ProfileMap:
    """A dict -> ProfileMap; None values count as missing."""
    result = ProfileMap()
    # Most profiles map str to str: then the whole map goes in with one C-level update. One
    # holding anything else (None, numbers, lists, maps) is converted key by key, in its order.
    strings = {
        key: make_string(item)
        for key, item in values.items()
        if item.__class__ is str and key.__class__ is str
    }
    if len(strings) == len(values):
        dict.update(result, strings)
        return result
    for key, item in values.items():  # in the record's order, as the keys are listed
        if item is not None:
            converter = _CONVERTERS.get(type(item))
            dict.__setitem__(result, _key(key), converter(item) if converter else to_cel(item))
    return result


def format_timestamp(value: datetime.datetime) -> str:
    value = value.astimezone(datetime.UTC)
    text = f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def format_duration(value: datetime.timedelta) -> str:
    """`1.5s`, `-0.000001s`, `7200s`: exact (no float in between)."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    whole, fraction = divmod(abs(micros), 1_000_000)
    text = f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")
    return ("-" if micros < 0 else "") + text + "s"


def to_python(value: Any) -> Any:
    """Any CEL value -> plain JSON-able Python (timestamps as RFC 3339 strings)."""
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, bool | celtypes.BoolType):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime.datetime):
        return format_timestamp(value)
    if isinstance(value, datetime.timedelta):
        return format_duration(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    plain = getattr(value, "plain", None)  # record objects convert themselves
    if plain is not None:
        return plain()
    if isinstance(value, dict):
        return {str(to_python(k)): to_python(v) for k, v in dict.items(value)}
    if isinstance(value, list | tuple):
        return [to_python(item) for item in value]
    if isinstance(value, CELEvalError):
        return None
    if isinstance(value, type):
        return type_name_of_type(value)
    return str(value)


#: Types defined by other modules of the package, named by them (`name_type`): values.py is
#: imported by them, so it cannot import them.
_NAMED: dict[type, str] = {}


def name_type(kind: type, name: str) -> None:
    """Name a type of CEL value defined elsewhere in engine.cel (an optional) in messages."""
    _NAMED[kind] = name


def type_name_of_type(kind: type) -> str:
    named = _NAMED.get(kind)
    if named is not None:
        return named
    for cel_type, name in _TYPE_NAMES:
        if issubclass(kind, cel_type):
            return name
    return kind.__name__


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (celtypes.BoolType, "bool"),
    (bool, "bool"),
    (celtypes.UintType, "uint"),
    (int, "int"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (datetime.datetime, "timestamp"),
    (datetime.timedelta, "duration"),
    (list, "list"),
    (dict, "map"),
    (type(None), "null"),
    (type, "type"),
)


def type_name(value: Any) -> str:
    """The CEL type of a value as people read it: "string", "list(string)", "map", "null"…"""
    if isinstance(value, celtypes.NullType):
        return "null"
    name = type_name_of_type(type(value))
    if name == "list" and value:
        inner = {type_name(item) for item in value}
        if len(inner) == 1:
            return f"list({inner.pop()})"
    return name
