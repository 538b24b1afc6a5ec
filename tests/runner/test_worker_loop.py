"""``worker_loop``: a blocking handler's sessions served whole on the worker thread's own loop.

Real runners on loopback TCP under asyncio and trio (the worker loops are
asyncio's under both), warmwire's client or bytes written by hand where the
frames themselves matter.  What tells a session was handed over is the runner's
count of sessions on its worker loops, and the thread its handler ran in.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import msgpack
import pytest
import trustme

import warmwire
from helpers.wire import OP_BINARY, OP_CLOSE, close_code_of, frame, parse_frames
from warmwire import runner
from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.events import Message, Opened
from warmwire.runner import RunningServer, Session
from warmwire.runner.worker_loops import WorkerLoops

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
APP = "test/worker-loop"


async def _twice(n: int) -> int:
    await asyncio.sleep(0)
    return 2 * n


class Blocking(runner.App, app_id=APP):
    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    @runner.realtime("/realtime", buffering=10)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.started.set()
            assert self.gate.wait(TIMEOUT), "the test never opened the gate"
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                loop = "none"
            else:
                loop = "visible"
            return {"i": inp["i"], "thread": threading.current_thread().name, "loop": loop}
        finally:
            with self._lock:
                self.running -= 1

    @runner.realtime("/nested")
    def nested(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"twice": asyncio.run(_twice(inp["i"]))}

    @runner.realtime("/frames")
    def frames(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for i in range(inp["n"]):
            yield {"i": i, "thread": threading.current_thread().name}

    @runner.realtime("/two", buffering=2)
    def two(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self.run(inp)

    @runner.realtime("/async")
    async def echo(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"i": inp["i"], "thread": threading.current_thread().name}


def hosted(server: RunningServer) -> int:
    loops = server.runner.worker_loops
    assert isinstance(loops, WorkerLoops)
    return loops.hosted


def connect(server: RunningServer, path: str = "/realtime") -> Any:
    return warmwire.realtime_async(APP, url=server.url, path=path)


@pytest.fixture
async def served() -> AsyncIterator[tuple[RunningServer, Blocking]]:
    app = Blocking()
    with anyio.fail_after(TIMEOUT):
        # worker_loop is the default: not asked for here.
        async with runner.serve(app, insecure_no_auth=True) as server:
            yield server, app


async def test_worker_loop_false_keeps_the_hop() -> None:
    app = Blocking()
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(app, insecure_no_auth=True, worker_loop=False) as server:
            assert server.runner.worker_loops is None
            async with connect(server) as conn:
                await conn.send({"i": 1})
                # The handler's thread, reached by a hop: the session stays on this loop.
                assert await conn.recv() == {"i": 1, "thread": "warmwire-worker-0", "loop": "none"}
                assert all(isinstance(s, Session) for s in server.runner.sessions)


async def test_a_blocking_handler_session_runs_on_the_worker_loop_and_counts_its_messages(
    served: tuple[RunningServer, Blocking],
    wait_until: Callable[..., Any],
    metrics_text: Callable[..., Any],
    metric: Callable[..., float],
) -> None:
    server, _ = served
    async with connect(server) as conn:
        assert (await conn.send({"i": 0}), await conn.recv()) == (
            None,
            {"i": 0, "thread": "warmwire-worker-0", "loop": "none"},
        )
        await wait_until(lambda: hosted(server) == 1, what="the session on the worker loop")
        for i in range(1, 50):
            await conn.send({"i": i})
            assert (await conn.recv())["i"] == i
        async with connect(server, "/async") as on_loop:
            await on_loop.send({"i": 7})
            result = await on_loop.recv()
            # An async handler's session stays on the runner's loop.
            assert result["thread"] != "warmwire-worker-0"
            assert hosted(server) == 1
    await wait_until(lambda: hosted(server) == 0, what="the session gone from the worker loop")
    text = await metrics_text(server)
    assert metric(text, "warmwire_messages_in_total") == 51
    assert metric(text, "warmwire_messages_out_total") == 51
    assert metric(text, "warmwire_handler_seconds_count") == 51
    assert metric(text, "warmwire_sessions_open") == 0


async def test_the_handler_sees_no_event_loop_and_may_run_its_own(
    served: tuple[RunningServer, Blocking],
) -> None:
    server, _ = served
    async with connect(server, "/nested") as conn:
        await conn.send({"i": 21})
        assert await conn.recv() == {"twice": 42}


async def test_a_blocking_generator_streams_from_the_worker_loop(
    served: tuple[RunningServer, Blocking],
) -> None:
    server, _ = served
    async with connect(server, "/frames") as conn:
        await conn.send({"n": 3})
        got = [await conn.recv() for _ in range(3)]
    assert got == [{"i": i, "thread": "warmwire-worker-0"} for i in range(3)]


async def _upgrade_with(
    server: RunningServer, after: bytes, path: str = "/realtime"
) -> tuple[anyio.abc.SocketStream, ClientProtocol]:
    """A connection whose upgrade request and ``after`` go out in one write."""
    assert server.port is not None
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    protocol = ClientProtocol(
        host=f"127.0.0.1:{server.port}", target=f"/{APP}{path}", subprotocols=("msgpack",)
    )
    await stream.send(b"".join(protocol.chunks_to_send()) + after)
    return stream, protocol


async def _read_until_closed(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    with anyio.fail_after(TIMEOUT):
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return data


async def test_an_input_sent_with_the_upgrade_request_is_answered(
    served: tuple[RunningServer, Blocking],
) -> None:
    server, _ = served
    stream, protocol = await _upgrade_with(
        server, frame(OP_BINARY, msgpack.packb({"i": 7, "request_id": "first"}))
    )
    async with stream:
        events: list[object] = []
        with anyio.fail_after(TIMEOUT):
            while not any(isinstance(event, Message) for event in events):
                protocol.receive_data(await stream.receive())
                events += protocol.events()
    assert isinstance(events[0], Opened)
    [message] = [event for event in events if isinstance(event, Message)]
    assert isinstance(message.data, bytes)
    assert msgpack.unpackb(message.data) == {
        "i": 7,
        "thread": "warmwire-worker-0",
        "loop": "none",
        "request_id": "first",
    }


async def test_a_malformed_frame_closes_its_session_with_1002_and_spares_the_others(
    served: tuple[RunningServer, Blocking],
) -> None:
    server, _ = served
    async with connect(server) as other:
        await other.send({"i": 1})
        assert (await other.recv())["thread"] == "warmwire-worker-0"
        # RSV1 set, and no extension agreed: a protocol error.
        stream, _ = await _upgrade_with(server, frame(OP_BINARY, b"\x80", rsv=4))
        async with stream:
            data = await _read_until_closed(stream)
        head, _, frames = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert close_code_of(frames) == 1002
        assert [op for op, _, _ in parse_frames(frames)][-1] == OP_CLOSE
        await other.send({"i": 2})
        assert (await other.recv())["i"] == 2


async def test_sessions_on_one_worker_loop_never_call_the_handler_at_once(
    served: tuple[RunningServer, Blocking],
) -> None:
    server, app = served
    results: dict[int, list[int]] = {0: [], 1: []}

    async def client(k: int) -> None:
        async with connect(server) as conn:
            for i in range(30):
                await conn.send({"i": i})
                results[k].append((await conn.recv())["i"])

    async with anyio.create_task_group() as tg:
        tg.start_soon(client, 0)
        tg.start_soon(client, 1)
    assert results == {0: list(range(30)), 1: list(range(30))}
    assert app.most_at_once == 1


async def test_sessions_spread_over_the_worker_loops(wait_until: Callable[..., Any]) -> None:
    app = Blocking()
    app.gate.clear()
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(
            app, insecure_no_auth=True, worker_loop=True, worker_threads=2
        ) as server:
            async with connect(server) as first, connect(server) as second:
                await wait_until(lambda: hosted(server) == 2, what="both sessions hosted")
                await first.send({"i": 1})
                await second.send({"i": 2})
                # Both handlers run at once (two threads), each on its session's loop.
                await wait_until(lambda: app.running == 2, what="two handler calls at once")
                app.gate.set()
                threads = {(await first.recv())["thread"], (await second.recv())["thread"]}
    assert threads == {"warmwire-worker-0", "warmwire-worker-1"}


async def test_leaving_serve_drains_a_hosted_session_even_of_inputs_unread_then_closes_1001(
    wait_until: Callable[..., Any],
) -> None:
    app = Blocking()
    app.gate.clear()
    results: list[Any] = []
    closes: list[int] = []
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            async with runner.serve(app, insecure_no_auth=True, worker_loop=True) as server:

                async def client(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                    async with connect(server) as conn:
                        await conn.send({"i": 1, "request_id": "r1"})
                        await anyio.to_thread.run_sync(app.started.wait, TIMEOUT)
                        # Sent while the handler holds the worker loop: they wait in
                        # the kernel when the drain begins, and are answered all the same.
                        await conn.send({"i": 2, "request_id": "r2"})
                        await conn.send({"i": 3, "request_id": "r3"})
                        task_status.started()
                        try:
                            while (result := await conn.recv()) is not None:
                                results.append(result)
                        except warmwire.ConnectionClosedError as exc:
                            closes.append(exc.code)

                async def open_the_gate_once_draining() -> None:
                    await wait_until(lambda: server.runner.draining, what="drain started")
                    app.gate.set()

                await tg.start(client)
                tg.start_soon(open_the_gate_once_draining)
            assert hosted(server) == 0
    assert results == [
        {"i": i, "thread": "warmwire-worker-0", "loop": "none", "request_id": f"r{i}"}
        for i in (1, 2, 3)
    ]
    assert closes == [1001]


async def test_an_error_in_the_serve_block_cuts_a_hosted_session(
    wait_until: Callable[..., Any],
) -> None:
    app = Blocking()
    opened: dict[str, Any] = {}

    async def serve_then_fail(stack: contextlib.AsyncExitStack) -> None:
        async with runner.serve(app, insecure_no_auth=True, worker_loop=True) as server:
            opened["server"] = server
            conn = opened["conn"] = await stack.enter_async_context(connect(server))
            await conn.send({"i": 1})
            await conn.recv()
            await wait_until(lambda: hosted(server) == 1, what="the session hosted")
            raise RuntimeError("boom")

    with anyio.fail_after(TIMEOUT):
        async with contextlib.AsyncExitStack() as stack:
            with pytest.raises(RuntimeError, match="boom"):
                await serve_then_fail(stack)
            assert hosted(opened["server"]) == 0
            # The client hears of it: the connection is gone, not left hanging.
            with pytest.raises(warmwire.ConnectionClosedError):
                await opened["conn"].recv()


async def test_a_tls_session_keeps_the_hop_and_works() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    app = Blocking()
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(
            app, insecure_no_auth=True, worker_loop=True, ssl_context=server_context
        ) as server:
            async with warmwire.realtime_async(
                APP, url=server.url, path="/realtime", ssl_context=client_context
            ) as conn:
                await conn.send({"i": 3})
                result = await conn.recv()
                assert hosted(server) == 0
    # Still one thread for the handler: the hop goes to the worker loop's thread.
    assert result == {"i": 3, "thread": "warmwire-worker-0", "loop": "none"}


def _input(protocol: ClientProtocol, i: int) -> bytes:
    protocol.send_message(msgpack.packb({"i": i}))
    return protocol.data_to_send()


async def _results(
    stream: anyio.abc.SocketStream, protocol: ClientProtocol, count: int
) -> list[int]:
    """Read ``count`` results; the client's pongs (and any reply) go out at once."""
    results: list[int] = []
    with anyio.fail_after(TIMEOUT):
        while len(results) < count:
            protocol.receive_data(await stream.receive())
            if reply := protocol.data_to_send():
                await stream.send(reply)
            results += [
                msgpack.unpackb(event.data)["i"]
                for event in protocol.events()
                if isinstance(event, Message) and isinstance(event.data, bytes)
            ]
    return results


