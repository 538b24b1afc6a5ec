"""Realtime buffering (the newest input wins, drops counted) and batching, end to end.

The handler holds its first input until the test opens a gate, so a burst sent
meanwhile queues deterministically; the test waits until the runner has read
the whole burst (``Session.received``) before opening it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

import warmwire
from warmwire import runner

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
BURST = 20


class Gated(runner.App, app_id="test/gated"):
    """Handlers that hold the first input they get until ``gate`` is opened."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.async_gate: anyio.Event | None = None
        self.entered = threading.Event()
        self.seen: list[int] = []
        self.batches: list[list[int]] = []

    @runner.realtime("/sync", buffering=60)
    def run_sync(self, inp: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(inp["i"])
        self.entered.set()
        assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        return {"i": inp["i"]}

    @runner.realtime("/async", buffering=60)
    async def run_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(inp["i"])
        self.entered.set()
        assert self.async_gate is not None
        await self.async_gate.wait()
        return {"i": inp["i"]}

    @runner.realtime("/two", buffering=2)
    def run_two(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self.run_sync(inp)

    @runner.realtime("/batch", buffering=60, max_batch_size=4)
    def run_batch(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.batches.append([inp["i"] for inp in batch])
        self.entered.set()
        assert self.gate.wait(TIMEOUT), "the test never opened the gate"
        return [{"i": inp["i"], "batch": len(batch)} for inp in batch]


async def open_gate(app: Gated) -> None:
    app.gate.set()
    if app.async_gate is not None:
        app.async_gate.set()


@pytest.mark.parametrize(
    ("path", "max_buffering"),
    [("/sync", 2), ("/async", 2), ("/two", None), ("/sync", 60), ("/async", 60)],
)
async def test_burst_keeps_the_newest_and_counts_drops(
    path: str,
    max_buffering: int | None,
    wait_until: Callable[..., Any],
    only_session: Callable[..., Any],
    metrics_text: Callable[..., Any],
    metric: Callable[..., float],
) -> None:
    app = Gated()
    app.async_gate = anyio.Event()
    capacity = max_buffering or 2
    # The hop: the runner reads the burst while the handler holds its thread (on a
    # worker loop it is read once the call returns: tests/runner/test_worker_loop.py).
    async with runner.serve(app, insecure_no_auth=True, worker_loop=False) as server:
        try:
            with anyio.fail_after(TIMEOUT):
                async with warmwire.realtime_async(
                    "test/gated", url=server.url, path=path, max_buffering=max_buffering
                ) as conn:
                    session = await only_session(server)
                    assert session.buffer.capacity == capacity
                    await conn.send({"i": 0})
                    await anyio.to_thread.run_sync(app.entered.wait, TIMEOUT)
                    for i in range(1, BURST):
                        await conn.send({"i": i})
                    await wait_until(
                        lambda: session.received == BURST, what="the runner read the burst"
                    )
                    skipped = max(0, BURST - 1 - capacity)
                    assert session.dropped == skipped
                    await open_gate(app)
                    kept = [0, *range(BURST - min(capacity, BURST - 1), BURST)]
                    results = [(await conn.recv())["i"] for _ in kept]
                    # Nothing else was queued: a marker input's result comes next.
                    await conn.send({"i": 1000})
                    assert (await conn.recv())["i"] == 1000
                    assert session.dropped == skipped
                text = await metrics_text(server)
        finally:
            await open_gate(app)
    assert results == kept
    assert app.seen == [*kept, 1000]
    assert metric(text, "warmwire_inputs_dropped_total") == skipped


async def test_batches_of_up_to_max_batch_size(
    wait_until: Callable[..., Any], only_session: Callable[..., Any]
) -> None:
    app = Gated()
    # The hop, which reads the inputs while the handler runs (a worker loop's batches:
    # tests/runner/test_worker_loop.py).
    async with runner.serve(app, insecure_no_auth=True, worker_loop=False) as server:
        try:
            with anyio.fail_after(TIMEOUT):
                async with warmwire.realtime_async(
                    "test/gated", url=server.url, path="/batch"
                ) as conn:
                    session = await only_session(server)
                    await conn.send({"i": 0, "request_id": "r0"})
                    await anyio.to_thread.run_sync(app.entered.wait, TIMEOUT)
                    for i in range(1, 10):
                        await conn.send({"i": i, "request_id": f"r{i}"})
                    await wait_until(lambda: session.received == 10, what="all 10 inputs read")
                    app.gate.set()
                    results = [await conn.recv() for _ in range(10)]
        finally:
            app.gate.set()
    assert app.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert [r["i"] for r in results] == list(range(10))
    assert [r["request_id"] for r in results] == [f"r{i}" for i in range(10)]
    assert [r["batch"] for r in results] == [1, 4, 4, 4, 4, 4, 4, 4, 4, 1]


class Relay(runner.App, app_id="test/relay"):
    """An async handler that holds input 0 until ``first`` opens and input 2 until
    ``third`` opens; the others it answers at once."""

    def __init__(self) -> None:
        self.first: anyio.Event | None = None
        self.third: anyio.Event | None = None

    @runner.realtime("/async", buffering=60)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        gate = {0: self.first, 2: self.third}.get(inp["i"])
        if gate is not None:
            await gate.wait()
        return {"i": inp["i"]}


async def test_a_ready_result_does_not_wait_behind_a_slow_handler_call(
    wait_until: Callable[..., Any], only_session: Callable[..., Any]
) -> None:
    """Results of a backlog may leave together, but only within COALESCE_WINDOW: a
    result must reach the client while the next input's handler call still awaits."""
    app = Relay()
    app.first, app.third = anyio.Event(), anyio.Event()
    async with runner.serve(app, insecure_no_auth=True) as server:
        try:
            with anyio.fail_after(TIMEOUT):
                async with warmwire.realtime_async(
                    "test/relay", url=server.url, path="/async"
                ) as conn:
                    session = await only_session(server)
                    for i in range(4):
                        await conn.send({"i": i})
                    await wait_until(lambda: session.received == 4, what="the runner read all 4")
                    # Input 1 is taken with 2 and 3 waiting behind it: a backlog.
                    app.first.set()
                    assert await conn.recv() == {"i": 0}
                    assert await conn.recv() == {"i": 1}  # while input 2's call still waits
                    app.third.set()
                    assert [await conn.recv() for _ in range(2)] == [{"i": 2}, {"i": 3}]
        finally:
            app.first.set()
            app.third.set()


class Consuming(runner.App, app_id="test/consuming"):
    @runner.realtime("/batch", buffering=60, max_batch_size=4)
    def run(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        outputs = []
        while batch:  # the handler's own list: it may empty it
            outputs.append({"i": batch.pop(0)["i"]})
        return outputs


async def test_a_batched_handler_may_consume_its_list() -> None:
    async with runner.serve(Consuming, insecure_no_auth=True) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async(
                "test/consuming", url=server.url, path="/batch"
            ) as conn:
                for i in range(6):
                    await conn.send({"i": i, "request_id": f"r{i}"})
                results = [await conn.recv() for _ in range(6)]
    assert results == [{"i": i, "request_id": f"r{i}"} for i in range(6)]
