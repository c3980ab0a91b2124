"""A small directory for the LDAP tests, written to a real slapd (tests/ldap_server.py): each
test gets its own OU so tests do not see each other's changes. OpenLDAP people are
inetOrgPerson entries; Active Directory people are `user` entries (tests/ldap/ad.schema) with
raw 16-byte objectGUIDs, userAccountControl, proxyAddresses and whenChanged as AD has them."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ldap_server import LdapServer, ldap_server, unavailable_reason
from tests.prerequisites import missing

MANY = 1200  # entries under ou=Many: more than the server's size limit (500)
_numbers = itertools.count(1)


def many_ldif(suffix: str, count: int, ou: str = "Many") -> str:
    """`count` inetOrgPerson entries under ou=<ou>, for the paging tests and the benchmark."""
    parts = [f"dn: ou={ou},{suffix}\nobjectClass: organizationalUnit\nou: {ou}\n"]
    for n in range(count):
        parts.append(
            f"dn: uid=p{n:06d},ou={ou},{suffix}\nobjectClass: inetOrgPerson\nuid: p{n:06d}\n"
            f"cn: Person {n}\nsn: Person\ngivenName: P{n}\nmail: p{n:06d}@example.com\n"
            f"employeeNumber: N{n:06d}\ntitle: Engineer\n"
        )
    return "\n".join(parts)


@pytest.fixture(scope="session")
def slapd() -> Iterator[LdapServer]:
    reason = unavailable_reason()
    if reason:
        missing(reason)
    from tests.ldap_server import SUFFIX

    with ldap_server(many_ldif(SUFFIX, MANY)) as server:
        yield server


@pytest.fixture
def ou(slapd: LdapServer) -> str:
    """A new empty OU for one test; its DN."""
    dn = f"ou=t{next(_numbers)},{slapd.suffix}"
    slapd.add_entries([(dn, {"objectClass": ["organizationalUnit"]})])
    return dn


@pytest.fixture
def bind_password(slapd: LdapServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LDAP_TEST_PASSWORD", slapd.password)
    return "LDAP_TEST_PASSWORD"


def openldap_person(ou: str, uid: str, name: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    given, _, family = name.partition(" ")
    attributes: dict[str, Any] = {
        "objectClass": ["inetOrgPerson"],
        "uid": uid,
        "cn": name,
        "sn": family or given,
        "givenName": given,
        "displayName": name,
        "mail": f"{uid}@example.com",
        "userPassword": "not-to-be-imported",
        **extra,
    }
    return f"uid={uid},{ou}", attributes


def ad_person(
    ou: str, sam: str, name: str, *, guid: uuid.UUID | None = None, **extra: Any
) -> tuple[str, dict[str, Any]]:
    given, _, family = name.partition(" ")
    attributes: dict[str, Any] = {
        "objectClass": ["user"],
        "cn": name,
        "sn": family or given,
        "givenName": given,
        "displayName": name,
        "objectGUID": (guid or uuid.uuid4()).bytes_le,
        "sAMAccountName": sam,
        "userPrincipalName": f"{sam}@corp.example.com",
        "mail": f"{sam}@example.com",
        "proxyAddresses": [f"SMTP:{sam}@example.com", f"smtp:{sam}@old.example.com", "X400:c=x"],
        "userAccountControl": "512",
        "whenChanged": "20240501120000.0Z",
        **extra,
    }
    return f"cn={name},{ou}", attributes


def app_settings(
    slapd: LdapServer, ou: str, password_env: str, flavour: str = "openldap", **extra: Any
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "url": slapd.url,
        "bind_dn": slapd.bind_dn,
        "password_env": password_env,
        "base_dn": ou,
        "flavour": flavour,
        "timeout": 10,
        **extra,
    }
    if flavour == "active_directory":
        settings.setdefault("user_filter", "(objectClass=user)")
    return settings
