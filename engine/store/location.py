"""Where a store lives and what can be known of it without loading the database layer: its
default path, its newest schema revision, whether its files are private (the CLI's --help,
argument checks and one-record previews need these, and importing SQLAlchemy costs most of a
command's start-up)."""

from __future__ import annotations

import functools
import os
import re
import shlex
import sqlite3
import stat
from pathlib import Path

from engine.errors import StoreError, StoreLocked
from engine.files import file_kind

MIGRATIONS = Path(__file__).parent / "migrations"

#: How long a write waits for another process's write lock on a SQLite store (seconds).
BUSY_TIMEOUT_SECONDS = 10.0


def open_existing(
    path: Path, *, timeout: float = BUSY_TIMEOUT_SECONDS, check_same_thread: bool = True
) -> sqlite3.Connection:
    """A sqlite3 connection to the store at PATH, never creating it, waiting up to TIMEOUT
    seconds for a lock. Read-write, not read-only: a read-only connection cannot open a WAL
    store whose -shm file is gone."""
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=rw",
        uri=True,
        timeout=timeout,
        check_same_thread=check_same_thread,
    )


def sqlite_url(path: Path | str) -> str:
    """The SQLAlchemy URL of the SQLite store at PATH. A URL's database part ends at "?" and
    has its "%" escapes undone: a path holding either (a folder named "50%" or "why?") is
    escaped, or it would open another file."""
    resolved = str(Path(path).expanduser().resolve())
    escaped = resolved.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
    return f"sqlite:///{escaped}"


def default_db_path() -> Path:
    """The store a console opens when no --db or URL is given (the user's data directory)."""
    from platformdirs import user_data_path

    return user_data_path("roster") / "roster.db"