async def _opened(stream: anyio.abc.SocketStream, protocol: ClientProtocol) -> None:
    with anyio.fail_after(TIMEOUT):
        while not any(isinstance(event, Opened) for event in protocol.events()):
            protocol.receive_data(await stream.receive())


async def test_a_burst_sent_while_the_handler_runs_keeps_the_newest_once_it_returns(
    metrics_text: Callable[..., Any], metric: Callable[..., float]
) -> None:
    app = Blocking()
    app.gate.clear()
    burst = 12
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(app, insecure_no_auth=True) as server:
            stream, protocol = await _upgrade_with(server, b"", path="/two")
            async with stream:
                await _opened(stream, protocol)
                await stream.send(_input(protocol, 0))
                await anyio.to_thread.run_sync(app.started.wait, TIMEOUT)
                # One write while the handler holds the loop: on loopback the whole
                # burst is in the runner's socket when the call returns, and read at once
                # into the session's buffer (2 inputs), which drops the oldest.
                await stream.send(b"".join(_input(protocol, i) for i in range(1, burst)))
                app.gate.set()
                assert await _results(stream, protocol, 3) == [0, burst - 2, burst - 1]
                # Nothing else was queued: a marker's result comes next.
                await stream.send(_input(protocol, 1000))
                assert await _results(stream, protocol, 1) == [1000]
            text = await metrics_text(server)
    assert metric(text, "warmwire_inputs_dropped_total") == burst - 3


