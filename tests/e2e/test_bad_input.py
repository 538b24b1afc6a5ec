"""Hostile and broken input against a real runner: it answers precisely and keeps serving.

Raw-socket tests speak HTTP and RFC 6455 framing by hand (independently of
warmwire's own protocol code) so that what is sent is exactly what the test
says, and what comes back is parsed without trusting the code under test.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
import msgpack
import orjson
import pytest

import warmwire
from warmwire import runner
from warmwire.examples.echo import Echo
from warmwire.runner import RunningServer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING = 0x0, 0x1, 0x2, 0x8, 0x9


# -- raw HTTP and WebSocket framing ------------------------------------------------------


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """One RFC 6455 frame; client frames are masked unless ``mask=False``."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWebSocket:
    """A hand-rolled WebSocket client on a raw TCP stream."""

    def __init__(self, stream: anyio.abc.ByteStream, buffered: bytes) -> None:
        self.stream = stream
        self.buf = bytearray(buffered)

    async def _need(self, n: int) -> None:
        while len(self.buf) < n:
            self.buf += await self.stream.receive()

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame from the runner as (opcode, payload); runner frames are unmasked."""
        await self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert b0 & 0x80, "the runner sent a fragment; this helper reads whole frames"
        assert not b1 & 0x80, "a runner must not mask its frames"
        n, offset = b1 & 0x7F, 2
        if n == 126:
            await self._need(4)
            n, offset = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            await self._need(10)
            n, offset = struct.unpack("!Q", self.buf[2:10])[0], 10
        await self._need(offset + n)
        payload = bytes(self.buf[offset : offset + n])
        del self.buf[: offset + n]
        return b0 & 0x0F, payload

    async def read_close(self) -> tuple[int, str]:
        """Skip to the runner's close frame; return its code and reason."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == OP_CLOSE:
                assert len(payload) >= 2, "a close frame without a status code"
                (code,) = struct.unpack("!H", payload[:2])
                return code, payload[2:].decode()

    async def assert_eof(self) -> None:
        """The runner closes the TCP connection after the close frame, sending nothing more."""
        extra = bytes(self.buf) + await read_to_eof(self.stream)
        assert not extra, f"bytes after the close frame: {extra!r}"


async def read_to_eof(stream: anyio.abc.ByteStream) -> bytes:
    """Everything the peer sends until it closes the connection."""
    data = bytearray()
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return bytes(data)


@pytest.fixture
async def raw_connect() -> AsyncIterator[Any]:
    """Open raw TCP connections (closed after the test) to a server."""
    async with contextlib.AsyncExitStack() as stack:

        async def connect(server: RunningServer) -> anyio.abc.SocketStream:
            assert server.port is not None
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            await stack.enter_async_context(stream)
            return stream

        yield connect


async def read_http_response(stream: anyio.abc.ByteStream) -> tuple[int, dict[str, str], bytes]:
    """Read an HTTP/1.1 response up to the end of the connection (the runner closes it)."""
    data = await read_to_eof(stream)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP response: {data!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = status_line.split(" ")
    assert version == "HTTP/1.1"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"])
    return int(status), headers, body


async def raw_upgrade(
    stream: anyio.abc.ByteStream, port: int, path: str = "/warmwire/echo/realtime"
) -> RawWebSocket:
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await stream.send(request.encode())
    data = bytearray()
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), lines[0]
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    expected = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
    assert headers["sec-websocket-accept"] == expected
    return RawWebSocket(stream, rest)


async def assert_echoes(conn: warmwire.AsyncRealtimeConnection, tag: str) -> None:
    await conn.send({"tag": tag})
    assert await conn.recv() == {"tag": tag}


# -- (a) malformed frames: 1002, and nobody else notices -------------------------------------


MALFORMED = [
    pytest.param(frame(OP_BINARY, msgpack.packb({"a": 1}), rsv=0b100), 1002, id="rsv1-set"),
    pytest.param(frame(OP_BINARY, msgpack.packb({"a": 1}), rsv=0b011), 1002, id="rsv2-rsv3-set"),
    pytest.param(frame(OP_BINARY, msgpack.packb({"a": 1}), mask=False), 1002, id="unmasked"),
    pytest.param(frame(0x3, b"\x80"), 1002, id="reserved-opcode"),
    pytest.param(frame(OP_PING, b"x", fin=False), 1002, id="fragmented-ping"),
    pytest.param(frame(OP_CONT, b"orphan"), 1002, id="orphan-continuation"),
    pytest.param(frame(OP_PING, b"p" * 126), 1002, id="oversized-control-frame"),
    pytest.param(frame(OP_CLOSE, struct.pack("!H", 999)), 1002, id="invalid-close-code"),
    pytest.param(frame(OP_TEXT, b"\xff\xfe not utf-8"), 1007, id="text-not-utf8"),
]


