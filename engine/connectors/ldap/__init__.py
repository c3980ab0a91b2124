"""The LDAP connector: Active Directory and OpenLDAP through ldap3 (see connector.py)."""

from engine.connectors.ldap.connector import LdapConnector
from engine.connectors.ldap.settings import describe_ldap

__all__ = ["LdapConnector", "describe_ldap"]
