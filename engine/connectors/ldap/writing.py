"""Writing to the directory: push (modify only the changed attributes) and provision (add an
entry under the configured OU). Values are checked by the shared coercion first
(engine/connectors/coerce.py); what the server then refuses (constraint violation,
insufficient access…) is recorded per person with its LDAP result code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ldap3
from ldap3.utils.dn import escape_rdn

from engine.connectors.base import ListedAccount
from engine.connectors.coerce import check_creation, resolve_push
from engine.connectors.ldap.connection import SUCCESS, LdapClient
from engine.connectors.ldap.reading import Reader
from engine.connectors.ldap.settings import LdapSettings
from engine.connectors.schemas import ACTIVE_DIRECTORY
from engine.connectors.secrets import read_secret
from engine.errors import ConnectorError

UAC_NORMAL_ACCOUNT = 0x200
UAC_ACCOUNTDISABLE = 0x2
# Creation fields that steer the add and are not attributes of the entry.
NOT_ATTRIBUTES = ("ou", "enabled", "groups")


def ldap_values(value: Any) -> list[str]:
    """A coerced value as LDAP attribute values (an empty list clears the attribute)."""
    if value is None:
        return []
    if isinstance(value, bool):
        return ["TRUE" if value else "FALSE"]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


class Writer:
    def __init__(self, settings: LdapSettings, client: LdapClient, reader: Reader) -> None:
        self.settings = settings
        self.client = client
        self.reader = reader
        self.app_id = settings.app_id

    def manager_dn(self, value: str) -> str:
        """The manager as a DN: a DN stays, an email is looked up under base_dn."""
        if "=" in value:
            return value
        dn = self.reader.dn_by_email(value)
        if dn is None:
            raise ConnectorError(
                f"App '{self.app_id}': no entry under {self.settings.base_dn!r} has the email "
                f"{value!r}, so it cannot be set as manager. Check the manager's email, or "
                "push the manager's DN instead."
            )
        return dn

    # --- push ----------------------------------------------------------------------------------

    def update(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        description = self.settings.description
        if not description.capabilities.push:
            raise ConnectorError(f"App '{self.app_id}' does not accept pushes.")
        failures: dict[str, ConnectorError] = {}
        resolved: dict[str, list[tuple[str, Any]]] = {}
        for external_id, changes in changes_by_account.items():
            try:
                resolved[external_id] = resolve_push(self.app_id, description, external_id, changes)
            except ConnectorError as exc:
                failures[external_id] = exc
        if not resolved:
            return failures
        dns = self.reader.dns_of(list(resolved))
        for position, (external_id, pairs) in enumerate(resolved.items()):
            dn = dns.get(external_id)
            if dn is None:
                failures[external_id] = ConnectorError(
                    f"App '{self.app_id}': no entry with {self.settings.first('id')} "
                    f"{external_id!r} under {self.settings.base_dn!r}. It may have been deleted "
                    "or moved out of base_dn since the last sync. A delta import does not see "
                    "deletions: the next complete one marks it DELETED (at most "
                    "full_import_hours after the last; set delta: false, or full_import_hours: "
                    "0, for one sync to have it now)."
                )
                continue
            try:
                self.modify(dn, pairs)
            except ConnectorError as exc:
                failures[external_id] = exc
                if not self.client.connection:  # the server is gone: the rest fail alike
                    for rest in list(resolved)[position + 1 :]:
                        failures[rest] = exc
                    break
        return failures

    def modify(self, dn: str, pairs: list[tuple[str, Any]]) -> None:
        changes: dict[str, list[tuple[str, list[str]]]] = {}
        for attribute, value in pairs:
            values = ldap_values(value)
            if attribute.lower() == "manager" and values:
                values = [self.manager_dn(values[0])]
            changes[attribute] = [(ldap3.MODIFY_REPLACE, values)]
        result = self.client.run(
            f"modifying {dn!r}", lambda connection: bool(connection.modify(dn, changes))
        )
        if int(result.get("result", -1)) != SUCCESS:
            raise self.client.result_error(f"the change of {', '.join(changes)} on {dn!r}", result)

    # --- provisioning --------------------------------------------------------------------------

    def create(self, fields: dict[str, Any]) -> tuple[str, dict[str, list[Any]]]:
        """Add the entry for checked creation fields; returns its DN and what was sent (the
        password left out)."""
        description = self.settings.description
        if not description.capabilities.provisioning:
            raise ConnectorError(f"App '{self.app_id}' cannot create accounts.")
        values = check_creation(self.app_id, description.creation_schema, fields)
        groups = self.existing_groups([str(g) for g in values.get("groups") or []])
        flavour = self.settings.flavour
        rdn_value = str(values.get(flavour.rdn_field) or "")
        ou = str(values.get("ou") or self.settings.create_ou)
        dn = f"{flavour.rdn_attribute}={escape_rdn(rdn_value)},{ou}"
        attributes: dict[str, list[Any]] = {"objectClass": list(flavour.object_classes)}
        for key, value in values.items():
            if key in NOT_ATTRIBUTES:
                continue
            listed = ldap_values(value)
            if key.lower() == "manager" and listed:
                listed = [self.manager_dn(listed[0])]
            if listed:
                attributes[key] = listed
        attributes[flavour.rdn_attribute] = [rdn_value]
        secret: dict[str, list[Any]] = {}
        if flavour.name == ACTIVE_DIRECTORY:
            enabled = values.get("enabled", True) is not False
            flags = UAC_NORMAL_ACCOUNT | (0 if enabled else UAC_ACCOUNTDISABLE)
            attributes["userAccountControl"] = [str(flags)]
            secret = self.initial_password()
        sent = {**attributes, **secret}
        result = self.client.run(
            f"adding {dn!r}", lambda connection: bool(connection.add(dn, attributes=sent))
        )
        if int(result.get("result", -1)) != SUCCESS:
            raise ConnectorError(
                self.client.result_error(f"to create {dn!r}", result).message
                + " Nothing was created."
            )
        self.join_groups(dn, groups)
        return dn, attributes

    def existing_groups(self, groups: list[str]) -> list[str]:
        """The groups a new account joins, each checked to exist before anything is created."""
        missing = [g for g in dict.fromkeys(groups) if self.reader.one(g, ["cn"]) is None]
        if missing:
            raise ConnectorError(
                f"App '{self.app_id}' cannot create the account: no group "
                f"{', '.join(repr(g) for g in missing)} in the directory (groups are given by "
                "their DN, the id the app's entitlements have). Nothing was created."
            )
        return list(dict.fromkeys(groups))

    def join_groups(self, dn: str, groups: list[str]) -> None:
        """Add the new entry to its groups; if one refuses, the entry leaves the groups it
        joined and is removed again, so a creation is all or nothing."""
        joined: list[str] = []
        for group in groups:
            result = self.membership(dn, group, ldap3.MODIFY_ADD)
            if int(result.get("result", -1)) == SUCCESS:
                joined.append(group)
                continue
            refusal = self.client.result_error(f"to add {dn!r} to the group {group!r}", result)
            for earlier in joined:
                self.membership(dn, earlier, ldap3.MODIFY_DELETE)
            removed = self.client.run(
                f"removing {dn!r}", lambda connection: bool(connection.delete(dn))
            )
            undone = (
                "The new entry was removed again; nothing was created."
                if int(removed.get("result", -1)) == SUCCESS
                else f"The new entry {dn!r} could not be removed again: remove it by hand."
            )
            raise ConnectorError(f"{refusal.message} {undone}")

    def membership(self, dn: str, group: str, operation: str) -> dict[str, Any]:
        change = {self.settings.group_member_attribute: [(operation, [dn])]}

        def call(connection: Any) -> bool:
            return bool(connection.modify(group, change))

        return self.client.run(f"changing the members of {group!r}", call)

    def initial_password(self) -> dict[str, list[Any]]:
        """AD's unicodePwd (and pwdLastSet 0: change it at first logon) when the app gives an
        initial password; refused over an unencrypted connection, as AD itself does."""
        raw = self.settings.raw
        if not (raw.get("initial_password_env") or raw.get("initial_password_file")):
            return {}
        if not self.settings.encrypted:
            raise ConnectorError(
                f"App '{self.app_id}': an initial password is sent only over an encrypted "
                "connection. Use an ldaps:// URL or start_tls: true, or remove "
                "initial_password_env / initial_password_file. Nothing was created."
            )
        password = read_secret(self.app_id, raw, "initial_password", self.settings.base_dir)
        if password is None:
            return {}
        return {
            "unicodePwd": [f'"{password}"'.encode("utf-16-le")],
            "pwdLastSet": ["0"],
        }

    def read_back(self, dn: str) -> ListedAccount:
        entry = self.reader.one(dn, self.reader.entries.requested())
        if entry is None:
            raise ConnectorError(
                f"App '{self.app_id}': the entry {dn!r} was created but cannot be read back. "
                "Check that the bind account may read it and that it is under base_dn; the "
                "next sync imports it."
            )
        account = self.reader.entries.account(entry)
        self.reader.resolve_managers([account])
        return account
