"""Session timeout, handshake timeout and keepalive, against a real runner.

These features are about time, so the tests use short real timeouts (tenths of
a second) and wait on the outcome with a generous bound; nothing sleeps to let
a race settle.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import msgpack
import pytest

import warmwire
from warmwire import runner
from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.events import Closed, Message, Opened
from warmwire.runner import RunningServer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
SESSION_TIMEOUT = 0.4


class Idle(runner.App, app_id="test/idle"):
    @runner.realtime("/realtime", session_timeout=SESSION_TIMEOUT)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"n": inp["n"]}

    @runner.realtime("/forever", session_timeout=None)
    async def forever(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"n": inp["n"]}


async def test_session_timeout_sends_timeout_then_closes_normally(
    wait_until: Callable[..., Any],
) -> None:
    async with runner.serve(Idle, insecure_no_auth=True) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async("test/idle", url=server.url) as conn:
                # Inputs within the timeout keep the session alive.
                await conn.send({"n": 1})
                assert await conn.recv() == {"n": 1}
                last_input = time.monotonic()
                with pytest.raises(warmwire.RealtimeError) as caught:
                    await conn.recv()
                idle = time.monotonic() - last_input
                assert caught.value.error == "TIMEOUT"
                assert not isinstance(caught.value, warmwire.ConnectionClosedError)
                assert await conn.recv() is None  # then a normal 1000 close
            await wait_until(lambda: not server.runner.sessions, what="the session ended")
    assert idle >= SESSION_TIMEOUT * 0.9


async def test_each_input_restarts_the_session_timeout() -> None:
    async with runner.serve(Idle, insecure_no_auth=True) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async("test/idle", url=server.url) as conn:
                started = time.monotonic()
                n = 0
                # Keep sending for three timeouts' worth: the session must stay open.
                while time.monotonic() - started < 3 * SESSION_TIMEOUT:
                    await conn.send({"n": n})
                    assert await conn.recv() == {"n": n}
                    n += 1
                    with anyio.move_on_after(SESSION_TIMEOUT / 4):
                        await anyio.sleep_forever()
                with pytest.raises(warmwire.RealtimeError, match="TIMEOUT"):
                    await conn.recv()


async def test_handshake_timeout_disconnects_a_silent_client() -> None:
    async with runner.serve(Idle, insecure_no_auth=True, handshake_timeout=0.3) as server:
        assert server.port is not None
        with anyio.fail_after(TIMEOUT):
            async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
                started = time.monotonic()
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()
                waited = time.monotonic() - started
    assert 0.25 <= waited < TIMEOUT


async def test_handshake_timeout_also_bounds_a_trickled_request() -> None:
    async with runner.serve(Idle, insecure_no_auth=True, handshake_timeout=0.3) as server:
        assert server.port is not None
        with anyio.fail_after(TIMEOUT):
            async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
                await stream.send(b"GET /test/idle/realtime HTTP/1.1\r\nHost: x\r\n")
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()


# -- keepalive ------------------------------------------------------------------------------


async def silent_client(server: RunningServer, path: str) -> tuple[anyio.abc.SocketStream, Any]:
    """Complete the upgrade by hand, then never read again (so never answer a ping)."""
    assert server.port is not None
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    protocol = ClientProtocol(host=f"127.0.0.1:{server.port}", target=path)
    await stream.send(protocol.data_to_send())
    return stream, protocol


async def read_to_end(stream: anyio.abc.SocketStream, protocol: ClientProtocol) -> list[Any]:
    """Everything the runner sent, as the protocol's events (pongs are never sent back)."""
    events = []
    while True:
        try:
            data: bytes | None = await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            data = None
        protocol.receive_data(data)
        events += protocol.events()
        protocol.data_to_send()  # the automatic pongs: dropped on the floor
        if data is None:
            return events


async def test_keepalive_cuts_a_peer_that_never_answers_pings(
    wait_until: Callable[..., Any], http_get: Callable[..., Any]
) -> None:
    async with runner.serve(
        Idle, insecure_no_auth=True, ping_interval=0.2, ping_timeout=0.5
    ) as server:
        with anyio.fail_after(TIMEOUT):
            stream, protocol = await silent_client(server, "/test/idle/forever")
            async with stream:
                await wait_until(lambda: len(server.runner.sessions) == 1, what="session open")
                opened = time.monotonic()
                ready = (await http_get(server, "/ready")).json()
                assert ready["sessions"] == 1
                await wait_until(lambda: not server.runner.sessions, what="silent peer cut")
                lasted = time.monotonic() - opened
                assert (await http_get(server, "/ready")).json()["sessions"] == 0
                events = await read_to_end(stream, protocol)
    assert 0.4 <= lasted < TIMEOUT  # not at once: only after the unanswered ping
    assert isinstance(events[0], Opened)
    # Cut without a closing handshake: the runner just dropped the connection.
    assert isinstance(events[-1], Closed)
    assert events[-1].code == 1006


async def test_keepalive_keeps_a_reading_client_connected(
    wait_until: Callable[..., Any],
) -> None:
    async with runner.serve(
        Idle, insecure_no_auth=True, ping_interval=0.2, ping_timeout=0.5
    ) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async(
                "test/idle", url=server.url, path="/forever"
            ) as conn:
                results: list[Any] = []
                got = anyio.Event()

                async def read() -> None:
                    # A pending recv() is what answers the runner's pings.
                    async for result in conn:
                        results.append(result)
                        got.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(read)
                    # A silent peer on the same runner is cut meanwhile: this is well
                    # past ping_interval + ping_timeout, and this one survives it.
                    stream, _ = await silent_client(server, "/test/idle/forever")
                    async with stream:
                        await wait_until(lambda: len(server.runner.sessions) == 2)
                        await wait_until(lambda: len(server.runner.sessions) == 1)
                    # And it is still open for several more ping intervals.
                    with anyio.move_on_after(0.6):
                        await anyio.sleep_forever()
                    assert len(server.runner.sessions) == 1
                    await conn.send({"n": 7})
                    await got.wait()
                    tg.cancel_scope.cancel()
    assert results == [{"n": 7}]


