"""The LDAP connector (docs/connectors.md): Active Directory and OpenLDAP through ldap3.

The layers: settings.py (what the admin writes, checked without the server), flavours.py
(attribute maps and schemas), connection.py (connect, TLS, bind, retries, error messages),
entries.py (entries as accounts), reading.py (paged search, delta, lookups), writing.py (push
and provisioning). Each operation opens one connection and closes it when done.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from engine.connectors.base import ConnectorDescription, ConnectorSpec, ListedAccount, Listing
from engine.connectors.ldap.connection import LdapClient
from engine.connectors.ldap.reading import Reader
from engine.connectors.ldap.settings import parse_settings
from engine.connectors.ldap.writing import Writer
from engine.errors import ConnectorError


class LdapConnector:
    """Connector over one LDAP directory (a base DN and a filter)."""

    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec
        self.settings = parse_settings(spec)
        self.app_id = spec.app_id

    def describe(self) -> ConnectorDescription:
        return self.settings.description

    @contextmanager
    def _session(self) -> Iterator[tuple[LdapClient, Reader]]:
        client = LdapClient(self.settings)
        try:
            yield client, Reader(self.settings, client)
        finally:
            client.close()

    def list_all(self) -> Listing:
        with self._session() as (_, reader):
            return reader.full()

    def list_changes(self, cursor: str) -> Listing:
        """What changed since the last import (a delta), or everything when a complete listing
        is due (`full_import_hours`), the cursor is unknown or delta imports are off."""
        with self._session() as (_, reader):
            return reader.changes(cursor)

    def probe(self, limit: int = 5) -> Listing:
        with self._session() as (client, reader):
            client.connect()
            accounts, _, _ = reader.accounts(self.settings.user_filter, limit=max(1, limit))
            return Listing(accounts=accounts)

    def source_version(self) -> str | None:
        return None  # a directory cannot say cheaply whether anything changed

    def update_accounts(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        """Modify each account's changed attributes; the refused ones with their reasons."""
        if not changes_by_account:
            return {}
        with self._session() as (client, reader):
            return Writer(self.settings, client, reader).update(changes_by_account)

    def create_account(self, fields: dict[str, Any]) -> ListedAccount:
        """Add an entry from creation-schema fields; returns it as the directory now lists it."""
        (outcome,) = self.create_accounts([fields])
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def create_accounts(
        self, many: Sequence[Mapping[str, Any]]
    ) -> list[ListedAccount | ConnectorError]:
        """Add many entries over one connection; each outcome in its place (the entry as the
        directory now lists it, or why it was refused)."""
        outcomes: list[ListedAccount | ConnectorError] = []
        if not many:
            return outcomes
        with self._session() as (client, reader):
            writer = Writer(self.settings, client, reader)
            for fields in many:
                try:
                    dn, _ = writer.create(dict(fields))
                    outcomes.append(writer.read_back(dn))
                except ConnectorError as exc:
                    outcomes.append(exc)
        return outcomes
