"""A throwaway OpenLDAP server for tests and benchmarks: `slapd` with its own slapd.conf (mdb
backend) in a temp folder, bound to 127.0.0.1 on free ports (ldap:// and ldaps:// with a
self-signed certificate made by openssl), stopped and removed at the end.

    with ldap_server() as server:
        server.url, server.ldaps_url, server.ca_file
        server.bind_dn, server.password        # the service account Roster binds as
        server.admin()                         # an ldap3 Connection as the root DN (no limits)

The service account (`cn=roster,ou=Service,…`) is limited like a real one: the server returns
at most SIZE_LIMIT entries to one unpaged search (paged searches may return any number, as
Active Directory's MaxPageSize does), it may write everywhere but `ou=Protected` (there it gets
insufficientAccessRights), and `title` longer than TITLE_LIMIT is a constraintViolation (the
constraint overlay). The schema has core, cosine, inetOrgPerson and the small Active Directory
schema in tests/ldap/ad.schema.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-not-for-roster"
BIND_DN = f"cn=roster,ou=Service,{SUFFIX}"
BIND_PASSWORD = "Roster-bind-Pa55word-7731"  # a known value: tests grep for it after a run
SIZE_LIMIT = 500
TITLE_LIMIT = 40
START_TIMEOUT = 20.0
SCHEMA_DIR = Path("/etc/ldap/schema")
AD_SCHEMA = Path(__file__).resolve().parent / "ldap" / "ad.schema"
MODULE_DIRS = ("/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap")


class ServerUnavailable(RuntimeError):
    """No slapd (or no ldap3, or no openssl) on this machine."""


def find_slapd() -> str | None:
    return shutil.which("slapd") or next(
        (p for p in ("/usr/sbin/slapd", "/usr/local/sbin/slapd") if os.access(p, os.X_OK)), None
    )


def module_dir() -> str | None:
    return next((d for d in MODULE_DIRS if Path(d, "back_mdb.la").exists()), None)


def unavailable_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if find_slapd() is None:
        return "OpenLDAP's slapd not found; install the `slapd` and `ldap-utils` packages"
    if not (SCHEMA_DIR / "inetorgperson.schema").exists():
        return f"the OpenLDAP schema files are missing from {SCHEMA_DIR} (package `slapd`)"
    if module_dir() is None:
        return "slapd's back_mdb module not found (package `slapd`)"
    if shutil.which("openssl") is None:
        return "openssl not found (needed for the test server's certificate)"
    try:
        import ldap3  # noqa: F401
    except ImportError:
        return "the ldap3 package is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(folder: Path, modules: str) -> str:
    schemas = [SCHEMA_DIR / f"{n}.schema" for n in ("core", "cosine", "inetorgperson")]
    includes = "\n".join(f"include {p}" for p in [*schemas, AD_SCHEMA])
    return f"""{includes}
pidfile {folder}/slapd.pid
argsfile {folder}/slapd.args
modulepath {modules}
moduleload back_mdb
moduleload constraint
sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key

database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {folder}/data
maxsize 2147483648
dbnosync
index objectClass eq
index entryUUID eq
index uid,mail,sAMAccountName eq

overlay constraint
constraint_attribute title size {TITLE_LIMIT}

access to attrs=userPassword,unicodePwd
    by self write
    by anonymous auth
    by dn.exact="{BIND_DN}" write
    by * none
access to dn.subtree="ou=Protected,{SUFFIX}"
    by * read
access to *
    by dn.exact="{BIND_DN}" write
    by * read
"""


BASE_LDIF = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=Service,{SUFFIX}
objectClass: organizationalUnit
ou: Service

dn: {BIND_DN}
objectClass: person
cn: roster
sn: Roster service account
userPassword: {BIND_PASSWORD}

dn: ou=Protected,{SUFFIX}
objectClass: organizationalUnit
ou: Protected
"""


def _certificates(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 / localhost, signed by that CA."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=Roster test CA",
        "-keyout", "ca.key", "-out", "ca.pem",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem",
    )  # fmt: skip


class LdapServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "slapd.conf"
        self.log = folder / "slapd.log"
        self.ca_file = str(folder / "ca.pem")
        self.bind_dn = BIND_DN
        self.password = BIND_PASSWORD
        self.suffix = SUFFIX
        self.port = 0
        self.ldaps_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://localhost:{self.ldaps_port}"

    def init(self, ldif: str = "") -> None:
        """Write the configuration and load the base directory (plus `ldif`) offline with
        slapadd, which is much faster than adding over the protocol."""
        modules = module_dir()
        assert modules is not None
        (self.folder / "data").mkdir()
        _certificates(self.folder)
        self.config.write_text(_config(self.folder, modules))
        self.slapadd(BASE_LDIF + ("\n" + ldif if ldif else ""))

    def slapadd(self, ldif: str) -> None:
        slapd = find_slapd()
        assert slapd is not None
        source = self.folder / "load.ldif"
        source.write_text(ldif)
        completed = subprocess.run(
            [slapd, "-T", "add", "-q", "-f", str(self.config), "-l", str(source)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        source.unlink()
        if completed.returncode != 0:
            raise RuntimeError(f"slapadd failed: {completed.stderr.strip()[-2000:]}")

    def start(self) -> None:
        slapd = find_slapd()
        assert slapd is not None
        for _attempt in range(3):  # a free port can be taken between the probe and the bind
            self.port, self.ldaps_port = free_port(), free_port()
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(
                    [
                        slapd,
                        "-d",
                        "0",
                        "-f",
                        str(self.config),
                        "-h",
                        f"{self.url}/ {self.ldaps_url}/",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_until_ready():
                return
            self.stop_process()
        raise RuntimeError(f"slapd did not start within {START_TIMEOUT:.0f}s:\n{self.log_tail()}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                self.admin().unbind()
                return True
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)  # poll interval, bounded by the deadline
        return False

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def admin(self) -> Any:
        """An ldap3 connection bound as the root DN (no size limit, no access control)."""
        import ldap3

        server = ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE, connect_timeout=5)
        return ldap3.Connection(
            server,
            ROOT_DN,
            ROOT_PASSWORD,
            auto_bind=True,
            receive_timeout=10,
            raise_exceptions=True,
        )

    def add_entries(self, entries: Iterable[tuple[str, dict[str, Any]]]) -> None:
        connection = self.admin()
        try:
            for dn, attributes in entries:
                connection.add(dn, attributes=attributes)
        finally:
            connection.unbind()

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def stop(self) -> None:
        try:
            self.stop_process()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def ldap_server(ldif: str = "") -> Iterator[LdapServer]:
    """Start a throwaway slapd with the base directory (and `ldif`), yield it, stop and remove."""
    reason = unavailable_reason()
    if reason:
        raise ServerUnavailable(reason)
    server = LdapServer(Path(tempfile.mkdtemp(prefix="roster-ldap-")))
    try:
        server.init(ldif)
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: an LDAP server that hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])
