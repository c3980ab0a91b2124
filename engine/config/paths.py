"""Object paths (README.md): one configuration object named by its keys, over the document form.

A path is dot-separated and follows the shape of the document (`to_document`, what `config
export` writes), naming the items of a list by their key rather than their position::

    settings.deletion_threshold.max_objects
    apps.entra.settings.path            apps.entra.provisioning.fields.mailNickname
    apps.github.ownership.rules.badge.account
    directories.hr.filter               directories.hr.merge_rules.email.user
    attributes.department.sources.0     attributes.department.flow_rules.ad
    push_rules.ad-core.condition        push_rules.ad-core.mappings.title

- Lists are addressed by their key field (`KEY_FIELDS`: apps by `id`, directories by `app`,
  attributes, push rules and rules by `name`, flow rules by `app`, mappings by `target`), other
  lists (`sources`, `entitlements`) by their number from 0. A number also finds an item of a keyed
  list when no item has that key (items whose key is broken are named so in problems).
- Names are matched exactly, then case-insensitively for `name` keys (attributes, rules).
- A key holding a dot or a quote is written in double quotes: `apps.x.settings."a.b"`.
- `push_rules.NAME.condition` is an alias of `push_rules.NAME.targeting.cel`; setting it also sets
  the targeting kind to `cel`, deleting it sets the kind back to `everyone`.
- `directories.APP.merge_rules` left out means DEFAULT_MERGE_RULES: a path into its rules sees
  the defaults, and editing one of them writes the defaults out first. Deleting
  `directories.APP.merge_rules` goes back to the defaults.
- The empty path names the whole document.

The functions work on plain data (a document from `to_document` or `config_data`) and change it
in place; they never validate the result (the caller validates the whole document, as an import
does). Every bad path raises NotFound or InvalidInput with the names that do exist.
"""

from __future__ import annotations

import copy
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from engine.config.export import match_rule_data
from engine.config.issues import suggest
from engine.config.model import DEFAULT_MERGE_RULES, PushRule, RosterConfig
from engine.config.yaml_positions import Path as IndexPath
from engine.errors import InvalidInput, NotFound, RosterError
from engine.text import whole_number

# list field -> the field that names its items (the same keys `config import --dry-run` uses)
KEY_FIELDS: dict[str, str] = {
    "apps": "id",
    "directories": "app",
    "attributes": "name",
    "push_rules": "name",
    "merge_rules": "name",
    "rules": "name",
    "flow_rules": "app",
    "mappings": "target",
}
# list field -> what one item is called in messages
ITEM_NAMES: dict[str, str] = {
    "apps": "app",
    "directories": "directory",
    "attributes": "attribute",
    "push_rules": "push rule",
    "merge_rules": "merge rule",
    "rules": "ownership rule",
    "flow_rules": "flow rule",
    "mappings": "mapping",
    "sources": "source",
    "entitlements": "entitlement",
}
# model -> {alias: the fields it stands for}
ALIASES: dict[type[BaseModel], dict[str, tuple[str, ...]]] = {
    PushRule: {"condition": ("targeting", "cel")},
}
MODEL_NAMES: dict[str, str] = {
    "RosterConfig": "the configuration",
    "App": "an app",
    "Directory": "a directory",
    "Attribute": "an attribute",
    "PushRule": "a push rule",
    "MatchRule": "a rule",
    "KeySpec": "a rule side",
    "Ownership": "an app's ownership",
    "Provisioning": "an app's provisioning",
    "Settings": "the settings",
    "DeletionThreshold": "the deletion threshold",
    "Source": "a source",
    "FlowRule": "a flow rule",
    "Targeting": "a push rule's targeting",
    "Mapping": "a mapping",
    "EntitlementRef": "an entitlement reference",
}

Op = Literal["set", "delete", "move", "enable", "disable"]
_PLAIN = re.compile(r'^[^."\s]+$')


# ------------------------------------------------------------------------------ path text


