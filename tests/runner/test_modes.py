"""Handler modes from the signature, sync and async, end to end; timings and codec choice.

Every test runs a real runner on loopback TCP under asyncio and trio, and talks
to it with warmwire's client or, where the frames themselves matter, at the
frame level (``raw_ws``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import msgpack
import orjson
import pytest

import warmwire
from warmwire import runner
from warmwire.core.errors import ConfigurationError
from warmwire.runner import RunningServer
from warmwire.runner.handlers import Handler, Mode
from warmwire.runner.workers import WorkerPool

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
APP = "test/modes"


class Modes(runner.App, app_id=APP):
    """One endpoint per mode and handler kind."""

    @runner.realtime("/unary-sync")
    def unary_sync(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"double": inp["n"] * 2, "thread": threading.current_thread().name}

    @runner.realtime("/unary-async")
    async def unary_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        await anyio.lowlevel.checkpoint()
        return {"double": inp["n"] * 2, "thread": threading.current_thread().name}

    @runner.realtime("/stream-sync-generator")
    def stream_sync_generator(self, inp: dict[str, Any]):  # type: ignore[no-untyped-def]
        for i in range(inp["n"]):
            yield {"i": i}

    @runner.realtime("/stream-sync-iterator")
    def stream_sync_iterator(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        return iter([{"i": i} for i in range(inp["n"])])

    @runner.realtime("/stream-async-generator")
    async def stream_async_generator(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        for i in range(inp["n"]):
            await anyio.lowlevel.checkpoint()
            yield {"i": i}

    @runner.realtime("/stream-async-returns-iterator")
    async def stream_async_returns_iterator(
        self, inp: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        async def produce() -> AsyncIterator[dict[str, Any]]:
            for i in range(inp["n"]):
                yield {"i": i}

        return produce()

    @runner.realtime("/sum")
    async def sum_until_end(self, inputs: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
        total = 0
        count = 0
        async for inp in inputs:
            total += inp.get("x", 0)
            count += 1
            if inp.get("end"):
                break
        return {"sum": total, "count": count}

    @runner.realtime("/bidi")
    async def bidi(self, inputs: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        running = 0
        async for inp in inputs:
            running += inp["x"]
            yield {"running": running}
            if inp.get("twice"):
                yield {"running": running, "again": True}


@pytest.fixture
async def modes_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Modes, insecure_no_auth=True) as server:
        yield server


def connect(server: RunningServer, path: str, **kwargs: Any) -> Any:
    return warmwire.realtime_async(APP, url=server.url, path=path, **kwargs)


# -- modes are read from the signature -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "mode", "is_async"),
    [
        ("unary_sync", Mode.UNARY, False),
        ("unary_async", Mode.UNARY, True),
        ("stream_sync_generator", Mode.SERVER_STREAMING, False),
        ("stream_sync_iterator", Mode.SERVER_STREAMING, False),
        ("stream_async_generator", Mode.SERVER_STREAMING, True),
        ("stream_async_returns_iterator", Mode.SERVER_STREAMING, True),
        ("sum_until_end", Mode.CLIENT_STREAMING, True),
        ("bidi", Mode.BIDIRECTIONAL, True),
    ],
)
def test_mode_comes_from_the_signature(method: str, mode: Mode, is_async: bool) -> None:
    handler = Handler.of(getattr(Modes(), method))
    assert (handler.mode, handler.is_async) == (mode, is_async)


def test_streaming_input_with_a_sync_handler_is_refused_at_startup() -> None:
    class Wrong(runner.App, app_id="test/wrong"):
        @runner.realtime()
        def run(self, inputs: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
            return {}

    with pytest.raises(ConfigurationError, match="async def"):
        runner.Runner([Wrong()])


def test_batching_a_streaming_handler_is_refused_at_startup() -> None:
    """A streaming handler takes one input per call: a batch would silently lose the rest."""

    class Batched(runner.App, app_id="test/batched"):
        @runner.realtime(max_batch_size=4)
        async def run(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
            yield inp

    with pytest.raises(ConfigurationError, match="max_batch_size applies to unary"):
        runner.Runner([Batched()])


def test_unresolvable_input_annotation_is_refused_at_startup() -> None:
    """The mode and the input model come from the annotation: it must not be guessed."""

    class Unresolved(runner.App, app_id="test/unresolved"):
        @runner.realtime()
        def run(self, inp: NotDefinedAnywhere) -> dict[str, Any]:  # type: ignore[name-defined] # noqa: F821
            return {}

    with pytest.raises(ConfigurationError, match="NotDefinedAnywhere"):
        runner.Runner([Unresolved()])


def test_unresolvable_return_annotation_does_not_hide_the_input_stream() -> None:
    """A return type imported only for type checkers must not change the mode."""

    def run(inp: AsyncIterator[dict[str, Any]]) -> NotDefinedAnywhere:  # type: ignore[name-defined] # noqa: F821
        raise NotImplementedError

    async def arun(inp: AsyncIterator[dict[str, Any]]) -> NotDefinedAnywhere:  # type: ignore[name-defined] # noqa: F821
        raise NotImplementedError

    assert Handler.of(arun).mode is Mode.CLIENT_STREAMING
    with pytest.raises(ConfigurationError, match="async def"):
        Handler.of(run)


# -- each mode end to end ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/unary-sync", "/unary-async"])
async def test_unary(modes_server: RunningServer, path: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(modes_server, path) as conn:
            for n in range(5):
                await conn.send({"n": n, "request_id": f"r{n}"})
            results = [await conn.recv() for _ in range(5)]
    assert [r["double"] for r in results] == [0, 2, 4, 6, 8]
    assert [r["request_id"] for r in results] == [f"r{n}" for n in range(5)]
    threads = {r["thread"] for r in results}
    main = threading.main_thread().name
    if path == "/unary-sync":
        assert main not in threads, "a blocking handler must run in a worker thread"
    else:
        assert threads == {main}, "an async handler runs on the event loop"


@pytest.mark.parametrize(
    "path",
    [
        "/stream-sync-generator",
        "/stream-sync-iterator",
        "/stream-async-generator",
        "/stream-async-returns-iterator",
    ],
)
async def test_server_streaming(modes_server: RunningServer, path: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(modes_server, path) as conn:
            await conn.send({"n": 3, "request_id": "a"})
            await conn.send({"n": 2, "request_id": "b"})
            results = [await conn.recv() for _ in range(5)]
            # Nothing more: the next input's outputs come next.
            await conn.send({"n": 1, "request_id": "c"})
            last = await conn.recv()
    assert results == [
        {"i": 0, "request_id": "a"},
        {"i": 1, "request_id": "a"},
        {"i": 2, "request_id": "a"},
        {"i": 0, "request_id": "b"},
        {"i": 1, "request_id": "b"},
    ]
    assert last == {"i": 0, "request_id": "c"}


async def test_client_streaming_sums_until_end(modes_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(modes_server, "/sum") as conn:
            await conn.send({"x": 1})
            await conn.send({"x": 2})
            await conn.send({"x": 3, "end": True, "request_id": "first"})
            first = await conn.recv()
            # The handler returned; later inputs start a new call.
            await conn.send({"x": 10})
            await conn.send({"x": 20, "end": True, "request_id": "second"})
            second = await conn.recv()
    assert first == {"sum": 6, "count": 3, "request_id": "first"}
    assert second == {"sum": 30, "count": 2, "request_id": "second"}


async def test_bidirectional(modes_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(modes_server, "/bidi") as conn:
            await conn.send({"x": 1, "request_id": "a"})
            assert await conn.recv() == {"running": 1, "request_id": "a"}
            await conn.send({"x": 2, "request_id": "b", "twice": True})
            assert await conn.recv() == {"running": 3, "request_id": "b"}
            assert await conn.recv() == {"running": 3, "again": True, "request_id": "b"}
            await conn.send({"x": 4, "request_id": "c"})
            assert await conn.recv() == {"running": 7, "request_id": "c"}


# -- blocking handlers never block the loop -------------------------------------------------


class Blocking(runner.App, app_id="test/blocking"):
    """A sync handler that blocks its worker thread until the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    @runner.realtime("/block")
    def block(self, inp: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.entered.release()
        try:
            assert self.release.wait(TIMEOUT), "the test never released the handler"
        finally:
            with self._lock:
                self.running -= 1
        return {"done": inp["n"]}

    @runner.realtime("/ping")
    async def ping(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"pong": inp["n"]}


async def wait_entered(app: Blocking) -> None:
    entered = await anyio.to_thread.run_sync(app.entered.acquire, True, TIMEOUT)
    assert entered, "the blocking handler was never called"


async def test_blocked_sync_handler_does_not_block_the_event_loop() -> None:
    app = Blocking()
    async with runner.serve(app, insecure_no_auth=True) as server:
        try:
            with anyio.fail_after(TIMEOUT):
                async with (
                    warmwire.realtime_async("test/blocking", url=server.url, path="/block") as slow,
                ):
                    await slow.send({"n": 1})
                    await wait_entered(app)
                    # The handler holds its worker thread; a new session, its handshake
                    # and an async handler all still run on the loop.
                    async with warmwire.realtime_async(
                        "test/blocking", url=server.url, path="/ping"
                    ) as fast:
                        for n in range(3):
                            await fast.send({"n": n})
                            assert await fast.recv() == {"pong": n}
                    assert not app.release.is_set()
                    assert app.running == 1
                    app.release.set()
                    assert await slow.recv() == {"done": 1}
        finally:
            app.release.set()


@pytest.mark.parametrize("worker_threads", [1, 2])
async def test_worker_threads_bounds_concurrent_blocking_handlers(
    worker_threads: int, wait_until: Callable[..., Any]
) -> None:
    app = Blocking()
    # The hop's queue for the threads (the worker loops': tests/runner/test_worker_loop.py).
    async with runner.serve(
        app, insecure_no_auth=True, worker_threads=worker_threads, worker_loop=False
    ) as server:
        workers = server.runner.workers
        assert isinstance(workers, WorkerPool)
        try:
            with anyio.fail_after(TIMEOUT):
                async with (
                    warmwire.realtime_async("test/blocking", url=server.url, path="/block") as a,
                    warmwire.realtime_async("test/blocking", url=server.url, path="/block") as b,
                ):
                    await a.send({"n": 1})
                    await b.send({"n": 2})
                    await wait_entered(app)
                    if worker_threads == 1:
                        # The second call waits for the only worker thread.
                        await wait_until(
                            lambda: workers.waiting == 1,
                            what="the second call queued for the worker thread",
                        )
                        assert app.running == 1
                    else:
                        await wait_entered(app)
                        assert app.running == 2
                    app.release.set()
                    assert await a.recv() == {"done": 1}
                    assert await b.recv() == {"done": 2}
        finally:
            app.release.set()
    assert app.most_running == worker_threads


# -- timings ----------------------------------------------------------------------------------


class Timed(runner.App, app_id="test/timed"):
    @runner.realtime("/realtime", emit_timings=True)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"n": inp["n"]}


