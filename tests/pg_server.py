"""A throwaway PostgreSQL server for tests: its own cluster in a temp folder, trust auth, bound to
127.0.0.1 on a free port, unix socket inside the temp folder. Stopped and removed at the end.

    with postgres_server() as server:
        server.url                  # postgresql+psycopg://postgres@127.0.0.1:PORT/roster
        server.create_database("x") # another empty database on the same server, its URL

PostgreSQL refuses to run as root, so as root the server binaries run as the `postgres` OS user
(`runuser -u postgres --`) and the temp folder belongs to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 30.0  # seconds: the deadline for the server to accept connections
SUPERUSER = "postgres"
DATABASE = "roster"


class ServerUnavailable(RuntimeError):
    """No PostgreSQL server binaries (or no driver) on this machine."""


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb, else initdb on PATH, else None."""

    def version(path: str) -> tuple[int, ...]:
        match = re.search(r"/postgresql/([\d.]+)/bin/", path)
        return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb and no "
            "initdb on PATH); install the `postgresql` package"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install -e '.[dev]' or '.[postgres]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` OS user to run the server"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def url_for(port: int, database: str) -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


class PostgresServer:
    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "data"
        self.sockets = folder / "sockets"
        self.log = folder / "server.log"
        self.port = 0
        self.url = ""
        self._as_root = os.geteuid() == 0

    # --- running the server binaries ---------------------------------------------------------
    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / tool), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self._as_root else command

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        completed = subprocess.run(
            self._command(tool, *args),
            cwd=self.folder,  # the server user must be able to enter the working directory
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({completed.returncode}): {completed.stderr.strip()}\n"
                f"{completed.stdout.strip()}\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            return "server log:\n" + "\n".join(self.log.read_text().splitlines()[-20:])
        except OSError:
            return ""

    # --- life cycle ----------------------------------------------------------------------------
    def init(self) -> None:
        self.sockets.mkdir()
        if self._as_root:
            postgres = pwd.getpwnam("postgres")
            for path in (self.folder, self.sockets):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        # Throwaway data: no durability needed, so no fsync.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.sockets}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        for attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            self.log = self.folder / f"server-{attempt}.log"
            # Started without pg_ctl's own wait: we poll for a connection with a deadline below.
            self._run(
                "pg_ctl",
                "start",
                "-W",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                f"-p {self.port}",
            )
            if self._wait_until_ready():
                break
            self._stop()
            if attempt == 2:
                raise RuntimeError(
                    f"PostgreSQL did not accept connections within {START_TIMEOUT:.0f}s.\n"
                    + self._log_tail()
                )
        self._execute("postgres", f'CREATE DATABASE "{DATABASE}"')
        self.url = url_for(self.port, DATABASE)

    def _connect(self, database: str):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, connect_timeout=5
        )

    def _wait_until_ready(self) -> bool:
        """Poll until the server accepts a connection; False when the deadline passes or the
        server stopped (e.g. the port was taken)."""
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                self._connect("postgres").close()
                return True
            except psycopg.OperationalError:
                if self._log_says_stopped():
                    return False
                time.sleep(0.05)  # poll interval, bounded by the deadline
        return False

    def _log_says_stopped(self) -> bool:
        try:
            text = self.log.read_text()
        except OSError:
            return False
        return "database system is shut down" in text or "could not create any TCP/IP" in text

    def _execute(self, database: str, sql: str) -> None:
        connection = self._connect(database)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def create_database(self, name: str) -> str:
        """A new empty database on this server; its SQLAlchemy URL."""
        self._execute("postgres", f'CREATE DATABASE "{name}"')
        return url_for(self.port, name)

    def _stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway server, yield it (its `url` is an empty database), stop and remove it."""
    reason = unavailable_reason()
    if reason:
        raise ServerUnavailable(reason)
    bin_dir = find_bin_dir()
    assert bin_dir is not None
    server = PostgresServer(bin_dir, Path(tempfile.mkdtemp(prefix="roster-pg-")))
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
