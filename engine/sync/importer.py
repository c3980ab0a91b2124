"""Stage 1, import: list every app's accounts and compare fingerprints (new, changed, unchanged,
gone). Gone accounts become DELETED, never erased. An app whose connector fails keeps its
accounts exactly as they were and the failure is reported."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.changes import HELD_BACK, LISTED_AGAIN, REMOVED_APP
from engine.config.model import App
from engine.connectors.base import Connector, ConnectorSpec, ListedAccount, Listing
from engine.connectors.fingerprint import canonical, fingerprint
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError
from engine.records import ACCOUNT_DATA_FIELDS, AccountRecord, json_text, read_entitlements
from engine.store.deferred import any_entitlements, read_whole
from engine.sync.state import StageReport, WorkState, moved_fields

if TYPE_CHECKING:
    from engine.sync.import_ahead import ImportAhead

STAGE = "import"


def connector_spec(app: App, base_dir: Path) -> ConnectorSpec:
    return ConnectorSpec(
        app_id=app.id, kind=app.connector, settings=dict(app.settings), base_dir=base_dir
    )


def source_version_of(connector: Any, app_id: str, stamps: dict[str, str] | None) -> str | None:
    """The connector's source version; from `stamps` (app -> "stamp|version") when the
    connector's `source_stamp` says its data is untouched since, and recorded there."""
    source_stamp = getattr(connector, "source_stamp", None)
    stamp = source_stamp() if source_stamp is not None and stamps is not None else None
    if stamp and stamps is not None:
        cached_stamp, _, cached_version = stamps.get(app_id, "").partition("|")
        if cached_stamp == stamp and cached_version:
            return cached_version
    version: str | None = connector.source_version()
    if stamp and version is not None and stamps is not None:
        stamps[app_id] = f"{stamp}|{version}"
    return version


def run_import(
    state: WorkState,
    apps: list[App],
    base_dir: Path,
    report: StageReport,
    trust_sidecars: bool = True,
    ahead: ImportAhead | None = None,
) -> set[str]:
    """Import every app; returns the ids of apps that imported successfully.
    `trust_sidecars=False` (a run reconsidering everyone): read every grants file, even one
    known as merged. `ahead`: the apps a second process has been listing meanwhile
    (engine.sync.import_ahead)."""
    imported: set[str] = set()
    for app in apps:
        app_id = app.id
        state.checkpoint()
        before = dict(report.counts)
        _import_app(
            state,
            app,
            base_dir,
            report,
            imported,
            state.sidecar_digests.get(app_id, "") if trust_sidecars else "",
            ahead,
        )
        state.import_counts[app_id] = {
            k: v - before.get(k, 0) for k, v in report.counts.items() if v != before.get(k, 0)
        }
    _retire_removed_apps(state, {app.id for app in apps}, report)
    return imported


def _retire_removed_apps(state: WorkState, configured: set[str], report: StageReport) -> None:
    """The accounts of an app no longer in the configuration are gone, as if the app listed
    none: DELETED (never erased), so they no longer count, link or alert. They stayed linked
    and ENABLED for good, and the app's failed import kept `roster status --check` failing.
    Like any removal they count toward the deletion threshold; adding the app back imports
    them again."""
    for app_id in state.accounts.app_ids():
        if app_id in configured:
            continue
        gone = 0
        for account in state.accounts_of_app(app_id):
            if account.status != "DELETED":
                _gone(state, account, REMOVED_APP)
                gone += 1
        if gone or state.source_versions.get(app_id):
            # forgotten: an app added back is listed whole, not taken as unchanged
            state.new_source_versions[app_id] = ""
            state.new_import_cursors[app_id] = ""
            state.new_sidecar_digests[app_id] = ""
        if gone:
            report.bump("gone", gone)
            report.notes.append(
                f"{app_id} is no longer in the configuration: its accounts ({gone}) are "
                "DELETED in the store"
            )


