"""Opening the identity store: SQLite (WAL, foreign keys, busy timeout) or any SQLAlchemy URL.

Nothing happens on import; `migrate()` creates the schema (and a SQLite file's folder). Opening a
store never creates a folder: a mistyped path stays an error.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, create_engine

from engine.errors import DamagedRecord, StoreError
from engine.records import json_text
from engine.store.location import BUSY_TIMEOUT_SECONDS as BUSY_TIMEOUT_SECONDS
from engine.store.location import MIGRATIONS as MIGRATIONS
from engine.store.location import default_db_path as default_db_path
from engine.store.location import (
    driver_error_text,
    is_locked,
    locked_error,
    open_existing,
    permission_warning,
    refused_error,
    sqlite_tables,
)
from engine.store.location import head_revision as head_revision
from engine.store.location import sqlite_url as sqlite_url
from engine.text import printable

MIGRATION_LOCK_KEY = 0x526F73746572  # "Roster": the PostgreSQL advisory lock held while migrating


# orjson is several times faster than json for the profiles and journal rows a sync writes;
# what it writes is what a record's StoredJson holds when read back (engine.records)
def json_value(text: str | bytes) -> object:
    """A JSON column's value; text that is not JSON (the store was edited by hand) is a
    StoreError, not a traceback from inside the driver's row processing."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DamagedRecord(
            f"The identity store holds a value that is not JSON ({exc}; it begins "
            f"{printable(str(text), 60)!r}): the store was changed outside Roster. Nothing "
            "more was done; restore the store from a backup."
        ) from None


#: Tables every Roster store has had since its first schema: a file without them is not one
ROSTER_TABLES = frozenset(("alembic_version", "meta", "run", "person", "account", "app"))

JSON_CODEC = {"json_serializer": json_text, "json_deserializer": json_value}


def fold(text: str | None) -> str | None:
    """`roster_fold(x)` in SQL: case folded as Python folds it (SQLite's own lower() and LIKE
    fold only ASCII: a search for "élodie" missed "Élodie")."""
    return text.casefold() if isinstance(text, str) else text  # NULL stays NULL