async def test_no_keepalive_when_disabled(wait_until: Callable[..., Any]) -> None:
    async with runner.serve(Idle, insecure_no_auth=True, ping_interval=None) as server:
        with anyio.fail_after(TIMEOUT):
            stream, protocol = await silent_client(server, "/test/idle/forever")
            async with stream:
                await wait_until(lambda: len(server.runner.sessions) == 1)
                with anyio.move_on_after(0.8):
                    await anyio.sleep_forever()
                assert len(server.runner.sessions) == 1
                # It is a working session: an input gets its result.
                await stream.send(_masked(0x2, msgpack.packb({"n": 3})))
                while not (messages := [e for e in protocol.events() if isinstance(e, Message)]):
                    protocol.receive_data(await stream.receive())
    assert msgpack.unpackb(messages[0].data) == {"n": 3}


def _server_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete (unmasked, server-to-client) frames off the front of ``buffer``."""
    frames = []
    while len(buffer) >= 2:
        opcode, n = buffer[0] & 0x0F, buffer[1] & 0x7F
        head = 2
        if n == 126:
            if len(buffer) < 4:
                break
            n, head = int.from_bytes(buffer[2:4], "big"), 4
        elif n == 127:
            if len(buffer) < 10:
                break
            n, head = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < head + n:
            break
        frames.append((opcode, bytes(buffer[head : head + n])))
        del buffer[: head + n]
    return frames


async def test_keepalive_during_an_unanswered_close_does_not_break_the_session(
    wait_until: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A client that answers pings but not our close frame: the runner waits
    ``close_timeout`` for the reply, then cuts it, with no error along the way."""
    caplog.set_level("INFO", logger="warmwire")
    async with runner.serve(
        Idle, insecure_no_auth=True, ping_interval=0.1, ping_timeout=0.5, close_timeout=0.8
    ) as server:
        with anyio.fail_after(TIMEOUT):
            stream, protocol = await silent_client(server, "/test/idle/realtime")
            async with stream:
                # The 101 response, parsed by the protocol; frames after it by hand.
                buffer = bytearray()
                while not any(isinstance(e, Opened) for e in protocol.events()):
                    protocol.receive_data(await stream.receive())
                pings = 0
                close_at = None
                while True:
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
                    for opcode, payload in _server_frames(buffer):
                        if opcode == 0x9:  # ping: answer it
                            pings += 1
                            await stream.send(_masked(0xA, payload))
                        elif opcode == 0x8 and close_at is None:  # close: ignore it
                            close_at = time.monotonic()
                ended = time.monotonic()
    assert pings >= 1, "the keepalive pinged before the session timeout"
    assert close_at is not None
    assert ended - close_at >= 0.8 * 0.9, "the runner waited close_timeout for the reply"
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not errors, [r.getMessage() for r in errors]


def _masked(opcode: int, payload: bytes) -> bytes:
    """One masked frame (client to server), with an all-zero mask for simplicity."""
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload


async def test_input_crossing_our_close_frame_is_ignored_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After TIMEOUT the runner closes; an input the client sent before it saw the
    close cannot be answered: it is ignored, and the closing handshake completes."""
    caplog.set_level("INFO", logger="warmwire")
    async with runner.serve(Idle, insecure_no_auth=True, close_timeout=5.0) as server:
        with anyio.fail_after(TIMEOUT):
            stream, protocol = await silent_client(server, "/test/idle/realtime")
            async with stream:
                buffer = bytearray()
                while not any(isinstance(e, Opened) for e in protocol.events()):
                    protocol.receive_data(await stream.receive())
                frames: list[tuple[int, bytes]] = []
                while not any(op == 0x8 for op, _ in frames):
                    buffer += await stream.receive()
                    frames += _server_frames(buffer)
                # The input crosses the runner's close frame; then the close reply.
                await stream.send(_masked(0x2, msgpack.packb({"n": 1})))
                await stream.send(_masked(0x8, (1000).to_bytes(2, "big")))
                replied = time.monotonic()
                after: list[tuple[int, bytes]] = []
                while True:
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        break
                    after += _server_frames(buffer)
                ended = time.monotonic()
    assert [op for op, _ in frames] == [0x1, 0x8]  # TIMEOUT as text, then the close
    assert b"TIMEOUT" in frames[0][1]
    assert int.from_bytes(frames[1][1][:2], "big") == 1000
    assert after == [], "nothing is sent after the close frame"
    assert ended - replied < 4.0, "the handshake completed with the reply, not by timeout"
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert not errors, [r.getMessage() for r in errors]


class SlowerThanTimeout(runner.App, app_id="test/slower"):
    """A handler that takes longer than the session timeout."""

    @runner.realtime("/realtime", session_timeout=0.3)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep(1.0)  # the app's own work, longer than the timeout
        return inp


@pytest.mark.anyio
async def test_session_timeout_waits_for_a_slow_handler() -> None:
    async with runner.serve(SlowerThanTimeout, insecure_no_auth=True) as server:
        with anyio.fail_after(10):
            async with warmwire.realtime_async("test/slower", url=server.url) as conn:
                await conn.send({"n": 1})
                # The result arrives although it took longer than session_timeout...
                assert await conn.recv() == {"n": 1}
                # ...and then, idle, the session times out.
                with pytest.raises(warmwire.RealtimeError) as timeout:
                    await conn.recv()
                assert timeout.value.error == "TIMEOUT"
