"""Attributes: what an app's stored accounts really hold, for choosing a direct source.

An attribute source names an app and one of its account fields (`ACCOUNT_FIELDS`) or a profile
key (`profile.<key>`, docs/attributes.md). The attribute editor offers the fields the app's accounts
have, each with how many accounts hold a value and a few sample values, so the admin picks
`profile.department` because it is filled for 280 accounts, not because its name looks right.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.config.model import ACCOUNT_FIELDS
from engine.errors import NotFound
from engine.records import ACCOUNT_LIST_FIELDS, AccountRecord
from engine.services.context import ServiceContext
from engine.text import clip

#: The most profile keys one app reports (an app with thousands of keys is not a form).
MAX_PROFILE_KEYS = 300
#: Distinct sample values kept per field, and their length (values may be megabytes).
SAMPLES = 3
SAMPLE_LENGTH = 80


@dataclass(frozen=True)
class FieldInfo:
    """One field a direct source may name: `email`, `employee_ids`, `profile.department`."""

    name: str
    kind: str  # "text", "list", "choice" or "profile"
    with_value: int  # accounts of the app with a non-empty value
    samples: list[str] = field(default_factory=list)  # the most common values, cut short

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "with_value": self.with_value,
            "samples": self.samples,
        }


@dataclass(frozen=True)
class AppFields:
    """The fields of one app's stored accounts: account fields first (in their fixed order),
    then the profile keys, most filled first. `truncated`: more profile keys exist than shown."""

    app: str
    accounts: int
    fields: list[FieldInfo]
    truncated: bool = False

    def field(self, name: str) -> FieldInfo | None:
        return next((f for f in self.fields if f.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "accounts": self.accounts,
            "fields": [f.as_dict() for f in self.fields],
            "truncated": self.truncated,
        }


def _sample(value: Any) -> str:
    if isinstance(value, str):
        return clip(value, SAMPLE_LENGTH)
    return clip(str(value), SAMPLE_LENGTH)


def _values(value: Any) -> list[Any]:
    """The non-empty values a field holds (a list field gives each element)."""
    if value is None or value == "" or value == [] or value == {}:
        return []
    if isinstance(value, list):
        return [v for v in value if v not in (None, "")]
    return [value]


def _field_info(name: str, kind: str, values: list[list[Any]]) -> FieldInfo:
    counts: Counter[str] = Counter()
    filled = 0
    for held in values:
        if held:
            filled += 1
            counts.update(_sample(v) for v in held)
    samples = [value for value, _ in counts.most_common(SAMPLES)]
    return FieldInfo(name, kind, filled, samples)


def app_fields(accounts: list[AccountRecord], app_id: str) -> AppFields:
    """What the live accounts of APP hold, field by field (pure: the caller gives the
    accounts); an account gone from the app is no source of values (nor counted, as the
    dashboard counts none)."""
    mine = [a for a in accounts if a.app_id == app_id and a.status != "DELETED"]
    fields: list[FieldInfo] = []
    for name in ACCOUNT_FIELDS:
        kind = "list" if name in ACCOUNT_LIST_FIELDS else "text"
        if name in ("status", "type"):
            kind = "choice"
        fields.append(_field_info(name, kind, [_values(getattr(a, name)) for a in mine]))
    filled: Counter[str] = Counter()
    seen: set[str] = set()  # a key present but never filled is still a field to offer
    for account in mine:
        seen.update(account.profile)
        filled.update(key for key, value in account.profile.items() if _values(value))
    ordered = sorted(seen, key=lambda key: (-filled[key], key))
    for key in ordered[:MAX_PROFILE_KEYS]:
        fields.append(
            _field_info(f"profile.{key}", "profile", [_values(a.profile.get(key)) for a in mine])
        )
    return AppFields(app_id, len(mine), fields, truncated=len(ordered) > MAX_PROFILE_KEYS)


class AttributesService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def app_fields(self, app_id: str) -> AppFields:
        """The account fields and profile keys APP's stored accounts have, with counts and
        samples. NotFound names the configured apps when APP is neither configured nor stored."""
        population = self.ctx.population()
        found = app_fields(population.accounts, app_id)
        if found.accounts == 0:
            apps = [app.id for app in self.ctx.config().apps]
            if app_id not in apps:
                known = ", ".join(apps) or "none are configured"
                raise NotFound(f"There is no app {app_id!r}; the apps are: {known}.")
        return found
