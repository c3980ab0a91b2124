"""Every CEL expression and direct source of a configuration, with its object path: what
reads what, for warnings such as "a push into this field changes what that rule finds"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from engine.config.model import MatchRule, RosterConfig


class Expression(NamedTuple):
    path: str  # the object path (docs/configuration.md), e.g. apps.badge.ownership.rules.x.user
    context: str  # the CEL context it is compiled in
    text: str


def expressions(config: RosterConfig) -> Iterator[Expression]:
    """Every CEL expression of CONFIG, in configuration order."""
    for directory in config.directories:
        here = f"directories.{directory.app}"
        if directory.filter:
            yield Expression(f"{here}.filter", "directory_filter", directory.filter)
        if directory.merge_rules is not None:
            yield from _rule_sides(f"{here}.merge_rules", directory.merge_rules)
    for app in config.apps:
        yield from _rule_sides(f"apps.{app.id}.ownership.rules", app.ownership.rules)
        for field, text in (app.provisioning.fields if app.provisioning else {}).items():
            yield Expression(
                f"apps.{app.id}.provisioning.fields.{field}", "provisioning_field", text
            )
    for attribute in config.attributes:
        for position, source in enumerate(attribute.sources):
            if source.cel:
                path = f"attributes.{attribute.name}.sources.{position}"
                yield Expression(path, "attribute_source", source.cel)
    for rule in config.push_rules:
        if rule.targeting.cel:
            yield Expression(
                f"push_rules.{rule.name}.condition", "push_condition", rule.targeting.cel
            )
        for mapping in rule.mappings:
            if mapping.cel:
                path = f"push_rules.{rule.name}.mappings.{mapping.target}"
                yield Expression(path, "push_mapping", mapping.cel)


def _rule_sides(here: str, rules: list[MatchRule]) -> Iterator[Expression]:
    for rule in rules:
        if rule.account.cel:
            yield Expression(f"{here}.{rule.name}.account", "account_key", rule.account.cel)
        if rule.user.cel:
            yield Expression(f"{here}.{rule.name}.user", "user_key", rule.user.cel)


def direct_readers(config: RosterConfig, app_id: str, field: str) -> list[str]:
    """The attribute sources that read FIELD (or `profile.FIELD`) of APP_ID's accounts."""
    folded = field.casefold()
    found = []
    for attribute in config.attributes:
        for position, source in enumerate(attribute.sources):
            read = (source.field or "").removeprefix("profile.")
            if source.app == app_id and read.casefold() == folded:
                found.append(f"attributes.{attribute.name}.sources.{position}")
    return found