async def test_timings_follow_each_result_on_the_wire(raw_ws: Callable[..., Any]) -> None:
    async with runner.serve(Timed, insecure_no_auth=True) as server:
        with anyio.fail_after(TIMEOUT):
            async with raw_ws(server, "/test/timed/realtime") as ws:
                for n in range(3):
                    await ws.send(msgpack.packb({"n": n}))
                frames = [await ws.recv() for _ in range(7)]
    # The runner's first session is told its cold start first (tests/runner/test_cold_start.py).
    cold_start = frames.pop(0)
    assert isinstance(cold_start, str)
    assert orjson.loads(cold_start)["action"] == "cold_start"
    for n in range(3):
        result, timing = frames[2 * n], frames[2 * n + 1]
        assert isinstance(result, bytes)
        assert msgpack.unpackb(result) == {"n": n}
        assert isinstance(timing, str), "control messages are JSON text"
        message = orjson.loads(timing)
        assert message.keys() == {"type", "action", "timing"}
        assert (message["type"], message["action"]) == ("x-fal-message", "timings")
        assert isinstance(message["timing"], float)
        assert 0 <= message["timing"] < TIMEOUT


async def test_client_skips_timings_and_keeps_results_in_order() -> None:
    async with runner.serve(Timed, insecure_no_auth=True) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async("test/timed", url=server.url) as conn:
                for n in range(5):
                    await conn.send({"n": n})
                results = [await conn.recv() for _ in range(5)]
                # The last timings message must not surface as a result either.
                await conn.send({"n": 99})
                assert await conn.recv() == {"n": 99}
    assert results == [{"n": n} for n in range(5)]