def _import_app(
    state: WorkState,
    app: App,
    base_dir: Path,
    report: StageReport,
    imported: set[str],
    sidecars: str,
    ahead: ImportAhead | None,
) -> None:
    app_id = app.id
    try:
        connector = make_connector(connector_spec(app, base_dir))
        version = source_version_of(connector, app_id, state.stamps)
        if version is not None and version == state.source_versions.get(app_id):
            # the app's data is byte for byte what the last import stored
            imported.add(app_id)
            report.bump("unchanged", len(state.accounts_of_app(app_id)))
            return
        listed = ahead.take(app_id, state.checkpoint) if ahead is not None else None
        if listed is None:
            # digest -> external id, as last imported: only for an app listed here (the
            # others' listings came from the second process, or were not needed)
            known = state.known_digests(app_id)
            listing = list_app(connector, state.import_cursors.get(app_id, ""), known, sidecars)
            digests = fingerprints_of(app_id, listing)
        elif listed.listing is None:
            _failed(app_id, report, listed.error or _unexpected(listed.failure))
            return
        else:
            # the version of what it listed, taken before it read (see import_ahead)
            listing, digests, version = listed.listing, listed.digests, listed.version
    except ConnectorError as exc:
        _failed(app_id, report, exc.message)
        return
    except Exception as exc:  # noqa: BLE001 - a broken connector must not stop the run
        _failed(app_id, report, _unexpected(repr(exc)))
        return
    imported.add(app_id)
    state.listings[app_id] = listing
    if version is not None:
        state.new_source_versions[app_id] = version
    if listing.cursor:
        state.new_import_cursors[app_id] = listing.cursor
    _merge_listing(
        state,
        app_id,
        listing.accounts,
        digests,
        report,
        complete=listing.complete,
        unchanged=listing.unchanged,
        held=listing.held,
    )
    if listing.held:
        _held_back(app_id, listing.held, report)
    # a delta carries no grants, nor does a listing whose grants are as last merged: the
    # stored ones stand
    if listing.complete and not listing.grants_unchanged:
        _merge_grants(state, app_id, listing, report)
    if listing.complete and (listing.sidecars or state.sidecar_digests.get(app_id)):
        # "" (no sidecars, or unreadable, or another format now) forgets the last digest: files
        # that come back as they were are then read again, not taken as merged
        state.new_sidecar_digests[app_id] = listing.sidecars
    listing.accounts, listing.grants = [], []  # merged: only the entitlements are needed later


def _unexpected(failure: str) -> str:
    return f"the connector failed unexpectedly: {failure}"


def _held_back(app_id: str, held: dict[str, str], report: StageReport) -> None:
    """The entries an app could not give: each a problem; the app's failure (exit 5, and the
    dashboard says it until they are fixed) names how many and the first."""
    for message in held.values():
        report.problems.append(f"{app_id}: {_shown(message).removeprefix(f'App {app_id!r}: ')}")
    count = len(held)
    first = _shown(next(iter(held.values())))
    more = f" (and {count - 1} more)" if count > 1 else ""
    report.fail(app_id, f"{HELD_BACK}{count} entr{'y' if count == 1 else 'ies'}: {first}{more}")
    report.bump("held_back", count)


def _failed(app_id: str, report: StageReport, message: str) -> None:
    # the problem is listed under the app's name: "hr: cannot read …", not "hr: App 'hr': …"
    report.problems.append(f"{app_id}: {_shown(message).removeprefix(f'App {app_id!r}: ')}")
    report.fail(app_id, f"failed to import: {_shown(message)}")
    report.bump("apps_failed")


def list_app(connector: Connector, cursor: str, known: dict[str, str], sidecars: str) -> Listing:
    """The app's listing: only what changed since `cursor` when the connector can tell
    (`list_changes`, e.g. LDAP's modifyTimestamp filter); else everything, with the records
    it recognises by their digest only named and the grants it knows unchanged left out
    (`list_changed`, the file connector)."""
    list_changes = getattr(connector, "list_changes", None)
    if cursor and list_changes is not None:
        listing: Listing = list_changes(cursor)
        return listing
    list_changed = getattr(connector, "list_changed", None)
    if list_changed is not None:  # also on a first import: it says what its sidecars were
        listing = list_changed(known, sidecars=sidecars)
        return listing
    return connector.list_all()


def _shown(text: str) -> str:
    """`text` with any surrogate escaped, so that it can be stored and printed."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fingerprints_of(app_id: str, listing: Listing) -> list[str]:
    """Every account's fingerprint, before anything is merged: an account or entitlement the
    store cannot hold (text with a surrogate, a value nested without end) fails its app's
    import alone, and the app's accounts stay as they were."""
    digests = []
    known = listing.digests
    for item in listing.accounts:
        try:
            digest = known.get(item.external_id)
            if digest is None:
                digests.append(fingerprint(item))  # also what proves it can be stored
            else:
                # proved as the store writes it (the connector's digest is kept): a third
                # of the time of the fingerprint's sorted JSON (2.3 of 68 s, a first sync
                # of 20,000 people, profiled)
                json_text(canonical(item))
                digests.append(digest)
        except (ValueError, TypeError, RecursionError) as exc:  # UnicodeError is a ValueError
            raise ConnectorError(
                f"App '{app_id}': the account {item.external_id!r} cannot be stored: "
                f"{_shown(str(exc))}. Fix it in the app and sync again; until then the app's "
                "accounts stay as they were."
            ) from None
    for entitlement in listing.entitlements:
        try:
            f"{entitlement.external_id}{entitlement.name}{entitlement.description}".encode()
        except UnicodeError as exc:
            raise ConnectorError(
                f"App '{app_id}': the entitlement {entitlement.external_id!r} cannot be "
                f"stored: {_shown(str(exc))}. Fix it in the app and sync again; nothing was "
                "changed."
            ) from None
    return digests


