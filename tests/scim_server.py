"""A real SCIM 2.0 service provider for tests: scim2-server's reference WSGI application, served on
127.0.0.1 on a free port from a thread, behind a bearer-token check, for the whole session.

    def test_x(scim_server: ScimServer) -> None:
        url = scim_server.tenant("import")          # http://127.0.0.1:PORT/import-3/v2, empty
        scim_server.post(url, "Users", {...})       # seed it as a client would
        scim_server.delay[url] = 2.0                # answer each request 2 s late
        scim_server.failures[url] = [503, 429]      # answer these first, then serve
        scim_server.ignore_paging.add(url)          # drop startIndex: always the first page
        scim_server.requests[url]                   # what it received, in order (Request)

Each tenant (the first path segment) is a service of its own with empty storage, so tests do not
see each other's users. A tenant whose name starts with `nopatch` announces no PATCH support in
its ServiceProviderConfig (and refuses PATCH), so a client must fall back to PUT.

Modules use it with `pytest_plugins = ("tests.scim_server",)`.
"""

from __future__ import annotations

import io
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from scim2_models import ScimProvider
from scim2_server.applications.wsgi import TenantDispatcher
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - wsgiref's name
        pass  # the access log would bury pytest's output


def _provider(patch: bool) -> ScimProvider:
    config = load_default_service_provider_config()
    config.authentication_schemes = [BEARER_TOKEN_SCHEME]
    if not patch and config.patch is not None:
        config.patch.supported = False
    return ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # after the tenant's /v2: "/Users/ID"
    query: dict[str, str]
    body: Any  # the JSON body, or None
    authorization: str


@dataclass
class ScimServer:
    """The running server: where it is, its token, and the knobs tests turn per tenant."""

    host: str
    port: int
    token: str
    delay: dict[str, float] = field(default_factory=dict)
    failures: dict[str, list[int]] = field(default_factory=dict)
    requests: dict[str, list[Request]] = field(default_factory=dict)
    ignore_paging: set[str] = field(default_factory=set)
    _names: Iterator[int] = field(default_factory=itertools.count)
    _http: httpx.Client | None = None

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    def tenant(self, purpose: str) -> str:
        """The base URL of a new, empty service (`purpose` starts its name: `nopatch…`)."""
        return f"{self.root}/{purpose}-{next(self._names)}/v2"

    def _send(self, method: str, base_url: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        if self._http is None:  # one client: building one costs tens of milliseconds
            auth = {"Authorization": f"Bearer {self.token}"}
            self._http = httpx.Client(headers=auth, timeout=10)
        return self._http.request(method, f"{base_url}/{endpoint}", **kwargs)

    def post(self, base_url: str, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a resource as a client would; returns it as the server stored it."""
        response = self._send("POST", base_url, endpoint, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def get(self, base_url: str, endpoint: str) -> dict[str, Any]:
        response = self._send("GET", base_url, endpoint)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    def delete(self, base_url: str, endpoint: str) -> None:
        response = self._send("DELETE", base_url, endpoint)
        assert response.status_code == 204, response.text

    def _key(self, environ: dict[str, Any]) -> str:
        tenant = str(environ.get("PATH_INFO", "")).split("/")[1:2]
        return f"{self.root}/{tenant[0] if tenant else ''}/v2"

    def faults(self, app: Any) -> Any:
        """WSGI middleware: record each request, then delay or fail it as the test asked."""

        def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            key = self._key(environ)
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(raw)
            path = str(environ.get("PATH_INFO", ""))
            self.requests.setdefault(key, []).append(
                Request(
                    method=str(environ["REQUEST_METHOD"]),
                    path=path[path.find("/v2") + 3 :],
                    query=dict(parse_qsl(str(environ.get("QUERY_STRING", "")))),
                    body=json.loads(raw) if raw else None,
                    authorization=str(environ.get("HTTP_AUTHORIZATION", "")),
                )
            )
            if key in self.ignore_paging:
                query = parse_qsl(str(environ.get("QUERY_STRING", "")))
                environ["QUERY_STRING"] = urlencode([q for q in query if q[0] != "startIndex"])
            if self.delay.get(key):
                time.sleep(self.delay[key])
            pending = self.failures.get(key)
            if pending:
                status = pending.pop(0)
                headers = [("Content-Type", "application/scim+json")]
                if status == 429:
                    headers.append(("Retry-After", "0"))
                start_response(f"{status} Unavailable", headers)
                return [
                    b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], '
                    + f'"status": "{status}", "detail": "try again later"}}'.encode()
                ]
            result: Iterable[bytes] = app(environ, start_response)
            return result

        return middleware


def serve() -> tuple[ScimServer, _Server, threading.Thread]:
    token = "scim-test-token-" + secrets.token_hex(16)
    providers = {True: _provider(patch=True), False: _provider(patch=False)}
    services = {patch: ScimService(provider, secret="t") for patch, provider in providers.items()}

    def make_tenant(tenant: str) -> BearerTokenApplication:
        patch = not tenant.startswith("nopatch")
        return BearerTokenApplication(
            InMemoryStorage(), providers[patch], service=services[patch], bearer_tokens=[token]
        )

    dispatcher = TenantDispatcher(make_tenant)
    server = make_server("127.0.0.1", 0, dispatcher, _Server, handler_class=_QuietHandler)
    state = ScimServer("127.0.0.1", server.server_port, token)
    server.set_app(state.faults(dispatcher))
    thread = threading.Thread(target=server.serve_forever, name="scim2-server", daemon=True)
    thread.start()
    return state, server, thread


@pytest.fixture(scope="session")
def scim_server() -> Iterator[ScimServer]:
    state, server, thread = serve()
    try:
        yield state
    finally:
        if state._http is not None:
            state._http.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