@pytest.mark.parametrize(("bad", "code"), MALFORMED)
async def test_malformed_frame_closes_only_that_connection(
    echo_server: RunningServer, raw_connect: Any, bad: bytes, code: int
) -> None:
    assert echo_server.port is not None
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as good:
            await assert_echoes(good, "before")

            raw = await raw_upgrade(await raw_connect(echo_server), echo_server.port)
            # The hand-rolled framing is right: a well-formed frame echoes.
            await raw.stream.send(frame(OP_BINARY, msgpack.packb({"raw": 1})))
            assert await raw.read_frame() == (OP_BINARY, msgpack.packb({"raw": 1}))

            await assert_echoes(good, "during")
            await raw.stream.send(bad)
            got_code, reason = await raw.read_close()
            assert got_code == code, reason
            await raw.assert_eof()

            await assert_echoes(good, "after")
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as fresh:
            await assert_echoes(fresh, "fresh")


async def test_client_close_is_answered(echo_server: RunningServer, raw_connect: Any) -> None:
    assert echo_server.port is not None
    with anyio.fail_after(TIMEOUT):
        raw = await raw_upgrade(await raw_connect(echo_server), echo_server.port)
        await raw.stream.send(frame(OP_CLOSE, struct.pack("!H", 1000) + b"bye"))
        assert await raw.read_close() == (1000, "bye")
        await raw.assert_eof()


async def test_ping_is_answered_with_pong(echo_server: RunningServer, raw_connect: Any) -> None:
    assert echo_server.port is not None
    with anyio.fail_after(TIMEOUT):
        raw = await raw_upgrade(await raw_connect(echo_server), echo_server.port)
        await raw.stream.send(frame(OP_PING, b"are you there"))
        assert await raw.read_frame() == (0xA, b"are you there")
        # A fragmented message with a ping in the middle still arrives whole.
        payload = msgpack.packb({"fragmented": b"x" * 300})
        await raw.stream.send(frame(OP_BINARY, payload[:100], fin=False))
        await raw.stream.send(frame(OP_PING, b"mid"))
        await raw.stream.send(frame(OP_CONT, payload[100:]))
        assert await raw.read_frame() == (0xA, b"mid")
        assert await raw.read_frame() == (OP_BINARY, payload)


@pytest.mark.parametrize("path", ["/warmwire/echo/async", "/warmwire/echo/realtime"])
async def test_frames_in_one_packet_with_the_request(
    echo_server: RunningServer, raw_connect: Any, path: str
) -> None:
    """The upgrade request, inputs, a ping and an undecodable input in a single write.

    Under asyncio the runner hands messages to the session from the read
    callback (push mode); under trio a task reads them.  Either way the
    frames that came with the request are served first, every input is
    answered in order, the ping is answered and the bad input is reported.
    """
    assert echo_server.port is not None
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    inputs = [frame(OP_BINARY, msgpack.packb({"n": n})) for n in range(20)]
    bad = frame(OP_BINARY, msgpack.packb([1, 2]))
    packet = request + b"".join(inputs[:10]) + frame(OP_PING, b"p") + bad + b"".join(inputs[10:])
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(packet)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            data += await stream.receive()
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        raw = RawWebSocket(stream, rest)
        results, pongs, errors = [], [], []
        while len(results) < 20 or not pongs or not errors:
            opcode, payload = await raw.read_frame()
            if opcode == 0xA:
                pongs.append(payload)
                continue
            # Results in the session's codec (msgpack), errors as JSON text.
            out = orjson.loads(payload) if opcode == OP_TEXT else msgpack.unpackb(payload)
            (errors if out.get("type") == "x-fal-error" else results).append(out)
        assert results == [{"n": n} for n in range(20)]
        assert pongs == [b"p"]
        assert [e["error"] for e in errors] == ["INVALID_INPUT"]
        await raw.stream.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
        assert await raw.read_close() == (1000, "")
        await raw.assert_eof()


