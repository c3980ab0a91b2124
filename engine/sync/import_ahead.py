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

import json
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from engine.collector import collector_paused
from engine.config.model import App
from engine.connectors.base import ConnectorSpec, Listing
from engine.connectors.file.connector import FileConnector
from engine.connectors.registry import make_connector
from engine.errors import ConnectorError
from engine.store.location import open_existing
from engine.sync.importer import connector_spec, fingerprints_of, list_app, source_version_of
from engine.text import printable

#: How large, in MB, the changed apps' account files must be together (their entitlements and
#: grants files not counted) unless `ROSTER_IMPORT_AHEAD_MB` says otherwise
DEFAULT_MB = 32


@dataclass
class Listed:
    """What listing one app gave: its listing, fingerprints and version, or why it failed
    (`error`: the connector's message; `failure`: an unexpected exception, as its repr)."""

    listing: Listing | None = None
    digests: list[str] = field(default_factory=list)
    error: str = ""
    failure: str = ""
    # the app's source version, taken before the listing read its files
    version: str | None = None
    here: bool = False  # not listed: the sync lists it itself


class ImportAhead:
    """The apps being listed in the second process; `take` an app's outcome when its turn
    comes, `close` when the import is done (or abandoned).

    The process runs `_serve` (see `start`): it reads its work from its stdin and writes each
    app's outcome, pickled, to a pipe as it has it; a thread here takes them in as they come,
    so that the process never waits for this one to read. Not multiprocessing: its spawned
    processes import the caller's main script again."""

    def __init__(self, process: subprocess.Popen[bytes], results: BinaryIO, apps: list[str]):
        self.apps = list(apps)  # in the order listed
        self.taken: list[str] = []  # those whose listing the import took from it
        self._process = process
        self._results = results
        self._waiting = set(apps)
        self._listed: dict[str, Listed] = {}
        self._done = False  # the process has said all it will say
        self._condition = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="import-ahead", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                app_id, listed = pickle.load(self._results)
                with self._condition:
                    self._listed[app_id] = listed
                    self._condition.notify_all()
        except Exception:  # noqa: BLE001 - the end of the pipe, or a process that died
            pass
        finally:
            with self._condition:
                self._done = True
                self._condition.notify_all()

    def take(self, app_id: str, checkpoint: Callable[[], None] = lambda: None) -> Listed | None:
        """The app's outcome; None when it is not listed ahead (or the second process could
        not list it): then the caller lists it itself. `checkpoint` is called while waiting
        (it raises when the run is cancelled)."""
        if app_id not in self._waiting:
            return None
        self._waiting.discard(app_id)
        with self._condition:
            while not self._condition.wait_for(
                lambda: app_id in self._listed or self._done, timeout=0.25
            ):
                checkpoint()
            listed = self._listed.pop(app_id, None)
        if listed is None or listed.here:
            return None
        self.taken.append(app_id)
        return listed

    def close(self) -> None:
        """Stop the process (if it is still listing: the run no longer needs it)."""
        self._waiting.clear()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._reader.join()
        self._results.close()
        self._listed.clear()


def threshold_bytes() -> int:
    """`ROSTER_IMPORT_AHEAD_MB` in bytes (the default when it is not a number: see
    `threshold_problem`)."""
    megabytes = _megabytes()
    return int((DEFAULT_MB if megabytes is None else megabytes) * 1024 * 1024)


def threshold_problem() -> str:
    """What is wrong with `ROSTER_IMPORT_AHEAD_MB` ("" when nothing is)."""
    if _megabytes() is not None:
        return ""
    shown = printable(os.environ.get("ROSTER_IMPORT_AHEAD_MB", ""), 40)
    return (
        f"ROSTER_IMPORT_AHEAD_MB is {shown!r}, not a number of megabytes (0 or more): "
        f"{DEFAULT_MB} is used"
    )


def _megabytes() -> float | None:
    text = os.environ.get("ROSTER_IMPORT_AHEAD_MB", "").strip()
    if not text:
        return DEFAULT_MB
    try:
        megabytes = float(text)
    except ValueError:
        return None
    if not 0 <= megabytes < 1e12:  # nan, negative, inf
        return None
    return megabytes