def _companions(path: Path) -> list[Path]:
    """SQLite's write-ahead log and shared-memory files beside a store, when there."""
    return [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([\w]+|None)", re.M)


@functools.cache
def head_revision() -> str:
    """The newest migration's revision, read from the migration files (the one no other
    revises), without importing Alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for file in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((key, value) for key, value in _REVISION.findall(file.read_text("utf-8")))
        if "revision" in found:
            revisions.add(found["revision"])
        if found.get("down_revision") not in (None, "None"):
            revised.add(found["down_revision"])
    heads = revisions - revised
    if len(heads) != 1:
        raise StoreError(f"The store's migrations have {len(heads)} heads; reinstall Roster.")
    return heads.pop()


def permission_warning(path: Path) -> str | None:
    """A warning, with the command that fixes it, when the SQLite store at PATH can be read
    by users it is not meant for. The default store is one person's: any other user counts
    (and its folder too). A store named with --db may be a team's, shared through its group
    (docs/roles.md): only users outside the group count, and the fix keeps the group's
    access (`chmod 600` would have locked the team out; newcomer review)."""
    if not path.exists():
        return None
    default = path.resolve() == default_db_path().resolve()
    others = 0o077 if default else 0o007
    files = [path, *_companions(path)]
    loose = [p for p in files if p.stat().st_mode & others]
    folder = path.parent
    if default and folder.stat().st_mode & others:
        loose.append(folder)
    if not loose:
        return None
    mode = stat.filemode(path.stat().st_mode)
    quoted = " ".join(shlex.quote(str(p)) for p in files)
    if default:
        fix = f"chmod 600 {quoted} && chmod 700 {shlex.quote(str(folder))}"
        who, goal = "other users", "Make it yours alone"
    else:
        fix = f"chmod o-rwx {quoted}"
        who, goal = "users outside its group", "Keep it to you and its group"
    return (
        f"The identity store {path} can be read by {who} ({mode}"
        f"{', and its folder' if folder in loose else ''}); it holds personal data. "
        f"{goal}: {fix}"
    )


_LOCKED = ("database is locked", "database table is locked", "database is busy")


def is_locked(orig: BaseException | None) -> bool:
    """Whether the driver's error says another process holds the SQLite store's lock."""
    return isinstance(orig, sqlite3.OperationalError) and str(orig).startswith(_LOCKED)


def driver_error_text(orig: BaseException) -> str:
    """The driver's error for an admin: its class and first line (never a statement or its
    parameters: rows of personal data)."""
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"{orig.__class__.__name__}: {first[:300]}" if first else orig.__class__.__name__


def locked_error(display: str, busy_timeout: float) -> StoreLocked:
    return StoreLocked(
        f"The identity store {display} stayed locked for {busy_timeout:g} s: another process "
        "(a sync, a console, or a tool such as sqlite3) holds its write lock. This command "
        "wrote nothing more; try again when that process has finished."
    )


#: How SQLite says a store's file is damaged (a torn copy, a disk that lost pages)
DAMAGED = ("malformed", "file is not a database", "database corrupt")


def damaged_error(display: str, what: str) -> StoreError:
    """A store SQLite cannot read as a database any more: "check that you can read it" sent
    the admin to its permissions (day-two review)."""
    return StoreError(
        f"The identity store {display} is damaged ({what}): part of the file is not what "
        "SQLite wrote, as after a copy taken while it was being written or a disk that lost "
        "data. Nothing more was written to it. Restore it from a backup (`roster backup`, "
        "docs/recovery.md); `sqlite3 FILE .recover` may save what can still be read."
    )


def refused_error(display: str, what: str) -> StoreError:
    if any(words in what for words in DAMAGED):
        return damaged_error(display, what)
    if "readonly database" in what or "read-only" in what:
        # the driver's words alone sent the admin to "check the store" (hostile review)
        return StoreError(
            f"The identity store {display} cannot be written ({what}): the file, or the "
            "folder it is in (SQLite writes its log beside it), is not writable by you, or "
            "is on a read-only disk. Nothing more was written; make both writable by the user "
            "running Roster and try again."
        )
    return StoreError(
        f"The identity store {display} refused the operation ({what}). Nothing more was "
        "written to it; check the store and try again (a sync it stopped is finished by the "
        "next one, which also settles what it had already sent to the apps)."
    )


def sqlite_tables(path: Path, display: str) -> list[str] | None:
    """The tables of the SQLite file at PATH, read without writing to it (opening a store sets
    it to write-ahead logging, which turned an empty file into a database: hostile review);
    None when there is no such file. StoreError, saying what to do, when the file is not a
    SQLite database or cannot be opened."""
    if not path.exists():
        return None
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):  # SQLite said "disk I/O error" of a pipe, and init of a folder
        raise StoreError(
            f"{display} is {file_kind(mode)}, not an identity store file. Nothing was changed. "
            "Point --db at a Roster store, or at a new file to create one (roster init --db "
            "FILE)."
        )
    try:
        connection = open_existing(path, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise _unopenable(display, exc) from None
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [str(name) for (name,) in rows.fetchall()]
    except sqlite3.DatabaseError as exc:
        if is_locked(exc):
            raise locked_error(display, BUSY_TIMEOUT_SECONDS) from None
        if "not a database" in str(exc):
            raise StoreError(
                f"{display} is not an identity store: it is not a SQLite database at all. "
                "Nothing was changed. Point --db at a Roster store, or at a new file to create "
                "one (roster init --db FILE)."
            ) from None
        raise _unopenable(display, exc) from None
    finally:
        connection.close()


def _unopenable(display: str, exc: sqlite3.Error) -> StoreError:
    what = driver_error_text(exc)
    if any(words in what for words in DAMAGED):
        return damaged_error(display, what)
    return StoreError(
        f"Cannot open the identity store {display} ({driver_error_text(exc)}). SQLite must read "
        "the file and write beside it (its log files): check that you can read it and write "
        "to its folder. Nothing was changed."
    )


def pid_alive(pid: int) -> bool:
    """Whether a process PID runs on this machine (another user's counts: it is alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
