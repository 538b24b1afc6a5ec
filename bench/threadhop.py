"""The floor under a sync handler's round trip: one hop to a thread and back, in CPython.

A blocking handler runs in a worker thread, so its round trip pays two cross-thread
wake-ups an async handler never pays: the thread waking for the job, then the event
loop waking for its result.  ``measure`` times both in this process on asyncio,
interleaved round by round, for a call that returns at once:

- a bare hop, nothing of warmwire's: a ``SimpleQueue`` to a thread, and
  ``call_soon_threadsafe`` back to an asyncio future;
- warmwire's :class:`~warmwire.runner.workers.WorkerPool` ``run()`` (what the runner does
  per input of a sync handler).

The report sets them beside the sync handler's extra time per round trip.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio

from bench.stats import median
from warmwire.runner.workers import WorkerPool

HOPS = 1000
"""Hops per round and kind."""


def _nothing() -> None:
    return None


async def _rounds(rounds: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    jobs: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()

    def serve() -> None:
        while (future := jobs.get()) is not None:
            _nothing()
            loop.call_soon_threadsafe(future.set_result, None)

    async def bare() -> None:
        future = loop.create_future()
        jobs.put(future)
        await future

    pool = WorkerPool(1)

    async def pooled() -> None:
        await pool.run(_nothing)

    thread = threading.Thread(target=serve, name="bench-thread-hop", daemon=True)
    thread.start()
    kinds: dict[str, Callable[[], Any]] = {"bare": bare, "pool": pooled}
    p50s: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for round_ in range(rounds + 1):  # the first round warms up
            for kind in sorted(kinds, reverse=bool(round_ % 2)):
                hop = kinds[kind]
                times = []
                for _ in range(HOPS):
                    started = time.perf_counter()
                    await hop()
                    times.append(time.perf_counter() - started)
                if round_:
                    p50s[kind].append(median(times))
    finally:
        jobs.put(None)
        thread.join()
        pool.close()
    return {
        "rounds": rounds,
        "hops_per_round": HOPS,
        "bare_p50": median(p50s["bare"]),
        "pool_p50": median(p50s["pool"]),
    }


def measure(rounds: int = 5) -> dict[str, Any]:
    """p50 of a bare thread hop and of ``WorkerPool.run``, the median over ``rounds``."""
    result: dict[str, Any] = anyio.run(_rounds, rounds, backend="asyncio")
    return result


if __name__ == "__main__":
    print(measure())