# -- codec negotiation ------------------------------------------------------------------------


class Codecs(runner.App, app_id="test/codecs"):
    @runner.realtime("/realtime")
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"got": inp}

    @runner.realtime(
        "/custom",
        encode_message=lambda obj: b"WW" + msgpack.packb(obj),
        decode_message=lambda data: msgpack.unpackb(data[2:]) if data[:2] == b"WW" else 1 / 0,
    )
    def custom(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {"got": inp}


@pytest.fixture
async def codecs_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Codecs, insecure_no_auth=True) as server:
        yield server


async def test_client_offering_json_gets_json_text_frames(
    codecs_server: RunningServer, raw_ws: Callable[..., Any]
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("test/codecs", url=codecs_server.url, codec="json") as c:
            assert c.subprotocol == "json"
            await c.send({"a": 1})
            assert await c.recv() == {"got": {"a": 1}}
        async with raw_ws(codecs_server, "/test/codecs/realtime", ("json",)) as ws:
            assert ws.subprotocol == "json"
            await ws.send(orjson.dumps({"a": 2}).decode())
            frame = await ws.recv()
    assert isinstance(frame, str)
    assert orjson.loads(frame) == {"got": {"a": 2}}


async def test_unknown_offers_are_skipped_for_a_known_one(
    codecs_server: RunningServer, raw_ws: Callable[..., Any]
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with raw_ws(codecs_server, "/test/codecs/realtime", ("nope", "cbor", "json")) as ws:
            assert ws.subprotocol == "cbor"


async def test_no_offer_means_msgpack_binary_and_json_text(
    codecs_server: RunningServer, raw_ws: Callable[..., Any]
) -> None:
    with anyio.fail_after(TIMEOUT):
        # A client made of bare callables offers no codec name.
        async with warmwire.realtime_async(
            "test/codecs",
            url=codecs_server.url,
            encode_message=msgpack.packb,
            decode_message=msgpack.unpackb,
        ) as conn:
            assert conn.subprotocol is None
            await conn.send({"a": b"\x00\xff"})
            assert await conn.recv() == {"got": {"a": b"\x00\xff"}}
        async with raw_ws(codecs_server, "/test/codecs/realtime") as ws:
            assert ws.subprotocol is None
            await ws.send(msgpack.packb({"bin": True}))
            binary_reply = await ws.recv()
            await ws.send(orjson.dumps({"text": True}).decode())
            text_reply = await ws.recv()
    assert isinstance(binary_reply, bytes)
    assert msgpack.unpackb(binary_reply) == {"got": {"bin": True}}
    # A JSON text input is understood; the result travels in the session codec.
    assert isinstance(text_reply, bytes)
    assert msgpack.unpackb(text_reply) == {"got": {"text": True}}


async def test_app_level_encode_and_decode_are_used(
    codecs_server: RunningServer, raw_ws: Callable[..., Any]
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with raw_ws(codecs_server, "/test/codecs/custom") as ws:
            await ws.send(b"WW" + msgpack.packb({"n": 1}))
            frame = await ws.recv()
            assert isinstance(frame, bytes)
            assert frame[:2] == b"WW"
            assert msgpack.unpackb(frame[2:]) == {"got": {"n": 1}}
            # Plain msgpack is not what this app decodes: INVALID_INPUT, session goes on.
            await ws.send(msgpack.packb({"n": 2}))
            error = await ws.recv()
            assert isinstance(error, str)
            assert orjson.loads(error)["error"] == "INVALID_INPUT"
            await ws.send(b"WW" + msgpack.packb({"n": 3}))
            frame = await ws.recv()
            assert isinstance(frame, bytes)
            assert msgpack.unpackb(frame[2:]) == {"got": {"n": 3}}
        async with warmwire.realtime_async(
            "test/codecs",
            url=codecs_server.url,
            path="/custom",
            encode_message=lambda obj: b"WW" + msgpack.packb(obj),
            decode_message=lambda data: msgpack.unpackb(data[2:]),
        ) as conn:
            await conn.send({"n": 4})
            assert await conn.recv() == {"got": {"n": 4}}