def split_path(path: str) -> list[str]:
    """`a.b."c.d"` -> ["a", "b", "c.d"]; the empty path is []."""
    text = path.strip()
    if not text:
        return []
    parts: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            j = i + 1
            part = ""
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                part += text[j]
                j += 1
            if j >= len(text):
                raise InvalidInput(f'{path}: a quoted name is not closed; end it with `"`')
            parts.append(part)
            i = j + 1
            if i < len(text) and text[i] != ".":
                raise InvalidInput(f"{path}: a quoted name must be followed by `.` or the end")
            i += 1
        else:
            j = text.find(".", i)
            j = len(text) if j < 0 else j
            part = text[i:j]
            if not part:
                raise InvalidInput(
                    f"{path}: a path has no empty parts; write it like `directories.hr.filter`"
                )
            parts.append(part)
            i = j + 1
            if j == len(text) - 1:
                raise InvalidInput(f"{path}: a path cannot end with `.`")
    return parts


def join_path(parts: Iterable[str | int]) -> str:
    """The inverse of split_path; names with dots, quotes or spaces are quoted."""
    out = []
    for part in parts:
        text = str(part)
        if _PLAIN.match(text):
            out.append(text)
        else:
            out.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ".".join(out)


def expand_aliases(path: str) -> str:
    """The path with aliases written out (`push_rules.X.condition` -> `...targeting.cel`)."""
    parts = split_path(path)
    if len(parts) >= 3 and parts[0] == "push_rules" and parts[2] == "condition":
        parts = [*parts[:2], "targeting", "cel", *parts[3:]]
    return join_path(parts)


def is_within(path: str, ancestor: str) -> bool:
    """Whether PATH is ANCESTOR or below it (aliases expanded; "" contains everything)."""
    inner, outer = split_path(expand_aliases(path)), split_path(expand_aliases(ancestor))
    return inner[: len(outer)] == outer


def relative_parts(path: str, ancestor: str) -> list[str] | None:
    """PATH's parts below ANCESTOR, or None when it is not within it."""
    inner, outer = split_path(expand_aliases(path)), split_path(expand_aliases(ancestor))
    return inner[len(outer) :] if inner[: len(outer)] == outer else None


# ------------------------------------------------------------------------------ shapes


