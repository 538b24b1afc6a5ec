"""Round trips through a real runner over loopback TCP, with both clients and every codec.

Also the client's errors that involve a real runner (an unknown app answered
with HTTP 404) and the ones that must come before any I/O.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

import warmwire
from warmwire import runner
from warmwire.runner import RunningServer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
CODECS = ["msgpack", "json", "cbor"]
BINARY_CODECS = ["msgpack", "cbor"]
MEGABYTE = bytes(range(256)) * 4096


def sample(codec: str) -> dict[str, Any]:
    """An input using every type the codec carries (JSON has no bytes)."""
    obj: dict[str, Any] = {
        "n": 42,
        "neg": -7,
        "f": 0.25,
        "text": "héllo ✓ 世界",
        "flag": True,
        "none": None,
        "list": [1, "two", 3.5, [4]],
        "nested": {"k": [{"deep": "x"}], "empty": {}},
    }
    if codec != "json":
        obj["blob"] = b"\x00\x01\xfe\xff" * 4
    return obj


# -- async client ---------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
async def test_async_round_trip(echo_server: RunningServer, codec: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=codec
        ) as conn:
            assert conn.subprotocol == codec
            for i in range(3):
                inp = {**sample(codec), "i": i}
                await conn.send(inp)
                assert await conn.recv() == inp


@pytest.mark.parametrize("codec", BINARY_CODECS)
async def test_async_one_megabyte_binary(echo_server: RunningServer, codec: str) -> None:
    inp = {"image": MEGABYTE, "meta": {"w": 1024, "h": 1024}}
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=codec
        ) as conn:
            await conn.send(inp)
            out = await conn.recv()
    assert isinstance(out["image"], bytes)
    assert len(out["image"]) == len(MEGABYTE)
    assert out == inp


@pytest.mark.parametrize("codec", CODECS)
async def test_async_request_id_echoed(echo_server: RunningServer, codec: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=codec
        ) as conn:
            # Several in flight at once: Echo buffers up to 60, so none is dropped.
            for i in range(5):
                await conn.send({"x": i, "request_id": f"req-{i}"})
            await conn.send({"x": "no id"})
            results = [await conn.recv() for _ in range(6)]
    assert [r.get("request_id") for r in results] == [
        "req-0",
        "req-1",
        "req-2",
        "req-3",
        "req-4",
        None,
    ]
    assert [r["x"] for r in results] == [0, 1, 2, 3, 4, "no id"]


async def test_async_iteration(echo_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            for i in range(3):
                await conn.send({"i": i})
            seen = []
            async for result in conn:
                seen.append(result["i"])
                if len(seen) == 3:
                    break
            # Leaving the loop leaves the connection usable.
            await conn.send({"i": 99})
            assert await conn.recv() == {"i": 99}
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("codec", CODECS)
async def test_async_endpoint_path_override(echo_server: RunningServer, codec: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=codec, path="/async"
        ) as conn:
            assert conn.subprotocol == codec
            inp = {**sample(codec), "request_id": "a-1"}
            await conn.send(inp)
            assert await conn.recv() == inp


@pytest.mark.parametrize(
    ("app", "path"),
    [
        ("warmwire/echo/realtime", "/realtime"),
        ("/warmwire/echo/realtime/", "/realtime"),
        ("warmwire/echo/async", "/async"),
    ],
)
async def test_async_app_id_ending_with_path(
    echo_server: RunningServer, app: str, path: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(app, url=echo_server.url, path=path) as conn:
            await conn.send({"via": app})
            assert await conn.recv() == {"via": app}


@pytest.mark.parametrize("max_buffering", [1, 60])
async def test_async_max_buffering_accepted(echo_server: RunningServer, max_buffering: int) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, max_buffering=max_buffering
        ) as conn:
            await conn.send({"b": max_buffering})
            assert await conn.recv() == {"b": max_buffering}


async def test_async_url_from_environment(
    echo_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARMWIRE_URL", echo_server.url)
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo") as conn:
            await conn.send({"env": True})
            assert await conn.recv() == {"env": True}


async def test_explicit_url_wins_over_environment(
    echo_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARMWIRE_URL", "ws://127.0.0.1:1")  # nothing listens there
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            await conn.send({"explicit": True})
            assert await conn.recv() == {"explicit": True}


async def test_many_concurrent_sessions(echo_server: RunningServer) -> None:
    results: dict[int, list[Any]] = {}

    async def session(n: int) -> None:
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            got = []
            for i in range(5):
                await conn.send({"session": n, "i": i})
                got.append(await conn.recv())
            results[n] = got

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(session, n)
    assert results == {n: [{"session": n, "i": i} for i in range(5)] for n in range(8)}


# -- blocking client --------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
async def test_sync_round_trip(echo_server: RunningServer, codec: str) -> None:
    def client() -> tuple[str | None, list[Any]]:
        with warmwire.realtime(
            "warmwire/echo", url=echo_server.url, codec=codec, open_timeout=TIMEOUT
        ) as conn:
            out = []
            for i in range(3):
                conn.send({**sample(codec), "i": i})
                out.append(conn.recv(timeout=TIMEOUT))
            return conn.subprotocol, out

    subprotocol, out = await anyio.to_thread.run_sync(client)
    assert subprotocol == codec
    assert out == [{**sample(codec), "i": i} for i in range(3)]


@pytest.mark.parametrize("codec", BINARY_CODECS)
async def test_sync_one_megabyte_binary(echo_server: RunningServer, codec: str) -> None:
    inp = {"image": MEGABYTE, "request_id": "big"}

    def client() -> Any:
        with warmwire.realtime(
            "warmwire/echo", url=echo_server.url, codec=codec, open_timeout=TIMEOUT
        ) as conn:
            conn.send(inp)
            return conn.recv(timeout=TIMEOUT)

    out = await anyio.to_thread.run_sync(client)
    assert out == inp


async def test_sync_request_id_and_iteration(echo_server: RunningServer) -> None:
    def client() -> list[Any]:
        with warmwire.realtime("warmwire/echo", url=echo_server.url, open_timeout=TIMEOUT) as conn:
            for i in range(4):
                conn.send({"i": i, "request_id": f"s-{i}"})
            seen = []
            for result in conn:
                seen.append(result)
                if len(seen) == 4:
                    break
            conn.send({"after": True})
            seen.append(conn.recv(timeout=TIMEOUT))
            return seen

    seen = await anyio.to_thread.run_sync(client)
    assert seen == [{"i": i, "request_id": f"s-{i}"} for i in range(4)] + [{"after": True}]


@pytest.mark.parametrize(
    ("app", "path"),
    [("warmwire/echo", "/async"), ("warmwire/echo/realtime", "/realtime")],
)
async def test_sync_paths(echo_server: RunningServer, app: str, path: str) -> None:
    def client() -> Any:
        with warmwire.realtime(
            app, url=echo_server.url, path=path, codec="cbor", open_timeout=TIMEOUT
        ) as conn:
            conn.send({"app": app, "b": b"\x00"})
            return conn.recv(timeout=TIMEOUT)

    assert await anyio.to_thread.run_sync(client) == {"app": app, "b": b"\x00"}


async def test_sync_url_from_environment(
    echo_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARMWIRE_URL", echo_server.url)

    def client() -> Any:
        with warmwire.realtime("warmwire/echo", open_timeout=TIMEOUT) as conn:
            conn.send({"env": "sync"})
            return conn.recv(timeout=TIMEOUT)

    assert await anyio.to_thread.run_sync(client) == {"env": "sync"}


async def test_sync_recv_timeout_leaves_connection_usable(echo_server: RunningServer) -> None:
    def client() -> Any:
        with warmwire.realtime("warmwire/echo", url=echo_server.url, open_timeout=TIMEOUT) as conn:
            with pytest.raises(TimeoutError):
                conn.recv(timeout=0.05)
            conn.send({"still": "open"})
            return conn.recv(timeout=TIMEOUT)

    assert await anyio.to_thread.run_sync(client) == {"still": "open"}


# -- errors -------------------------------------------------------------------------


def _assert_not_found(exc: warmwire.HandshakeError) -> None:
    assert exc.status_code == 404
    message = str(exc)
    assert "404" in message
    assert "/warmwire/nope/realtime" in message  # what was asked for
    # ...and what the runner serves instead.
    assert "/warmwire/echo/realtime" in message
    assert "/warmwire/echo/async" in message
    assert b"/warmwire/echo/realtime" in exc.body


async def test_async_unknown_app_is_404(echo_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(warmwire.HandshakeError) as info:
        async with warmwire.realtime_async("warmwire/nope", url=echo_server.url):
            pytest.fail("the runner accepted an unknown app")
    _assert_not_found(info.value)


async def test_async_unknown_path_is_404(echo_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(warmwire.HandshakeError) as info:
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url, path="/v2"):
            pytest.fail("the runner accepted an unknown path")
    assert info.value.status_code == 404
    assert "/warmwire/echo/v2" in str(info.value)


async def test_sync_unknown_app_is_404(echo_server: RunningServer) -> None:
    def client() -> warmwire.HandshakeError:
        with pytest.raises(warmwire.HandshakeError) as info:
            with warmwire.realtime("warmwire/nope", url=echo_server.url, open_timeout=TIMEOUT):
                pytest.fail("the runner accepted an unknown app")
        return info.value

    _assert_not_found(await anyio.to_thread.run_sync(client))


async def test_unreachable_runner_is_a_handshake_error(echo_server: RunningServer) -> None:
    # A port that was free a moment ago: bind it, note it, close it.
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with anyio.fail_after(TIMEOUT), pytest.raises(warmwire.HandshakeError) as info:
        async with warmwire.realtime_async("warmwire/echo", url=f"ws://127.0.0.1:{port}"):
            pytest.fail("connected to a closed port")
    assert f"127.0.0.1:{port}" in str(info.value)


BAD_ARGUMENTS = [
    pytest.param({"app": "echo"}, "app id", id="bad-app-id"),
    pytest.param({"app": "warmwire/ec ho"}, "app id", id="bad-app-id-space"),
    pytest.param({"max_buffering": 0}, "max_buffering", id="max-buffering-0"),
    pytest.param({"max_buffering": 61}, "max_buffering", id="max-buffering-61"),
    pytest.param({"codec": "no-such-codec"}, "warmwire.codecs", id="unknown-codec"),
    pytest.param({"path": "/"}, "path", id="empty-path"),
    pytest.param({"url": "127.0.0.1:8080"}, "scheme", id="url-without-scheme"),
]


@pytest.mark.parametrize(("changes", "mentions"), BAD_ARGUMENTS)
@pytest.mark.usefixtures("no_network")
def test_async_bad_arguments_fail_before_io(changes: dict[str, Any], mentions: str) -> None:
    kwargs: dict[str, Any] = {"app": "warmwire/echo", "url": "ws://127.0.0.1:9", **changes}
    app = kwargs.pop("app")
    # Raised by the call itself: no event loop, no ``async with``, no socket.
    with pytest.raises(warmwire.ConfigurationError, match=mentions):
        warmwire.realtime_async(app, **kwargs)


@pytest.mark.parametrize(("changes", "mentions"), BAD_ARGUMENTS)
@pytest.mark.usefixtures("no_network")
def test_sync_bad_arguments_fail_before_io(changes: dict[str, Any], mentions: str) -> None:
    kwargs: dict[str, Any] = {"app": "warmwire/echo", "url": "ws://127.0.0.1:9", **changes}
    app = kwargs.pop("app")
    with pytest.raises(warmwire.ConfigurationError, match=mentions):
        warmwire.realtime(app, **kwargs)


@pytest.mark.usefixtures("no_network")
def test_missing_url_fails_before_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WARMWIRE_URL", raising=False)
    with pytest.raises(warmwire.ConfigurationError, match="WARMWIRE_URL"):
        warmwire.realtime_async("warmwire/echo")
    with pytest.raises(warmwire.ConfigurationError, match="WARMWIRE_URL"):
        warmwire.realtime("warmwire/echo")
    monkeypatch.setenv("WARMWIRE_URL", "")
    with pytest.raises(warmwire.ConfigurationError, match="WARMWIRE_URL"):
        warmwire.realtime_async("warmwire/echo")


# -- concurrency and the end of a session ---------------------------------------------


async def test_async_burst_then_read(echo_server: RunningServer) -> None:
    """Send many large inputs before reading any result (one task, a common pattern).

    Results pile up in the socket buffers while inputs still arrive: the runner
    must keep reading while its own writes wait, or both sides block forever.
    """
    count, size = 16, 1024 * 1024  # 16 MB each way (beyond socket buffers); buffering 60
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            for i in range(count):
                await conn.send({"i": i, "blob": bytes([i]) * size})
            for i in range(count):
                result = await conn.recv()
                assert result["i"] == i
                assert result["blob"] == bytes([i]) * size


async def test_async_send_and_recv_from_different_tasks(echo_server: RunningServer) -> None:
    """Two producer tasks and one consumer: nothing corrupted, order kept, newest survives.

    The runner may drop inputs (its buffer keeps the newest), so the consumer
    reads until each producer's last input has come back.
    """
    count = 200
    received: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:

            async def produce(parity: int) -> None:
                for i in range(parity, count, 2):
                    await conn.send({"i": i, "pad": b"p" * (i * 100)})

            async with anyio.create_task_group() as tg:
                tg.start_soon(produce, 0)
                tg.start_soon(produce, 1)
                last = {count - 2, count - 1}
                while not last <= {r["i"] for r in received}:
                    received.append(await conn.recv())
    indexes = [r["i"] for r in received]
    assert len(set(indexes)) == len(indexes)
    for parity in (0, 1):
        mine = [i for i in indexes if i % 2 == parity]
        assert mine == sorted(mine)
    assert all(r["pad"] == b"p" * (r["i"] * 100) for r in received)


async def test_sync_burst_then_read(echo_server: RunningServer) -> None:
    count, size = 16, 1024 * 1024

    def client() -> None:
        with warmwire.realtime("warmwire/echo", url=echo_server.url, open_timeout=TIMEOUT) as conn:
            for i in range(count):
                conn.send({"i": i, "blob": bytes([i]) * size})
            for i in range(count):
                result = conn.recv(timeout=TIMEOUT)
                assert result["i"] == i
                assert result["blob"] == bytes([i]) * size

    await anyio.to_thread.run_sync(client)


async def test_sync_send_and_recv_from_different_threads(echo_server: RunningServer) -> None:
    count = 200

    def client() -> list[Any]:
        with warmwire.realtime("warmwire/echo", url=echo_server.url, open_timeout=TIMEOUT) as conn:

            def produce() -> None:
                for i in range(count):
                    conn.send({"i": i, "pad": b"p" * (i * 100)})

            producer = threading.Thread(target=produce)
            producer.start()
            received: list[Any] = []
            try:
                while not received or received[-1]["i"] != count - 1:
                    received.append(conn.recv(timeout=TIMEOUT))
            finally:
                producer.join(TIMEOUT)
            assert not producer.is_alive()
            return received

    received = await anyio.to_thread.run_sync(client)
    indexes = [r["i"] for r in received]
    assert indexes == sorted(set(indexes))  # in order, no duplicates; drops are allowed
    assert all(r["pad"] == b"p" * (r["i"] * 100) for r in received)


async def test_sync_short_recv_timeouts_while_another_thread_sends(
    echo_server: RunningServer,
) -> None:
    """``recv(timeout=...)`` must not cut a concurrent ``send`` short.

    A socket has one timeout for both directions: a reader polling with short
    timeouts once made a large send in another thread stop half-way through a
    frame, and the runner closed the corrupted connection with 1002.
    """
    count, size = 12, 2_000_000

    def client() -> tuple[list[int], list[str]]:
        errors: list[str] = []
        with warmwire.realtime("warmwire/echo", url=echo_server.url, open_timeout=TIMEOUT) as conn:

            def produce() -> None:
                try:
                    for i in range(count):
                        conn.send({"i": i, "blob": bytes([i]) * size})
                except Exception as exc:  # reported below, in the test's thread
                    errors.append(repr(exc))

            producer = threading.Thread(target=produce)
            producer.start()
            seen: list[int] = []
            deadline = time.monotonic() + TIMEOUT
            try:
                while count - 1 not in seen and time.monotonic() < deadline:
                    try:
                        result = conn.recv(timeout=0.005)
                    except TimeoutError:
                        continue
                    assert result["blob"] == bytes([result["i"]]) * size
                    seen.append(result["i"])
            finally:
                producer.join(TIMEOUT)
        return seen, errors

    seen, errors = await anyio.to_thread.run_sync(client)
    assert errors == []
    assert seen[-1] == count - 1
    assert seen == sorted(set(seen))


class Idle(runner.App, app_id="test/idle"):
    """Echo with a short session timeout: the runner ends idle sessions itself."""

    @runner.realtime("/realtime", session_timeout=0.3)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


@pytest.fixture
async def idle_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Idle, insecure_no_auth=True) as server:
        yield server


async def test_session_timeout_then_normal_close(idle_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("test/idle", url=idle_server.url) as conn:
            await conn.send({"x": 1})
            assert await conn.recv() == {"x": 1}
            # No more input: TIMEOUT, then a normal close that ends iteration.
            with pytest.raises(warmwire.RealtimeError) as info:
                await conn.recv()
            assert info.value.error == "TIMEOUT"
            assert [r async for r in conn] == []
            assert await conn.recv() is None  # and stays ended
            with pytest.raises(warmwire.ConnectionClosedError, match="new connection") as late:
                await conn.send({"too": "late"})
            assert late.value.code == 1000
            await conn.aclose()  # idempotent, also after the runner closed


async def test_sync_session_timeout_then_normal_close(idle_server: RunningServer) -> None:
    def client() -> list[Any]:
        out: list[Any] = []
        with warmwire.realtime("test/idle", url=idle_server.url, open_timeout=TIMEOUT) as conn:
            try:
                conn.recv(timeout=TIMEOUT)
            except warmwire.RealtimeError as exc:
                out.append(exc.error)
            out.append(list(conn))
            out.append(conn.recv(timeout=TIMEOUT))
            try:
                conn.send({"too": "late"})
            except warmwire.ConnectionClosedError as exc:
                out.append(exc.code)
            conn.close()
        return out

    assert await anyio.to_thread.run_sync(client) == ["TIMEOUT", [], None, 1000]


async def test_aclose_is_idempotent(echo_server: RunningServer) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async("warmwire/echo", url=echo_server.url) as conn:
            await assert_round_trip(conn)
            await conn.aclose()
            await conn.aclose()
            assert await conn.recv() is None


async def assert_round_trip(conn: warmwire.AsyncRealtimeConnection) -> None:
    await conn.send({"ping": 1})
    assert await conn.recv() == {"ping": 1}
