"""Listing the apps' files in a second process while the sync loads the store (issue 11).

An incremental sync of a 100,000-person store spends seconds loading the store and seconds
reading and digesting the apps' exports (230 MB of them), one after the other, on a machine
with two cores. Neither needs the other: what a file connector's listing needs of the store
is the digest of each account as last imported, a single narrow query. So a second process
lists the apps whose data changed while this one loads; the import stage then merges what it
listed, app by app in the configured order, exactly as it merges what it lists itself.

Only file connectors (what they cost is reading and digesting) of a SQLite store are listed
ahead, and only when their files are large enough for the second process (its start costs a
few tenths of a second) to pay: `ROSTER_IMPORT_AHEAD_MB`, 32 MB by default; 0 lists ahead
whatever the size. A run that must first settle what a killed run left (engine.sync.recovery)
lists nothing ahead: settling can change what the store knows of the accounts.

Whatever goes wrong with the second process (it cannot start, it dies), the app is listed here
instead: the worst it costs is the time it would have saved."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engine.config.model import App
from engine.connectors.base import ConnectorSpec, Listing
from engine.connectors.file.connector import FileConnector
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError
from engine.store.location import BUSY_TIMEOUT_SECONDS
from engine.sync.importer import connector_spec, fingerprints_of, list_app

#: The environment variable that sets, in MB, how large the changed apps' files must be
DEFAULT_MB = 32


@dataclass
class Listed:
    """What listing one app gave: its listing and fingerprints, or why it failed (`error`:
    the connector's message; `failure`: an unexpected exception, as its repr)."""

    listing: Listing | None = None
    digests: list[str] = field(default_factory=list)
    error: str = ""
    failure: str = ""


class ImportAhead:
    """The apps being listed in the second process; `take` an app's outcome when its turn
    comes, `close` when the import is done (or abandoned)."""

    def __init__(self, executor: ProcessPoolExecutor, futures: dict[str, Future[Listed]]) -> None:
        self._executor = executor
        self._futures = futures

    def take(self, app_id: str) -> Listed | None:
        """The app's outcome; None when it is not listed ahead (or the second process could
        not list it): then the caller lists it itself."""
        future = self._futures.pop(app_id, None)
        if future is None or future.cancel():  # not started yet: listed here at once
            return None
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - the process died or could not start: list it here
            return None

    def close(self) -> None:
        self._futures.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)


def threshold_bytes() -> int:
    text = os.environ.get("ROSTER_IMPORT_AHEAD_MB", "").strip()
    try:
        megabytes = float(text) if text else DEFAULT_MB
    except ValueError:
        megabytes = DEFAULT_MB
    return max(0, int(megabytes * 1024 * 1024))


def start(
    store: Path,
    apps: list[App],
    base_dir: Path,
    changed: set[str],
    cursors: dict[str, str],
    sidecars: dict[str, str],
) -> ImportAhead | None:
    """Start listing the file apps among CHANGED (whose data is not what the last import
    stored) in a second process, when their files are large enough; None otherwise.
    `cursors` and `sidecars`: what the import hands each app's listing (app -> text)."""
    wanted: list[ConnectorSpec] = []
    size = 0
    for app in apps:
        if app.id not in changed or app.connector != "file":
            continue
        spec = connector_spec(app, base_dir)
        try:
            connector = make_connector(spec)
            if not isinstance(connector, FileConnector):
                continue
            size += connector.path.stat().st_size
        except (ConnectorError, OSError):
            continue  # the import says why
        wanted.append(spec)
    if not wanted or size < threshold_bytes():
        return None
    try:
        # spawn, never fork: a console runs syncs in a thread, and a forked copy of a
        # threaded process can inherit a lock some other thread held
        executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        futures = {
            spec.app_id: executor.submit(
                list_in_second_process,
                str(store),
                spec,
                cursors.get(spec.app_id, ""),
                sidecars.get(spec.app_id, ""),
            )
            for spec in wanted
        }
    except Exception:  # noqa: BLE001 - no second process: the import lists everything itself
        return None
    return ImportAhead(executor, futures)


def list_in_second_process(store: str, spec: ConnectorSpec, cursor: str, sidecars: str) -> Listed:
    """List one app as the import stage would, with the digests the store holds of its
    accounts (read here, from the store the sync has locked and is only reading)."""
    try:
        connector = make_connector(spec)
        listing = list_app(connector, cursor, _known(store, spec.app_id), sidecars)
        return Listed(listing, fingerprints_of(spec.app_id, listing))
    except ConnectorError as exc:
        return Listed(error=exc.message)
    except Exception as exc:  # noqa: BLE001 - reported as the import reports it
        return Listed(failure=repr(exc))


def _known(store: str, app_id: str) -> dict[str, str]:
    """digest -> external id of the app's accounts, as `run_import` builds it from the
    loaded store (in id order: of two accounts with one digest, the later one's id)."""
    connection = sqlite3.connect(
        f"{Path(store).resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_SECONDS
    )
    try:
        rows = connection.execute(
            "SELECT external_id, fingerprint FROM account WHERE app_id = ? ORDER BY id",
            (app_id,),
        )
        return {digest: external_id for external_id, digest in rows if digest}
    finally:
        connection.close()
