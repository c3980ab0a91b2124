"""Merge and ownership rules in words, from their document form (what `config export` writes and
`Services.config_get` returns): `{name, account: {preset, strip_plus_tag} | {cel}, user: …}`.

Shared by the Merge rules screen and its dialogs; every string goes through `screens.text`.
"""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text

from engine.text import clip, one_line
from screens.text import safe

# docs/merge-rules.md: the presets on both sides; the email presets may strip a +tag before the @.
PRESET_WORDS: dict[str, str] = {
    "primary_email": "primary email",
    "all_emails": "all emails",
    "username": "username",
    "display_name": "display name",
    "employee_id": "employee id",
}
EMAIL_PRESETS = ("primary_email", "all_emails")
PRESETS = tuple(PRESET_WORDS)

# docs/concepts.md, stage 3.
STRATEGY_WORDS: dict[str, str] = {
    "narrow": "Narrow",
    "broad": "Broad",
    "custom": "Custom",
}
STRATEGY_HELP: dict[str, str] = {
    "narrow": "the account's emails and usernames against every person's emails and usernames",
    "broad": "Narrow first; if nothing matches, the account's first and last name against the "
    "person's display name",
    "custom": "your own ordered rules, of the same shape as merge rules",
}

# What `directories.APP.merge_rules` left out means (DEFAULT_MERGE_RULES, docs/merge-rules.md).
DEFAULTS_WORDS = "primary email ↔ all emails, then employee id ↔ employee id"

# A starting point when an app switches to Custom without rules: what Narrow does, as rules.
CUSTOM_START: list[dict[str, Any]] = [
    {"name": "email", "account": {"preset": "all_emails"}, "user": {"preset": "all_emails"}},
    {"name": "username", "account": {"preset": "username"}, "user": {"preset": "username"}},
]


#: How a side says it strips a +tag; the short form when a narrow column cannot hold the pair.
STRIP_WORDS = " (+tag stripped)"
STRIP_WORDS_SHORT = " (no +tag)"
#: The fewest characters a side of a pair keeps when the other side is kept whole.
SIDE_MIN = 12


def side_words(spec: Any, width: int | None = 60, *, short: bool = False) -> str:
    """One side of a rule: "primary email (+tag stripped)" ("primary email (no +tag)" when
    `short`) or the CEL's first line."""
    if not isinstance(spec, dict):
        return "?"
    preset = spec.get("preset")
    cel = spec.get("cel")
    if isinstance(preset, str):
        words = PRESET_WORDS.get(preset, preset)
        if spec.get("strip_plus_tag"):
            words += STRIP_WORDS_SHORT if short else STRIP_WORDS
        return safe(words, width)
    if isinstance(cel, str):
        first = cel.strip().splitlines()[0] if cel.strip() else ""
        more = "…" if len(cel.strip().splitlines()) > 1 else ""
        return safe(one_line(first, width) + more, width)
    return "(nothing)"


def is_cel(spec: Any) -> bool:
    return isinstance(spec, dict) and isinstance(spec.get("cel"), str)


def rule_pair(rule: Any, width: int = 60) -> Text:
    """ "primary email (+tag stripped) ↔ all emails", CEL sides in magenta, in `width`.

    When the pair is longer, the +tag words shorten ("(no +tag)"); then the shorter side is
    kept whole if that leaves the other `SIDE_MIN` characters (else each gets half), and the
    longer side is cut with an ellipsis: one side read whole beats two halves."""
    if not isinstance(rule, dict):
        return Text("?")
    account, user = rule.get("account"), rule.get("user")
    room = max(width - 3, 2)
    sides = [side_words(account, width), side_words(user, width)]
    if sum(len(side) for side in sides) > room:
        sides = [side_words(account, width, short=True), side_words(user, width, short=True)]
    lengths = [len(side) for side in sides]
    if sum(lengths) > room:
        shorter = 0 if lengths[0] <= lengths[1] else 1
        kept = min(lengths[shorter], max(room - SIDE_MIN, room // 2))
        rooms = [kept, room - kept] if shorter == 0 else [room - kept, kept]
        sides = [clip(side, max(cut, 1)) for side, cut in zip(sides, rooms, strict=True)]
    out = Text()
    out.append(sides[0], style="magenta" if is_cel(account) else "")
    out.append(" ↔ ", style="dim")
    out.append(sides[1], style="magenta" if is_cel(user) else "")
    out.truncate(width, overflow="ellipsis")
    return out


def rule_name(rule: Any) -> str:
    name = rule.get("name") if isinstance(rule, dict) else None
    return name if isinstance(name, str) else ""


def strategy_words(strategy: Any) -> str:
    return STRATEGY_WORDS.get(str(strategy), safe(strategy, 20))


def side_document(spec: Any) -> dict[str, Any]:
    """One side of a rule in document form, from a typed key spec or a mapping."""
    if isinstance(spec, dict):
        return dict(spec)
    data: dict[str, Any] = {}
    if getattr(spec, "preset", None) is not None:
        data["preset"] = spec.preset
    if getattr(spec, "strip_plus_tag", False):
        data["strip_plus_tag"] = True
    if getattr(spec, "cel", None) is not None:
        data["cel"] = spec.cel
    return data


def rule_document(rule: Any) -> dict[str, Any]:
    """A rule in document form (what `config export` writes for it), from a typed rule of
    `Services.config()` or a mapping."""
    if isinstance(rule, dict):
        return {
            key: side_document(v) if key in ("account", "user") else v for key, v in rule.items()
        }
    return {
        "name": rule.name,
        "account": side_document(rule.account),
        "user": side_document(rule.user),
    }


_PLAIN = re.compile(r'^[^."\s]+$')
_QUOTED = re.compile(r'"(?:\\.|[^"\\])*"')


def object_path(*parts: str) -> str:
    """An object path (docs/configuration.md) from its parts: a name with a dot, a quote or a
    space is written in double quotes (`directories.hr.merge_rules."a.b"`)."""
    out = []
    for part in parts:
        if _PLAIN.match(part):
            out.append(part)
        else:
            out.append('"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ".".join(out)


def problem_field(path: str) -> str | None:
    """Which field of a rule a problem's object path points into: "name", "account", "user"
    (None for the rule as a whole or anything else). Quoted names are skipped, so a rule named
    `account` is not taken for the field."""
    bare = _QUOTED.sub('""', path)
    for part in reversed([p for p in re.split(r"[.\[\]]+", bare) if p]):
        if part in ("name", "account", "user"):
            return part
        if part not in ("cel", "preset", "strip_plus_tag"):
            return None
    return None