async def test_a_pong_read_after_a_call_longer_than_the_ping_timeout_still_counts() -> None:
    """The runner's pings: while the handler holds the loop, the client's pong waits
    in the kernel past its deadline; when the call returns, the pong is read before
    the keepalive looks (asyncio runs I/O callbacks before timers), so the session
    lives on.  (Without the pong the session is cut: the same test then fails.)"""
    app = Blocking()
    app.gate.clear()
    timeout = 0.1
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(
            app, insecure_no_auth=True, ping_interval=timeout, ping_timeout=timeout
        ) as server:
            stream, protocol = await _upgrade_with(server, b"")
            async with stream:
                await _opened(stream, protocol)
                pong = b""
                while not pong:  # the runner's first ping: its pong is held back
                    protocol.receive_data(await stream.receive())
                    pong = protocol.data_to_send()
                await stream.send(_input(protocol, 1))
                await anyio.to_thread.run_sync(app.started.wait, TIMEOUT)
                await stream.send(pong)
                # The time is the scenario, not a guess: the call outlasts the deadline.
                await anyio.sleep(3 * timeout)
                app.gate.set()
                assert await _results(stream, protocol, 1) == [1]
                # A session cut for an unanswered ping would answer nothing more.
                for i in range(2, 5):
                    await stream.send(_input(protocol, i))
                    assert await _results(stream, protocol, 1) == [i]
