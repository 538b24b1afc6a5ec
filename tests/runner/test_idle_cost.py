"""What an idle session costs the runner: its tasks, whatever watches it.

An idle session's memory is mostly its tasks (``bench/idle.py`` measures it,
``docs/benchmarks.md`` reports it).  Its timeout, its keepalive pings and the watch
for a client that stopped reading are looked at by the reading task at the
deadline of the wait it has anyway (:mod:`warmwire.runner.keepalive`,
:class:`StallWatch`).  Under asyncio, whose driver pushes inputs from its read
callback, and under trio, whose reading task pulls them, the working task runs
only while there are inputs: an idle session is one task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import pytest

import warmwire
from warmwire import runner
from warmwire.core.client_handshake import ClientProtocol
from warmwire.runner import session as session_module
from warmwire.runner.stall import LOOKS, StallWatch
from warmwire.transports import eventloop

pytestmark = pytest.mark.anyio

SESSIONS = 20
TIMEOUT = 10.0


class Quiet(runner.App, app_id="test/quiet"):
    @runner.realtime("/realtime", session_timeout=None)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


def _tasks() -> int:
    """The tasks alive in this process's event loop."""
    if eventloop.current_library() == "asyncio":
        return len(asyncio.all_tasks())
    import trio

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


async def _upgraded(port: int) -> anyio.abc.SocketStream:
    """A client that completes the upgrade and then only holds the connection (no task)."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    protocol = ClientProtocol(host=f"127.0.0.1:{port}", target="/test/quiet/realtime")
    await stream.send(protocol.data_to_send())
    while not protocol.events():
        protocol.receive_data(await stream.receive())
    return stream


async def test_an_idle_session_is_its_reading_task_with_pings_and_a_send_timeout(
    wait_until: Callable[..., Any],
) -> None:
    async with runner.serve(
        Quiet,
        insecure_no_auth=True,
        ping_interval=0.05,  # pings during the test: they must not add a task
        ping_timeout=TIMEOUT,  # these clients never answer; they are not cut meanwhile
        send_timeout=1.0,
    ) as server:
        assert server.port is not None
        with anyio.fail_after(TIMEOUT):
            # Counted from the first session on: a listener may start a task of its
            # own at its first connection (anyio's does, under trio).
            streams = [await _upgraded(server.port)]
            try:
                await wait_until(lambda: len(server.runner.sessions) == 1)
                before = _tasks() - 1
                streams += [await _upgraded(server.port) for _ in range(SESSIONS - 1)]
                await wait_until(lambda: len(server.runner.sessions) == SESSIONS)
                assert _tasks() - before == SESSIONS  # one task each
                # Every session pings its client, and still runs on its tasks.
                for stream in streams:
                    data = b""
                    while b"\x89" not in data:  # a ping frame's first byte (FIN, opcode 9)
                        data += await stream.receive()
                assert _tasks() - before == SESSIONS
                assert len(server.runner.sessions) == SESSIONS
            finally:
                for stream in streams:
                    await stream.aclose()
            await wait_until(lambda: not server.runner.sessions)


@pytest.mark.parametrize("send_timeout", [0.4, None], ids=["send-timeout", "no-send-timeout"])
async def test_the_working_task_comes_with_inputs_and_goes_when_idle(
    wait_until: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, send_timeout: float | None
) -> None:
    # The reading task looks every 0.1 s: a quarter of the send timeout, or without
    # one (and without pings), every RETIRE_LOOK, which would otherwise be seconds.
    monkeypatch.setattr(session_module, "RETIRE_LOOK", 0.1)
    async with runner.serve(
        Quiet,
        insecure_no_auth=True,
        ping_interval=None,
        send_timeout=send_timeout,
    ) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async("test/quiet", url=server.url) as conn:
                await wait_until(lambda: len(server.runner.sessions) == 1)
                idle = _tasks()
                for n in range(3):  # each time, a working task takes the input
                    await conn.send({"n": n})
                    assert await conn.recv() == {"n": n}
                    # Idle from one look to the next: retired, back to one task.
                    await wait_until(lambda: _tasks() == idle)
                session = next(iter(server.runner.sessions))
                assert session.received == 3


def test_a_send_is_stuck_after_looks_that_saw_no_send_finish() -> None:
    watch = StallWatch()
    watch.pending = 1  # a send under way, and none finishing
    assert [watch.look() for _ in range(LOOKS + 1)] == [False] * LOOKS + [True]


def test_a_finished_send_starts_the_count_again() -> None:
    watch = StallWatch()
    watch.pending = 1
    for _ in range(LOOKS):
        assert not watch.look()
    watch.finished += 1  # the send went out (another is under way)
    assert [watch.look() for _ in range(LOOKS + 2)] == [False] * (LOOKS + 1) + [True]


def test_no_send_under_way_is_never_stuck() -> None:
    watch = StallWatch()
    assert not any(watch.look() for _ in range(3 * LOOKS))


async def test_sessions_opened_together_do_not_look_together(
    wait_until: Callable[..., Any],
) -> None:
    interval, send_timeout = 10.0, 8.0  # no look comes during the test
    async with runner.serve(
        Quiet,
        insecure_no_auth=True,
        ping_interval=interval,
        ping_timeout=TIMEOUT,
        send_timeout=send_timeout,
    ) as server:
        assert server.port is not None
        clock = eventloop.clock()  # the runner's: same process, same loop
        with anyio.fail_after(TIMEOUT):
            opened = clock()
            streams = [await _upgraded(server.port) for _ in range(SESSIONS)]
            try:
                await wait_until(lambda: len(server.runner.sessions) == SESSIONS)
                done = clock()
                sessions = list(server.runner.sessions)
                for first, period in (
                    ([s._next_ping for s in sessions], interval),
                    ([s._next_stall_look for s in sessions], send_timeout / LOOKS),
                ):
                    # Each first look at a phase of its own, within one period...
                    assert all(opened + period / 2 <= t <= done + period for t in first)
                    # ... so not all a whole period after the sessions opened.
                    assert min(first) < opened + period - (done - opened)
            finally:
                for stream in streams:
                    await stream.aclose()
