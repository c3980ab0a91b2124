"""`roster serve`: the console in a browser (textual-serve), for admins who reach the machine
with a browser through an SSH tunnel rather than a terminal.

Each browser session runs the console as the OS user who started `roster serve`, with that
user's role (engine/roles.py). So the server must not let just anyone in: it binds to
127.0.0.1 unless told otherwise, and even there every local user could connect to the port.
It therefore makes a random token and answers only a browser that brings it: the link it
prints carries the token, the page sets it as a cookie (HttpOnly, SameSite=Strict) and the
console's websocket is refused without it. Anyone with the link acts as you.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from engine.errors import RosterError

COOKIE = "roster_token"


def loopback(host: str) -> bool:
    """Whether HOST names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def console_command(store_args: list[str]) -> str:
    """The shell command each browser session runs: this Python's roster on the same store."""
    return " ".join(
        shlex.quote(part) for part in [sys.executable, "-m", "console.cli", *store_args]
    )


def make_server(command: str, host: str, port: int, token: str) -> Any:
    """A textual-serve Server for COMMAND that answers only requests bringing TOKEN."""
    try:
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError as exc:
        raise RosterError(
            f"roster serve needs the serve extra ({exc.name} is not installed): "
            "pip install 'roster[serve]' (from a checkout: pip install -e '.[serve]')"
        ) from None

    def allowed(request: Any) -> bool:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        return hmac.compare_digest(given.encode(), token.encode())

    @web.middleware
    async def require_token(request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        if request.path.startswith("/static/"):
            return await handler(request)  # the page's scripts and fonts: nobody's data
        if not allowed(request):
            raise web.HTTPForbidden(
                text="This Roster console needs the link `roster serve` printed (with its token).\n"
            )
        response = await handler(request)
        if request.query.get("token") and request.path == "/":
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    class RosterServer(Server):  # type: ignore[misc]
        async def _make_app(self) -> Any:
            app = await super()._make_app()
            app.middlewares.append(require_token)
            app.middlewares.append(self.as_reached)
            return app

        @web.middleware
        async def as_reached(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
            """The page's links (its scripts, the console's socket) use the address the
            browser reached: through a tunnel on another local port (ssh -L 9000:…:8000)
            textual-serve's fixed address pointed at the wrong one (newcomer review). Set
            just before the page is built, in the one thread the server runs in."""
            if request.path == "/":
                self.public_url = f"{request.scheme}://{request.host}"
            return await handler(request)

        async def on_startup(self, app: Any) -> None:  # textual-serve's banner: ours is printed
            return None

        def initialize_logging(self) -> None:
            # warnings only: the access log printed every request, the link's token with it
            logging.basicConfig(level="WARNING", format="%(message)s")

    return RosterServer(command, host=host, port=port, title="Roster")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def check_free(host: str, port: int) -> None:
    """RosterError unless HOST:PORT can be listened on (said before the link is printed)."""
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        raise RosterError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Choose another port "
            "with --port (or stop what uses it)."
        ) from None
