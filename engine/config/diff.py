"""What changes between two configurations (`roster config import --dry-run`, the audit log).

Lists of named things are compared by name, not by position: adding an app at the top does not
make every later app "changed". Paths are object paths (engine.config.paths), the ones `roster
config get/set` take: ``attributes.department.sources``, ``push_rules.ad-core.mappings.title``,
``apps.entra.provisioning.fields.displayName``. Where order is meaning (directory priority, rule
order) a reordering is reported as a change of the list's order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from engine.config.model import RosterConfig
from engine.config.paths import KEY_FIELDS, join_path

ChangeKind = Literal["added", "removed", "changed"]

# lists whose order is part of their meaning (a push rule's mappings: the order they are listed,
# planned and pushed in, which the console's editor and `config move` let the admin choose)
_ORDERED = {"directories", "merge_rules", "rules", "mappings"}


@dataclass(frozen=True)
class ConfigChange:
    kind: ChangeKind
    path: str
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        """One line for a person: `+ apps[okta]: {...}`, `~ path: old → new`, `- path`."""
        if self.kind == "added":
            return f"+ {self.path}: {_short(self.after)}"
        if self.kind == "removed":
            return f"- {self.path} (was {_short(self.before)})"
        return f"~ {self.path}: {_short(self.before)} → {_short(self.after)}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "before": self.before, "after": self.after}


def _short(value: Any, limit: int = 100) -> str:
    if isinstance(value, str) and "\n" not in value:
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        text = "{" + ", ".join(f"{k}: {_short(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= limit:
        return text
    if isinstance(value, str):  # a path or a name: its end tells as much as its start
        half = (limit - 1) // 2
        return text[:half] + "…" + text[-(limit - 1 - half) :]
    return text[: limit - 1] + "…"


def _compact(value: Any) -> Any:
    """Drop empty and unset fields so an added or removed object reads short."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _join(path: str, key: str) -> str:
    # the paths config get/set take: a key with a dot or a space quoted (it printed
    # `directories[hr].filter` where the command takes `directories.hr.filter`)
    return f"{path}.{join_path([key])}" if path else join_path([key])


def _diff(path: str, name: str, old: Any, new: Any, out: list[ConfigChange]) -> None:
    if old == new:
        return
    if old is None:
        out.append(ConfigChange("added", path, None, _compact(new)))
        return
    if new is None:
        out.append(ConfigChange("removed", path, _compact(old), None))
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            here = _join(path, str(key))
            if key not in new:
                out.append(ConfigChange("removed", here, _compact(old[key]), None))
            elif key not in old:
                out.append(ConfigChange("added", here, None, _compact(new[key])))
            else:
                _diff(here, str(key), old[key], new[key], out)
        return
    key_field = KEY_FIELDS.get(name)
    if isinstance(old, list) and isinstance(new, list) and key_field is not None:
        old_items = _keyed(old, key_field)
        new_items = _keyed(new, key_field)
        if old_items is not None and new_items is not None:
            for key, item in old_items.items():
                if key not in new_items:
                    out.append(ConfigChange("removed", _join(path, key), _compact(item), None))
            for key, item in new_items.items():
                if key not in old_items:
                    out.append(ConfigChange("added", _join(path, key), None, _compact(item)))
                else:
                    _diff(_join(path, key), "", old_items[key], item, out)
            if name in _ORDERED:
                kept_old = [k for k in old_items if k in new_items]
                kept_new = [k for k in new_items if k in old_items]
                if kept_old != kept_new:
                    out.append(ConfigChange("changed", f"{path} order", kept_old, kept_new))
            return
    out.append(ConfigChange("changed", path, old, new))


def _keyed(items: list[Any], key_field: str) -> dict[str, Any] | None:
    """Items by their name; None when an item has no name or two share one (compare whole)."""
    keyed: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(key_field), str):
            return None
        key = item[key_field]
        folded = key.casefold() if key_field == "name" else key
        if any((k.casefold() if key_field == "name" else k) == folded for k in keyed):
            return None
        keyed[key] = item
    return keyed


def diff_configs(old: RosterConfig | None, new: RosterConfig) -> list[ConfigChange]:
    """Every difference from `old` (None: nothing configured yet) to `new`, in document order."""
    before = (old or RosterConfig()).model_dump(mode="json")
    after = new.model_dump(mode="json")
    changes: list[ConfigChange] = []
    _diff("", "", before, after, changes)
    return changes
