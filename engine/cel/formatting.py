"""`format()` and `strings.quote()` of the CEL strings extension (cel-go `ext.Strings`).

`"%s has %d accounts".format([name, n])` substitutes printf-style, as the specification's
conformance data (string_ext.textproto) says:

- `%s` any value: strings as they are, bytes as UTF-8, numbers, bools, `null`, timestamps
  (RFC 3339), durations (`7200s`), types (`string`), lists `[a, 1]` and maps `{k: v}` (keys
  sorted as text);
- `%d` an int or uint (a double only when NaN or infinite); `%b` `%o` `%x` `%X` an int or uint
  (`%b` a bool too, `%x` `%X` a string or bytes as hex of its bytes);
- `%f` `%e` (precision `%.3f`, 6 by default) an int, uint or double; NaN and infinities are
  written `NaN`, `Infinity`, `-Infinity`;
- `%%` a percent sign.

Anything else (an unknown clause, a missing argument, a value the clause does not take) is an
error naming the clause, never a guess.
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any

from celpy import celtypes

from .budget import spend
from .strings import CelFunctionError
from .values import StringType, format_duration, format_timestamp, type_name, type_name_of_type

_DEFAULT_PRECISION = 6


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | celtypes.BoolType)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not _is_bool(value)


def _special_double(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return None


def go_double(value: float) -> str:
    """A double as cel-go writes it (Go's `%g`, the shortest digits): `3.14`, `1`,
    `1e+06`, `1e-05`; NaN and infinities spelled out."""
    special = _special_double(value)
    if special is not None:
        return special
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # the decimal point's position after the first digits
    power = point - 1
    minus = "-" if sign else ""
    if power < -4 or power >= 6:  # Go: shortest %g switches to an exponent at 1e+06
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def as_text(value: Any) -> str:
    """What `%s` writes for a value."""
    if value is None or isinstance(value, celtypes.NullType):
        return "null"
    if _is_bool(value):
        return "true" if value else "false"
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return go_double(float(value))
    if isinstance(value, bytes):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, datetime.datetime):
        return format_timestamp(value)
    if isinstance(value, datetime.timedelta):
        return format_duration(value)
    if isinstance(value, type):
        return type_name_of_type(value)
    if isinstance(value, list):
        return "[" + ", ".join(as_text(item) for item in value) + "]"
    if isinstance(value, dict) and getattr(value, "plain", None) is None:
        entries = sorted((_key_text(key), as_text(item)) for key, item in dict.items(value))
        return "{" + ", ".join(f"{key}: {item}" for key, item in entries) + "}"
    raise CelFunctionError(f"format(): %s cannot write a {type_name(value)}")


def _key_text(key: Any) -> str:
    if isinstance(key, str) or _is_bool(key) or isinstance(key, int):
        return as_text(key)
    raise CelFunctionError(f"format(): %s cannot write a map key of type {type_name(key)}")


def _decimal(value: Any) -> str:
    if _is_integer(value):
        return str(int(value))
    if isinstance(value, float):
        special = _special_double(float(value))
        if special is not None:
            return special
    raise CelFunctionError(f"format(): %d needs an int or uint, got {type_name(value)}")


def _floating(value: Any, clause: str, precision: int) -> str:
    if _is_integer(value):
        number = float(int(value))
    elif isinstance(value, float):
        number = float(value)
    else:
        raise CelFunctionError(f"format(): %{clause} needs a number, got {type_name(value)}")
    special = _special_double(number)
    if special is not None:
        return special
    return f"{number:.{precision}{clause}}"


def _integer(value: Any, clause: str) -> str:
    if clause == "b" and _is_bool(value):
        return "1" if value else "0"
    if clause in "xX" and isinstance(value, str | bytes):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        text = data.hex()
        return text.upper() if clause == "X" else text
    if not _is_integer(value):
        raise CelFunctionError(f"format(): %{clause} needs an int or uint, got {type_name(value)}")
    number = int(value)
    text = format(abs(number), {"b": "b", "o": "o", "x": "x", "X": "X"}[clause])
    return ("-" if number < 0 else "") + text


def string_format(template: Any, arguments: Any) -> StringType:
    """`"…".format([args])`."""
    if not isinstance(template, str):
        raise CelFunctionError(f"format() needs a string, got {type_name(template)}")
    if not isinstance(arguments, list):
        raise CelFunctionError(f"format() needs a list of arguments, got {type_name(arguments)}")
    out: list[str] = []
    used = 0
    position = 0
    length = len(template)
    while position < length:
        found = template.find("%", position)
        if found < 0:
            out.append(template[position:])
            break
        out.append(template[position:found])
        position = found + 1
        if position < length and template[position] == "%":
            out.append("%")
            position += 1
            continue
        precision: int | None = None
        if position < length and template[position] == ".":
            start = position + 1
            position = start
            while position < length and template[position].isdigit():
                position += 1
            if position == start:
                raise CelFunctionError("format(): a precision needs digits, e.g. %.2f")
            if position - start > 4:  # more than 9,999 decimals is never a format
                raise CelFunctionError("format(): a precision is at most 9999 decimals")
            precision = int(template[start:position])
            spend(precision)
        if position >= length:
            raise CelFunctionError("format(): the text ends inside a clause (write %% for %)")
        clause = template[position]
        position += 1
        if clause not in "sdfebxXo" or (precision is not None and clause not in "fe"):
            shown = f"%.{precision}{clause}" if precision is not None else f"%{clause}"
            raise CelFunctionError(
                f"format(): unknown clause `{shown}`; use %s %d %f %e %b %o %x %X or %%"
            )
        if used >= len(arguments):
            raise CelFunctionError(
                f"format(): clause {used + 1} (`%{clause}`) has no argument; "
                f"the list has {len(arguments)}"
            )
        value = arguments[used]
        used += 1
        if clause == "s":
            out.append(as_text(value))
        elif clause == "d":
            out.append(_decimal(value))
        elif clause in "fe":
            out.append(
                _floating(value, clause, _DEFAULT_PRECISION if precision is None else precision)
            )
        else:
            out.append(_integer(value, clause))
    spend(sum(map(len, out)))
    return StringType("".join(out))


_QUOTE_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "\\": "\\\\", '"': '\\"',
}  # fmt: skip
_QUOTE_TABLE = str.maketrans(_QUOTE_ESCAPES)


def quote(text: Any) -> StringType:
    """`strings.quote(s)`: s in double quotes with `\\a \\b \\f \\n \\r \\t \\v \\\\ \\"`
    escaped, so it reads back as the same CEL string literal."""
    if not isinstance(text, str):
        raise CelFunctionError(f"strings.quote() needs a string, got {type_name(text)}")
    return StringType('"' + str.__str__(text).translate(_QUOTE_TABLE) + '"')
