"""Whether a result fits its context, and the meaning of a directory filter's result."""

from __future__ import annotations

import difflib
from typing import Any

from celpy import celtypes

from .contexts import CONTEXTS
from .values import to_python, type_name

FILTER_RESULTS = ("CREATE", "MATCH_ONLY", "IGNORE")


def normalize_filter_result(value: Any) -> str | None:
    """true -> CREATE, false -> IGNORE, "create"/"Match-Only"/… -> the canonical name, else None."""
    if isinstance(value, celtypes.BoolType | bool):
        return "CREATE" if value else "IGNORE"
    if isinstance(value, str):
        name = _decision_word(value)
        return name if name in FILTER_RESULTS else None
    return None


def _decision_word(text: str) -> str:
    """A filter's text as a decision's name: "Match-Only" -> MATCH_ONLY."""
    return str.upper(text).strip().replace("-", "_").replace(" ", "_")


def filter_result_problem(value: Any) -> str:
    """Why a directory filter's result is no decision, for a sync's problems (which are kept
    with the run): the type, and for text the decision it is closest to; never the value,
    which may be the account's data (`account.email` returned by mistake)."""
    kind = type_name(value)
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(_decision_word(value), FILTER_RESULTS, n=1, cutoff=0.6)
        hint = f' (closest: "{close[0]}")' if close else ""
        kind = "a string that is no decision"
    else:
        kind = f"{'an' if kind[0] in 'aeio' else 'a'} {kind}"  # an int, a uint
    return (
        f"the filter returned {kind}{hint}; it must return true, false, "
        '"CREATE", "MATCH_ONLY" or "IGNORE"'
    )


def _shown(value: Any) -> str:
    kind = type_name(value)
    if kind in ("string", "int", "uint", "double", "bool"):
        text = repr(to_python(value)) if kind != "string" else f'"{to_python(value)}"'
        if kind == "bool":
            text = "true" if value else "false"
        if len(text) > 40:
            text = text[:37] + "…"
        return f"{kind} {text}"
    return kind


def _is_strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    )


_SCALARS = (str, int, float, celtypes.TimestampType, celtypes.DurationType)


def _is_plain_value(value: Any) -> bool:
    if value is None or isinstance(value, _SCALARS):
        return True
    if isinstance(value, list) and not isinstance(value, dict):
        return all(item is None or isinstance(item, _SCALARS) for item in value)
    return False


def _is_plain_map(value: Any) -> bool:
    """A map of plain values keyed by strings, maps nesting: what a map-typed creation field
    takes (an account's `passwordProfile`, `onPremisesExtensionAttributes`)."""
    if not isinstance(value, dict):
        return False
    return all(
        isinstance(key, str) and (_is_plain_value(item) or _is_plain_map(item))
        for key, item in dict.items(value)
    )


def check_result(context: str, value: Any) -> str | None:
    """None when `value` fits what `context` must return, else a message naming the type."""
    spec = CONTEXTS.get(context)
    if spec is None:
        return f"unknown context {context!r}; use one of {', '.join(CONTEXTS)}"
    if context == "directory_filter":
        if normalize_filter_result(value) is not None:
            return None
        return (
            'directory_filter must return bool or one of "CREATE", "MATCH_ONLY", "IGNORE"; '
            f"got {_shown(value)}"
        )
    if context in ("account_key", "user_key", "attribute_source"):
        if _is_strings(value):
            return None
        return f"{context} must return a string or a list of strings; got {_shown(value)}"
    if context == "push_condition":
        if isinstance(value, celtypes.BoolType | bool):
            return None
        return f"push_condition must return bool; got {_shown(value)}"
    if _is_plain_value(value):
        return None
    if context == "provisioning_field" and isinstance(value, dict):
        # A creation field of type map takes a map; whether this field is one is the
        # provisioning plan's check (engine.provision.check_value), which knows the schema.
        if _is_plain_map(value):
            return None
        return (
            "provisioning_field may return a map only with string keys and plain values "
            '(strings, numbers, bools, lists, maps), e.g. {"cn": subject.displayName}; '
            f"got {_shown(value)} with a key or value that is neither"
        )
    if context == "provisioning_field":
        return (
            f"{context} must return a string, number, bool, timestamp, null, a list of them "
            f"or a map; got {_shown(value)}"
        )
    return (
        f"{context} must return a string, number, bool, timestamp, null or a list of them; "
        f"got {_shown(value)}"
    )
