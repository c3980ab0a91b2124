"""The two LDAP flavours Roster knows: Active Directory and OpenLDAP (inetOrgPerson). A flavour
gives the attribute map (which LDAP attribute feeds which account field), the attribute that
says when an entry last changed (for delta imports), the object classes and naming attribute
of a new entry, and the push and creation schemas. The admin overrides any map entry with
`attributes:` in the app's settings.

Active Directory's schemas are the ones every AD-flavoured app shares
(engine/connectors/schemas.py), so a push rule written against the demo's AD file works
unchanged against a real AD.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.connectors.base import Capabilities, SchemaField
from engine.connectors.schemas import (
    ACTIVE_DIRECTORY,
    AD_CAPABILITIES,
    AD_CREATION_SCHEMA,
    AD_PUSH_SCHEMA,
    schema_fields,
)

OPENLDAP = "openldap"
LDAP_FLAVOURS = (ACTIVE_DIRECTORY, OPENLDAP)

#: The account fields an attribute map may name. `id` is the external id (it must never change
#: for an entry), `changed` the timestamp a delta import filters on. List fields may take several
#: attributes, whose values are gathered in order.
MAP_TEXT_KEYS = (
    "id",
    "display_name",
    "given_name",
    "family_name",
    "email",
    "username",
    "status",
    "manager",
    "changed",
)
MAP_LIST_KEYS = ("emails", "usernames", "employee_ids")
MAP_KEYS = MAP_TEXT_KEYS + MAP_LIST_KEYS

# Attributes that hold secrets or big binary blobs: never read into the store.
NEVER_IMPORTED = frozenset(
    a.lower()
    for a in (
        "userPassword",
        "unicodePwd",
        "dBCSPwd",
        "supplementalCredentials",
        "ntPwdHistory",
        "lmPwdHistory",
        "msDS-ManagedPassword",
        "jpegPhoto",
        "thumbnailPhoto",
        "photo",
        "userCertificate",
        "userSMIMECertificate",
        "msExchMailboxSecurityDescriptor",
        "nTSecurityDescriptor",
    )
)
# Attributes that hold bytes, not text, read as `base64:…` whatever their bytes: a value that
# happened to decode as UTF-8 was text, and one with a control byte then refused the app's
# whole import (about one 16-byte GUID in 12,000 does: LDAP review). More per app:
# settings.binary_attributes; an attribute sent with the ;binary option is binary too.
BINARY = frozenset(
    a.lower()
    for a in (
        "objectSid",
        "sIDHistory",
        "tokenGroups",
        "mS-DS-ConsistencyGuid",
        "msExchMailboxGuid",
        "msExchArchiveGUID",
        "msDS-GenerationId",
        "logonHours",
        "userPKCS12",
        "audio",
        "userCertificate",
        "cACertificate",
        "authorityRevocationList",
        "certificateRevocationList",
        "crossCertificatePair",
        "x500UniqueIdentifier",
    )
)
# Attributes that hold several values by nature: always a list in the profile, even with one.
MULTI_VALUED = frozenset(
    a.lower() for a in ("objectClass", "proxyAddresses", "memberOf", "member", "otherMailbox", "ou")
)


@dataclass(frozen=True)
class Flavour:
    name: str
    attribute_map: dict[str, str | tuple[str, ...]]
    object_classes: tuple[str, ...]
    rdn_attribute: str  # the naming attribute of a new entry
    rdn_field: str  # the creation field whose value names it
    push_schema: tuple[SchemaField, ...]
    creation_schema: tuple[SchemaField, ...]
    capabilities: Capabilities
    # Operational attributes a `*` search does not return but the map needs.
    operational: tuple[str, ...] = ()


ACTIVE_DIRECTORY_FLAVOUR = Flavour(
    name=ACTIVE_DIRECTORY,
    attribute_map={
        "id": "objectGUID",
        "display_name": "displayName",
        "given_name": "givenName",
        "family_name": "sn",
        "email": "mail",
        "emails": ("mail", "proxyAddresses"),
        "username": "sAMAccountName",
        "usernames": ("sAMAccountName", "userPrincipalName"),
        "employee_ids": ("employeeID",),
        "status": "userAccountControl",
        "manager": "manager",
        "changed": "whenChanged",
    },
    object_classes=("top", "person", "organizationalPerson", "user"),
    rdn_attribute="cn",
    rdn_field="displayName",
    push_schema=AD_PUSH_SCHEMA,
    creation_schema=AD_CREATION_SCHEMA,
    capabilities=AD_CAPABILITIES,
)

OPENLDAP_PUSH_SCHEMA = schema_fields(
    [
        ("cn", "Common name", "string", 256, "The entry's common name."),
        ("displayName", "Display name", "string", 256, "Name shown in address books."),
        ("givenName", "First name", "string", 128, "Given name."),
        ("sn", "Last name", "string", 128, "Surname (sn)."),
        ("mail", "Email", "string", 256, "Primary email address."),
        ("title", "Job title", "string", 128, "Job title."),
        ("departmentNumber", "Department", "string", 128, "Department (name or number)."),
        ("employeeNumber", "Employee number", "string", 64, "Employee number from HR."),
        ("employeeType", "Employee type", "string", 64, "Employee, Contractor, Intern..."),
        ("o", "Organisation", "string", 128, "Organisation name."),
        ("ou", "Organisational unit", "string", 128, "Organisational unit name."),
        ("l", "City", "string", 128, "City (locality)."),
        ("st", "State", "string", 128, "State or province."),
        ("street", "Street", "string", 256, "Street address."),
        ("postalCode", "Postal code", "string", 40, "Postal code."),
        ("physicalDeliveryOfficeName", "Office", "string", 128, "Office name."),
        ("telephoneNumber", "Telephone", "string", 64, "Main telephone number."),
        ("mobile", "Mobile", "string", 64, "Mobile telephone number."),
        ("preferredLanguage", "Language", "string", 16, "Preferred language (e.g. en-GB)."),
        ("manager", "Manager", "string", 1024, "The manager: an email (looked up) or a DN."),
        ("description", "Description", "string", 1024, "Free description."),
    ]
)

OPENLDAP_CREATION_SCHEMA = schema_fields(
    [
        ("uid", "User id", "string", 256, "Login name; names the new entry.", True, None, "alee"),
        ("cn", "Common name", "string", 256, "Full name.", True, None, "Ann Lee"),
        ("sn", "Last name", "string", 128, "Surname.", True, None, "Lee"),
        ("givenName", "First name", "string", 128, "Given name.", False, None, "Ann"),
        ("displayName", "Display name", "string", 256, "Name shown in address books."),
        ("mail", "Email", "string", 256, "Primary email.", False, None, "ann.lee@example.com"),
        ("employeeNumber", "Employee number", "string", 64, "Employee number from HR."),
        ("employeeType", "Employee type", "string", 64, "Employee, Contractor, Intern..."),
        ("title", "Job title", "string", 128, "Job title."),
        ("departmentNumber", "Department", "string", 128, "Department (name or number)."),
        ("telephoneNumber", "Telephone", "string", 64, "Main telephone number."),
        ("manager", "Manager", "string", 1024, "The manager: an email (looked up) or a DN."),
        ("ou", "Organisational unit", "string", 1024, "Where the entry is created (a DN)."),
        ("groups", "Groups", "string_list", None, "Groups to add the entry to (DNs).", False, []),
    ]
)

OPENLDAP_FLAVOUR = Flavour(
    name=OPENLDAP,
    attribute_map={
        "id": "entryUUID",
        "display_name": "displayName",
        "given_name": "givenName",
        "family_name": "sn",
        "email": "mail",
        "emails": ("mail",),
        "username": "uid",
        "usernames": ("uid",),
        "employee_ids": ("employeeNumber",),
        "status": "pwdAccountLockedTime",
        "manager": "manager",
        "changed": "modifyTimestamp",
    },
    object_classes=("top", "person", "organizationalPerson", "inetOrgPerson"),
    rdn_attribute="uid",
    rdn_field="uid",
    push_schema=OPENLDAP_PUSH_SCHEMA,
    creation_schema=OPENLDAP_CREATION_SCHEMA,
    capabilities=Capabilities(
        directory=True, push=True, custom_push_attributes=True, provisioning=True
    ),
    operational=("entryUUID", "modifyTimestamp", "pwdAccountLockedTime"),
)

FLAVOUR_BY_NAME = {f.name: f for f in (ACTIVE_DIRECTORY_FLAVOUR, OPENLDAP_FLAVOUR)}
