"""Attributes in words, from their document form (what `config export` writes and
`Services.config_get("attributes.NAME")` returns):
`{name, custom, multi_valued, sources: [{app, field} | {cel}], flow_rules: [{app, direction,
create, update, delete}]}`.

Shared by the Attributes screen, its editor and dialogs; every string goes through
`screens.text`.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from engine.records import STANDARD_ATTRIBUTES
from engine.text import one_line
from screens.text import safe

DIRECTIONS = ("inbound", "outbound", "bidirectional", "disabled")
SCORES = ("create", "update", "delete")
DEFAULT_SCORE = 50

DIRECTION_WORDS: dict[str, str] = {
    "inbound": "the app's value flows in",
    "outbound": "the console's value flows out to the app",
    "bidirectional": "values flow both ways",
    "disabled": "written once when an account is created, never synced after",
}
DIRECTION_STYLES = {
    "inbound": "cyan",
    "outbound": "magenta",
    "bidirectional": "green",
    "disabled": "yellow",
}

# What the standard attributes are, for the editor's list (docs/attributes.md).
STANDARD_WORDS: dict[str, str] = {
    "manager_email": "manager email",
    "directory_status": "directory status",
    "employment_type": "employment type",
    "employment_status": "employment status",
    "department": "department",
    "job_title": "job title",
    "additional_username": "additional username",
    "employee_id": "employee id",
    "additional_email": "additional email",
}


def is_multi(document: dict[str, Any]) -> bool:
    name = str(document.get("name", ""))
    if not document.get("custom") and name in STANDARD_ATTRIBUTES:
        return STANDARD_ATTRIBUTES[name]
    return bool(document.get("multi_valued"))


def source_words(source: Any, width: int | None = 60) -> str:
    """ "hr:profile.department" (as explain and the Users screen name a source) or
    "cel: <the CEL's first line>…"."""
    if not isinstance(source, dict):
        return "?"
    cel = source.get("cel")
    if isinstance(cel, str):
        lines = cel.strip().splitlines()
        first = lines[0] if lines else ""
        more = "…" if len(lines) > 1 else ""
        return safe("cel: " + one_line(first, width) + more, width)
    return safe(f"{source.get('app', '?')}:{source.get('field', '?')}", width)


def sources_text(sources: list[Any], width: int) -> Text:
    """The sources in order, short: "hr:profile.department, ad:profile.department"."""
    out = Text()
    if not sources:
        out.append("(no sources)", style="dim")
        return out
    for index, source in enumerate(sources):
        if index:
            out.append(", ", style="dim")
        is_cel = isinstance(source, dict) and isinstance(source.get("cel"), str)
        out.append(source_words(source, 40), style="magenta" if is_cel else "")
    out.truncate(width, overflow="ellipsis")
    return out


def mode_name(document: dict[str, Any]) -> str:
    """ "authority" (flow rules), "fallback" (single-valued) or "union" (multi-valued)."""
    if document.get("flow_rules"):
        return "authority"
    return "union" if is_multi(document) else "fallback"


MODE_WORDS: dict[str, str] = {
    "fallback": "Fallback: the first source, in order, that has a value for the person wins.",
    "union": "Union: every source's values, in order, without duplicates.",
    "authority": "Authority: the flow rules' scores decide whose value wins (an app without "
    "a rule counts as inbound, scores 50).",
}


# The same, short, for the editor's one line.
MODE_SHORT: dict[str, str] = {
    "fallback": "fallback: the first source, in order, with a value wins",
    "union": "union: every source's values, in order, without duplicates",
    "authority": "authority: the flow rules' scores decide whose value wins",
}


def flow_rule_words(rule: Any) -> Text:
    """ "ad  bidirectional  create 40 · update 45 · delete 30"."""
    out = Text()
    if not isinstance(rule, dict):
        return out
    direction = str(rule.get("direction", "inbound"))
    out.append(safe(rule.get("app", "?"), 30), style="bold")
    out.append(" ")
    out.append(safe(direction, 20), style=DIRECTION_STYLES.get(direction, ""))
    out.append("  ")
    for index, kind in enumerate(SCORES):
        if index:
            out.append(" · ", style="dim")
        out.append(f"{kind} ", style="dim")
        out.append(safe(rule.get(kind, DEFAULT_SCORE), 5))
    return out


def attribute_document(attribute: Any) -> dict[str, Any]:
    """An attribute in document form, from a typed attribute of `Services.config()`."""
    if isinstance(attribute, dict):
        return dict(attribute)
    sources: list[dict[str, Any]] = []
    for source in attribute.sources:
        if source.cel is not None:
            sources.append({"cel": source.cel})
        else:
            sources.append({"app": source.app, "field": source.field})
    document: dict[str, Any] = {"name": attribute.name}
    if attribute.custom:
        document["custom"] = True
        document["multi_valued"] = bool(attribute.multi_valued)
    document["sources"] = sources
    if attribute.flow_rules:
        document["flow_rules"] = [
            {
                "app": rule.app,
                "direction": rule.direction,
                "create": rule.create,
                "update": rule.update,
                "delete": rule.delete,
            }
            for rule in attribute.flow_rules
        ]
    return document


def push_uses(config: Any, name: str) -> list[str]:
    """Where push rules use the attribute NAME: "ad-core: department ← department",
    "entra-licensed: targeting"."""
    folded = name.casefold()
    found: list[str] = []
    for rule in config.push_rules:
        for mapping in rule.mappings:
            if mapping.attribute is not None and mapping.attribute.casefold() == folded:
                found.append(f"{rule.name}: {mapping.target} ← {mapping.attribute}")
        for key in rule.targeting.attributes:
            if key.casefold() == folded:
                found.append(f"{rule.name}: its targeting reads {key}")
    return found
