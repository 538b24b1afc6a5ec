"""The two I/O drivers, each over a real socket pair, with a peer that speaks raw bytes.

Each test runs for every driver under every event loop it serves: asyncio's own
driver under asyncio, anyio's under asyncio and trio.  The driver holds the
server role; the peer writes hand-built (masked) frames and reads what the
driver wrote, so what is checked is exactly what crosses the socket.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator

import anyio
import anyio.abc
import pytest

from helpers.polling import wait_until
from helpers.wire import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, close_payload, frame
from helpers.wire import parse_frames as parse
from warmwire.core.events import Closed, Initiator, UpgradeRequest
from warmwire.core.server_handshake import ServerProtocol
from warmwire.transports.anyio_websocket import AnyioWebSocket
from warmwire.transports.asyncio_socket import AsyncioSocket
from warmwire.transports.asyncio_websocket import AsyncioWebSocket
from warmwire.transports.websocket import AsyncWebSocket

pytestmark = pytest.mark.anyio

KEY = base64.b64encode(b"0123456789abcdef")
UPGRADE = (
    b"GET /acme/app/realtime HTTP/1.1\r\nHost: runner\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + KEY + b"\r\n\r\n"
)
CLOSE_TIMEOUT = 5.0


@pytest.fixture(
    params=[("asyncio", "asyncio"), ("asyncio", "anyio"), ("trio", "anyio")],
    ids=["asyncio-driver", "anyio-driver-on-asyncio", "anyio-driver-on-trio"],
)
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    backend, driver = request.param
    return backend, driver


@pytest.fixture
def anyio_backend(combo: tuple[str, str]) -> str:
    return combo[0]


class Peer:
    """The client end of the pair, speaking bytes."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def read_until(self, count: int) -> list[tuple[int, bool, bytes]]:
        """At least ``count`` whole frames, as (opcode, fin, payload)."""
        while True:
            frames = _whole_frames(self._buffer)
            if len(frames) >= count:
                return frames
            self._buffer += await self.stream.receive()

    async def read_to_eof(self) -> bytes:
        data = b""
        try:
            while True:
                data += await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return self._buffer + data


def _whole_frames(data: bytes) -> list[tuple[int, bool, bytes]]:
    try:
        return parse(data)
    except (IndexError, ValueError):
        # A frame cut short: parse what is complete by growing a prefix.
        for end in range(len(data), 0, -1):
            try:
                return parse(data[:end])
            except (IndexError, ValueError):
                continue
        return []


async def _driver(kind: str, sock: socket.socket) -> AsyncWebSocket:
    protocol = ServerProtocol(max_message_size=1 << 20)
    if kind == "asyncio":
        import asyncio

        loop = asyncio.get_running_loop()
        _, native = await loop.connect_accepted_socket(AsyncioSocket, sock)
        return AsyncioWebSocket(native, protocol, close_timeout=CLOSE_TIMEOUT)
    stream = await anyio.abc.SocketStream.from_socket(sock)
    return AnyioWebSocket(stream, protocol, close_timeout=CLOSE_TIMEOUT)


@pytest.fixture
async def pair(combo: tuple[str, str]) -> AsyncIterator[tuple[AsyncWebSocket, Peer]]:
    """An accepted connection (driver side) and its peer, the 101 already read."""
    ours, theirs = socket.socketpair()
    ws = await _driver(combo[1], ours)
    peer = Peer(await anyio.abc.SocketStream.from_socket(theirs))
    with anyio.fail_after(10):
        await peer.send(UPGRADE)
        request = await ws.read_request()
        assert isinstance(request, UpgradeRequest)
        await ws.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += await peer.stream.receive()
        assert head.startswith(b"HTTP/1.1 101 ")
        peer._buffer = head.split(b"\r\n\r\n", 1)[1]
    try:
        yield ws, peer
    finally:
        await ws.aclose_transport()
        await peer.stream.aclose()


