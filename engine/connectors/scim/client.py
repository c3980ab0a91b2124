"""scim2-client over httpx: every request carries the bearer token, retries timeouts, dropped
connections, 5xx and 429 with backoff, and ends within the app's timeout; every failure becomes
one sentence for the admin (what was being done, where, what to check), never a traceback and
never the token.
"""

from __future__ import annotations

from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient, RequestNetworkException, SCIMClientException
from scim2_client.client import describe_resource_models
from scim2_client.errors import server_error_exception
from scim2_models import EnterpriseUser, Error, Group, SCIMException, ScimProvider, User

from engine.connectors.retry import Budget, Outcome, with_retries
from engine.errors import ConnectorError

ScimUser = User[EnterpriseUser]
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
MAX_WAIT = 30.0  # seconds: the longest Retry-After honoured (within the timeout anyway)
MIN_SCRUBBED = 8  # a shorter "token" would blank ordinary words in the message
SHOWN_DETAIL = 500  # characters of a server's error detail kept in a message


def provider() -> ScimProvider:
    """What Roster reads and writes: Users with the enterprise extension, and Groups."""
    models, resource_types = describe_resource_models([ScimUser, Group])
    return ScimProvider(models=models, resource_types=resource_types)


class ScimClient(BaseSyncSCIMClient):
    """A synchronous SCIM client whose requests each end within `timeout` seconds, retries
    included. `last` tells how the last request went (attempts, out of time)."""

    def __init__(self, http: httpx.Client, timeout: float) -> None:
        # Responses are read as JSON, not validated as models (a server's small departures from
        # RFC 7643 must not fail a whole page), and every status reaches `raise_for_error`,
        # which gives a SCIM error its status, scimType and detail.
        super().__init__(
            provider=provider(), check_response_payload=False, check_response_status_codes=False
        )
        self.http = http
        self.timeout = timeout
        self.last = Outcome()

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = self.http.base_url
        try:
            url = self.http.build_request("GET", endpoint).url
        except httpx.InvalidURL:
            return False
        return url.netloc == base.netloc and url.raw_path.startswith(base.raw_path)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.last = Outcome()

        def attempt(seconds_left: float) -> httpx.Response:
            return self.http.request(
                method, url, timeout=httpx.Timeout(max(seconds_left, 0.01)), **kwargs
            )

        def transient(response: httpx.Response | None, error: BaseException | None) -> float | None:
            if error is not None:
                return 0.0 if isinstance(error, TRANSIENT_ERRORS) else None
            if response is None or response.status_code not in RETRIED_STATUSES:
                return None
            return _retry_after(response)

        try:
            return with_retries(attempt, transient, Budget(self.timeout), self.last)
        except httpx.HTTPError as exc:
            raise RequestNetworkException() from exc


def _retry_after(response: httpx.Response) -> float:
    """The wait a 429 or 503 asks for, in seconds (0 when it asks for none we can read)."""
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_WAIT)
    except ValueError:
        return 0.0  # an HTTP date or garbage: the usual backoff


def raise_for_error(payload: Any) -> None:
    """Raise the SCIMException of a SCIM Error payload (reads are not validated as models, so
    their errors come back as payloads)."""
    if isinstance(payload, dict) and Error.__schema__ in (payload.get("schemas") or []):
        try:
            error = Error.model_validate(payload)
        except ValueError:
            raise SCIMException(detail=str(payload.get("detail") or payload)) from None
        raise server_error_exception(error)


def scim_error_text(exc: SCIMException) -> str:
    """`409 uniqueness: One or more of the attribute values are already in use`."""
    status = getattr(exc, "status", "") or ""
    kind = exc.scim_type or ""
    head = " ".join(str(p) for p in (status, kind) if p)
    detail = exc.detail.strip()
    if len(detail) > SHOWN_DETAIL:
        detail = detail[:SHOWN_DETAIL] + "…"
    return f"{head}: {detail}" if head else detail


def describe_failure(
    app_id: str,
    where: str,
    doing: str,
    exc: BaseException,
    client: ScimClient,
    token_ref: str,
) -> ConnectorError:
    """The admin's sentence for a failed request: what was being done, at which server, why,
    and what to check. `token_ref` names where the token comes from (`token_env SCIM_TOKEN`)."""
    cause = exc.__cause__ if isinstance(exc, RequestNetworkException) else exc
    tries = client.last.attempts
    tried = f" (tried {tries} times)" if tries > 1 else ""
    if isinstance(cause, httpx.TimeoutException) or client.last.out_of_time:
        return ConnectorError(
            f"App '{app_id}': the SCIM server at {where} did not answer {doing} within "
            f"{client.timeout:g} s{tried}. Check that the server is up and not overloaded, or "
            "raise `timeout` in the app's settings."
        )
    if isinstance(cause, httpx.ConnectError):
        return ConnectorError(
            f"App '{app_id}': cannot connect to the SCIM server at {where} while {doing}"
            f"{tried}: {_reason(cause)}. Check `base_url`, that the server is running, and that "
            "this machine can reach it (proxy, firewall, DNS)."
        )
    if isinstance(cause, httpx.HTTPError):
        return ConnectorError(
            f"App '{app_id}': the connection to the SCIM server at {where} failed while "
            f"{doing}{tried}: {_reason(cause)}. Check `base_url` and the network."
        )
    if isinstance(exc, SCIMException):
        status = int(getattr(exc, "status", 0) or 0)
        if status == 401:
            return ConnectorError(
                f"App '{app_id}': the SCIM server at {where} refused the bearer token while "
                f"{doing} (401). Check the token in {token_ref}: it may be wrong or expired."
            )
        if status == 403:
            return ConnectorError(
                f"App '{app_id}': the SCIM server at {where} does not allow this token to do "
                f"this ({doing}: {scim_error_text(exc)}). Give the token's client the right "
                "role or scope in the app."
            )
        if status in RETRIED_STATUSES:
            return ConnectorError(
                f"App '{app_id}': the SCIM server at {where} is failing ({scim_error_text(exc)}) "
                f"while {doing}{tried}. Try again later; check the app's status page."
            )
        return ConnectorError(
            f"App '{app_id}': the SCIM server at {where} refused {doing}: {scim_error_text(exc)}."
        )
    status = getattr(getattr(exc, "source", None), "status_code", 0)
    if isinstance(exc, SCIMClientException) and status in (401, 403, *RETRIED_STATUSES):
        # a failure without a SCIM error body (a proxy's page): read it by its status alone
        bare = server_error_exception(Error(status=status, detail=f"HTTP {status}, no SCIM error"))
        return describe_failure(app_id, where, doing, bare, client, token_ref)
    if isinstance(exc, SCIMClientException):
        return ConnectorError(
            f"App '{app_id}': the SCIM server at {where} gave an answer Roster cannot read "
            f"while {doing}: {exc.message}{tried}. Check that `base_url` is the SCIM endpoint "
            "(it usually ends in /scim/v2)."
        )
    return ConnectorError(f"App '{app_id}': {doing} at {where} failed: {exc}.")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:SHOWN_DETAIL]


def without(secret: str, error: ConnectorError) -> ConnectorError:
    """The error with any trace of the token removed, whatever a server or library echoed."""
    if len(secret) >= MIN_SCRUBBED and secret in error.message:
        return ConnectorError(error.message.replace(secret, "[token]"), error.problems)
    return error
