"""Which connector kinds exist, and how an app's spec becomes a connector (docs/connectors.md)."""

from __future__ import annotations

from collections.abc import Callable

from engine.connectors.base import Connector, ConnectorDescription, ConnectorSpec
from engine.connectors.file import FileConnector, describe_file
from engine.connectors.ldap import describe_ldap, ldap_connector
from engine.connectors.scim import describe_scim, scim_connector
from engine.errors import ConnectorError

_FACTORIES: dict[
    str,
    tuple[Callable[[ConnectorSpec], Connector], Callable[[ConnectorSpec], ConnectorDescription]],
] = {
    "file": (FileConnector, describe_file),
    "ldap": (ldap_connector, describe_ldap),
    "scim": (scim_connector, describe_scim),
}
KNOWN_KINDS: tuple[str, ...] = tuple(_FACTORIES)


def _factories(
    spec: ConnectorSpec,
) -> tuple[Callable[[ConnectorSpec], Connector], Callable[[ConnectorSpec], ConnectorDescription]]:
    found = _FACTORIES.get(spec.kind)
    if found is None:
        raise ConnectorError(
            f"App '{spec.app_id}': unknown connector type {spec.kind!r}. Known types: "
            f"{', '.join(KNOWN_KINDS)}. Fix 'connector:' in the app's configuration."
        )
    return found


def make_connector(spec: ConnectorSpec) -> Connector:
    """The connector for an app; raises ConnectorError for an unknown kind or bad settings."""
    return _factories(spec)[0](spec)


def describe(spec: ConnectorSpec) -> ConnectorDescription:
    """What an app's connector offers, from its settings only (no data is read, no server is
    contacted), for the configuration validator and the screens."""
    return _factories(spec)[1](spec)
