"""A stable digest of a listed account, so the importer can tell new, changed and unchanged."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.connectors.base import ListedAccount, Listing
from engine.records import ACCOUNT_DATA_FIELDS


def canonical(listed: ListedAccount) -> list[Any]:
    """What the fingerprint is of: the id and every data field, in order."""
    return [listed.external_id, *(getattr(listed, name) for name in ACCOUNT_DATA_FIELDS)]


def fingerprint(listed: ListedAccount) -> str:
    """Hex digest of every field (profile keys sorted, list order kept).

    Equal records give equal digests in every process and on every machine; any change to any
    field, however small, gives a different one.
    """
    text = json.dumps(
        canonical(listed),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.blake2b(text.encode("utf-8"), digest_size=20).hexdigest()


def fingerprint_in(listing: Listing, listed: ListedAccount) -> str:
    """The account's fingerprint: the connector's digest of its record when the listing has
    one (it is taken from the record's text, before anything is built), else `fingerprint`."""
    return listing.digests.get(listed.external_id) or fingerprint(listed)
