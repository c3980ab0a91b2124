"""Write a configuration as stable, diff-friendly YAML (docs/configuration.md).

- Keys come in a fixed order per object (the order of the format's documentation), maps with no
  meaningful order (connector settings, provisioning fields, filter attributes) sorted by key.
- Lists keep their order: it means something (directory priority, rule order, source fallback).
- Defaults that are noise are left out (an app's narrow ownership, an unset filter, a standard
  attribute's fixed kind); what an admin reads to understand a rule stays (flow-rule scores,
  `enabled`, the deletion threshold).
- Small leaf objects are written on one line (`{app: hr, field: profile.department}`), multi-line
  CEL as block scalars, nothing is wrapped, no timestamps: exporting twice gives the same bytes,
  and `validate_text(dump_config(c)).config == c`.
- Secrets are never written: a configuration holding one is refused.
"""

from __future__ import annotations

from typing import Any

import yaml

from engine.config.model import (
    DEFAULT_STRATEGY,
    App,
    AppDeletionThreshold,
    Attribute,
    CelSettings,
    Directory,
    KeySpec,
    MatchRule,
    PushRule,
    RosterConfig,
    Settings,
    credential_kind,
    is_secret_key,
)
from engine.errors import ConfigInvalid, Problem
from engine.records import STANDARD_ATTRIBUTES

_FLOW_WIDTH = 80  # a one-line object longer than this is written as a block


class _Flow(dict[str, Any]):
    """A mapping written on one line."""


