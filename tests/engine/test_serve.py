"""`roster serve`: the real server, a real browser socket. It answers only the link it prints
(a token: every local user could reach the port, and each session acts as whoever served it),
and the socket carries the console."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from engine.services import open_services


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(store: Path, *options: str) -> tuple[subprocess.Popen[str], str]:
    """The real `roster serve` on STORE, and what it printed up to its last line."""
    server = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "serve", "--db", str(store), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    printed = ""
    deadline = time.monotonic() + 30
    while "Ctrl+C" not in printed and time.monotonic() < deadline and server.poll() is None:
        printed += server.stdout.readline()
    return server, printed


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """A demo store served on a free port: (the printed text, the port, the token)."""
    open_services(db_path=tmp_path / "r.db", init="sample").db.dispose()
    server, printed = _serve(tmp_path / "r.db", "--port", str(_free_port()))
    try:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", printed)
        assert found, printed
        _wait_listening(int(found.group(1)))
        yield printed, int(found.group(1)), found.group(2)
    finally:
        server.terminate()
        server.wait(10)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


async def _screen(port: int, cookies: dict[str, str]) -> bytes:
    """What the console sends a browser over its socket until the Dashboard's counts show."""
    async with aiohttp.ClientSession(cookies=cookies) as session:
        url = f"http://127.0.0.1:{port}/ws?width=80&height=24"
        async with session.ws_connect(url) as socket_:
            await socket_.send_json(["resize", {"width": 80, "height": 24}])
            got = b""
            deadline = time.monotonic() + 60
            while b"People" not in got and time.monotonic() < deadline:
                message = await asyncio.wait_for(socket_.receive(), 30)
                if message.type == aiohttp.WSMsgType.BINARY:
                    got += message.data
                elif message.type == aiohttp.WSMsgType.TEXT:
                    got += message.data.encode()
                else:
                    break
            return got


async def test_the_console_is_served_to_the_link_and_to_nobody_else(
    served: tuple[str, int, str],
) -> None:
    printed, port, token = served
    assert "Only this machine can connect" in printed and "ssh -L" in printed
    assert "Anyone with the link acts as you" in printed
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 403 and "the link" in await page.text()
        async with session.get(f"http://127.0.0.1:{port}/?token=wrong") as page:
            assert page.status == 403
        async with session.get(f"http://127.0.0.1:{port}/ws") as socket_:
            assert socket_.status == 403  # no cookie: no console
        tunnelled = {"Host": "127.0.0.1:9000"}  # ssh -L 9000:127.0.0.1:PORT
        async with session.get(
            f"http://127.0.0.1:{port}/?token={token}", headers=tunnelled
        ) as page:
            assert 'data-session-websocket-url="ws://127.0.0.1:9000/ws"' in await page.text()
        async with session.get(f"http://127.0.0.1:{port}/?token={token}") as page:
            assert page.status == 200 and "Roster" in await page.text()
            cookie = page.cookies["roster_token"]
            assert cookie.value == token and cookie["httponly"] and cookie["samesite"] == "Strict"
    shown = await _screen(port, {"roster_token": token})
    assert b"Roster" in shown and b"People" in shown  # the Dashboard, drawn for the browser


def test_serving_beyond_this_machine_is_warned_about(tmp_path: Path) -> None:
    open_services(db_path=tmp_path / "r.db", init="empty").db.dispose()
    server, printed = _serve(tmp_path / "r.db", "--host", "0.0.0.0", "--port", str(_free_port()))
    try:
        assert "Warning: 0.0.0.0 may be reachable from other machines" in printed
    finally:
        server.terminate()
        server.wait(10)
