"""Reaching the LDAP server: connect (TLS as configured), bind, and run one request, with retries
and backoff for transient failures (a timeout, a refused or dropped connection, LDAP busy or
unavailable) and never for a refusal (a wrong password, insufficient access, a constraint).
Every failure becomes a ConnectorError that names the app, the server, the LDAP result code and
what to check; the password is never part of a message.

`timeout` bounds each request, retries and backoff included: a connector never holds a sync
longer than that on one request.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar

import ldap3
from ldap3.core import exceptions as ldap_errors
from pyasn1.error import PyAsn1Error

from engine.connectors.ldap.settings import LdapSettings
from engine.connectors.secrets import read_secret
from engine.errors import ConnectorError

T = TypeVar("T")

# LDAP result codes (RFC 4511) Roster explains; the others are shown by their name.
SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
BUSY = 51
UNAVAILABLE = 52
CONSTRAINT_VIOLATION = 19
NO_SUCH_OBJECT = 32
ALREADY_EXISTS = 68
TRANSIENT_CODES = frozenset({BUSY, UNAVAILABLE})
BACKOFF = (0.5, 1.0, 2.0, 4.0)  # seconds before the 2nd, 3rd... attempt (last one repeats)

RESULT_ADVICE = {
    INVALID_CREDENTIALS: "check bind_dn and the password its reference gives",
    INSUFFICIENT_ACCESS: "give the bind account write access to this attribute or entry",
    CONSTRAINT_VIOLATION: "the server's own rules (length, format, uniqueness) refused the value",
    NO_SUCH_OBJECT: "check the DN (base_dn, create_ou); the entry may have moved or been deleted",
    ALREADY_EXISTS: "an entry with this name exists already; link it or choose another name",
    SIZE_LIMIT_EXCEEDED: (
        "lower page_size below the server's size limit; if it is already lower, the server "
        "also limits the total a paged search returns (slapd: size.prtotal) for the bind "
        "account: raise that limit for it, or narrow base_dn or user_filter"
    ),
    BUSY: "the server is busy; try again later",
    UNAVAILABLE: "the server is unavailable (shutting down or not ready); try again later",
    53: "the server is unwilling (AD: a password change needs LDAPS; a password may break policy)",
    65: "the entry's object classes do not allow this attribute; check the schema",
    21: "the value does not have the attribute's syntax",
    17: "the server does not know this attribute; check its name in the schema",
}


#: What ldap3 raises when the bytes it reads are not LDAP at all (its ASN.1 decoder's errors)
UNDECODABLE = (PyAsn1Error, KeyError, IndexError, ValueError)


class Transient(Exception):
    """A failure worth another attempt; carries the ConnectorError to raise if none is left."""

    def __init__(self, error: ConnectorError) -> None:
        super().__init__(error.message)
        self.error = error


class LdapClient:
    """One app's connection to its server, opened on first use and kept for the operation."""

    def __init__(self, settings: LdapSettings) -> None:
        self.settings = settings
        self.app_id = settings.app_id
        self.connection: Any = None

    # --- messages ------------------------------------------------------------------------------

    def where(self) -> str:
        return f"App '{self.app_id}': LDAP server {self.settings.url}"

    def result_error(self, operation: str, result: dict[str, Any]) -> ConnectorError:
        code = int(result.get("result", -1))
        name = str(result.get("description") or "error")
        detail = str(result.get("message") or "").strip()
        advice = RESULT_ADVICE.get(code, "see the server's log for details")
        text = f"{self.where()} refused {operation}: {name} (LDAP result {code})"
        if detail:
            text += f": {detail}"
        return ConnectorError(f"{text}. {advice[0].upper()}{advice[1:]}.")

    def _password_source(self) -> str:
        raw = self.settings.raw
        if raw.get("password_env"):
            return f"the environment variable {raw['password_env']} (password_env)"
        return f"the file {raw.get('password_file')} (password_file)"

    # --- connecting ----------------------------------------------------------------------------

    def _server(self, timeout: float) -> Any:
        tls = None
        if self.settings.encrypted:
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED,
                ca_certs_file=str(self.settings.ca_file) if self.settings.ca_file else None,
            )
        return ldap3.Server(
            self.settings.host,
            port=self.settings.port,
            use_ssl=self.settings.use_ssl,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=max(1.0, timeout),
        )

    def _open(self, password: str, deadline: float) -> Any:
        remaining = max(1.0, deadline - time.monotonic())
        connection = ldap3.Connection(
            self._server(remaining),
            user=self.settings.bind_dn,
            password=password,
            auto_bind=ldap3.AUTO_BIND_NONE,
            receive_timeout=max(1, int(remaining)),  # ldap3 takes whole seconds
            raise_exceptions=False,
            read_only=False,
            return_empty_attributes=False,
            check_names=False,  # Roster reads the raw values only; no formatting per value
        )
        try:
            connection.open()
            if self.settings.start_tls and not connection.start_tls():
                raise self.result_error("StartTLS", connection.result)
            if connection.bind():
                return connection
            result = connection.result
        except ConnectorError:
            _close(connection)
            raise
        except ldap_errors.LDAPException as exc:
            _close(connection)
            error = self.communication_error("connecting", exc)
            raise Transient(error) if _transient(exc) else error from None
        except UNDECODABLE as exc:
            _close(connection)
            raise self.not_ldap(exc) from None
        _close(connection)
        code = int(result.get("result", -1))
        if code == INVALID_CREDENTIALS:
            raise ConnectorError(
                f"{self.where()} refused the bind as {self.settings.bind_dn!r}: invalid "
                f"credentials (LDAP result {code}). Check bind_dn and the password in "
                f"{self._password_source()}; the account may also be locked or expired."
            )
        error = self.result_error(f"the bind as {self.settings.bind_dn!r}", result)
        if code in TRANSIENT_CODES:
            raise Transient(error)
        raise error

    def not_ldap(self, exc: Exception) -> ConnectorError:
        """An answer ldap3 could not decode: not an LDAP server at that port (a web server,
        a proxy), or ldap:// where the server speaks ldaps:// (it was "failed unexpectedly:
        KeyError, report this as a Roster bug": a newcomer's review)."""
        return ConnectorError(
            f"{self.where()} did not answer in LDAP (its answer could not be decoded: "
            f"{exc.__class__.__name__}). Check the URL's host and port, and ldap:// against "
            "ldaps:// (636 is usually ldaps://); nothing was read or written."
        )

    def communication_error(self, operation: str, exc: Exception) -> ConnectorError:
        text = str(exc)
        lowered = text.lower()
        seconds = f"{self.settings.timeout:g}"
        if "invalid filter" in lowered or "matching assertion" in lowered:
            return ConnectorError(
                f"App '{self.app_id}': the LDAP filter is not valid ({_short(text)}) while "
                f"{operation}. Check user_filter ({self.settings.user_filter!r}) in the app's "
                "settings."
            )
        if isinstance(exc, ldap_errors.LDAPResponseTimeoutError) or "timed out" in lowered:
            return ConnectorError(
                f"{self.where()} did not answer within {seconds} s while {operation}. Check "
                "that the server is up and not overloaded, or raise `timeout` in the app's "
                "settings."
            )
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
            return ConnectorError(
                f"{self.where()}: the TLS connection failed while {operation} ({_short(text)}). "
                "Check ca_file (the CA that signed the server's certificate) and that the URL's "
                "host name is the one in the certificate."
            )
        if "refused" in lowered or "unreachable" in lowered or "no route" in lowered:
            return ConnectorError(
                f"{self.where()} cannot be reached ({_short(text)}). Check the URL and port, "
                "that the server is running, and that no firewall is in between."
            )
        if "invalid server address" in lowered or "name or service" in lowered:
            return ConnectorError(
                f"{self.where()}: the host name {self.settings.host!r} does not resolve. "
                "Check the URL."
            )
        return ConnectorError(
            f"{self.where()}: the connection failed while {operation} ({_short(text)}). Check "
            "the URL, the network and the server's log."
        )

    def connect(self) -> Any:
        """The bound connection, opened with retries; raises ConnectorError."""
        if self.connection is not None:
            return self.connection
        password = read_secret(self.app_id, self.settings.raw, "password", self.settings.base_dir)
        if password is None:  # parse_settings requires one reference; kept for type safety
            raise ConnectorError(f"App '{self.app_id}': no password_env or password_file.")
        self.connection = self.attempt(
            "connecting", lambda deadline: self._open(password, deadline)
        )
        return self.connection

    def attempt(self, operation: str, action: Callable[[float], T], *, retry: bool = True) -> T:
        """Run `action(deadline)`, again after a pause when it fails transiently, until it
        works, a refusal comes, the retries are spent or the timeout passes."""
        deadline = time.monotonic() + self.settings.timeout
        tries = 0
        retries = self.settings.retries if retry else 0
        while True:
            try:
                return action(deadline)
            except Transient as exc:
                pause = BACKOFF[min(tries, len(BACKOFF) - 1)]
                tries += 1
                if tries > retries or time.monotonic() + pause >= deadline:
                    raise exc.error from None
                time.sleep(pause)

    def run(
        self, operation: str, call: Callable[[Any], bool], *, retry: bool = True
    ) -> dict[str, Any]:
        """One request on the bound connection (`call(connection)` returns ldap3's success
        flag); the server's result. A dropped connection is reopened and the request retried;
        a busy or unavailable answer is retried; a refusal is returned for the caller to
        judge. `retry=False` for a request that only makes sense on the same connection (the
        next page of a paged search: its cookie dies with the connection)."""

        def once(deadline: float) -> dict[str, Any]:
            connection = self.connect()
            try:
                call(connection)
            except ldap_errors.LDAPException as exc:
                self.close()
                error = self.communication_error(operation, exc)
                raise Transient(error) if _transient(exc) else error from None
            except UNDECODABLE as exc:
                self.close()
                raise self.not_ldap(exc) from None
            result: dict[str, Any] = dict(connection.result or {})
            if int(result.get("result", -1)) in TRANSIENT_CODES:
                raise Transient(self.result_error(operation, result))
            return result

        return self.attempt(operation, once, retry=retry)

    def close(self) -> None:
        if self.connection is not None:
            _close(self.connection)
        self.connection = None


def _close(connection: Any) -> None:
    try:
        connection.unbind()
    except Exception:  # noqa: BLE001, S110 - closing a broken connection cannot fail usefully
        pass


def _transient(exc: Exception) -> bool:
    """Whether another attempt may work: not for a certificate or a host name that does not
    resolve, which fail the same way every time."""
    lowered = str(exc).lower()
    lasting = ("certificate", "ssl", "invalid server address", "invalid filter", "assertion")
    return not any(word in lowered for word in lasting)


_SSL_REASON = re.compile(r"\[SSL[^\]]*\][^(\"']*")


def _short(text: str) -> str:
    """An exception's text, bounded (ldap3 nests whole tracebacks' worth of detail); for a
    TLS failure, OpenSSL's reason alone."""
    found = _SSL_REASON.search(text)
    flat = " ".join((found.group().strip() if found else text).split())
    return flat if len(flat) <= 300 else flat[:297] + "..."
