"""The file connector (docs/connectors.md): one YAML, CSV or JSON Lines file per app, written back
atomically.

Settings (under the app's `settings:` in the configuration):

    path: apps/ad.yaml            # required; relative to the configuration's folder
    format: yaml                  # optional: yaml | csv | jsonl (default: from the extension)
    flavour: active_directory     # optional: active_directory | entra_id (picks the schemas)
    push_schema: [...]            # optional: declared target attributes (SchemaField shape)
    creation_schema: [...]        # optional: declared account-creation fields
    custom_push_attributes: true  # optional: accept push attributes outside the schema

Every operation reads the file afresh, except a push's read-back while the file is still the one
the push wrote (same inode, size and times): it lists the lines just written. Pushes write the
target attribute into `profile` (and the matching core field, e.g. AD `displayName` also sets
`display_name`); creation appends an account.
Writes go through a temporary file and a rename, keep everything else in the file as it was, and
never happen when the file has problems. The file formats are described in the package's
`__init__`; the layers are settings.py, records.py, store.py (+ yaml_store.py, csv_store.py),
writeback.py, and the shared engine/connectors/coerce.py.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from engine.connectors.base import (
    ConnectorDescription,
    ConnectorSpec,
    ListedAccount,
    Listing,
    held_value,
)
from engine.connectors.coerce import check_creation, resolve_push
from engine.connectors.file.csv_store import CsvStore
from engine.connectors.file.jsonl_store import JsonlStore
from engine.connectors.file.records import account_from_item
from engine.connectors.file.settings import parse_settings
from engine.connectors.file.store import FileStore, LineStyle, Loaded
from engine.connectors.file.writeback import apply_change, id_field, new_item
from engine.connectors.file.yaml_store import YamlStore
from engine.connectors.fileio import (
    FileChanged,
    file_identity,
    file_lock,
    remove_temporaries,
    unchanged_since_read,
)
from engine.connectors.schemas import ACTIVE_DIRECTORY
from engine.errors import ConnectorError, Problem
from engine.files import ContentDigest, FileRefused, app_file_limit, read_regular_file

#: Lines of a listing hashed by one update of a source version's digest.
HASHED_LINES = 4096
#: A file's modification time tells writes apart only once its clock tick has passed: a stamp
#: is given only for files unmodified for this long (a later write then has a later time).
STAMP_SETTLED_NS = 1_000_000_000


#: Reads and writes of a file another program keeps writing before a push or a creation
#: gives up (writing nothing)
REWRITE_ATTEMPTS = 5
#: Seconds waited before the second try (and twice that before the third…)
REWRITE_PAUSE = 0.1
T = TypeVar("T")


#: An id, username or unique field's value already in a file: (which it is, as written, the
#: account holding it).
Taken = tuple[str, str, str]


class FileConnector:
    """Connector over one YAML or CSV file (plus CSV sidecars)."""

    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec
        self.settings = parse_settings(spec)
        self.app_id = spec.app_id
        self.path = self.settings.path
        self._known: Mapping[str, str] = {}
        # what the last write left: (the file's identity, its lines, their digests or None,
        # the BOM and line end it wrote them with)
        self._written: tuple[tuple[int, ...], list[bytes], list[str | None], LineStyle] | None = (
            None
        )
        # the lines the last listing was taken from, when they were those written (then the
        # source version is theirs: it names what the store took in, whatever came after),
        # with the style they were written in
        self._listed_lines: tuple[list[bytes], LineStyle] | None = None
        self._saved_version: str | None = None  # see written_version
        self._saved_sidecars: str | None = None  # see written_sidecars
        self._imported_sidecars: str | None = None  # see expect_sidecars

    def recognise(self, known: Mapping[str, str]) -> None:
        """Records the store holds, by digest (digest -> external id, from the last
        listing's `digests`): a push to a JSON Lines file then parses only the lines it
        writes to; a line with an unknown digest is read as before."""
        self._known = known

    def describe(self) -> ConnectorDescription:
        return self.settings.description

    def _file(self, keep: bool = True, sidecars: bool = True) -> FileStore:
        """The app's file; `keep=False` when only its listing is wanted (nothing is written
        back), so that a store that can need not keep every record; `sidecars=False` when
        only the accounts are (a YAML file holds its grants itself: they come anyway)."""
        if self.settings.format == "csv":
            return CsvStore(self.app_id, self.path, sidecars=sidecars)
        if self.settings.format == "jsonl":
            return JsonlStore(self.app_id, self.path, keep=keep, sidecars=sidecars)
        return YamlStore(self.app_id, self.path)

    def list_all(self) -> Listing:
        self._listed_lines = None
        return self._file(keep=False).load().listing

    def list_changed(
        self, known: Mapping[str, str], accounts_only: bool = False, sidecars: str = ""
    ) -> Listing:
        """Everything, but the accounts whose record is known by its digest (digest ->
        external id, from the last listing's `digests`) are only named (`Listing.unchanged`),
        never parsed: a record is recognised by its text (a YAML item, a JSON line, a CSV
        row). `accounts_only`: without the sidecars' entitlements and grants, which a
        read-back after a push does not use (a listing without them is not complete);
        `sidecars`: see `Listing.sidecars` (JSON Lines sidecars; a YAML file's grants and
        CSV sidecars are always read)."""
        store = self._file(keep=False, sidecars=not accounts_only)
        written, self._listed_lines = self._written, None
        if accounts_only and written is not None and isinstance(store, JsonlStore):
            identity, lines, digests, style = written
            if identity == file_identity(self.path):  # still the file this connector wrote
                self._listed_lines = (lines, style)
                return store.list_written(lines, digests, known)
        return store.list_changed(known, sidecars)

    def probe(self, limit: int = 5) -> Listing:
        """Read the file and return its first `limit` accounts (and every entitlement)."""
        listing = self.list_all()
        return Listing(accounts=listing.accounts[:limit], entitlements=listing.entitlements)

    def _paths(self) -> list[Path]:
        """The app's files: the file itself, and a CSV or JSON Lines app's sidecars, named as
        its store reads them (`app.ndjson`'s are `app.grants.jsonl`: named after the file's
        own suffix, an edit to them changed no version, and the store never read it)."""
        store = self._file(keep=False)
        if isinstance(store, CsvStore | JsonlStore):
            return [self.path, store.entitlements_path, store.grants_path]
        return [self.path]

    def remove_temporaries(self) -> list[Path]:
        """Remove what an interrupted write of the app's files left (their temporary files,
        never anything else); the sync calls it while it holds the store's sync lock."""
        return [removed for path in self._paths() for removed in remove_temporaries(path)]

    def source_stamp(self) -> str | None:
        """What the file system says of the app's files (size, modification and change times,
        inode), without reading them: while it stays the same, so does `source_version`. The
        change time is in it because nobody can set it back (`touch -r` restores only the
        modification time of an edited file). None when a file was modified too recently for
        its times to tell a later write apart."""
        parts = []
        now = time.time_ns()
        for path in self._paths():
            try:
                info = path.stat()
            except FileNotFoundError:
                parts.append(f"{path}:missing")
                continue
            except OSError:
                return None
            if now - max(info.st_mtime_ns, info.st_ctime_ns) < STAMP_SETTLED_NS:
                return None
            parts.append(
                f"{path}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"
                f":{info.st_dev}"
            )
        return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()

    def source_version(self) -> str | None:
        """A digest of the app's files: equal digests mean an import would find nothing new."""
        return self._version(self._listed_lines)

    def written_version(self) -> str | None:
        """The source version of the files as the last write left them, taken under the
        file's lock as it wrote them: a change another program makes later is not in it."""
        return self._saved_version

    def expect_sidecars(self, digest: str) -> None:
        """The digest of the entitlements and grants files (`Listing.sidecars`) as the store
        took them in: a write of the grants that finds them so, under the file's lock, tells
        what it left (`written_sidecars`)."""
        self._imported_sidecars = digest

    def written_sidecars(self) -> str | None:
        """The digest of the entitlements and grants files as the last write of the grants
        left them, when that write found them as the store took them in (`expect_sidecars`),
        both taken under the file's lock; None otherwise (another program changed them
        since: the next import must read them), or when no write touched the grants."""
        return self._saved_sidecars

    def _version(self, listed: tuple[list[bytes], LineStyle] | None) -> str | None:
        """`source_version`; LISTED: the main file's lines and style, known without reading."""
        digest = ContentDigest()
        for path in self._paths():
            if path == self.path and listed is not None:
                lines, (bom, newline) = listed
                digest.update(bom)
                # the file's bytes, as written and as last listed: a few thousand lines to
                # an update (two updates a line were most of the time, at 100,000 accounts)
                for start in range(0, len(lines), HASHED_LINES):
                    digest.update(newline.join(lines[start : start + HASHED_LINES]))
                    digest.update(newline)
                continue
            try:
                digest.update(read_regular_file(path, app_file_limit(), "ROSTER_MAX_APP_FILE_MB"))
            except FileNotFoundError:
                digest.update(b"\0missing")
            except (OSError, FileRefused):
                return None  # the import says why
        return digest.hexdigest()

    # Push -------------------------------------------------------------------------------------

    def update_account(self, external_id: str, changes: dict[str, Any]) -> None:
        """Write attribute changes to one account; an empty value ("" or None) clears."""
        failures = self.update_accounts({external_id: changes})
        if external_id in failures:
            raise failures[external_id]

    def update_accounts(
        self, changes_by_account: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, ConnectorError]:
        """Push to many accounts with one read and one write of the file.

        Returns the accounts that were refused, each with its reason; the others are written.
        A file that cannot be read raises and nothing is written.
        """
        description = self.describe()
        if not description.capabilities.push:
            raise ConnectorError(
                f"App '{self.app_id}' does not accept pushes: it has no push schema. Give it a "
                "flavour (active_directory, entra_id) or declare push_schema: in its settings."
            )
        failures: dict[str, ConnectorError] = {}
        resolved: dict[str, list[tuple[str, Any]]] = {}
        for external_id, changes in changes_by_account.items():
            try:
                resolved[external_id] = resolve_push(self.app_id, description, external_id, changes)
            except ConnectorError as exc:
                failures[external_id] = exc
        if not resolved:
            return failures
        return failures | self._rewritten(lambda: self._push_once(resolved))

    def _sidecars(self) -> list[Path]:
        """The files a write of the app's accounts may rewrite besides them (its grants)."""
        store = self._file()
        return [p for p in (getattr(store, "grants_path", None),) if isinstance(p, Path)]

    def _push_once(self, resolved: dict[str, list[tuple[str, Any]]]) -> dict[str, ConnectorError]:
        """One read, change and write of the file (under its lock)."""
        failures: dict[str, ConnectorError] = {}
        store = self._file()
        if isinstance(store, JsonlStore):
            loaded = store.load_for_push(self._known)
        else:
            loaded = store.load()
        written = 0
        for external_id, pairs in resolved.items():
            position = loaded.index.get(external_id)
            if position is None:
                failures[external_id] = ConnectorError(
                    f"App '{self.app_id}': no account with id {external_id!r} in {self.path}."
                    " It may have been removed since the last sync; sync again."
                )
                continue
            item = copy.deepcopy(store.item(loaded, position))
            for key, value in pairs:
                apply_change(self.settings.flavour, item, key, value)
            try:
                store.store(loaded, position, item)
            except ConnectorError as exc:
                failures[external_id] = exc
                continue
            written += 1
        if written:
            self._save(store, loaded, touched_grants=False)
        return failures

    def _rewritten(self, once: Callable[[], T]) -> T:
        """ONCE (a read, change and write of the file) under the file's lock, made again on
        what the file then holds when another program wrote it between the read and the
        write: that program's changes are kept, never written over (day-two review)."""
        for attempt in range(REWRITE_ATTEMPTS):
            if attempt:
                time.sleep(REWRITE_PAUSE * attempt)  # let the other program finish
            with file_lock(self.path), unchanged_since_read(self.path, *self._sidecars()):
                try:
                    return once()
                except FileChanged:
                    self._written = self._listed_lines = self._saved_version = None
                    continue
        raise ConnectorError(
            f"App '{self.app_id}': another program wrote {self.path} each time Roster was about "
            f"to write it ({REWRITE_ATTEMPTS} tries): nothing was written, so none of its "
            "changes are lost. Sync again once that program has finished."
        )

    def _save(self, store: FileStore, loaded: Loaded, touched_grants: bool) -> None:
        self._written = self._listed_lines = self._saved_version = None
        try:
            store.save(loaded, touched_grants)
        except OSError as exc:
            raise ConnectorError(
                f"App '{self.app_id}': could not write {self.path}: {exc.strerror or exc}. The "
                "file was left as it was; check the folder's permissions and free space."
            ) from None
        if isinstance(store, JsonlStore):
            # the read-back after a push lists the lines just written, while the file is
            # still this one, instead of reading and digesting the whole export again
            identity = file_identity(self.path)
            if identity is not None:
                digests = store.digests[: len(store.raw)]
                digests += [None] * (len(store.raw) - len(digests))
                self._written = (identity, list(store.raw), digests, store.style)
        written = self._written
        self._saved_version = self._version(None if written is None else (written[1], written[3]))

    # Provisioning -----------------------------------------------------------------------------

    def create_account(self, fields: dict[str, Any]) -> ListedAccount:
        """Create one account from creation-schema fields; returns it as the app now lists it."""
        (outcome,) = self.create_accounts([fields])
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def create_accounts(
        self, many: Sequence[Mapping[str, Any]]
    ) -> list[ListedAccount | ConnectorError]:
        """Create many accounts with one read and one write of the file; each account's
        outcome is in its place: the account as the app now lists it, or why it was refused
        (the others are created)."""
        description = self.describe()
        if not description.capabilities.provisioning:
            raise ConnectorError(
                f"App '{self.app_id}' cannot create accounts: it has no account-creation schema. "
                "Give it a flavour (active_directory, entra_id) or declare creation_schema: in "
                "its settings."
            )
        if not many:
            return []
        return self._rewritten(lambda: self._create_once(many))

    def _create_once(
        self, many: Sequence[Mapping[str, Any]]
    ) -> list[ListedAccount | ConnectorError]:
        """One read of the file, the accounts added, one write (under its lock)."""
        outcomes: list[ListedAccount | ConnectorError] = []
        store = self._file()
        # checked under the lock, where the grants are read and written: a change another
        # program made since the import is kept in the file, and the store has not got it
        as_imported = (
            isinstance(store, JsonlStore)
            and self._imported_sidecars is not None
            and store.sidecar_digest() == self._imported_sidecars
        )
        # read and checked whole: a new account must not go into a file the import refuses
        # (a repeated id, a bad value), nor inherit a grant left naming its id
        loaded = store.load()
        taken = self._taken(loaded)
        touched_grants = False
        for fields in many:
            try:
                item, grants = self._new_account(store, loaded, taken, dict(fields))
                store.append(loaded, item, grants)  # a value the file cannot hold refuses
            except ConnectorError as exc:
                outcomes.append(exc)
                continue
            touched_grants = touched_grants or bool(grants)
            outcomes.append(self._listed(item))
        if any(not isinstance(o, ConnectorError) for o in outcomes):
            self._save(store, loaded, touched_grants=touched_grants)
            if touched_grants:
                self._saved_sidecars = None
                if as_imported and isinstance(store, JsonlStore):
                    self._saved_sidecars = store.sidecar_digest() or None
        return outcomes

    def _listed(self, item: dict[str, Any]) -> ListedAccount:
        problems: list[str] = []
        listed = account_from_item(item, lambda f, m, h: problems.append(m))
        if listed is None:  # pragma: no cover - new_item only builds valid records
            raise ConnectorError(f"App '{self.app_id}': the new account is invalid: {problems}")
        return listed

    def _unique_keys(self) -> list[str]:
        """The creation fields an app takes once (SchemaField.unique), besides the id; and in
        AD the distinguished name a new account gets (CN=displayName,ou), which AD refuses
        twice (entryAlreadyExists: two John Smiths in one OU)."""
        keys = [f.key for f in self.describe().creation_schema if f.unique]
        return keys + (["distinguishedName"] if self.settings.flavour == ACTIVE_DIRECTORY else [])

    def _taken(self, loaded: Loaded) -> dict[tuple[str, str], Taken]:
        """Every id and username the file holds, keyed ("", case-folded), and every value of
        a unique creation field its accounts hold, keyed (field, case-folded) -> (which it
        is, as written, the account holding it)."""
        taken: dict[tuple[str, str], Taken] = {}
        unique = self._unique_keys()
        for listed in loaded.listing.accounts:
            ident = listed.external_id
            taken.setdefault(("", ident.casefold()), ("id", ident, ident))
            if listed.username:
                username = listed.username
                taken.setdefault(("", username.casefold()), ("username", username, ident))
            if listed.status == "DELETED":  # holds its id, not its values (as the check)
                continue
            for key in unique:
                value = held_value(listed, key)
                if value:
                    taken.setdefault((key, value.casefold()), (key, value, ident))
        return taken

    def _new_account(
        self,
        store: FileStore,
        loaded: Loaded,
        taken: dict[tuple[str, str], Taken],
        fields: dict[str, Any],
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        values = check_creation(self.app_id, self.describe().creation_schema, fields)
        item, groups = new_item(self.app_id, self.settings.flavour, values)
        external_id = str(item["id"])
        # what the new account would hold that another may not: its id and username, and
        # each unique field's value (AD's userPrincipalName), which an app takes once too
        wanted = [("", external_id, "id")]
        if item.get("username"):
            wanted.append(("", str(item["username"]), "username"))
        for key in self._unique_keys():
            value = values.get(key, item.get("profile", {}).get(key))
            if isinstance(value, str) and value.strip():
                field = "displayName or ou" if key == "distinguishedName" else key
                wanted.append((key, value.strip(), field))
        for key, text, what in wanted:
            clash = taken.get((key, text.casefold())) or taken.get(("", text.casefold()))
            if clash is not None:
                self._refuse_clash(store, loaded, item, clash, what, text)
        unknown = [g for g in groups if g not in loaded.entitlement_ids]
        if unknown:
            known = ", ".join(sorted(loaded.entitlement_ids)) or "none"
            raise ConnectorError(
                f"App '{self.app_id}' cannot create {external_id!r}: no group or entitlement "
                f"{', '.join(repr(g) for g in unknown)} (known: {known}). Nothing was "
                "created."
            )
        for key, text, what in wanted:
            taken.setdefault((key, text.casefold()), (key or what, text, external_id))
        grants = [{"account": external_id, "entitlement": g} for g in dict.fromkeys(groups)]
        return item, grants

    def _refuse_clash(
        self,
        store: FileStore,
        loaded: Loaded,
        item: dict[str, Any],
        clash: Taken,
        field: str,
        value: str,
    ) -> None:
        """Refuse the new ITEM: its FIELD's VALUE is what CLASH holds. The field named is the
        one to change (a userPrincipalName equal to another account's id is the UPN's to
        change, not the sAMAccountName's), and linking is offered only as what it is."""
        what, existing, holder = clash
        position = loaded.index.get(holder)
        line = store.line_of(loaded, position) if position is not None else None
        if position is None:  # not in the file as read: made before it in this batch
            where = f" (created just before, in the same write to {self.path})"
        else:
            where = f" (line {line} of {self.path})" if line else f" (in {self.path})"
        if field == "id" or (field == "username" and item.get("username") == item.get("id")):
            field = id_field(self.settings.flavour)
        raise ConnectorError(
            f"App '{self.app_id}' cannot create {item['id']!r}: an account with {what} "
            f"{existing!r} already exists{where}, so its {field} {value!r} is taken. Choose "
            f"another {field} (that account may be someone else's), or, if it is this "
            "person's, link it instead.",
            [Problem(f"{what} {existing!r} already exists", str(self.path), line)],
        )