async def test_peer_vanishing_mid_message(echo_server: RunningServer, raw_connect: Any) -> None:
    """Half a frame then EOF: the runner drops the session and keeps serving."""
    assert echo_server.port is not None
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        raw = await raw_upgrade(stream, echo_server.port)
        await raw.stream.send(frame(OP_BINARY, b"\x81\xa1a\x01" * 100)[:50])
        await stream.send_eof()
        await read_to_eof(stream)  # the runner hangs up too
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            await assert_echoes(conn, "still serving")


# -- (b) undecodable and invalid inputs: INVALID_INPUT, connection stays -----------------


def passthrough(obj: Any) -> bytes | str:
    """Send bytes and str exactly as given; anything else as msgpack."""
    if isinstance(obj, bytes | str):
        return obj
    return bytes(msgpack.packb(obj, use_bin_type=True))


INVALID = [
    pytest.param(b"\xc1", id="msgpack-reserved-byte"),
    pytest.param(b"\x92\x01", id="msgpack-truncated"),
    pytest.param(b"\x81\xa1a", id="msgpack-map-missing-value"),
    pytest.param(b"\x80\x80", id="msgpack-extra-data"),
    pytest.param(b"", id="empty-binary"),
    pytest.param("not json {", id="text-not-json"),
    pytest.param("", id="empty-text"),
    pytest.param(msgpack.packb([1, 2, 3]), id="msgpack-list"),
    pytest.param(msgpack.packb("a string"), id="msgpack-str"),
    pytest.param(msgpack.packb(None), id="msgpack-nil"),
    pytest.param("[1, 2, 3]", id="json-list"),
    pytest.param("42", id="json-number"),
]


@pytest.mark.parametrize("path", ["/realtime", "/async"])
@pytest.mark.parametrize("bad", INVALID)
async def test_invalid_input_is_reported_and_session_continues(
    echo_server: RunningServer, bad: bytes | str, path: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, path=path, encode_message=passthrough
        ) as conn:
            assert conn.subprotocol is None  # bare callables offer no codec: the default
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1}
            await conn.send(bad)
            with pytest.raises(warmwire.RealtimeError) as info:
                await conn.recv()
            assert info.value.error == "INVALID_INPUT"
            assert info.value.reason
            # The same connection takes the next valid input, binary or text.
            await conn.send({"n": 2, "request_id": "after"})
            assert await conn.recv() == {"n": 2, "request_id": "after"}
            await conn.send('{"n": 3}')
            assert await conn.recv() == {"n": 3}


async def test_non_dict_input_reason_says_what_is_expected(echo_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, encode_message=passthrough
        ) as conn:
            await conn.send(msgpack.packb([1, 2]))
            with pytest.raises(warmwire.RealtimeError) as info:
                await conn.recv()
    assert info.value.error == "INVALID_INPUT"
    assert "list" in info.value.reason


async def test_invalid_input_loses_nothing_else(echo_server: RunningServer) -> None:
    """Good, bad, good in one burst: both good inputs are answered, the bad one reported."""
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, encode_message=passthrough
        ) as conn:
            await conn.send({"request_id": "one"})
            await conn.send(b"\xc1")
            await conn.send({"request_id": "two"})
            results, errors = [], []
            while len(results) + len(errors) < 3:
                try:
                    results.append(await conn.recv())
                except warmwire.RealtimeError as exc:
                    errors.append(exc.error)
    assert results == [{"request_id": "one"}, {"request_id": "two"}]
    assert errors == ["INVALID_INPUT"]


@pytest.mark.parametrize("codec", ["json", "cbor"])
async def test_invalid_input_in_other_codecs(echo_server: RunningServer, codec: str) -> None:
    from warmwire.plugins import get_codec

    base = get_codec(codec)

    class Raw:
        """The named codec, except that bytes and str go out untouched."""

        name = base.name
        frame = base.frame

        def encode(self, obj: Any) -> bytes | str:
            return obj if isinstance(obj, bytes | str) else base.encode(obj)

        def decode(self, data: bytes | str) -> Any:
            return base.decode(data)

    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=Raw()
        ) as conn:
            assert conn.subprotocol == codec
            for bad in (b"\xff\xff\xff", "{nope"):
                await conn.send(bad)
                with pytest.raises(warmwire.RealtimeError) as info:
                    await conn.recv()
                assert info.value.error == "INVALID_INPUT"
            await conn.send({"ok": codec})
            assert await conn.recv() == {"ok": codec}


