"""warmwire.transports.eventloop: the running loop's clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from warmwire.transports import eventloop

pytestmark = pytest.mark.anyio


async def test_the_clock_is_the_running_loops_own(anyio_backend: str) -> None:
    clock = eventloop.clock()
    if anyio_backend == "trio":
        import trio

        before = trio.current_time()
        assert before <= clock() <= trio.current_time()
    else:
        # asyncio's own loop.time() is time.monotonic(): the runner calls that directly.
        assert clock is time.monotonic
        loop = asyncio.get_running_loop()
        before = loop.time()
        assert before <= clock() <= loop.time()


def test_a_loop_with_a_clock_of_its_own_keeps_it() -> None:
    class OffsetLoop(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return time.monotonic() + 1000.0

    async def read() -> float:
        return eventloop.clock()()

    loop = OffsetLoop()
    try:
        assert loop.run_until_complete(read()) > time.monotonic() + 999.0
    finally:
        loop.close()
