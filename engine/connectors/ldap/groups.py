"""Groups as entitlements: the groups under `group_base_dn` (entitlement id = the group's DN,
name = its cn) and their members among the listed accounts as grants; and adding a new account
to groups when it is provisioned. Active Directory sends the members of a big group in ranges
(`member;range=0-1499`); the rest are asked for until the last range."""

from __future__ import annotations

from collections.abc import Iterator

from engine.connectors.base import ListedAccount, ListedEntitlement, ListedGrant
from engine.connectors.ldap.entries import RawEntry, normal_dn
from engine.connectors.ldap.reading import Reader

MAX_RANGES = 1000  # ranged reads of one group's members, at most (1.5 million members in AD)


class Groups:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.settings = reader.settings
        self.member = self.settings.group_member_attribute

    def entries(self) -> Iterator[RawEntry]:
        wanted = ["cn", "description", self.member]
        yield from self.reader.search(
            self.settings.group_filter, base=self.settings.group_base_dn, attributes=wanted
        )

    def members(self, entry: RawEntry) -> list[str]:
        """Every member DN of a group, its ranges read to the end."""
        values = list(entry.values(self.member))
        end = entry.ranged.get(self.member.lower())
        for _ in range(MAX_RANGES):
            if end is None:
                break
            wanted = f"{self.member};range={end + 1}-*"
            more = self.reader.one(entry.dn, [wanted])
            if more is None:
                break
            values.extend(more.values(self.member))
            end = more.ranged.get(self.member.lower())
        return [v.decode("utf-8", "replace") for v in values]

    def listing(
        self, accounts: list[ListedAccount]
    ) -> tuple[list[ListedEntitlement], list[ListedGrant]]:
        """The groups as entitlements and the listed accounts' memberships as grants."""
        if not self.settings.group_base_dn:
            return [], []
        by_dn = {normal_dn(str(a.profile.get("dn", ""))): a.external_id for a in accounts}
        entitlements: list[ListedEntitlement] = []
        grants: list[ListedGrant] = []
        text = self.reader.entries.first_text
        for entry in self.entries():
            entitlements.append(
                ListedEntitlement(
                    external_id=entry.dn,
                    name=text(entry, ("cn",)) or entry.dn,
                    description=text(entry, ("description",)),
                )
            )
            for member in self.members(entry):
                account = by_dn.get(normal_dn(member))
                if account is not None:
                    grants.append(ListedGrant(account, entry.dn))
        return entitlements, grants
