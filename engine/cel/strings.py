"""The CEL strings extension (cel-go `ext.Strings`), which cel-python 0.5.0 lacks.

Behaviour follows the specification's conformance data (string_ext.textproto). Every helper
works both as a method (`x.lowerAscii()`) and as a function (`lowerAscii(x)`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2
from celpy import celtypes

from .budget import spend
from .values import EMPTY, StringType


class CelFunctionError(Exception):
    """A function was called with values it cannot handle; the message is for people."""


# Go's unicode.IsSpace: what strings.TrimSpace removes.
_SPACES = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _str(value: Any, function: str) -> str:
    if isinstance(value, str):
        return value
    raise CelFunctionError(f"{function}() needs a string, got {_kind(value)}")


def _int(value: Any, function: str) -> int:
    if isinstance(value, int) and not isinstance(value, celtypes.BoolType | bool):
        return int(value)
    raise CelFunctionError(f"{function}() needs an int, got {_kind(value)}")


def _kind(value: Any) -> str:
    from .values import type_name

    return type_name(value)


def lower_ascii(text: Any) -> StringType:
    return StringType(_str(text, "lowerAscii").translate(_LOWER))


def upper_ascii(text: Any) -> StringType:
    return StringType(_str(text, "upperAscii").translate(_UPPER))


def trim(text: Any) -> StringType:
    return StringType(_str(text, "trim").strip(_SPACES))


def replace(text: Any, old: Any, new: Any, limit: Any = None) -> StringType:
    text = _str(text, "replace")
    old, new = _str(old, "replace"), _str(new, "replace")
    count = -1 if limit is None else _int(limit, "replace")
    # the result's size before building it: a chain of replaces multiplies it
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    spend(len(text) + found * max(0, len(new) - len(old)))
    return StringType(text.replace(old, new, count))


def split(text: Any, separator: Any, limit: Any = None) -> celtypes.ListType:
    text = _str(text, "split")
    separator = _str(separator, "split")
    count = -1 if limit is None else _int(limit, "split")
    if count == 0:
        return celtypes.ListType()
    spend(len(text) + (text.count(separator) if separator else len(text)))
    if separator == "":
        parts = list(text)
        if count > 0 and len(parts) > count:
            parts = parts[: count - 1] + ["".join(parts[count - 1 :])]
    else:
        parts = text.split(separator, count - 1 if count > 0 else -1)
    return celtypes.ListType([StringType(part) for part in parts])


def join(items: Any, separator: Any = EMPTY) -> StringType:
    if not isinstance(items, list):
        raise CelFunctionError(f"join() needs a list of strings, got {_kind(items)}")
    separator = _str(separator, "join")
    texts = []
    for item in items:
        if not isinstance(item, str):
            raise CelFunctionError(f"join() needs a list of strings, found {_kind(item)}")
        texts.append(item)
    spend(sum(map(len, texts)) + len(separator) * max(0, len(texts) - 1))
    return StringType(separator.join(texts))


def char_at(text: Any, index: Any) -> StringType:
    text = _str(text, "charAt")
    position = _int(index, "charAt")
    if position < 0 or position > len(text):
        raise CelFunctionError(f"index out of range: {position}")
    return StringType(text[position : position + 1])


def index_of(text: Any, sub: Any, start: Any = None) -> celtypes.IntType:
    text = _str(text, "indexOf")
    sub = _str(sub, "indexOf")
    begin = 0 if start is None else _int(start, "indexOf")
    if begin < 0 or begin > len(text):
        raise CelFunctionError(f"index out of range: {begin}")
    return celtypes.IntType(text.find(sub, begin))


def last_index_of(text: Any, sub: Any, start: Any = None) -> celtypes.IntType:
    text = _str(text, "lastIndexOf")
    sub = _str(sub, "lastIndexOf")
    if start is None:
        return celtypes.IntType(text.rfind(sub))
    end = _int(start, "lastIndexOf")
    if end < 0 or end > len(text):
        raise CelFunctionError(f"index out of range: {end}")
    return celtypes.IntType(text.rfind(sub, 0, end + len(sub)))


def substring(text: Any, start: Any, end: Any = None) -> StringType:
    text = _str(text, "substring")
    begin = _int(start, "substring")
    if begin < 0 or begin > len(text):
        raise CelFunctionError(f"index out of range: {begin}")
    if end is None:
        return StringType(text[begin:])
    stop = _int(end, "substring")
    if stop < 0 or stop > len(text):
        raise CelFunctionError(f"index out of range: {stop}")
    if stop < begin:
        raise CelFunctionError(f"invalid substring range. start: {begin}, end: {stop}")
    return StringType(text[begin:stop])


def reverse(text: Any) -> StringType:
    return StringType(_str(text, "reverse")[::-1])


def contains(container: Any, item: Any) -> Any:
    """`text.contains(part)`; also a list's items and a map's keys."""
    from .values import FALSE, TRUE

    if isinstance(container, str):
        return TRUE if _str(item, "contains") in container else FALSE
    if isinstance(container, list | dict):
        return TRUE if item in container else FALSE
    raise CelFunctionError(f"contains() needs a string, list or map, got {_kind(container)}")


def if_empty(value: Any, default: Any) -> Any:
    """`x.ifEmpty(d)`: d when x is "", null, an empty list or an empty map; else x."""
    if value is None or (isinstance(value, str | list | dict) and len(value) == 0):
        return default
    return value


def _re2_options() -> Any:
    options = re2.Options()
    # RE2 logs a bad pattern to the process's stderr from C++, which no Python logging
    # setting reaches and which would draw over the console: the error is raised instead.
    options.log_errors = False
    return options


_RE2_OPTIONS = _re2_options()


@functools.lru_cache(maxsize=256)
def _regex(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def matches(text: Any, pattern: Any) -> celtypes.BoolType:
    """`text.matches(pattern)`: RE2 syntax, anywhere in the text (as cel-go)."""
    text = _str(text, "matches")
    pattern = _str(pattern, "matches")
    try:
        compiled = _regex(str.__str__(pattern))
    except re2.error as error:
        reason = error.args[0] if error.args else b""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        reason = str(reason).split(":", 1)[0]  # what is wrong, without the pattern itself
        raise CelFunctionError(
            f"matches(): the pattern is not a valid regular expression ({reason[:80]})"
        ) from None
    return celtypes.BoolType(compiled.search(str.__str__(text)) is not None)


STRING_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "matches": matches,
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "trim": trim,
    "replace": replace,
    "split": split,
    "join": join,
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "substring": substring,
    "reverse": reverse,
    "ifEmpty": if_empty,
    "contains": contains,
}
