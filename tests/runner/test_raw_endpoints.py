"""Raw endpoints (``@realtime(raw=True)``) and the catch-all route (``any_path=True``).

A raw endpoint passes payloads through unchanged, text as text and binary as
binary; the catch-all serves every path no other endpoint serves.  Together
they make ``warmwire.examples.raw_echo:RawEcho``, the echo server that
``make conformance`` plays the Autobahn cases against.  The client side:
``ConnectionBuilder`` with the identity codec and a ``raw_path``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import msgpack
import orjson
import pytest

from warmwire import ConnectionBuilder, runner
from warmwire.auth.strategies import NoAuth
from warmwire.codecs import IdentityCodec
from warmwire.core.errors import ConfigurationError
from warmwire.examples.raw_echo import RawEcho
from warmwire.runner import RunningServer
from warmwire.transports.websocket import AsyncWebSocket

pytestmark = pytest.mark.anyio

RawWs = Callable[..., AbstractAsyncContextManager[AsyncWebSocket]]

PAYLOADS: list[bytes | str] = [
    "hello",
    "",
    "κόσμε",
    '{"request_id": 7, "type": "x-fal-error"}',  # text that looks like a map stays text
    b"\x00\xff\xfe",
    b"",
    msgpack.packb({"request_id": 7}),
]


class Mixed(runner.App, app_id="test/mixed"):
    """A map endpoint, and a raw catch-all beside it."""

    @runner.realtime("/realtime")
    async def maps(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"got": inp}

    @runner.realtime("/raw", raw=True, any_path=True)
    async def raw(self, payload: bytes | str) -> Any:
        if payload == "dict please":
            return {"not": "a payload"}  # a raw endpoint cannot send this
        if isinstance(payload, str):
            return payload.upper()
        return payload[::-1]


@pytest.fixture
async def echo() -> AsyncIterator[RunningServer]:
    async with runner.serve(RawEcho, insecure_no_auth=True, ping_interval=None) as server:
        yield server


@pytest.fixture
async def mixed() -> AsyncIterator[RunningServer]:
    async with runner.serve(Mixed, insecure_no_auth=True, ping_interval=None) as server:
        yield server


@pytest.mark.parametrize(
    "path", ["/", "/warmwire/raw-echo/realtime", "/runCase?case=1&agent=x", "/a/b/c/d"]
)
async def test_raw_echo_returns_every_message_unchanged_on_any_path(
    echo: RunningServer, raw_ws: RawWs, path: str
) -> None:
    async with raw_ws(echo, path) as ws:
        for payload in PAYLOADS:
            await ws.send(payload)
            got = await ws.recv()
            assert got == payload
            assert type(got) is type(payload)


async def test_raw_echo_keeps_the_order_of_pipelined_messages(
    echo: RunningServer, raw_ws: RawWs
) -> None:
    async with raw_ws(echo, "/") as ws:
        for i in range(50):
            await ws.send(str(i) if i % 2 else str(i).encode())
        assert [await ws.recv() for _ in range(50)] == [
            str(i) if i % 2 else str(i).encode() for i in range(50)
        ]


async def test_a_raw_endpoint_negotiates_only_the_identity_codec(
    echo: RunningServer, raw_ws: RawWs
) -> None:
    async with raw_ws(echo, "/", subprotocols=("msgpack", "json")) as ws:
        assert ws.subprotocol is None
        await ws.send(b"\x81\xa1a\x01")  # msgpack bytes: not decoded
        assert await ws.recv() == b"\x81\xa1a\x01"
    async with raw_ws(echo, "/", subprotocols=("msgpack", "identity")) as ws:
        assert ws.subprotocol == "identity"


async def test_an_exact_route_wins_over_the_catch_all(mixed: RunningServer, raw_ws: RawWs) -> None:
    async with raw_ws(mixed, "/test/mixed/realtime") as ws:
        await ws.send(orjson.dumps({"n": 1}).decode())
        assert msgpack.unpackb(await ws.recv()) == {"got": {"n": 1}}
    for path in ("/test/mixed/raw", "/elsewhere"):
        async with raw_ws(mixed, path) as ws:
            await ws.send("abc")
            assert await ws.recv() == "ABC"
            await ws.send(b"abc")
            assert await ws.recv() == b"cba"


async def test_a_raw_handler_returning_a_map_is_an_internal_error(
    mixed: RunningServer, raw_ws: RawWs
) -> None:
    async with raw_ws(mixed, "/") as ws:
        await ws.send("dict please")
        error = orjson.loads(await ws.recv())
        assert error["type"] == "x-fal-error"
        assert error["error"] == "INTERNAL_ERROR"
        assert "identity codec" in error["reason"]
        await ws.send("still open")
        assert await ws.recv() == "STILL OPEN"


async def test_the_client_dials_a_raw_path_with_the_identity_codec(echo: RunningServer) -> None:
    builder = ConnectionBuilder(
        app="any/thing",
        url=echo.url,
        codec=IdentityCodec(),
        auth=NoAuth(),
        raw_path="/runCase?case=1&agent=warmwire",
    )
    async with builder.connect_async() as conn:
        assert conn.subprotocol == "identity"
        for payload in PAYLOADS:
            await conn.send(payload)
            got = await conn.recv()
            assert (got, type(got)) == (payload, type(payload))


async def test_the_blocking_client_dials_a_raw_path(echo: RunningServer) -> None:
    builder = ConnectionBuilder(
        app="any/thing", url=echo.url, codec=IdentityCodec(), auth=NoAuth(), raw_path="/"
    )

    def round_trips() -> list[bytes | str]:
        with builder.connect() as conn:
            got = []
            for payload in PAYLOADS:
                conn.send(payload)
                got.append(conn.recv(timeout=10))
            return got

    assert await anyio.to_thread.run_sync(round_trips) == PAYLOADS


def test_two_catch_all_endpoints_are_refused() -> None:
    class Two(runner.App, app_id="test/two"):
        @runner.realtime("/a", raw=True, any_path=True)
        def a(self, payload: bytes) -> bytes:
            return payload

        @runner.realtime("/b", any_path=True)
        def b(self, inp: dict[str, Any]) -> dict[str, Any]:
            return inp

    with pytest.raises(ConfigurationError, match="two catch-all endpoints"):
        runner.Runner([Two()])


def test_a_raw_endpoint_takes_no_message_callables() -> None:
    with pytest.raises(ConfigurationError, match="raw endpoint"):
        runner.realtime("/r", raw=True, encode_message=lambda obj: b"")


def test_a_bad_raw_path_is_refused_before_any_io() -> None:
    builder = ConnectionBuilder(app="any/thing", url="ws://127.0.0.1:1", raw_path="no-slash")
    with pytest.raises(ConfigurationError, match="raw_path"):
        builder.resolve()
