"""Every name an expression can call or read besides its variables, and their implementations.

`build_symbols(engine)` gives the table a transpiled program runs with; the checker and the
editor's completion read the same tables, so what is offered is exactly what works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celpy import celtypes
from celpy.evaluation import CELEvalError, base_functions

from .directory import DIRECTORY_FUNCTIONS
from .formatting import quote, string_format
from .optionals import OPTIONAL_FUNCTIONS, OPTIONAL_METHODS, OPTIONAL_RUNTIME, OptionalValue
from .runtime import RUNTIME
from .strings import STRING_FUNCTIONS
from .timefmt import TIME_FORMATS, TIME_FUNCTIONS
from .values import StatusValue, StringType

if TYPE_CHECKING:
    from .engine import CelEngine

MACROS = ("map", "filter", "all", "exists", "exists_one", "existsOne", "transformList",
          "transformMap", "transformMapEntry", "optMap", "optFlatMap")  # fmt: skip
GLOBAL_MACROS = ("has", "dyn")

# ---- constants -------------------------------------------------------------------------

_STATUSES = ("ENABLED", "DISABLED", "DELETED", "UNSPECIFIED")
# ConductorOne's user types, and the older account types
_TYPES = ("USER", "SERVICE_ACCOUNT", "SYSTEM_ACCOUNT", "UNSPECIFIED", "HUMAN", "AGENT",
          "SERVICE", "SYSTEM")  # fmt: skip
# The fully qualified enums of ConductorOne's API: `c1.user.v1.UserStatus.ENABLED`
_QUALIFIED_PREFIX = "c1.user.v1."


def _constants() -> dict[str, Any]:
    table: dict[str, Any] = {}
    for status in _STATUSES:
        for namespace in ("UserStatus", "Status", "AppUserStatus"):
            table[f"{namespace}.{status}"] = StatusValue(status)
            table[f"{namespace}.USER_STATUS_{status}"] = StatusValue(f"USER_STATUS_{status}")
        table[f"USER_STATUS_{status}"] = StatusValue(f"USER_STATUS_{status}")
    for kind in _TYPES:
        for namespace in ("UserType", "AppUserType"):
            table[f"{namespace}.{kind}"] = StatusValue(kind)
            table[f"{namespace}.APP_USER_TYPE_{kind}"] = StatusValue(f"APP_USER_TYPE_{kind}")
            table[f"{namespace}.USER_TYPE_{kind}"] = StatusValue(f"USER_TYPE_{kind}")
        table[f"APP_USER_TYPE_{kind}"] = StatusValue(f"APP_USER_TYPE_{kind}")
        table[f"USER_TYPE_{kind}"] = StatusValue(f"USER_TYPE_{kind}")
    for name in [n for n in table if n.startswith(("UserStatus.", "UserType.", "AppUserType."))]:
        table[_QUALIFIED_PREFIX + name] = table[name]
    for name, layout in TIME_FORMATS.items():
        table[f"TimeFormat.{name}"] = StringType(layout)
    return table


CONSTANTS: dict[str, Any] = _constants()

# Type names are values too: `type(1) == int`, `type(type)`. They are read as such unless a
# variable or a comprehension's name has the same name.
TYPE_VALUES: dict[str, Any] = {
    "bool": celtypes.BoolType,
    "int": celtypes.IntType,
    "uint": celtypes.UintType,
    "double": celtypes.DoubleType,
    "string": celtypes.StringType,
    "bytes": celtypes.BytesType,
    "list": celtypes.ListType,
    "map": celtypes.MapType,
    "null_type": celtypes.NullType,
    "type": celtypes.TypeType,
    "google.protobuf.Timestamp": celtypes.TimestampType,
    "google.protobuf.Duration": celtypes.DurationType,
    "optional_type": OptionalValue,
}

# ---- functions -------------------------------------------------------------------------

# celpy's own functions that are called by name (not operators like "_+_").
BUILTIN_NAMES = tuple(name for name in base_functions if name.isidentifier())

# name -> implementation; both `f(x, …)` and `x.f(…)` work.
PLAIN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **STRING_FUNCTIONS,
    "format": string_format,
    "now": TIME_FUNCTIONS["now"],
    **OPTIONAL_METHODS,
}

# qualified name -> implementation (without the engine argument)
QUALIFIED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{name: function for name, function in TIME_FUNCTIONS.items() if "." in name},
    "strings.quote": quote,
    **OPTIONAL_FUNCTIONS,
}

# What each function gives, for the checker: "user", "account", "list:user", "status", …
RESULT_KINDS: dict[str, str] = {name: kind for name, (_f, kind) in DIRECTORY_FUNCTIONS.items()}
RESULT_KINDS.update({"time.parse": "timestamp", "time.format": "string", "now": "timestamp"})
RESULT_KINDS.update({"format": "string", "strings.quote": "string"})

# Functions whose result depends on something besides their arguments (the checker records
# their use on the program).
CLOCK_FUNCTIONS = frozenset(("now", "time.now"))

CALLABLE_NAMES = frozenset(BUILTIN_NAMES) | frozenset(PLAIN_FUNCTIONS) | frozenset(GLOBAL_MACROS)
QUALIFIED_NAMES = frozenset(QUALIFIED_FUNCTIONS) | frozenset(DIRECTORY_FUNCTIONS)
NAMESPACES = frozenset(
    ".".join(name.split(".")[:i])
    for name in list(QUALIFIED_NAMES) + [c for c in CONSTANTS if "." in c]
    for i in range(1, name.count(".") + 1)
)
GLOBAL_CONSTANTS = frozenset(name for name in CONSTANTS if "." not in name)


def symbol(name: str) -> str:
    """The Python name a function or constant has in a transpiled program."""
    return "_s_" + name.replace(".", "__")


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """Pass an error value through instead of calling the function with it."""

    @functools.wraps(function)
    def call(*args: Any) -> Any:
        for arg in args:
            if arg.__class__ is CELEvalError:
                return arg
        return function(*args)

    return call


def build_symbols(engine: CelEngine) -> dict[str, Any]:
    """The names a program of this engine runs with (functions bound to the engine)."""
    table: dict[str, Any] = dict(RUNTIME)
    table.update(OPTIONAL_RUNTIME)
    for name, function in PLAIN_FUNCTIONS.items():
        table[symbol(name)] = _guarded(function)
    for name, function in QUALIFIED_FUNCTIONS.items():
        table[symbol(name)] = _guarded(function)
    for name in CLOCK_FUNCTIONS:  # the engine's clock, which a caller (a test) may set
        table[symbol(name)] = engine.now
    for name, (function, _kind) in DIRECTORY_FUNCTIONS.items():
        table[symbol(name)] = _guarded(functools.partial(function, engine))
    for name, value in CONSTANTS.items():
        table[symbol(name)] = value
    for name, value in TYPE_VALUES.items():
        table[symbol(name)] = value
    return table


def function_names() -> list[str]:
    """Every function, macro and constant name an expression may use (for completion)."""
    names = set(CALLABLE_NAMES) | set(MACROS) | set(QUALIFIED_NAMES) | set(CONSTANTS)
    names -= {"null_type"}
    return sorted(names, key=lambda n: (n.count("."), n.lower()))