async def test_messages_in_one_packet_come_out_in_order(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        await peer.send(frame(OP_TEXT, b"one") + frame(OP_BINARY, b"\x00two"))
        assert await ws.recv() == "one"
        assert await ws.recv() == b"\x00two"


async def test_a_ping_is_answered_while_the_reader_waits(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    got: list[bytes | str | Closed] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                got.append(await ws.recv())

            tg.start_soon(read)
            await peer.send(frame(OP_PING, b"are you there"))
            assert (await peer.read_until(1))[0] == (OP_PONG, True, b"are you there")
            await peer.send(frame(OP_TEXT, b"still open"))
        assert got == ["still open"]


async def test_the_peers_pong_is_counted(pair: tuple[AsyncWebSocket, Peer]) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        await ws.send_ping()
        opcode, _, payload = (await peer.read_until(1))[0]
        assert opcode == OP_PING
        assert ws.pongs == 0
        await peer.send(frame(OP_PONG, payload) + frame(OP_TEXT, b"after the pong"))
        # The pong is read by whoever reads (pushed, or pulled by recv()).
        assert await ws.recv() == "after the pong"
        assert ws.pongs == 1


async def test_the_peers_close_is_answered_and_reported(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        await peer.send(frame(OP_CLOSE, close_payload(1001, "going away")))
        assert await ws.recv() == Closed(1001, "going away", Initiator.REMOTE)
        frames = parse(await peer.read_to_eof())
        assert frames == [(OP_CLOSE, True, close_payload(1001, "going away"))]


async def test_a_protocol_violation_closes_with_its_code_and_the_frame_arrives(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        # A client frame without a mask: 1002.  The peer keeps writing after it.
        await peer.send(frame(OP_TEXT, b"unmasked", mask=None) + b"x" * 100_000)
        closed = await ws.recv()
        assert isinstance(closed, Closed)
        assert (closed.code, closed.initiator) == (1002, Initiator.LOCAL)
        # Lingering: the close frame is not destroyed by a reset, and the driver
        # half-closed, so the peer reads the frame and then the end of the stream.
        opcode, _, payload = (await peer.read_until(1))[0]
        assert opcode == OP_CLOSE
        assert payload[:2] == (1002).to_bytes(2, "big")
        await peer.stream.send_eof()
        await peer.read_to_eof()


async def test_the_peer_vanishing_is_a_1006(pair: tuple[AsyncWebSocket, Peer]) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        await peer.send(frame(OP_TEXT, b"last words"))
        await peer.stream.send_eof()
        assert await ws.recv() == "last words"
        closed = await ws.recv()
        assert isinstance(closed, Closed)
        assert closed.code == 1006


async def test_aclose_runs_the_closing_handshake(pair: tuple[AsyncWebSocket, Peer]) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def reply() -> None:
                assert (await peer.read_until(1))[0] == (OP_CLOSE, True, close_payload(1000, "bye"))
                await peer.send(frame(OP_CLOSE, close_payload(1000, "bye")))

            tg.start_soon(reply)
            closed = await ws.aclose(1000, "bye")
        assert closed == Closed(1000, "bye", Initiator.LOCAL)
        assert ws.closed is not None


async def test_send_many_and_the_last_message_before_a_close(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    with anyio.fail_after(10):
        await ws.send_many([b"a", "b"])
        await ws.start_close(1008, "Unauthorized", last_message='{"status": "error"}')
        frames = await peer.read_until(4)
        assert frames == [
            (OP_BINARY, True, b"a"),
            (OP_TEXT, True, b"b"),
            (OP_TEXT, True, b'{"status": "error"}'),
            (OP_CLOSE, True, close_payload(1008, "Unauthorized")),
        ]


async def test_send_waits_for_a_peer_that_is_not_reading(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    payload = b"\x01" * (1 << 20)
    sent = 0

    async def flood() -> None:
        nonlocal sent
        for _ in range(32):
            await ws.send(payload)
            sent += 1

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(flood)
            await anyio.wait_all_tasks_blocked()
            # 32 MB cannot all fit in the socket buffers: the sender waits for the peer.
            assert sent < 32
            received = 0
            while received < 32 * len(payload):
                received += len(await peer.stream.receive(1 << 20))
        assert sent == 32


@pytest.mark.parametrize(
    "combo",
    [("asyncio", "anyio"), ("trio", "anyio")],  # asyncio's own driver never waits to write
    ids=["anyio-driver-on-asyncio", "anyio-driver-on-trio"],
    indirect=True,
)
async def test_a_pong_waiting_for_the_peer_is_written_whole_when_the_reader_is_cancelled(
    pair: tuple[AsyncWebSocket, Peer],
) -> None:
    ws, peer = pair
    assert isinstance(ws, AnyioWebSocket)
    # Fill the socket toward the peer with whole (empty) frames, as results would.
    raw = ws._stream.extra(anyio.abc.SocketAttribute.raw_socket)
    fill = frame(OP_BINARY, b"", mask=None)
    filled = 0
    # A duplicate of the driver's socket (asyncio wraps its own): the same non-blocking
    # socket underneath.
    with socket.fromfd(raw.fileno(), raw.family, raw.type) as same:
        while True:
            try:
                sent = same.send(fill)
            except BlockingIOError:
                break
            assert sent == len(fill)
            filled += 1
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            reading = anyio.CancelScope()

            async def read() -> None:
                with reading:
                    await ws.recv()

            tg.start_soon(read)
            await peer.send(frame(OP_PING, b"are you there"))
            await wait_until(ws._send_lock.locked, "the reader writing its pong")
            # What a session's look does to its reading task: its deadline passes while
            # the pong waits for room in the socket.
            reading.cancel()
            frames = await peer.read_until(filled + 1)
        assert frames[filled] == (OP_PONG, True, b"are you there")
        await ws.send(b"still framed")
        assert (await peer.read_until(filled + 2))[filled + 1] == (OP_BINARY, True, b"still framed")


async def test_push_mode_delivers_in_the_read_callback(
    combo: tuple[str, str], pair: tuple[AsyncWebSocket, Peer]
) -> None:
    ws, peer = pair
    got: list[bytes | str] = []
    with anyio.fail_after(10):
        await peer.send(frame(OP_TEXT, b"before"))
        # Let the pull driver read nothing yet: the first message waits either way.
        pushing = ws.push_messages(got.append)
        assert pushing is (combo[1] == "asyncio")  # only asyncio's driver pushes
        await peer.send(frame(OP_TEXT, b"after") + frame(OP_CLOSE, close_payload(1000)))
        if pushing:
            assert await ws.recv() == Closed(1000, "", Initiator.REMOTE)
            assert got == ["before", "after"]
        else:
            assert [await ws.recv(), await ws.recv()] == ["before", "after"]
            assert await ws.recv() == Closed(1000, "", Initiator.REMOTE)