def _sqlite_pragmas(
    dbapi_connection: sqlite3.Connection, _record: object, *, busy_timeout: float
) -> None:
    dbapi_connection.create_function("roster_fold", 1, fold, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cursor.close()


#: SQLite's own: a commit that leaves the write-ahead log over this many pages copies it into the
#: store's file itself
AUTOCHECKPOINT_PAGES = 1000
#: How often the write-ahead log is copied into the store while a sync writes (seconds)
CHECKPOINT_EVERY = 0.02
#: A log file larger than this is copied by the commits again, as SQLite does by default: the
#: log starts over only when a write begins after all of it was copied, and the next of a
#: sync's large writes (a first sync's) would begin before the thread had copied the last one,
#: so the log would grow by all of them (hostile review: twice the peak of the default)
ASIDE_LOG_LIMIT = 64 * 1024 * 1024


def _checkpoint_until(connection: sqlite3.Connection, stop: threading.Event) -> None:
    """Copy the write-ahead log into the store's file every CHECKPOINT_EVERY seconds until STOP
    is set, without waiting for anyone (PASSIVE: the frames a reader or a writer still needs
    are left for the next time); then copy the rest and empty the log file, if no one is
    using it (TRUNCATE)."""
    try:
        while not stop.wait(CHECKPOINT_EVERY):
            _checkpoint(connection, "PASSIVE")
        _checkpoint(connection, "TRUNCATE")
    finally:
        connection.close()


def _checkpoint(connection: sqlite3.Connection, mode: str) -> None:
    try:
        connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
    except sqlite3.Error:
        pass  # busy, or the store is gone: the run's own statements say what matters


def _is_locked(exc: SQLAlchemyError) -> bool:
    return is_locked(getattr(exc, "orig", None))


def db_error_text(exc: BaseException) -> str:
    """What went wrong with the database, for an admin: the driver's own first line, never
    SQLAlchemy's full text (it carries the statement and its parameters: rows of personal
    data)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    return driver_error_text(orig) if orig is not None else exc.__class__.__name__


def dispose_all() -> None:
    """Close the connections of every store opened in this process: for a process about to
    exit without collecting its garbage (console.cli freezes it as it exits), whose stores,
    held in cycles, would otherwise never close them (SQLite then leaves its write-ahead log
    beside the file, with the last writes only in it)."""
    for database in list(_OPEN):
        database.dispose()


class Database:
    """One identity store. Each worker thread opens its own `session()`."""

    def __init__(self, url: str, busy_timeout: float | None = None) -> None:
        self.busy_timeout = BUSY_TIMEOUT_SECONDS if busy_timeout is None else busy_timeout
        try:
            make_url(url).port  # noqa: B018 - a bad port is only found when read
        except (SQLAlchemyError, ValueError) as exc:  # not a URL at all, or a bad port
            # never a password: everything between `user:` and the last "@" is hidden (a
            # password holding "@" or "/" showed past its first one: a newcomer's review)
            shown = re.sub(r"(//[^/@:]*:).*@", r"\1***@", url)
            raise StoreError(
                f"Cannot read the database URL {shown!r}: it is not an SQLAlchemy URL. Give one "
                "like postgresql+psycopg://USER:PASSWORD@HOST/DBNAME (with characters such as "
                "@ : / # % ? in the password percent-encoded: @ as %40) or "
                "sqlite:////path/to/roster.db, or use --db PATH for a SQLite file."
            ) from exc
        self.url = url
        self._engine: Engine | None = None
        # how many `checkpoints_aside` are open: while any is, a commit leaves the write-ahead
        # log to their thread
        self._aside = 0
        self._aside_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.url).get_backend_name() == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        database = make_url(self.url).database
        return Path(database) if database and database != ":memory:" else None

    def exists(self) -> bool:
        """True when the store already has Roster's tables. A SQLite file is only read: one
        that holds another program's tables is refused (StoreError), never taken for a new
        store (`roster init` wrote Roster's tables beside them: hostile review)."""
        path = self.sqlite_path
        if self.is_sqlite and (path is None or not path.exists()):
            return False
        if path is not None:
            tables = sqlite_tables(path, str(path)) or []
            # Roster's own tables, not alembic's alone: many programs migrate with alembic
            # (hostile review: one such database was migrated into a store, or crashed status)
            if tables and not ROSTER_TABLES <= set(tables):
                shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
                raise StoreError(
                    f"{path} is not an identity store: it holds another program's database "
                    f"(tables {shown}). Nothing was changed. Point --db at a Roster store, or "
                    "at a new file to create one."
                )
            return bool(tables)
        try:
            return inspect(self.engine).has_table("alembic_version")
        except SQLAlchemyError as exc:
            # the driver's first line, not SQLAlchemy's text with its "Background on this
            # error at https://sqlalche.me/…" (a newcomer's review)
            raise StoreError(
                f"Cannot open the identity store at {self.display_url} ({db_error_text(exc)}). "
                "Check that the server is running and reachable from here, and the user, "
                "password and database name in the URL. Nothing was changed."
            ) from exc

    @property
    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.is_sqlite:
                engine = create_engine(
                    self.url,
                    connect_args={"check_same_thread": False, "timeout": self.busy_timeout},
                    **JSON_CODEC,
                )
                pragmas = functools.partial(_sqlite_pragmas, busy_timeout=self.busy_timeout)
                event.listen(engine, "connect", pragmas)
                event.listen(engine, "checkout", self._autocheckpoint)
            else:
                try:
                    engine = create_engine(self.url, pool_pre_ping=True, **JSON_CODEC)
                except NoSuchModuleError:  # postgres://, mysql://: not a dialect Roster has
                    scheme = make_url(self.url).drivername
                    raise StoreError(
                        f"Cannot open the identity store at {self.display_url}: Roster does not "
                        f"know the URL's kind {scheme!r}. Use postgresql+psycopg://USER@HOST/"
                        "DBNAME for PostgreSQL, or --db PATH for a SQLite file."
                    ) from None
                except ImportError as exc:  # the URL names a driver that is not installed
                    raise StoreError(
                        f"Cannot open the identity store at {self.display_url}: its database "
                        f"driver is not installed ({exc}). For PostgreSQL install Roster with its "
                        "postgres extra (pip install 'roster[postgres]') and use a "
                        "postgresql+psycopg:// URL."
                    ) from exc
            self._engine = engine
            _OPEN.add(self)
        return self._engine

    def at_head(self) -> bool:
        """Whether the schema is already at the newest migration: one query, so opening a
        current store never loads Alembic (a third of a CLI command's start-up)."""
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return False
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return False
                stored = connection.execute(text("SELECT version_num FROM alembic_version"))
                return {row[0] for row in stored} == {head_revision()}
        except SQLAlchemyError:
            return False  # let migrate() say what is wrong

    def revisions(self) -> list[str]:
        """The schema revisions the store records (none: a new or foreign database)."""
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return []
                rows = connection.execute(text("SELECT version_num FROM alembic_version"))
                return sorted(str(row[0]) for row in rows)
        except SQLAlchemyError:
            return []

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creates it on an empty database)."""
        if self.at_head():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        path = self.sqlite_path
        if path is not None:  # creating a store may create its folder; opening one never does
            try:
                # the store holds personal data: its folder and file are its owner's alone
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                if not path.exists():
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                    os.chmod(path, 0o600)  # whatever the umask
            except OSError as exc:
                raise StoreError(
                    f"Cannot create the identity store at {path}: {exc.strerror or exc}. "
                    "Check the folder and its permissions."
                ) from exc
        from alembic.util.exc import CommandError

        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Several consoles may open a new shared store at once: one migrates, the
                    # others wait here, then find the schema at head. Released at commit.
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StoreError(
                f"Cannot prepare the identity store at {self.display_url}: "
                f"{exc.__class__.__name__}: {exc}. Check the path or URL and that the "
                "database is reachable."
            ) from exc
        except CommandError:
            # a schema revision this Roster does not know: a newer Roster wrote the store
            raise StoreError(
                f"The identity store at {self.display_url} was written by another version of "
                f"Roster (its schema is at {', '.join(self.revisions()) or 'no revision'}; this "
                f"Roster knows up to {head_revision()}). Nothing was changed: open it with the "
                "Roster that last wrote it, or upgrade this one."
            ) from None

    @contextmanager
    def checkpoints_aside(self) -> Iterator[None]:
        """While it is open, a SQLite store's write-ahead log is copied into the store's file
        by a thread of its own, not by the commit that fills it: a sync's commits wrote and
        flushed pages to disk while the run waited (half a second of a 1 % sync at 100,000
        people, issue 11), and the thread does it while the run computes. What is committed,
        and what a kill leaves, is the same: the log is SQLite's, and copying it is its own."""
        path = self.sqlite_path
        if path is None:  # a server's store, or one in memory
            yield
            return
        try:
            connection = open_existing(path, timeout=0, check_same_thread=False)
        except sqlite3.Error:
            yield  # the commits copy the log themselves, as always
            return
        stop = threading.Event()
        thread = threading.Thread(
            target=_checkpoint_until, args=(connection, stop), name="checkpoint", daemon=True
        )
        started = False
        with self._aside_lock:
            self._aside += 1
        try:
            thread.start()
            started = True
            yield
        finally:
            with self._aside_lock:
                self._aside -= 1
            stop.set()
            if started:
                thread.join()  # (it closes the connection)
            else:
                connection.close()

    def _autocheckpoint(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """On each checkout: whether the connection's commits copy the log (see
        `checkpoints_aside`); set only when it changes."""
        pages = AUTOCHECKPOINT_PAGES
        if self._aside and not self._log_over_limit():
            pages = 0
        if record.info.get("autocheckpoint") != pages:
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={pages}").fetchall()
            record.info["autocheckpoint"] = pages

    def _log_over_limit(self) -> bool:
        path = self.sqlite_path
        try:
            return path is not None and (
                path.with_name(path.name + "-wal").stat().st_size > ASIDE_LOG_LIMIT
            )
        except OSError:
            return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session; a database error leaves it as a StoreError (StoreLocked when another
        process kept the write lock past the busy timeout) whose message carries no data."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except SQLAlchemyError as exc:
            raise self.error(exc) from None
        except sqlite3.Error as exc:  # rows read straight from the driver (repo.table_rows)
            if is_locked(exc):
                raise locked_error(self.display_url, self.busy_timeout) from None
            raise refused_error(self.display_url, driver_error_text(exc)) from None

    def error(self, exc: SQLAlchemyError) -> StoreError:
        if _is_locked(exc):
            return locked_error(self.display_url, self.busy_timeout)
        return refused_error(self.display_url, db_error_text(exc))

    def permission_warning(self) -> str | None:
        """See engine.store.location.permission_warning (None for a server's store)."""
        path = self.sqlite_path
        return permission_warning(path) if path is not None else None

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        _OPEN.discard(self)


#: The stores whose engine is open (dispose_all)
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()