async def test_invalid_input_with_blocking_client(echo_server: RunningServer) -> None:
    def client() -> list[Any]:
        seen: list[Any] = []
        with warmwire.realtime(
            "warmwire/echo",
            url=echo_server.url,
            encode_message=passthrough,
            open_timeout=TIMEOUT,
        ) as conn:
            conn.send("definitely not json")
            try:
                conn.recv(timeout=TIMEOUT)
            except warmwire.RealtimeError as exc:
                seen.append(exc.error)
            conn.send({"after": "error"})
            seen.append(conn.recv(timeout=TIMEOUT))
        return seen

    assert await anyio.to_thread.run_sync(client) == ["INVALID_INPUT", {"after": "error"}]


# -- (c) the message size limit: 1009 for that session only ------------------------------


LIMIT = 64 * 1024


@pytest.fixture
async def small_limit_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Echo, insecure_no_auth=True, max_message_size=LIMIT) as server:
        yield server


async def test_message_over_limit_closes_with_1009(small_limit_server: RunningServer) -> None:
    url = small_limit_server.url
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=url) as other:
            await assert_echoes(other, "before")
            async with warmwire.realtime_async("warmwire/echo", url=url) as conn:
                near = {"blob": b"n" * (LIMIT - 100)}
                await conn.send(near)  # just under the limit: fine
                assert await conn.recv() == near
                await conn.send({"blob": b"x" * 100_000})
                with pytest.raises(warmwire.ConnectionClosedError) as info:
                    await conn.recv()
                assert info.value.code == 1009
                assert str(LIMIT) in info.value.close_reason
            await assert_echoes(other, "after")


@pytest.mark.parametrize("size", [1_000_000, 4_000_000])
async def test_far_over_limit_still_reports_1009(
    small_limit_server: RunningServer, size: int
) -> None:
    """The runner stops reading mid-message: its close frame must still reach the client.

    Closing a socket with unread input resets the connection; an asyncio client
    then lost the close frame and saw 1006 ("connection lost") instead of 1009.
    """
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=small_limit_server.url) as conn:
            await conn.send({"blob": b"z" * size})
            with pytest.raises(warmwire.ConnectionClosedError) as info:
                await conn.recv()
            assert info.value.code == 1009, info.value
        async with warmwire.realtime_async("warmwire/echo", url=small_limit_server.url) as other:
            await assert_echoes(other, "after a huge one")


async def test_text_message_over_limit_closes_with_1009(
    small_limit_server: RunningServer,
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=small_limit_server.url, codec="json"
        ) as conn:
            # Multi-byte characters: the limit counts bytes, not characters.
            await conn.send({"text": "é" * (LIMIT // 2 + 10)})
            with pytest.raises(warmwire.ConnectionClosedError) as info:
                await conn.recv()
            assert info.value.code == 1009


async def test_message_over_limit_with_blocking_client(
    small_limit_server: RunningServer,
) -> None:
    def client() -> int:
        with warmwire.realtime(
            "warmwire/echo", url=small_limit_server.url, open_timeout=TIMEOUT
        ) as conn:
            conn.send({"blob": b"x" * 100_000})
            with pytest.raises(warmwire.ConnectionClosedError) as info:
                conn.recv(timeout=TIMEOUT)
            return info.value.code

    assert await anyio.to_thread.run_sync(client) == 1009


async def test_result_over_client_limit_closes_with_1009(echo_server: RunningServer) -> None:
    """The client enforces its own ``max_message_size`` on what the runner sends."""
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, max_message_size=1000
        ) as conn:
            await conn.send({"blob": b"y" * 2000})
            with pytest.raises(warmwire.ConnectionClosedError) as info:
                await conn.recv()
            assert info.value.code == 1009
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as other:
            await assert_echoes(other, "unaffected")


# -- (d) the app raises: INTERNAL_ERROR, session continues -----------------------------------


class Flaky(runner.App, app_id="test/flaky"):
    """Raises when asked to; otherwise answers ``{"ok": n}``."""

    @runner.realtime("/realtime", buffering=60)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise ValueError(f"asked to fail on {inp['n']}")
        return {"ok": inp["n"]}

    @runner.realtime("/async", buffering=60)
    async def run_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise RuntimeError(f"async failure on {inp['n']}")
        await anyio.lowlevel.checkpoint()
        return {"ok": inp["n"]}

    @runner.realtime("/unencodable")
    def unencodable(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"value": object()} if inp.get("fail") else {"ok": inp["n"]}


@pytest.fixture
async def flaky_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Flaky, insecure_no_auth=True) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/realtime", "ValueError: asked to fail on 2"),
        ("/async", "RuntimeError: async failure on 2"),
        ("/unencodable", "cannot be encoded"),
    ],
)
async def test_handler_exception_is_internal_error(
    flaky_server: RunningServer, path: str, expected: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("test/flaky", url=flaky_server.url, path=path) as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"ok": 1}
            await conn.send({"n": 2, "fail": True})
            with pytest.raises(warmwire.RealtimeError) as info:
                await conn.recv()
            assert info.value.error == "INTERNAL_ERROR"
            assert expected in info.value.reason
            for n in (3, 4):
                await conn.send({"n": n, "request_id": f"r{n}"})
                assert await conn.recv() == {"ok": n, "request_id": f"r{n}"}


