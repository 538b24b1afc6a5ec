"""Limits with clear errors: message size, concurrent sessions, pending bytes, stalled readers.

Each test also shows that one session hitting a limit leaves the others alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import msgpack
import orjson
import pytest

import warmwire
from warmwire import runner
from warmwire.core.client_handshake import ClientProtocol
from warmwire.examples.echo import Echo
from warmwire.runner import RunningServer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


def echo(server: RunningServer, path: str = "/realtime", **kwargs: Any) -> Any:
    return warmwire.realtime_async("warmwire/echo", url=server.url, path=path, **kwargs)


async def round_trip(conn: Any, n: int) -> None:
    await conn.send({"n": n})
    assert await conn.recv() == {"n": n}


# -- max message size --------------------------------------------------------------------------


async def test_message_over_the_limit_closes_with_1009_others_unaffected() -> None:
    async with runner.serve(Echo, insecure_no_auth=True, max_message_size=64 * 1024) as server:
        with anyio.fail_after(TIMEOUT):
            async with echo(server) as other, echo(server) as big:
                await round_trip(other, 1)
                # Just under the limit is fine.
                await big.send({"blob": b"x" * (60 * 1024)})
                assert len((await big.recv())["blob"]) == 60 * 1024
                await big.send({"blob": b"x" * (100 * 1024)})
                with pytest.raises(warmwire.ConnectionClosedError) as caught:
                    await big.recv()
                await round_trip(other, 2)
            assert caught.value.code == 1009
            assert "limit" in caught.value.close_reason
            async with echo(server) as fresh:
                await round_trip(fresh, 3)


# -- max concurrent sessions ------------------------------------------------------------------


async def test_third_session_refused_with_503_and_a_json_body(
    wait_until: Callable[..., Any], metrics_text: Callable[..., Any], metric: Callable[..., float]
) -> None:
    async with runner.serve(Echo, insecure_no_auth=True, max_sessions=2) as server:
        with anyio.fail_after(TIMEOUT):
            async with echo(server) as first:
                async with echo(server) as second:
                    await wait_until(lambda: len(server.runner.sessions) == 2)
                    with pytest.raises(warmwire.HandshakeError) as caught:
                        async with echo(server):
                            pass
                    await round_trip(first, 1)
                    await round_trip(second, 2)
                # A slot is free again once a session has ended.
                await wait_until(lambda: len(server.runner.sessions) == 1)
                async with echo(server) as third:
                    await round_trip(third, 3)
            text = await metrics_text(server)
    assert caught.value.status_code == 503
    body = orjson.loads(caught.value.body)
    assert body["error"] == "Service Unavailable"
    assert "2 sessions" in body["reason"]
    assert metric(text, "warmwire_refused_connections_total", reason="503") == 1


# -- max pending bytes ------------------------------------------------------------------------


class Held(runner.App, app_id="test/held"):
    """Holds its first input until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()

    @runner.realtime("/realtime", buffering=60)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        self.entered.set()
        assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        return {"i": inp["i"]}


async def test_pending_bytes_bound_drops_the_oldest_and_counts(
    wait_until: Callable[..., Any],
    only_session: Callable[..., Any],
    metrics_text: Callable[..., Any],
    metric: Callable[..., float],
) -> None:
    def inp(i: int) -> dict[str, Any]:
        return {"i": i, "pad": b"\x00" * 1000}

    size = len(msgpack.packb(inp(0)))
    assert all(len(msgpack.packb(inp(i))) == size for i in range(11))
    app = Held()
    # The hop, which reads the inputs while the handler runs.
    async with runner.serve(
        app, insecure_no_auth=True, max_pending_bytes=size * 5 // 2, worker_loop=False
    ) as server:
        try:
            with anyio.fail_after(TIMEOUT):
                async with warmwire.realtime_async("test/held", url=server.url) as conn:
                    session = await only_session(server)
                    await conn.send(inp(0))
                    await anyio.to_thread.run_sync(app.entered.wait, TIMEOUT)
                    for i in range(1, 11):
                        await conn.send(inp(i))
                    await wait_until(lambda: session.received == 11)
                    # Only two inputs fit in 2.5 inputs' worth of bytes: 8 were dropped.
                    assert session.dropped == 8
                    assert session.buffer.pending_bytes == 2 * size
                    app.gate.set()
                    results = [(await conn.recv())["i"] for _ in range(3)]
                    await conn.send(inp(99))
                    assert (await conn.recv())["i"] == 99
                text = await metrics_text(server)
        finally:
            app.gate.set()
    assert results == [0, 9, 10]
    assert metric(text, "warmwire_inputs_dropped_total") == 8


