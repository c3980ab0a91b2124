"""A consistent copy of a SQLite store, taken while syncs and consoles use it.

Copying the file (`cp r.db`) while a sync writes gives a torn copy: pages of different moments,
and the last commits still in the write-ahead log beside it (three copies in thirty were
damaged, day-two review). SQLite's online backup copies the store as one read transaction
sees it, log included; the copy is checked (`PRAGMA quick_check`) before it takes its name,
so a backup that exists is one that opens.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from engine.errors import StoreError
from engine.store.location import (
    BUSY_TIMEOUT_SECONDS,
    DAMAGED,
    damaged_error,
    driver_error_text,
    open_existing,
    pid_alive,
)


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    people: int
    accounts: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "people": self.people,
            "accounts": self.accounts,
            "seconds": round(self.seconds, 3),
        }


def backup_sqlite(source: Path, target: Path, display: str) -> Backup:
    """Copy the store at SOURCE to TARGET (a new file, never overwritten), checked."""
    started = time.perf_counter()
    target = target.expanduser()
    if target.exists() or target.is_symlink():
        raise StoreError(
            f"{target} already exists: a backup never overwrites a file. Choose a new name "
            "(a date in it keeps them apart), or remove the old one first."
        )
    if not target.parent.is_dir():
        raise StoreError(f"The folder {target.parent} does not exist; create it first.")
    _remove_dead_partials(target)
    partial = target.with_name(f"{_partial_prefix(target)}{os.getpid()}")
    try:
        # the copy holds personal data: its owner's alone, whatever the umask
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StoreError(
            f"Cannot write {target}: {exc.strerror or exc}. Check the folder's permissions and "
            "free space."
        ) from None
    try:
        _copy(source, partial, display, target)
        # a link fails if TARGET appeared meanwhile (a rename would replace it): the check
        # above and this name are one step for whoever races the backup (hostile pass)
        try:
            _take_name(partial, target)
        except FileExistsError:
            raise StoreError(
                f"{target} appeared while the backup was being written: a backup never "
                "overwrites a file. Nothing was written there; choose a new name."
            ) from None
        except OSError as exc:
            raise StoreError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    finally:
        _remove_partial(partial)
    people, accounts = _counts(target)
    return Backup(target, target.stat().st_size, people, accounts, time.perf_counter() - started)


def _partial_prefix(target: Path) -> str:
    return f".{target.name}.partial-"


#: What SQLite writes beside a database: a killed copy leaves them too
_BESIDE = ("", "-journal", "-wal", "-shm")
#: A backup's partial copy, or what SQLite wrote beside one: `.NAME.partial-PID[-wal]`
_PARTIAL = re.compile(r"\..+\.partial-([0-9]{1,10})(-journal|-wal|-shm)?")


def _remove_partial(partial: Path) -> None:
    for suffix in _BESIDE:
        partial.with_name(partial.name + suffix).unlink(missing_ok=True)


def _remove_dead_partials(target: Path) -> None:
    """The partial copies (and what SQLite wrote beside them) that killed backups left in
    TARGET's folder, whatever name they were for: each holds personal data, and nothing
    else would remove them."""
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        found = _PARTIAL.fullmatch(name)
        if found is None or pid_alive(int(found.group(1))):
            continue
        with contextlib.suppress(OSError):
            (target.parent / name).unlink()


def _take_name(partial: Path, target: Path) -> None:
    """Give the checked copy its name; FileExistsError if TARGET exists by now."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise
    except OSError:  # a disk without hard links (FAT, exFAT: a USB drive): a new file
        _copy_into_new(partial, target)


def _copy_into_new(partial: Path, target: Path) -> None:
    """PARTIAL's bytes into TARGET, created here (never an existing file), synced."""
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with open(partial, "rb") as source, os.fdopen(fd, "wb") as out:
            fd = -1
            while chunk := source.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        if fd != -1:
            os.close(fd)
        target.unlink(missing_ok=True)
        raise


def _copy(source: Path, partial: Path, display: str, target: Path) -> None:
    try:
        reader = open_existing(source, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise StoreError(
            f"Cannot read the identity store {display}: {driver_error_text(exc)}. No backup "
            "was written."
        ) from None
    try:
        copy = sqlite3.connect(partial)
        try:
            # all pages in one step: one read transaction, so one moment of the store even
            # while a sync commits (a stepped copy starts again at each commit)
            reader.backup(copy, pages=-1)
            problems = [row[0] for row in copy.execute("PRAGMA quick_check").fetchall()]
            copy.execute("PRAGMA journal_mode=DELETE")  # one file: nothing beside it to lose
        finally:
            copy.close()
        if problems != ["ok"]:
            raise StoreError(
                f"The identity store {display} is damaged: its copy fails SQLite's check "
                f"({'; '.join(problems[:3])}). No backup was written; restore the store from an "
                "older backup (docs/recovery.md)."
            )
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())
    except sqlite3.Error as exc:
        what = driver_error_text(exc)
        if any(words in what for words in DAMAGED):
            raise damaged_error(display, f"{what}; no backup was written") from None
        if "full" in what:  # the store is only read: the disk that filled is the backup's
            raise StoreError(
                f"Cannot write the backup {target}: {what}: its disk has no room for a copy "
                f"of the store ({source.stat().st_size:,} bytes). No backup was written; free "
                "space there, or back up elsewhere."
            ) from None
        raise StoreError(
            f"Cannot back up the identity store {display} to {target}: {what}. No backup was "
            "written."
        ) from None
    finally:
        reader.close()


def _counts(path: Path) -> tuple[int, int]:
    check = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        people = check.execute("SELECT count(*) FROM person WHERE status != 'DELETED'")
        accounts = check.execute("SELECT count(*) FROM account WHERE status != 'DELETED'")
        return int(people.fetchone()[0]), int(accounts.fetchone()[0])
    finally:
        check.close()
