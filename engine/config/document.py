"""The configuration as stored in the database: a JSON-able document and per-section versions.

`section_versions` gives each stage of the sync the hash of the part of the configuration it reads,
so a sync can tell which stage's configuration changed since the last run (docs/architecture.md):
editing a flow rule changes `flow_rules` only, not `attributes`; editing an app's provisioning
changes `provisioning` only, not `apps`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from engine.config.model import RosterConfig
from engine.errors import ConfigInvalid, Problem

SECTIONS = (
    "settings",
    "apps",
    "directories",
    "ownership",
    "attributes",
    "flow_rules",
    "push_rules",
    "provisioning",
)


def to_document(config: RosterConfig) -> dict[str, Any]:
    """Every field, defaults included, as JSON-able data (the database keeps this)."""
    return config.model_dump(mode="json")


def from_document(document: dict[str, Any]) -> RosterConfig:
    """The configuration back from `to_document`; ConfigInvalid when the document is damaged."""
    try:
        return RosterConfig.model_validate(document)
    except ValidationError as exc:
        problems = [
            Problem(
                message=error["msg"],
                path=".".join(str(part) for part in error["loc"]),
            )
            for error in exc.errors()
        ]
        raise ConfigInvalid(
            "the stored configuration is damaged; import a configuration file to replace it",
            problems,
        ) from exc


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def section_data(config: RosterConfig) -> dict[str, Any]:
    """What each section version hashes (JSON-able)."""
    doc = to_document(config)
    apps = doc["apps"]
    attributes = doc["attributes"]
    return {
        "settings": doc["settings"],
        "apps": [
            {k: v for k, v in app.items() if k not in ("ownership", "provisioning")} for app in apps
        ],
        "directories": doc["directories"],
        "ownership": [[app["id"], app["ownership"]] for app in apps],
        "attributes": [{k: v for k, v in a.items() if k != "flow_rules"} for a in attributes],
        "flow_rules": [[a["name"], a["flow_rules"]] for a in attributes if a["flow_rules"]],
        "push_rules": doc["push_rules"],
        "provisioning": [[app["id"], app["provisioning"]] for app in apps if app["provisioning"]],
    }


def section_versions(config: RosterConfig) -> dict[str, str]:
    """A stable hash per section: settings, apps, directories, ownership, attributes, flow_rules,
    push_rules, provisioning."""
    data = section_data(config)
    return {name: _hash(data[name]) for name in SECTIONS}
