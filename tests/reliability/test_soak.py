"""Soak, in-process form: many sessions streaming numbered inputs through one runner.

Every input carries ``(session, seq)``; every session must get back exactly its
inputs, once each, in order.  After the sessions close, the process must hold
no more file descriptors, threads or tasks than before, and its RSS must not
have grown by 10% or more after the warm-up round.  Clients and runner share
this process, so it can count the runner's tasks (``anyio.get_running_tasks()``),
which the multi-process form (``test_soak_processes.py``, ``bench/soak.py``,
``make soak``: 500 sessions x 60 s at 20 messages/s) cannot see from outside.

It runs in ``make test`` under asyncio and trio; sizes through:

- ``WARMWIRE_SOAK_SESSIONS`` (default 100)
- ``WARMWIRE_SOAK_SECONDS`` (default 3.5: the main round, per backend)
- ``WARMWIRE_SOAK_RATE`` (default 20 messages/s per session)
- ``WARMWIRE_SOAK_WARMUP`` (default a quarter of the main round, at least 1 s):
  under asyncio RSS climbs for a while before it levels off (see
  docs/reliability.md: the allocator's high-water mark, not live objects), so
  a 1 s warm-up before a 20 s round measured 12.8% of growth that a longer run
  does not continue.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import warmwire
from helpers.polling import wait_until
from warmwire import runner
from warmwire.examples.echo import Echo
from warmwire.runner import RunningServer

SESSIONS = int(os.environ.get("WARMWIRE_SOAK_SESSIONS", "100"))
SECONDS = float(os.environ.get("WARMWIRE_SOAK_SECONDS", "3.5"))
RATE = float(os.environ.get("WARMWIRE_SOAK_RATE", "20"))
WARMUP_SECONDS = float(os.environ.get("WARMWIRE_SOAK_WARMUP", str(max(1.0, SECONDS / 4))))
RSS_GROWTH_LIMIT = 0.10
OPENING_AT_ONCE = 25

pytestmark = [
    pytest.mark.soak,
    pytest.mark.timeout(max(120.0, 3 * (SECONDS + WARMUP_SECONDS) + 60)),
]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def running_tasks() -> int:
    return len(anyio.get_running_tasks())


async def released(predicate: Callable[[], bool], what: str) -> None:
    """The runner letting go of its connections can take a while after a soak."""
    await wait_until(predicate, what, within=20.0)


async def one_session(
    server: RunningServer,
    index: int,
    count: int,
    report: list[Any],
    opening: anyio.CapacityLimiter,
) -> None:
    """Send ``count`` numbered inputs at ``RATE``/s; collect every result in arrival order."""
    received: list[tuple[int, int]] = []
    async with contextlib.AsyncExitStack() as stack:
        # Hundreds of handshakes at once would starve in one event loop that also
        # runs the runner: open a few dozen at a time (a ramp-up).
        async with opening:
            conn = await stack.enter_async_context(
                warmwire.realtime_async(
                    "warmwire/echo", url=server.url, path="/async", max_buffering=60
                )
            )

        async def receive() -> None:
            for _ in range(count):
                result = await conn.recv()
                assert result is not None, f"session {index}: the runner closed early"
                received.append((result["session"], result["seq"]))

        async with anyio.create_task_group() as tg:
            tg.start_soon(receive)
            start = anyio.current_time()
            for seq in range(count):
                await conn.send({"session": index, "seq": seq})
                # Pacing at RATE, not waiting for anything: the next input's slot.
                await anyio.sleep_until(start + (seq + 1) / RATE)
    report[index] = received


async def round_of_sessions(server: RunningServer, seconds: float) -> dict[str, int]:
    count = max(1, round(seconds * RATE))
    report: list[Any] = [None] * SESSIONS
    opening = anyio.CapacityLimiter(OPENING_AT_ONCE)
    with anyio.fail_after(seconds + 60):
        async with anyio.create_task_group() as tg:
            for index in range(SESSIONS):
                tg.start_soon(one_session, server, index, count, report, opening)
    lost = duplicated = misordered = foreign = 0
    for index, received in enumerate(report):
        assert received is not None, f"session {index} never finished"
        seqs = [seq for session, seq in received if session == index]
        foreign += len(received) - len(seqs)
        distinct = set(seqs)
        lost += count - len(distinct & set(range(count)))
        duplicated += len(seqs) - len(distinct)
        misordered += sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    return {
        "sent": SESSIONS * count,
        "received": sum(len(r) for r in report),
        "lost": lost,
        "duplicated": duplicated,
        "misordered": misordered,
        "foreign": foreign,
    }


async def settled(server: RunningServer, fds: int, threads: int, tasks: int | None) -> None:
    await released(lambda: not server.runner.sessions, "no open sessions")
    await released(lambda: open_fds() <= fds, f"open fds back to {fds} (now {open_fds()})")
    await released(
        lambda: threading.active_count() <= threads,
        f"threads back to {threads} (now {threading.active_count()})",
    )
    if tasks is not None:
        await released(lambda: running_tasks() <= tasks, f"tasks back to {tasks}")


@pytest.mark.anyio
async def test_soak_no_loss_no_leaks(record_property: Callable[[str, object], None]) -> None:
    async with runner.serve(Echo, insecure_no_auth=True) as server:
        fds, threads = open_fds(), threading.active_count()

        warmup = await round_of_sessions(server, WARMUP_SECONDS)
        await settled(server, fds, threads, None)
        # The task baseline is taken after the warm-up: anyio's listener starts one
        # long-lived task at its first accept, which is not a per-session leak.
        tasks = running_tasks()
        rss_before = rss_kib()

        figures = await round_of_sessions(server, SECONDS)
        await settled(server, fds, threads, tasks)
        rss_after = rss_kib()

    growth = (rss_after - rss_before) / rss_before
    summary = {
        **figures,
        "sessions": SESSIONS,
        "seconds": SECONDS,
        "rate": RATE,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_growth_pct": round(100 * growth, 2),
    }
    record_property("soak", summary)
    print(f"soak: {summary}")
    for name in ("lost", "duplicated", "misordered", "foreign"):
        assert warmup[name] == 0, f"warm-up: {warmup}"
        assert figures[name] == 0, f"main round: {summary}"
    assert figures["received"] == figures["sent"], summary
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {100 * growth:.1f}%: {summary}"
