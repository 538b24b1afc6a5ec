"""Faults on real loopback sockets: dead peers, dead runners, partitions, slow and bad clients.

Each test bounds itself (``fail_after``, bounded loops) and stops whatever it starts.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import threading
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import warmwire
from helpers.polling import wait_until
from helpers.processes import start_runner_async
from warmwire import runner
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer
from warmwire.examples.echo import Echo

APP = "warmwire/echo"
SERVE_ECHO = ("serve", "warmwire.examples.echo:Echo", "--insecure-no-auth")


async def upgrade(port: int, path: str = "/warmwire/echo/async") -> anyio.abc.SocketStream:
    """A raw TCP stream that has completed a WebSocket upgrade (no frames exchanged)."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await stream.send(request.encode())
    response = b""
    with anyio.fail_after(5):
        while b"\r\n\r\n" not in response:
            response += await stream.receive()
    assert response.startswith(b"HTTP/1.1 101"), response
    return stream


async def round_trip(server_url: str, payload: dict[str, Any]) -> None:
    async with warmwire.realtime_async(APP, url=server_url, path="/async") as conn:
        await conn.send(payload)
        assert await conn.recv() == payload


# --- a client killed mid-frame ------------------------------------------------------------------


@pytest.mark.anyio
async def test_client_killed_mid_frame_leaves_others_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="warmwire.runner")
    with anyio.fail_after(20):
        async with runner.serve(Echo, insecure_no_auth=True) as server:
            assert server.port is not None
            async with warmwire.realtime_async(APP, url=server.url, path="/async") as other:
                await other.send({"n": 1})
                assert await other.recv() == {"n": 1}
                for _ in range(20):
                    stream = await upgrade(server.port)
                    # A masked binary frame announcing 100 bytes, then 10 of them, then gone.
                    header = bytes([0x82, 0x80 | 100]) + os.urandom(4)
                    await stream.send(header + b"x" * 10)
                    await stream.aclose()
                await wait_until(
                    lambda: len(server.runner.sessions) == 1, "half-frame sessions gone"
                )
                await other.send({"n": 2})
                assert await other.recv() == {"n": 2}
            await round_trip(server.url, {"n": 3})
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


# --- the runner killed mid-session (a `warmwire serve` subprocess) -----------------------------


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.mark.anyio
async def test_runner_sigkill_fails_waiting_clients_with_1006() -> None:
    outcomes: dict[str, BaseException | None] = {}
    with anyio.fail_after(60):
        async with start_runner_async(*SERVE_ECHO, "--port", "0") as served:
            process, url = served.process, served.url

            def blocking_client(connected: threading.Event) -> None:
                with warmwire.realtime(APP, url=url, path="/async") as conn:
                    conn.send({"n": 0})
                    assert conn.recv(timeout=10) == {"n": 0}
                    connected.set()
                    try:
                        conn.recv(timeout=15)
                        outcomes["sync"] = None
                    except BaseException as exc:
                        outcomes["sync"] = exc

            async def async_client(ready: anyio.Event) -> None:
                async with warmwire.realtime_async(APP, url=url, path="/async") as conn:
                    await conn.send({"n": 0})
                    assert await conn.recv() == {"n": 0}
                    ready.set()
                    try:
                        await conn.recv()
                        outcomes["async"] = None
                    except BaseException as exc:
                        outcomes["async"] = exc

            connected = threading.Event()
            ready = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(anyio.to_thread.run_sync, blocking_client, connected)
                tg.start_soon(async_client, ready)
                await ready.wait()
                await anyio.to_thread.run_sync(connected.wait, 10)
                killed = anyio.current_time()
                process.send_signal(signal.SIGKILL)
                with anyio.fail_after(5):
                    await process.wait()
    print(f"runner SIGKILL: clients failed within {anyio.current_time() - killed:.2f}s")
    for name in ("async", "sync"):
        exc = outcomes.get(name)
        assert isinstance(exc, warmwire.ConnectionClosedError), f"{name}: {exc!r}"
        assert exc.code == 1006, f"{name}: {exc!r}"


@pytest.mark.anyio
async def test_callback_client_reconnects_after_runner_sigkill() -> None:
    results: list[Any] = []
    errors: list[warmwire.RealtimeError] = []
    got = anyio.Event()

    def on_result(result: Any) -> None:
        results.append(result)
        got.set()

    with anyio.fail_after(90):
        async with start_runner_async(*SERVE_ECHO, "--port", "0") as served:
            first, url = served.process, served.url
            port = port_of(url)
            async with warmwire.connect_async(
                APP,
                url=url,
                path="/async",
                on_result=on_result,
                on_error=errors.append,
                throttle_interval=0,
            ) as conn:
                conn.send({"n": 1})
                await got.wait()
                first.send_signal(signal.SIGKILL)
                await wait_until(lambda: bool(errors), "on_error called", within=10)
                assert isinstance(errors[0], warmwire.ConnectionClosedError), errors
                assert errors[0].code == 1006, errors
                async with start_runner_async(*SERVE_ECHO, "--port", str(port)) as second:
                    assert port_of(second.url) == port
                    got = anyio.Event()
                    conn.send({"n": 2})
                    await got.wait()
                    assert conn.connections == 2
                    conn.close()
    assert results == [{"n": 1}, {"n": 2}]


# --- a silent network partition -----------------------------------------------------------------