def _strip_optional(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _kind(annotation: Any, node: Any) -> str:
    """model | list | map | value (by the annotation; by the data where it is Any)."""
    annotation = _strip_optional(annotation)
    if _model(annotation) is not None:
        return "model"
    origin = get_origin(annotation)
    if origin is list:
        return "list"
    if origin is dict:
        return "map"
    if annotation is Any:
        if isinstance(node, dict):
            return "map"
        if isinstance(node, list):
            return "list"
    return "value"


def _item_annotation(annotation: Any) -> Any:
    args = get_args(_strip_optional(annotation))
    return args[-1] if args else Any


def default_merge_rules() -> list[dict[str, Any]]:
    """DEFAULT_MERGE_RULES as document data (what materialising the defaults writes)."""
    return [plain(match_rule_data(rule)) for rule in DEFAULT_MERGE_RULES]


def plain(value: Any) -> Any:
    """Plain dicts and lists (no subclasses), for JSON, YAML and comparisons."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


# ------------------------------------------------------------------------------ resolve


@dataclass
class Location:
    """Where a path points in a document: the container, the key in it, and what is there.

    `exists` is False when the last part names something that is not there yet (a new item of a
    keyed list, a new key of a map, an unset optional field): `set` adds it.
    """

    path: str  # canonical: keys as stored, aliases kept
    index_path: IndexPath  # concrete: list positions, as validation problems name them
    container: Any  # dict or list holding the value (None for the whole document)
    key: str | int | None  # the key (dict) or position (list) in the container
    annotation: Any  # the type at the location
    field: str  # the field that holds the value (for lists: the list's field)
    exists: bool
    item_key: tuple[str, str] | None = None  # a new keyed item: (key field, key)
    alias: str = ""  # the alias the path used ("condition")
    in_map: bool = False  # the container is a free mapping (settings, provisioning fields)

    @property
    def value(self) -> Any:
        if self.container is None:
            return None
        if not self.exists:
            return None
        return self.container[self.key]

    @property
    def in_list(self) -> bool:
        return isinstance(self.container, list)


def resolve(
    document: Any,
    path: str,
    *,
    create: bool = False,
    materialise: bool = False,
    root: Any = RosterConfig,
    root_field: str = "",
    base: str = "",
) -> Location:
    """The location PATH names in DOCUMENT (a document of type ROOT).

    `create` makes missing containers on the way (an app's unset `provisioning` before one of its
    fields) and writes out the default merge rules before one of them; without it the same path
    raises NotFound. Paths into a directory's left-out `merge_rules` always see the defaults:
    `materialise` (or `create`) writes them into the document, otherwise they are read from a
    copy, so reading never changes the document.
    `base` is the path of DOCUMENT itself, for messages (when ROOT is not the whole document),
    `root_field` the field that holds it when it is a list (its items' key: `directories`).
    """
    parts = split_path(path)
    canonical: list[str] = split_path(base)
    index_path: list[str | int] = []
    annotation: Any = root
    field = root_field
    node: Any = document
    container: Any = None
    key: str | int | None = None
    alias_at: int | None = None
    if not parts:
        return Location(base, (), None, None, root, "", True)

    def here() -> str:
        return join_path(canonical) or "the configuration"

    def location(
        exists: bool, item_key: tuple[str, str] | None = None, in_map: bool = False
    ) -> Location:
        names = list(canonical)
        alias = ""
        if alias_at is not None:
            alias = "condition"
            names[alias_at : alias_at + 2] = ["condition"]
        return Location(
            join_path(names),
            tuple(index_path),
            container,
            key,
            annotation,
            field,
            exists,
            item_key,
            alias,
            in_map,
        )

    i = 0
    while i < len(parts):
        part = parts[i]
        last = i == len(parts) - 1
        kind = _kind(annotation, node)
        if node is None and kind != "value":
            # an unset container on the way: the default merge rules, an app's provisioning
            if field == "merge_rules" and isinstance(container, dict):
                if not (create or materialise):
                    container = dict(container)
                node = container[key] = default_merge_rules()
            elif create and isinstance(container, dict):
                node = [] if kind == "list" else {}
                container[key] = node
            else:
                raise NotFound(
                    f"{join_path([*canonical, *parts[i:]])}: {here()} is not set, so it has no "
                    f"`{part}`; set {here()} first"
                )
        if kind == "model":
            model = _model(annotation)
            assert model is not None
            aliases = ALIASES.get(model, {})
            if part in aliases and alias_at is None:
                alias_at = len(canonical)
                parts[i : i + 1] = list(aliases[part])
                part, last = parts[i], False
            if not isinstance(node, dict):
                raise InvalidInput(
                    f"{here()} is {_describe(node)}, not an object; it has no `{part}`"
                )
            if part not in model.model_fields:
                fields = [*model.model_fields, *aliases]
                hint = suggest(part, fields)
                what = MODEL_NAMES.get(model.__name__, model.__name__)
                raise InvalidInput(
                    f"{join_path([*canonical, part])}: {what} has no `{part}`"
                    + (f" ({hint})" if hint else "")
                    + f"; its fields are: {_names(fields)}"
                )
            container, key = node, part
            canonical.append(part)
            index_path.append(part)
            annotation, field = model.model_fields[part].annotation, part
            exists = part in node
            node = node.get(part)
            if last:
                return location(exists)
        elif kind == "list":
            if not isinstance(node, list):
                raise InvalidInput(f"{here()} is {_describe(node)}, not a list")
            key_field = KEY_FIELDS.get(field) if annotation is not Any else None
            item_name = ITEM_NAMES.get(field, "item")
            position = _find_item(node, part, key_field)
            item_annotation = _item_annotation(annotation)
            if position is None:
                if key_field is not None:
                    names = [
                        str(item.get(key_field))
                        for item in node
                        if isinstance(item, dict) and item.get(key_field) is not None
                    ]
                    if last:
                        container, key, annotation = node, len(node), item_annotation
                        canonical.append(part)
                        index_path.append(len(node))
                        return location(False, (key_field, part))
                    hint = suggest(part, names)
                    raise NotFound(
                        f"{join_path([*canonical, part])}: there is no {item_name} `{part}`"
                        + (f" ({hint})" if hint else "")
                        + f"; {here()} has: {_names(names)}"
                    )
                if last and part == str(len(node)):
                    container, key, annotation = node, len(node), item_annotation
                    canonical.append(part)
                    index_path.append(len(node))
                    return location(False)
                count = len(node)
                plural = item_name + ("s" if count != 1 else "")
                raise NotFound(
                    f"{join_path([*canonical, part])}: {here()} has {count} {plural}, "
                    "numbered from 0"
                    + (f" (0 to {count - 1})" if count else "")
                    + (f"; a new one is number {count}" if last else "")
                )
            item = node[position]
            named = key_field is not None and isinstance(item, dict)
            name = str(item[key_field]) if named and item.get(key_field) is not None else None
            container, key = node, position
            canonical.append(str(position) if name is None else name)
            index_path.append(position)
            annotation = item_annotation
            node = item
            if last:
                return location(True)
        elif kind == "map":
            if not isinstance(node, dict):
                raise InvalidInput(f"{here()} is {_describe(node)}, not a mapping")
            value_annotation = _item_annotation(annotation)
            if part not in node:
                if last:
                    container, key, annotation, field = node, part, value_annotation, part
                    canonical.append(part)
                    index_path.append(part)
                    return location(False, in_map=True)
                if not create:
                    raise NotFound(
                        f"{join_path([*canonical, part])}: {here()} has no `{part}`; it has: "
                        f"{_names([str(k) for k in node])}"
                    )
                node[part] = {}
            container, key = node, part
            canonical.append(part)
            index_path.append(part)
            annotation, field = value_annotation, part
            node = node[part]
            if last:
                return location(True, in_map=True)
        else:
            raise InvalidInput(
                f"{join_path([*canonical, *parts[i:]])}: {here()} is {_describe(node)}, "
                f"a single value; it has no `{part}`"
            )
        i += 1
    raise AssertionError("unreachable")  # pragma: no cover


def _find_item(items: list[Any], part: str, key_field: str | None) -> int | None:
    if key_field is not None:
        for position, item in enumerate(items):
            if isinstance(item, dict) and item.get(key_field) == part:
                return position
        if key_field == "name":
            folded = part.casefold()
            for position, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get(key_field), str):
                    if item[key_field].casefold() == folded:
                        return position
    index = whole_number(part)
    return index if index is not None and index < len(items) else None


# ------------------------------------------------------------------------------ read


def get_value(
    document: Any, path: str, *, root: Any = RosterConfig, root_field: str = "", base: str = ""
) -> Any:
    """The data at PATH (a directory's left-out merge rules read as the defaults).

    NotFound when PATH names something that is not there, InvalidInput when it cannot name
    anything (a field no such object has); both list the names that exist."""
    location = resolve(document, path, root=root, root_field=root_field, base=base)
    if not split_path(path):
        return document
    if location.field == "merge_rules" and not location.in_list and location.value is None:
        return default_merge_rules()
    if not location.exists:
        raise NotFound(_missing(location))
    return location.value


def _missing(location: Location) -> str:
    if location.item_key is not None:
        item = ITEM_NAMES.get(location.field, "item")
        return f"{location.path}: there is no {item} `{location.item_key[1]}`" + _existing(location)
    if location.in_list:
        return f"{location.path}: there is no item number {location.key}" + _existing(location)
    if location.in_map and isinstance(location.container, dict):
        parent = join_path(split_path(location.path)[:-1])
        keys = _names([str(k) for k in location.container])
        return f"{location.path}: {parent} has no `{location.key}`; it has: {keys}"
    return f"{location.path} is not set"


def _existing(location: Location) -> str:
    items = location.container if isinstance(location.container, list) else []
    key_field = KEY_FIELDS.get(location.field)
    if key_field is None:
        count = len(items)
        return f"; there are {count}, numbered from 0" if count else "; there are none"
    names = [str(i.get(key_field)) for i in items if isinstance(i, dict)]
    return f"; there are: {_names(names)}"


def value_type(parts: Sequence[str]) -> tuple[Any, str]:
    """The type at a path (aliases written out) and the field holding it, from the model alone:
    what `resolve(..., root=, root_field=)` needs to read inside an object's own data."""
    annotation: Any = RosterConfig
    field = ""
    for part in parts:
        model = _model(annotation)
        origin = get_origin(_strip_optional(annotation))
        if model is not None:
            if part not in model.model_fields:
                raise InvalidInput(f"{join_path(parts)}: no `{part}` in {model.__name__}")
            annotation, field = model.model_fields[part].annotation, part
        elif origin is list:
            annotation = _item_annotation(annotation)
        elif origin is dict:
            annotation, field = _item_annotation(annotation), part
        else:
            return Any, part
    return annotation, field


def is_text(path: str) -> bool:
    """Whether PATH names a text field (a CEL expression, a name, a provisioning field)."""
    try:
        annotation, _ = value_type(split_path(expand_aliases(path)))
    except RosterError:
        return False
    return _strip_optional(annotation) is str


def value_from_text(path: str, text: str) -> Any:
    """A value typed on a command line for PATH: the text itself where PATH names a text field
    (`'"CREATE"'` is the CEL string literal), YAML everywhere else (`{preset: all_emails}`,
    `500`, `false`). InvalidInput, with the line and column, when the YAML cannot be read."""
    from engine.config.yaml_positions import YamlSyntaxError, load_yaml

    if is_text(path):
        return text
    try:
        return load_yaml(text).data
    except YamlSyntaxError as exc:
        raise InvalidInput(
            f"the value for {path or 'the configuration'} is not YAML: {exc.problem}",
            [exc.problem],
        ) from None


def index_to_object_path(document: Any, index_path: Sequence[str | int]) -> str:
    """A validation problem's path (`("directories", 0, "filter")`) as an object path
    (`directories.hr.filter`); items without a usable key keep their number."""
    parts: list[str] = []
    node: Any = document
    field = ""
    for step in index_path:
        if isinstance(step, int):
            key_field = KEY_FIELDS.get(field)
            item = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
            name: Any = item.get(key_field) if key_field and isinstance(item, dict) else None
            unique = (
                isinstance(name, str | int)
                and sum(1 for i in node if isinstance(i, dict) and i.get(key_field) == name) == 1
            )
            parts.append(str(name) if unique else str(step))
            node = item
        else:
            parts.append(step)
            field = step
            node = node.get(step) if isinstance(node, dict) else None
    return join_path(parts)


# ------------------------------------------------------------------------------ change


@dataclass(frozen=True)
class Applied:
    """What `apply` did: the canonical path, whether it added something, and the path of the
    object whose data shows the change (a move shows the whole list)."""

    path: str
    added: bool
    shown_path: str
    after_path: str = ""  # where the object is after (a set that renames it); "" = shown_path
    index_path: IndexPath = ()  # where the object is in the edited document (list positions)
    removed: bool = False  # a list item was deleted: nothing is at its path after

    def __post_init__(self) -> None:
        if not self.after_path:
            object.__setattr__(self, "after_path", self.shown_path)


def apply(
    document: dict[str, Any],
    op: Op,
    path: str,
    value: Any = None,
    to_index: int | None = None,
) -> tuple[dict[str, Any], Applied]:
    """OP applied to a copy of DOCUMENT; the new document and what was done.

    - set: replace the value at PATH; a missing keyed item is added at the end (its key filled
      in from the path), a missing map key or number (the next one) is added too.
    - delete: remove a list item or a map key; a field goes back to its default.
    - move: put the list item PATH names at position TO_INDEX (0 = first).
    - enable / disable: a directory's or a push rule's `enabled`.
    """
    new = copy.deepcopy(document)
    if not split_path(path):
        if op != "set":
            raise InvalidInput(f"the whole configuration can only be replaced, not `{op}`")
        if not isinstance(value, dict):
            raise InvalidInput(
                f"the configuration must be a mapping of sections, got {_describe(value)}"
            )
        return copy.deepcopy(value), Applied("", False, "")
    location = resolve(new, path, create=op == "set", materialise=True)
    if op == "set":
        old_name = _item_name(location)
        added = _set(location, copy.deepcopy(value))
        after = location.path
        new_name = _item_name(location)
        if location.exists and old_name != new_name and new_name is not None:
            after = join_path([*split_path(location.path)[:-1], new_name])
        parts = split_path(location.path)
        renamed = (
            len(parts) >= 3
            and KEY_FIELDS.get(parts[-3]) == parts[-1]
            and isinstance(value, str)
            and value != parts[-2]
        )
        if renamed:  # `…merge_rules.cel1.name renamed`: the object now lives at its new name
            after = join_path([*parts[:-2], value, parts[-1]])
        return new, Applied(location.path, added, location.path, after, location.index_path)
    if op == "delete":
        _delete(location)
        return new, Applied(
            location.path, False, location.path, "", location.index_path, location.in_list
        )
    if op == "move":
        parent = _move(location, to_index)
        return new, Applied(location.path, False, parent)
    if op in ("enable", "disable"):
        _set_enabled(location, op == "enable")
        return new, Applied(location.path, False, location.path, "", location.index_path)
    raise InvalidInput(f"unknown edit `{op}`; use set, delete, move, enable or disable")


def _item_name(location: Location) -> str | None:
    key_field = KEY_FIELDS.get(location.field)
    if not location.in_list or not location.exists or key_field is None:
        return None
    item = location.value
    return str(item.get(key_field)) if isinstance(item, dict) else None


def _set(location: Location, value: Any) -> bool:
    container = location.container
    if location.alias == "condition":
        targeting = container
        assert isinstance(targeting, dict)
        targeting["cel"] = value
        if value is not None:
            targeting["kind"] = "cel"
        return not location.exists
    if location.item_key is not None:
        key_field, key = location.item_key
        if not isinstance(value, dict):
            item = ITEM_NAMES.get(location.field, "item")
            raise InvalidInput(
                f"{location.path}: a new {item} is a mapping of its fields, e.g. "
                f"`{{{key_field}: {key}, ...}}`; got {_describe(value)}"
            )
        given = value.get(key_field)
        if given is not None and given != key:
            raise InvalidInput(
                f"{location.path}: the path names `{key}` but the value's `{key_field}` is "
                f"`{given}`; make them the same"
            )
        value = {key_field: key, **{k: v for k, v in value.items() if k != key_field}}
    elif location.exists and location.in_list and isinstance(value, dict):
        old = location.value
        name_field = KEY_FIELDS.get(location.field)
        if name_field and name_field not in value and isinstance(old, dict) and name_field in old:
            value = {name_field: old[name_field], **value}
    if location.in_list and not location.exists:
        container.append(value)
        return True
    container[location.key] = value
    return not location.exists


def _delete(location: Location) -> None:
    container = location.container
    if location.alias == "condition":
        if not location.exists or container.get("cel") is None:
            raise NotFound(f"{location.path} is not set")
        container.pop("cel", None)
        if container.get("kind") == "cel":
            container["kind"] = "everyone"
        return
    if location.field == "merge_rules" and not location.in_list:
        container[location.key] = None  # back to the defaults
        return
    if not location.exists:
        raise NotFound(_missing(location))
    if location.in_list:
        del container[location.key]
    else:
        del container[location.key]


def _move(location: Location, to_index: int | None) -> str:
    if not location.in_list:
        raise InvalidInput(
            f"{location.path} is not an item of a list; only list items (directories, rules, "
            "sources, mappings, ...) can be moved"
        )
    if not location.exists:
        raise NotFound(_missing(location))
    items: list[Any] = location.container
    count = len(items)
    if to_index is None or not 0 <= to_index < count:
        raise InvalidInput(
            f"{location.path}: the new position must be from 0 to {count - 1} "
            f"(0 is first); got {to_index}"
        )
    item = items.pop(location.key)  # type: ignore[arg-type]
    items.insert(to_index, item)
    return join_path(split_path(location.path)[:-1])


def _set_enabled(location: Location, enabled: bool) -> None:
    model = _model(location.annotation)
    target: Any
    if model is not None and "enabled" in model.model_fields:
        if not location.exists:
            raise NotFound(_missing(location))
        target = location.value
        if not isinstance(target, dict):
            raise InvalidInput(f"{location.path} is {_describe(target)}, not an object")
        target["enabled"] = enabled
        return
    if location.key == "enabled" and isinstance(location.container, dict):
        location.container["enabled"] = enabled
        return
    raise InvalidInput(
        f"{location.path} cannot be enabled or disabled; directories and push rules can "
        "(e.g. `directories.hr`, `push_rules.ad-core`)"
    )