class _FlowList(list[Any]):
    """A list of scalars written on one line."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key ("apps:\n  - id: hr"), easier to read and diff.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.ScalarNode:
    if value.is_integer():
        return dumper.represent_int(int(value))
    return dumper.represent_float(value)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_FlowList, _represent_flow_list)
_Dumper.add_representer(float, _represent_float)


def _is_inline_scalar(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and "\n" not in value)
    )


def _flow(mapping: dict[str, Any]) -> dict[str, Any]:
    """One line when every value is a short scalar; a block mapping otherwise."""
    if not mapping or not all(_is_inline_scalar(v) for v in mapping.values()):
        return mapping
    flow = _Flow(mapping)
    return flow if _width(flow) <= _FLOW_WIDTH else mapping


def _flow_list(values: list[Any]) -> list[Any]:
    if values and all(_is_inline_scalar(v) for v in values):
        flow = _FlowList(values)
        if _width(flow) <= _FLOW_WIDTH:
            return flow
    return values


def _width(value: Any) -> int:
    text: str = yaml.dump(value, Dumper=_Dumper, allow_unicode=True, width=4096)
    return len(text.strip())


def _sorted_map(value: Any) -> Any:
    """Connector settings: keys sorted at every level, small leaves on one line."""
    if isinstance(value, dict):
        return _flow({str(k): _sorted_map(value[k]) for k in sorted(value, key=str)})
    if isinstance(value, list):
        return _flow_list([_sorted_map(v) for v in value])
    return value


# ----------------------------------------------------------------------------- per object


def settings_data(settings: Settings) -> dict[str, Any]:
    threshold = settings.deletion_threshold
    limits: dict[str, Any] = {
        "max_objects": threshold.max_objects,
        "max_percent": threshold.max_percent,
    }
    if threshold.per_app != AppDeletionThreshold():  # only when changed, so old exports stay
        limits["per_app"] = _flow(threshold.per_app.model_dump())
    data: dict[str, Any] = {"deletion_threshold": _flow(limits)}
    if settings.access_requests:
        data["access_requests"] = settings.access_requests
    if settings.cel != CelSettings():  # the budgets only when changed, so old exports stay
        data["cel"] = _flow(settings.cel.model_dump())
    return data


def key_spec_data(spec: KeySpec) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if spec.preset is not None:
        data["preset"] = spec.preset
    if spec.strip_plus_tag:
        data["strip_plus_tag"] = True
    if spec.cel is not None:
        data["cel"] = spec.cel
    return _flow(data)


def match_rule_data(rule: MatchRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "account": key_spec_data(rule.account),
        "user": key_spec_data(rule.user),
    }


def app_data(app: App) -> dict[str, Any]:
    data: dict[str, Any] = {"id": app.id}
    if app.name:
        data["name"] = app.name
    data["connector"] = app.connector
    if app.settings:
        data["settings"] = _sorted_map(app.settings)
    ownership = app.ownership
    if ownership.strategy != DEFAULT_STRATEGY or ownership.rules:
        owned: dict[str, Any] = {"strategy": ownership.strategy}
        if ownership.rules:
            owned["rules"] = [match_rule_data(rule) for rule in ownership.rules]
        data["ownership"] = _flow(owned)
    if app.deletion_threshold is not None:
        data["deletion_threshold"] = _flow(app.deletion_threshold.model_dump())
    if app.provisioning is not None:
        fields = app.provisioning.fields
        data["provisioning"] = {
            "proactive": app.provisioning.proactive,
            "fields": {key: fields[key] for key in sorted(fields)},
        }
    return data


def directory_data(directory: Directory) -> dict[str, Any]:
    data: dict[str, Any] = {"app": directory.app}
    if not directory.enabled:
        data["enabled"] = False
    if directory.filter is not None:
        data["filter"] = directory.filter
    if directory.merge_rules is not None:
        data["merge_rules"] = [match_rule_data(rule) for rule in directory.merge_rules]
    return data


def attribute_data(attribute: Attribute) -> dict[str, Any]:
    data: dict[str, Any] = {"name": attribute.name}
    if attribute.custom:
        data["custom"] = True
        data["multi_valued"] = bool(attribute.multi_valued)
    elif attribute.multi_valued != STANDARD_ATTRIBUTES.get(attribute.name, False):
        data["multi_valued"] = attribute.multi_valued
    sources = []
    for source in attribute.sources:
        item: dict[str, Any] = {}
        if source.app is not None:
            item["app"] = source.app
        if source.field is not None:
            item["field"] = source.field
        if source.cel is not None:
            item["cel"] = source.cel
        sources.append(_flow(item))
    data["sources"] = sources
    if attribute.flow_rules:
        data["flow_rules"] = [
            _flow(
                {
                    "app": rule.app,
                    "direction": rule.direction,
                    "create": rule.create,
                    "update": rule.update,
                    "delete": rule.delete,
                }
            )
            for rule in attribute.flow_rules
        ]
    return data


def push_rule_data(rule: PushRule) -> dict[str, Any]:
    targeting = rule.targeting
    target: dict[str, Any] = {"kind": targeting.kind}
    if targeting.entitlements:
        target["entitlements"] = [
            _flow({"app": ref.app, "entitlement": ref.entitlement})
            for ref in targeting.entitlements
        ]
    if targeting.attributes:
        target["attributes"] = {
            name: values[0] if len(values) == 1 else _flow_list(list(values))
            for name, values in sorted(targeting.attributes.items())
        }
    if targeting.cel is not None:
        target["cel"] = targeting.cel
    mappings = []
    for mapping in rule.mappings:
        item: dict[str, Any] = {"target": mapping.target}
        if mapping.attribute is not None:
            item["attribute"] = mapping.attribute
        if mapping.cel is not None:
            item["cel"] = mapping.cel
        mappings.append(_flow(item))
    return {
        "name": rule.name,
        "app": rule.app,
        "enabled": rule.enabled,
        "targeting": _flow(target),
        "mappings": mappings,
    }


def config_data(config: RosterConfig) -> dict[str, Any]:
    """The document as ordered plain data, exactly as `dump_config` writes it."""
    return {
        "version": config.version,
        "settings": settings_data(config.settings),
        "apps": [app_data(app) for app in config.apps],
        "directories": [directory_data(d) for d in config.directories],
        "attributes": [attribute_data(a) for a in config.attributes],
        "push_rules": [push_rule_data(r) for r in config.push_rules],
    }


def _literal_secrets(config: RosterConfig) -> list[Problem]:
    problems: list[Problem] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                here = f"{path}.{key}"
                if isinstance(inner, dict):
                    walk(here, inner)
                elif is_secret_key(str(key)) and inner not in (None, ""):
                    problems.append(
                        Problem(
                            message=f"`{key}` holds a secret; secrets are never exported",
                            path=here,
                            hint=f"use `{key}_env: ENV_VAR_NAME` instead",
                        )
                    )
                elif any(
                    credential_kind(v) for v in (inner if isinstance(inner, list) else [inner])
                ):
                    problems.append(
                        Problem(
                            message=f"`{key}` holds a credential (not shown); secrets are never "
                            "exported",
                            path=here,
                            hint=f"use `{key}_env: ENV_VAR_NAME` instead",
                        )
                    )

    for index, app in enumerate(config.apps):
        walk(f"apps[{index}].settings", app.settings)
    return problems


def dump_config(config: RosterConfig) -> str:
    """The configuration as YAML; the same configuration always gives the same text."""
    secrets = _literal_secrets(config)
    if secrets:
        raise ConfigInvalid("the configuration holds literal secrets; it was not exported", secrets)
    return yaml.dump(
        config_data(config),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
        indent=2,
    )


# ----------------------------------------------------------------------------- one object


def _flowed(value: Any, top: bool) -> Any:
    if isinstance(value, dict):
        inner = {str(k): _flowed(v, False) for k, v in value.items()}
        return inner if top else _flow(inner)
    if isinstance(value, list | tuple):
        items = [_flowed(v, False) for v in value]
        return items if top else _flow_list(items)
    return value


def value_yaml(value: Any) -> str:
    """One object's data as YAML in the export's style (small leaves on one line, multi-line
    CEL as block scalars); a single value on its own (`"CREATE"` as `CREATE`)."""
    text: str = yaml.dump(
        _flowed(value, True),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=4096,
        indent=2,
    )
    if text.endswith("\n...\n"):
        text = text[: -len("...\n")]
    return text


def _diff_lines(value: Any) -> list[str]:
    """A text (a CEL expression, a name) as its own lines; anything else as YAML."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines() or [""]
    return value_yaml(value).splitlines()


def yaml_diff(before: Any, after: Any, *, context: int = 2) -> list[str]:
    """A short unified diff of two objects (`-` before, `+` after, a few lines around): a text
    as its lines, anything else as YAML."""
    import difflib

    old, new = _diff_lines(before), _diff_lines(after)
    lines = list(difflib.unified_diff(old, new, lineterm="", n=context))
    return [line for line in lines[2:] if not line.startswith("@@")] if lines else []
