"""The LDAP connector: Active Directory and OpenLDAP through ldap3 (see connector.py).

ldap3 is imported only when an LDAP app is read or written: describing an app (the validator,
the screens) needs the settings alone, and every other command starts without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.connectors.base import ConnectorSpec
from engine.connectors.ldap.settings import describe_ldap

if TYPE_CHECKING:
    from engine.connectors.ldap.connector import LdapConnector


def ldap_connector(spec: ConnectorSpec) -> LdapConnector:
    from engine.connectors.ldap.connector import LdapConnector

    return LdapConnector(spec)


__all__ = ["describe_ldap", "ldap_connector"]
