"""How the file connector changes a record before writing it back: a pushed attribute goes
into the profile (and, for a flavour, into the core field it mirrors, e.g. AD `displayName`
also sets `display_name`); a created account becomes a new record in the file's shape."""

from __future__ import annotations

from typing import Any

from engine.connectors.coerce import is_empty
from engine.connectors.file.records import ACCOUNT_KEYS, LIST_KEYS
from engine.connectors.schemas import ACTIVE_DIRECTORY, ENTRA_ID, ad_distinguished_name
from engine.errors import ConnectorError

# Flavour attributes that also set a core account field when pushed or created.
MIRRORS: dict[str, dict[str, str]] = {
    ACTIVE_DIRECTORY: {
        "displayname": "display_name",
        "givenname": "given_name",
        "sn": "family_name",
        "mail": "email",
        "employeeid": "employee_ids",
        "manager": "manager",
    },
    ENTRA_ID: {
        "displayname": "display_name",
        "givenname": "given_name",
        "surname": "family_name",
        "userprincipalname": "username",
        "employeeid": "employee_ids",
        "accountenabled": "status",
    },
}
# Creation fields that are instructions, not attributes: never stored in the profile.
NOT_STORED = {"groups", "enabled", "passwordProfile", "ou"}


def set_profile(item: dict[str, Any], key: str, value: Any) -> None:
    profile = item.get("profile")
    if not isinstance(profile, dict):
        profile = {}
        item["profile"] = profile
    existing = next((k for k in profile if isinstance(k, str) and k.lower() == key.lower()), None)
    if is_empty(value):
        if existing is not None:
            del profile[existing]
        if not profile:
            item.pop("profile", None)
        return
    if existing is not None:
        profile[existing] = value
        return
    keys = [str(k) for k in profile]
    if keys and keys == sorted(keys) and key < keys[-1]:  # keep a sorted profile sorted
        profile[key] = value
        ordered = sorted(profile.items(), key=lambda kv: str(kv[0]))
        profile.clear()
        profile.update(ordered)
    else:
        profile[key] = value


def set_core(item: dict[str, Any], key: str, value: Any) -> None:
    if key == "status" and isinstance(value, bool):
        value = "ENABLED" if value else "DISABLED"
    elif key in LIST_KEYS:
        value = [] if is_empty(value) else ([value] if isinstance(value, str) else value)
    if is_empty(value):
        item.pop(key, None)
        return
    if key in item:
        item[key] = value
        return
    item[key] = value
    order = {k: i for i, k in enumerate(ACCOUNT_KEYS)}
    ordered = sorted(item.items(), key=lambda kv: order.get(kv[0], len(order)))
    item.clear()
    item.update(ordered)


def apply_change(flavour: str, item: dict[str, Any], key: str, value: Any) -> None:
    """Set one pushed attribute on a record (None clears it)."""
    if not flavour and key in ACCOUNT_KEYS[1:-1]:
        set_core(item, key, value)  # a plain app's declared attribute named like a field
        return
    set_profile(item, key, value)
    mirror = MIRRORS.get(flavour, {}).get(key.lower())
    if mirror:
        set_core(item, mirror, value)


def id_field(flavour: str) -> str:
    """The creation field that becomes a new account's id."""
    return {ACTIVE_DIRECTORY: "sAMAccountName", ENTRA_ID: "userPrincipalName"}.get(flavour, "id")


def new_item(app_id: str, flavour: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A new account record from checked creation values, and the groups to grant it."""
    groups = [str(g) for g in values.get("groups") or []]
    core: dict[str, Any] = {}
    if flavour == ACTIVE_DIRECTORY:
        sam = values["sAMAccountName"]
        core = {
            "id": sam,
            "display_name": values.get("displayName"),
            "given_name": values.get("givenName"),
            "family_name": values.get("sn"),
            "email": values.get("mail") or values.get("userPrincipalName"),
            "username": sam,
            "employee_ids": [values["employeeID"]] if values.get("employeeID") else None,
            "status": "ENABLED" if values.get("enabled", True) else "DISABLED",
            "manager": values.get("manager"),
        }
        profile = {k: v for k, v in values.items() if k not in NOT_STORED}
        distinguished = ad_distinguished_name(values)
        if distinguished is not None:
            profile["distinguishedName"] = distinguished
    elif flavour == ENTRA_ID:
        upn = values["userPrincipalName"]
        core = {
            "id": upn,
            "display_name": values.get("displayName"),
            "given_name": values.get("givenName"),
            "family_name": values.get("surname"),
            "email": upn,
            "username": upn,
            "employee_ids": [values["employeeId"]] if values.get("employeeId") else None,
            "status": "ENABLED" if values.get("accountEnabled", True) else "DISABLED",
        }
        profile = {k: v for k, v in values.items() if k not in NOT_STORED}
        profile.setdefault("accountEnabled", True)
    else:
        core = {k: values[k] for k in ACCOUNT_KEYS[:-1] if k in values}
        profile = {k: v for k, v in values.items() if k not in ACCOUNT_KEYS and k not in NOT_STORED}
        core.setdefault("id", values.get("username") or values.get("email") or "")
        if not core["id"]:
            raise ConnectorError(
                f"App '{app_id}' cannot create the account: its creation schema gives "
                "no id. Add an 'id', 'username' or 'email' field to creation_schema."
            )
    item: dict[str, Any] = {}
    for key in ACCOUNT_KEYS[:-1]:
        value = core.get(key)
        if not is_empty(value):
            item[key] = value
    item.setdefault("status", "ENABLED")
    item.setdefault("type", "USER")
    if profile:
        item["profile"] = dict(sorted(profile.items()))
    return item, groups