async def test_handler_exception_with_blocking_client(flaky_server: RunningServer) -> None:
    def client() -> list[Any]:
        out: list[Any] = []
        with warmwire.realtime("test/flaky", url=flaky_server.url, open_timeout=TIMEOUT) as conn:
            for n, fail in ((1, True), (2, False)):
                conn.send({"n": n, "fail": fail})
                try:
                    out.append(conn.recv(timeout=TIMEOUT))
                except warmwire.RealtimeError as exc:
                    out.append(exc.error)
        return out

    assert await anyio.to_thread.run_sync(client) == ["INTERNAL_ERROR", {"ok": 2}]


# -- (e) garbage HTTP: 400, runner keeps serving ----------------------------------------------


GARBAGE = [
    pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40, id="tls-hello"),
    pytest.param(b"THIS IS NOT HTTP\r\n\r\n", id="not-http"),
    pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="no-host-header"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n", id="bad-header"),
    pytest.param(
        b"GET /warmwire/echo/realtime HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        id="upgrade-without-key",
    ),
    pytest.param(
        b"GET /warmwire/echo/realtime?max_buffering=61 HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        id="bad-max-buffering",
    ),
]


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_garbage_http_is_400(
    echo_server: RunningServer, raw_connect: Any, garbage: bytes
) -> None:
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(garbage)
        status, headers, body = await read_http_response(stream)
        assert status == 400
        assert headers["connection"] == "close"
        assert headers["content-type"] == "application/json"
        assert orjson.loads(body)["error"] == "Bad Request"
        # Still serving, HTTP and WebSocket.
        health = await raw_connect(echo_server)
        await health.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_http_response(health))[0] == 200
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            await assert_echoes(conn, "after garbage")


async def test_oversized_request_head_is_refused(
    echo_server: RunningServer, raw_connect: Any
) -> None:
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64 * 1024)
        status, _, _ = await read_http_response(stream)
        assert status in (400, 431)


async def test_silent_client_is_dropped_after_handshake_timeout(raw_connect: Any) -> None:
    async with runner.serve(Echo, insecure_no_auth=True, handshake_timeout=0.2) as server:
        with anyio.fail_after(TIMEOUT):
            stream = await raw_connect(server)
            # Nothing sent: the runner gives up on us and closes, without a word.
            assert await read_to_eof(stream) == b""
            async with warmwire.realtime_async("warmwire/echo", url=server.url) as conn:
                await assert_echoes(conn, "after a silent one")


async def test_client_leaving_before_request(echo_server: RunningServer) -> None:
    assert echo_server.port is not None
    with anyio.fail_after(TIMEOUT):
        for _ in range(5):
            stream = await anyio.connect_tcp("127.0.0.1", echo_server.port)
            await stream.aclose()
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            await assert_echoes(conn, "after hang-ups")


# -- (f) plain HTTP routes ---------------------------------------------------------------------


async def test_health(echo_server: RunningServer, raw_connect: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, body = await read_http_response(stream)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"status": "ok"}


async def test_ready_reports_cold_start(echo_server: RunningServer, raw_connect: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(b"GET /ready?probe=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = await read_http_response(stream)
    assert status == 200
    answer = orjson.loads(body)
    assert answer["ready"] is True
    assert answer["cold_start_seconds"] == echo_server.cold_start
    assert answer["cold_start_seconds"] >= 0


async def test_unknown_http_route_is_404_naming_apps(
    echo_server: RunningServer, raw_connect: Any
) -> None:
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = await read_http_response(stream)
    assert status == 404
    reason = orjson.loads(body)["reason"]
    assert "/warmwire/echo/realtime" in reason
    assert "/warmwire/echo/async" in reason


async def test_head_health_has_no_body(echo_server: RunningServer, raw_connect: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        stream = await raw_connect(echo_server)
        await stream.send(b"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = await read_to_eof(stream)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == b""