def _merge_listing(
    state: WorkState,
    app_id: str,
    listed: list[ListedAccount],
    digests: list[str],
    report: StageReport,
    *,
    complete: bool = True,
    unchanged: list[str] | None = None,
    held: Iterable[str] = (),
) -> None:
    """Merge listed accounts; when the listing is `complete`, the accounts it no longer
    lists are gone (DELETED). A delta lists only what changed, so it removes nobody.
    `unchanged`: accounts the connector recognised by their digest (still there, as stored);
    `held`: accounts it could not give (still there: kept as they were)."""
    seen: set[str] = set(unchanged or ()) | set(held)
    if unchanged:
        report.bump("unchanged", len(unchanged))
    # the changed accounts are compared field by field: read them in a few queries
    read_whole(
        account
        for item, digest in zip(listed, digests, strict=True)
        if (account := state.accounts.get((app_id, item.external_id))) is not None
        and state.fingerprints.get((app_id, item.external_id)) != digest
    )
    for item, digest in zip(listed, digests, strict=True):
        key = (app_id, item.external_id)
        seen.add(item.external_id)
        account = state.accounts.get(key)
        if account is None:
            # the listing is dropped once merged: a new account takes its values as they are
            account = AccountRecord(
                id=state.temp_id(),
                app_id=app_id,
                external_id=item.external_id,
                **{name: getattr(item, name) for name in ACCOUNT_DATA_FIELDS},
            )
            state.accounts[key] = account
            state.fingerprints[key] = digest
            state.new_accounts.add(key)
            state.journal(
                STAGE,
                "account",
                f"{app_id}:{item.external_id}",
                "",
                None,
                account.display_name or account.email,
                "new in the app",
            )
            report.bump("new")
        elif state.fingerprints.get(key) != digest:
            before = {f: getattr(account, f) for f in ACCOUNT_DATA_FIELDS}
            copy_listed(item, account)
            state.fingerprints[key] = digest
            moved = moved_fields(before.values(), account)
            if not moved:
                # the same data under another digest (a record written back by a push, or
                # fingerprinted another way): only the fingerprint is stored again
                state.refingerprinted.add(key)
                report.bump("unchanged")
                continue
            state.account_changed(key, moved)
            for name in ACCOUNT_DATA_FIELDS:  # journalled in the fields' order
                if name not in moved:
                    continue
                state.journal(
                    STAGE,
                    "account",
                    f"{app_id}:{item.external_id}",
                    name,
                    before[name],
                    getattr(account, name),
                    # a DELETED account the app lists again (its app added back to the
                    # configuration, or the entry restored) is back, not "changed"
                    LISTED_AGAIN
                    if name == "status" and before[name] == "DELETED"
                    else "changed in the app",
                )
            report.bump("changed")
        else:
            report.bump("unchanged")
    if not complete:
        return
    for account in state.accounts_of_app(app_id):
        if account.external_id not in seen and account.status != "DELETED":
            _gone(state, account, "no longer listed by the app")
            report.bump("gone")


def _gone(state: WorkState, account: AccountRecord, reason: str) -> None:
    """The account is gone from its app (DELETED, never erased), journalled with REASON."""
    key = (account.app_id, account.external_id)
    state.journal(
        STAGE, "account", f"{key[0]}:{key[1]}", "status", account.status, "DELETED", reason
    )
    account.status = "DELETED"
    state.fingerprints[key] = ""
    state.account_changed(key, ("status",))


def _merge_grants(state: WorkState, app_id: str, listing: Listing, report: StageReport) -> None:
    held: dict[str, list[str]] = {}
    for grant in listing.grants:
        held.setdefault(grant.account_external_id, []).append(grant.entitlement_external_id)
    new = state.new_accounts
    accounts = state.accounts_of_app(app_id)
    if not held and not any_entitlements(accounts):
        return  # an app without grants (an HR export, a directory): nothing to compare
    read_entitlements(accounts)  # each compared: read in one query (a deferred store's)
    for account in accounts:
        entitlements = sorted(set(held.get(account.external_id, ())))
        if account.entitlements != entitlements and (
            (app_id, account.external_id) in new or account.status == "DELETED"
        ):
            # a new account's change ("new in the app") stands for everything it comes with,
            # a deleted one's ("no longer listed by the app") for the grants it goes without:
            # one account, one change (the plan counted it as one changed and one deleted)
            account.entitlements = entitlements
            state.dirty_grants.add(app_id)
            state.changed_grants.add((app_id, account.external_id))
            report.bump("grants_changed")
        elif account.entitlements != entitlements:
            state.journal(
                STAGE,
                "account",
                f"{app_id}:{account.external_id}",
                "entitlements",
                account.entitlements,
                entitlements,
                "grants changed in the app",
            )
            account.entitlements = entitlements
            state.dirty_grants.add(app_id)
            state.changed_grants.add((app_id, account.external_id))
            report.bump("grants_changed")


def copy_listed(item: ListedAccount, account: AccountRecord) -> None:
    for name in ACCOUNT_DATA_FIELDS:
        value = getattr(item, name)
        setattr(
            account,
            name,
            list(value)
            if isinstance(value, list)
            else dict(value)
            if isinstance(value, dict)
            else value,
        )
