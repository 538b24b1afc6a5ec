"""The cold start reaches the session that waited for it, and only that one.

A runner started for a connection (a scale-up from zero) keeps that connection
waiting through its ``setup()``: the runner's first session is told how long it
took, as an ``x-fal-message`` (``action: cold_start``) before anything else,
where its endpoint emits timings.  Later sessions meet a warm runner and are told
nothing.  Both front doors (warmwire's own server and the ASGI adapter under
uvicorn), real loopback sockets, a frame-level client that sees every message.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgpack
import orjson
import pytest

from helpers.asgi_servers import uvicorn_server
from warmwire import asgi, runner
from warmwire.core.client_handshake import ClientProtocol
from warmwire.transports.drivers import open_client
from warmwire.transports.websocket import AsyncWebSocket

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0
SETUP_SECONDS = 0.1


class Slow(runner.App, app_id="test/slow"):
    """A model that takes a while to load; ``/timed`` emits timings, ``/plain`` does not."""

    def setup(self) -> None:
        time.sleep(SETUP_SECONDS)  # loading the model

    @runner.realtime("/timed", emit_timings=True)
    async def timed(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp

    @runner.realtime("/plain")
    async def plain(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


@asynccontextmanager
async def served(door: str) -> AsyncIterator[tuple[int, runner.Runner]]:
    if door == "warmwire":
        async with runner.serve(Slow, insecure_no_auth=True) as server:
            assert server.port is not None
            yield server.port, server.runner
        return
    app = asgi.app(Slow, insecure_no_auth=True)
    with uvicorn_server(app) as base:
        yield int(base.rsplit(":", 1)[1]), app.runner


@pytest.fixture(params=["warmwire", "uvicorn"])
async def door(request: pytest.FixtureRequest) -> AsyncIterator[tuple[int, runner.Runner]]:
    async with served(str(request.param)) as door:
        yield door


@asynccontextmanager
async def session(port: int, path: str) -> AsyncIterator[AsyncWebSocket]:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    protocol = ClientProtocol(host=f"127.0.0.1:{port}", target=f"/test/slow{path}")
    ws = await open_client(stream, protocol, close_timeout=5)
    try:
        yield ws
    finally:
        await ws.aclose()


async def messages_for_one_input(ws: AsyncWebSocket, n: int) -> list[Any]:
    """Send input ``n``; every message up to and including its result, decoded."""
    await ws.send(msgpack.packb({"n": n}))
    seen: list[Any] = []
    while True:
        message = await ws.recv()
        assert isinstance(message, (bytes, str)), f"closed early: {message}"
        seen.append(orjson.loads(message) if isinstance(message, str) else msgpack.unpackb(message))
        if seen[-1] == {"n": n}:
            return seen


def cold_start_messages(seen: list[Any]) -> list[dict[str, Any]]:
    return [m for m in seen if isinstance(m, dict) and m.get("action") == "cold_start"]


async def test_the_first_session_is_told_the_cold_start(door: tuple[int, runner.Runner]) -> None:
    port, served_runner = door
    with anyio.fail_after(TIMEOUT):
        async with session(port, "/timed") as first:
            seen = await messages_for_one_input(first, 1)
        async with session(port, "/timed") as second:
            later = await messages_for_one_input(second, 2)
    assert served_runner.cold_start is not None
    # setup()'s sleep is in it (time.sleep and the loop's clock may round apart: not >=).
    assert served_runner.cold_start > SETUP_SECONDS / 2
    # First of all, before the timings of its first result.
    assert seen[0] == {
        "type": "x-fal-message",
        "action": "cold_start",
        "cold_start": served_runner.cold_start,
    }
    assert cold_start_messages(seen[1:]) == []
    assert cold_start_messages(later) == [], "a warm runner has no cold start to tell"


async def test_no_cold_start_message_where_timings_are_off(
    door: tuple[int, runner.Runner],
) -> None:
    """The figure belongs to the session that waited, even one that does not want it:
    it is not passed on to a later session."""
    port, _ = door
    with anyio.fail_after(TIMEOUT):
        async with session(port, "/plain") as first:
            seen = await messages_for_one_input(first, 1)
        async with session(port, "/timed") as second:
            later = await messages_for_one_input(second, 2)
    assert seen == [{"n": 1}]
    assert cold_start_messages(later) == []