def start(
    store: Path,
    apps: list[App],
    base_dir: Path,
    changed: set[str],
    cursors: dict[str, str],
    sidecars: dict[str, str],
    stamps: dict[str, str],
) -> ImportAhead | None:
    """Start listing the file apps among CHANGED (whose data is not what the last import
    stored) in a second process, when their files are large enough; None otherwise.
    `cursors` and `sidecars`: what the import hands each app's listing (app -> text);
    `stamps`: the sync's cache of the apps' source versions (engine.sync.incremental)."""
    wanted: list[ConnectorSpec] = []
    size = 0
    stored = _apps_with_accounts(store, changed)
    for app in apps:
        # an app's first import lists every account: sending them all back from the second
        # process cost more than listing them here (10 s of a 100,000-person first sync)
        if app.id not in changed or app.id not in stored or app.connector != "file":
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
    jobs = [
        (
            str(store),
            spec,
            cursors.get(spec.app_id, ""),
            sidecars.get(spec.app_id, ""),
            {spec.app_id: stamps[spec.app_id]} if spec.app_id in stamps else {},
        )
        for spec in wanted
    ]
    try:
        read_end, write_end = os.pipe()
    except OSError:
        return None  # no second process: the import lists everything itself
    # isolated (-I): no module of the current folder, PYTHONPATH or the user's site can stand
    # in for Roster's (`python -m` put the current folder first: hostile review); the path
    # is this process's own, the engine's folder first, without the current folder
    root = str(Path(__file__).resolve().parents[2])
    path = [root, *(os.path.abspath(p) for p in sys.path if p and os.path.isabs(p))]
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD, str(write_end), json.dumps(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # never onto the console's screen
            pass_fds=(write_end,),
        )
    except (OSError, ValueError):
        os.close(read_end)
        return None
    finally:
        os.close(write_end)
    assert process.stdin is not None
    try:
        with process.stdin:
            pickle.dump(jobs, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # it died at once
        pass
    return ImportAhead(process, os.fdopen(read_end, "rb"), [spec.app_id for spec in wanted])


def list_in_second_process(
    store: str, spec: ConnectorSpec, cursor: str, sidecars: str, stamps: dict[str, str]
) -> Listed:
    """List one app as the import stage would, with the digests the store holds of its
    accounts (read here, from the store the sync has locked and is only reading).

    The app's source version is taken first, as the import takes it (`stamps`: the sync's
    cache of them): a file rewritten after that is listed as rewritten under the older
    version, which the next sync finds changed. Taken by the import later, the version of
    a file rewritten while the store loaded would have stood for the older listing, and
    every later sync taken the app as unchanged (hostile review)."""
    try:
        known = _known(store, spec.app_id)
    except sqlite3.Error:
        return Listed(here=True)  # the sync's own process reads the store it has loaded
    try:
        connector = make_connector(spec)
        version = source_version_of(connector, spec.app_id, stamps)
        listing = list_app(connector, cursor, known, sidecars)
        return Listed(listing, fingerprints_of(spec.app_id, listing), version=version)
    except ConnectorError as exc:
        return Listed(error=exc.message)
    except Exception as exc:  # noqa: BLE001 - reported as the import reports it
        return Listed(failure=repr(exc))


def _apps_with_accounts(store: Path, apps: set[str]) -> set[str]:
    """Those of APPS with accounts in the store."""
    try:
        connection = open_existing(store)
    except sqlite3.Error:
        return set()  # the load says why
    try:
        return {
            app_id
            for app_id in apps
            if connection.execute(
                "SELECT 1 FROM account WHERE app_id = ? LIMIT 1", (app_id,)
            ).fetchone()
        }
    except sqlite3.Error:
        return set()
    finally:
        connection.close()


def _known(store: str, app_id: str) -> dict[str, str]:
    """digest -> external id of the app's accounts, as `run_import` builds it from the
    loaded store (in id order: of two accounts with one digest, the later one's id)."""
    connection = open_existing(Path(store))
    try:
        rows = connection.execute(
            "SELECT external_id, fingerprint FROM account WHERE app_id = ? ORDER BY id",
            (app_id,),
        )
        return {digest: external_id for external_id, digest in rows if digest}
    finally:
        connection.close()


#: The second process's program: the path it is given, then `_serve`
_CHILD = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
    "from engine.sync.import_ahead import _serve; _serve(int(sys.argv[1]))"
)


def _serve(results: int) -> None:
    """The second process: list each app of the work on stdin, in order, and write each
    outcome to the pipe RESULTS as soon as it has it."""
    jobs = pickle.load(sys.stdin.buffer)
    # the collector paused, as in the sync's own process: a listing builds a list of values per
    # row, and each burst of them walked everything alive (a 100,000-row HR export took 1.5 s
    # to list, not 0.9, and the six apps of a 1 % sync 4.1 s, not 3.2: issue 11)
    with collector_paused(), os.fdopen(results, "wb") as out:
        for store, spec, cursor, sidecars, stamps in jobs:
            listed = list_in_second_process(store, spec, cursor, sidecars, stamps)
            pickle.dump((spec.app_id, listed), out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