# -- a client that never reads ---------------------------------------------------------------


async def test_client_that_never_reads_is_disconnected_others_unaffected(
    wait_until: Callable[..., Any], session_of: Callable[..., Any]
) -> None:
    async with runner.serve(Echo, insecure_no_auth=True, send_timeout=1.0) as server:
        assert server.port is not None
        with anyio.fail_after(30):
            async with echo(server, "/async") as other:
                await wait_until(lambda: len(server.runner.sessions) == 1)
                [first] = server.runner.sessions
                stream = await anyio.connect_tcp("127.0.0.1", server.port)
                async with stream:
                    protocol = ClientProtocol(
                        host=f"127.0.0.1:{server.port}", target="/warmwire/echo/realtime"
                    )
                    await stream.send(protocol.data_to_send())
                    await wait_until(lambda: len(server.runner.sessions) == 2)
                    # A blocking handler's: on a worker loop (worker_loop, the default).
                    [entry] = server.runner.sessions - {first}
                    stalled = await session_of(entry)
                    assert "realtime" in stalled.name
                    payload = msgpack.packb({"blob": b"\x00" * (1024 * 1024)})
                    # Masked binary frames, built by hand (the handshake reply is never read).
                    frame = bytes([0x82, 0xFF]) + len(payload).to_bytes(8, "big") + bytes(4)
                    sent = 0

                    async def flood() -> None:
                        nonlocal sent
                        try:
                            while not stalled.stalled and sent < 80:
                                await stream.send(frame + payload)
                                sent += 1
                        except (anyio.BrokenResourceError, OSError):
                            pass  # the runner cut us: that is the point

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(flood)
                        # Meanwhile the other session is served as usual.
                        n = 0
                        while entry in server.runner.sessions:
                            await round_trip(other, n)
                            n += 1
                        tg.cancel_scope.cancel()
                await round_trip(other, -1)
    assert stalled.stalled, "the session ended because its client stopped reading"
    assert stalled.sent < sent, "the runner stopped answering a client that reads nothing"
    assert n > 0


# -- handshakes at once -------------------------------------------------------------------------


def test_max_handshakes_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_handshakes"):
        runner.RunnerConfig(max_handshakes=0)


async def test_one_handshake_at_a_time_still_serves_every_attempt() -> None:
    """Upgrades take turns (max_handshakes=1); forty at once, good and bad, all get their answer."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from warmwire.auth.runner_auth import RunnerAuth
    from warmwire.auth.tokens import TokenIssuer

    signing = Ed25519PrivateKey.generate()
    good = TokenIssuer(signing).mint("tester", ["warmwire/echo"], 120)
    outcomes: list[str] = []

    async def attempt(n: int) -> None:
        token = good if n % 2 else "not.a.token"
        try:
            async with echo(server, path="/async", token=token) as conn:
                await round_trip(conn, n)
            outcomes.append("served")
        except warmwire.UnauthorizedError:
            outcomes.append("refused")

    auth = RunnerAuth.create(signing_key=signing)
    with anyio.fail_after(TIMEOUT * 3):
        async with runner.serve(Echo, auth=auth, max_handshakes=1) as server:
            async with anyio.create_task_group() as tg:
                for n in range(40):
                    tg.start_soon(attempt, n)
    assert sorted(outcomes) == ["refused"] * 20 + ["served"] * 20