@pytest.mark.anyio
async def test_silent_partition_is_dropped_by_keepalive() -> None:
    partitioned = anyio.Event()
    streams: list[anyio.abc.SocketStream] = []

    async def pump(src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream) -> None:
        try:
            async for chunk in src:
                if not partitioned.is_set():  # once partitioned, bytes vanish silently
                    await dst.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass

    with anyio.fail_after(30):
        async with runner.serve(
            Echo, insecure_no_auth=True, ping_interval=0.2, ping_timeout=0.5
        ) as server:
            assert server.port is not None
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            proxy_port = listener.extra(anyio.abc.SocketAttribute.local_port)

            async def handle(client: anyio.abc.SocketStream) -> None:
                assert server.port is not None
                upstream = await anyio.connect_tcp("127.0.0.1", server.port)
                streams.extend((client, upstream))
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pump, client, upstream)
                    tg.start_soon(pump, upstream, client)

            async with listener, anyio.create_task_group() as proxy:
                proxy.start_soon(listener.serve, handle)
                try:
                    async with warmwire.realtime_async(
                        APP, url=f"ws://127.0.0.1:{proxy_port}", path="/async"
                    ) as conn:
                        await conn.send({"n": 1})
                        assert await conn.recv() == {"n": 1}
                        assert len(server.runner.sessions) == 1
                        partitioned.set()
                        await wait_until(
                            lambda: not server.runner.sessions,
                            "runner drops the partitioned session",
                        )
                        # Cut the proxy so the client's close does not wait on a black hole.
                        proxy.cancel_scope.cancel()
                        for stream in streams:
                            await stream.aclose()
                except warmwire.RealtimeError:
                    pass  # the client finds its connection cut: expected here


# --- a slowloris handshake ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_slowloris_handshake_is_cut_off() -> None:
    request = b"GET /warmwire/echo/async HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    with anyio.fail_after(20):
        async with runner.serve(Echo, insecure_no_auth=True, handshake_timeout=0.5) as server:
            assert server.port is not None
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            started = anyio.current_time()
            closed_after: float | None = None
            try:
                for byte in request:  # bounded: the request is ~90 bytes, 0.1 s each
                    await stream.send(bytes([byte]))
                    with anyio.move_on_after(0.1):  # the attacker's pace, and a look for EOF
                        data = await stream.receive()
                        assert not data, f"the runner answered a partial request: {data!r}"
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                closed_after = anyio.current_time() - started
            finally:
                await stream.aclose()
            assert closed_after is not None, "the slow handshake was never cut off"
            print(f"slowloris: cut off after {closed_after:.2f}s")
            assert closed_after < 5, closed_after
            await round_trip(server.url, {"still": "serving"})


# --- a flood of bad-token attempts while good sessions stream ------------------------------


@pytest.mark.anyio
async def test_bad_token_flood_does_not_lose_good_results() -> None:
    """Every bad-token attempt is refused as ``UnauthorizedError``; good sessions lose nothing.

    Correctness only: the good sessions' latency under the full flood (5,000
    attempts from separate processes, 50 good sessions) is measured by
    ``python -m bench.flood``, not asserted here.
    """
    signing = Ed25519PrivateKey.generate()
    auth = RunnerAuth.create(signing_key=signing)
    issuer = TokenIssuer(signing)
    good_token = issuer.mint("tester", [APP], 120)
    bad_tokens = [
        "bad.token.value",  # not a token at all
        TokenIssuer(Ed25519PrivateKey.generate()).mint("tester", [APP], 120),  # another key
        issuer.mint("tester", [APP], -600),  # expired
        issuer.mint("tester", ["someone/else"], 120),  # not for this app
    ]
    good_sessions, per_session, bad_attempts, bad_at_once = 50, 40, 500, 20
    received: dict[int, list[int]] = {}
    refused: dict[str, int] = {}

    async def good(index: int) -> None:
        got: list[int] = []
        async with warmwire.realtime_async(
            APP, url=server.url, path="/async", token=good_token, max_buffering=60
        ) as conn:

            async def receive() -> None:
                for _ in range(per_session):
                    result = await conn.recv()
                    assert result is not None
                    assert result["session"] == index, result
                    got.append(result["seq"])

            async with anyio.create_task_group() as tg:
                tg.start_soon(receive)
                for seq in range(per_session):
                    await conn.send({"session": index, "seq": seq})
                    await anyio.sleep(0.01)  # pacing: a 100/s stream
        received[index] = got

    async def bad_session(token: str) -> None:
        async with warmwire.realtime_async(APP, url=server.url, path="/async", token=token) as conn:
            await conn.send({"seq": -1})
            await conn.recv()

    async def bad_worker(worker: int) -> None:
        for attempt in range(bad_attempts // bad_at_once):
            token = bad_tokens[(worker + attempt) % len(bad_tokens)]
            with pytest.raises(warmwire.UnauthorizedError):
                await bad_session(token)
            refused[token] = refused.get(token, 0) + 1

    with anyio.fail_after(90):
        async with runner.serve(Echo, auth=auth) as server:
            async with anyio.create_task_group() as tg:
                for worker in range(bad_at_once):
                    tg.start_soon(bad_worker, worker)
                for index in range(good_sessions):
                    tg.start_soon(good, index)
            counted = server.runner.metrics.registry.get_sample_value(
                "warmwire_refused_connections_total", {"reason": "unauthorized"}
            )
    assert sum(refused.values()) == bad_attempts
    assert set(refused) == set(bad_tokens), "every kind of bad token was tried and refused"
    assert counted == bad_attempts
    assert received == {i: list(range(per_session)) for i in range(good_sessions)}
