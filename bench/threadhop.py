"""The floor under a sync handler's round trip: one hop to a thread and back, in CPython.

A blocking handler runs in a worker thread, so its round trip pays two cross-thread
wake-ups an async handler never pays: the thread waking for the job, then the event
loop waking for its result.  ``measure`` times both in this process on asyncio,
interleaved round by round, for a call that returns at once:

- a bare hop, nothing of warmwire's: a ``SimpleQueue`` to a thread, and
  ``call_soon_threadsafe`` back to an asyncio future;
- the same bare hop with both threads held to one CPU (``os.sched_setaffinity``, where
  the OS has it and there are two CPUs or more): what the two wake-ups cost when neither
  has to wake another CPU, which on a virtual machine is most of their cost;
- warmwire's :class:`~warmwire.runner.workers.WorkerPool` ``run()`` (what the runner does
  per input of a sync handler).

The report sets them beside the sync handler's extra time per round trip.
"""

from __future__ import annotations

import asyncio
import os
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


def _one_cpu() -> int | None:
    """A CPU this process may run on, when it may run on more than one and can be held to
    one (Linux); else ``None``."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = os.sched_getaffinity(0)
    return min(cpus) if len(cpus) > 1 else None


async def _rounds(rounds: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    jobs: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()
    pinned_jobs: queue.SimpleQueue[asyncio.Future[None] | None] = queue.SimpleQueue()
    cpu = _one_cpu()

    def serve(jobs: queue.SimpleQueue[asyncio.Future[None] | None]) -> None:
        while (future := jobs.get()) is not None:
            _nothing()
            loop.call_soon_threadsafe(future.set_result, None)

    def serve_pinned() -> None:
        assert cpu is not None
        os.sched_setaffinity(0, {cpu})  # this thread only (0: the calling thread)
        serve(pinned_jobs)

    async def bare() -> None:
        future = loop.create_future()
        jobs.put(future)
        await future

    async def bare_one_cpu() -> None:
        future = loop.create_future()
        pinned_jobs.put(future)
        await future

    pool = WorkerPool(1)

    async def pooled() -> None:
        await pool.run(_nothing)

    threads = [threading.Thread(target=serve, args=(jobs,), name="bench-thread-hop", daemon=True)]
    kinds: dict[str, Callable[[], Any]] = {"bare": bare, "pool": pooled}
    if cpu is not None:
        threads.append(threading.Thread(target=serve_pinned, name="bench-hop-1cpu", daemon=True))
        kinds["bare_one_cpu"] = bare_one_cpu
    for thread in threads:
        thread.start()
    p50s: dict[str, list[float]] = {kind: [] for kind in kinds}
    allowed = os.sched_getaffinity(0) if cpu is not None else set()
    one_cpu = {cpu} if cpu is not None else set()
    try:
        for round_ in range(rounds + 1):  # the first round warms up
            for kind in sorted(kinds, reverse=bool(round_ % 2)):
                hop = kinds[kind]
                if kind == "bare_one_cpu":
                    os.sched_setaffinity(0, one_cpu)  # the event loop's thread, for this kind
                times = []
                try:
                    for _ in range(HOPS):
                        started = time.perf_counter()
                        await hop()
                        times.append(time.perf_counter() - started)
                finally:
                    if kind == "bare_one_cpu":
                        os.sched_setaffinity(0, allowed)
                if round_:
                    p50s[kind].append(median(times))
    finally:
        jobs.put(None)
        pinned_jobs.put(None)
        for thread in threads:
            thread.join()
        pool.close()
    return {
        "rounds": rounds,
        "hops_per_round": HOPS,
        **{f"{kind}_p50": median(values) for kind, values in p50s.items()},
    }


def measure(rounds: int = 5) -> dict[str, Any]:
    """p50 of a bare thread hop and of ``WorkerPool.run``, the median over ``rounds``."""
    result: dict[str, Any] = anyio.run(_rounds, rounds, backend="asyncio")
    return result


if __name__ == "__main__":
    print(measure())
