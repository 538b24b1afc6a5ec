"""The realtime buffer's waits, on each loop: what wakes the consumer, and what does not
make it wait at all.

A unit test of :class:`~warmwire.runner.buffer.DropOldestBuffer` (no sockets: the
sessions that use it are tested end to end in ``test_buffering.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from warmwire.runner.buffer import DropOldestBuffer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


async def _returns_without_yielding(wait: Callable[[], Awaitable[object]]) -> bool:
    """Whether ``await wait()`` returns before a task started just before it gets to run:
    that is, without giving the loop a turn."""
    ran = False

    async def other() -> None:
        nonlocal ran
        ran = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        await wait()
        returned_first = not ran
    return returned_first


@pytest.mark.parametrize("state", ["an item", "closed"])
async def test_wait_for_news_does_not_wait_when_there_is_news(state: str) -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(4)
    if state == "an item":
        buffer.put(1, 1)
    else:
        buffer.close()
    assert await _returns_without_yielding(buffer.wait_for_news)
    assert await _returns_without_yielding(buffer.wait)


@pytest.mark.parametrize("news", ["put", "close", "nudge"])
async def test_a_waiting_consumer_wakes_for_news(news: str) -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(4)
    woke = anyio.Event()

    async def consumer() -> None:
        await buffer.wait_for_news()
        woke.set()

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer)
            await anyio.wait_all_tasks_blocked()
            assert not woke.is_set()  # nothing new yet: it waits
            if news == "put":
                buffer.put(7, 1)
            elif news == "close":
                buffer.close()
            else:
                buffer.nudge()
            await woke.wait()
    assert buffer.take(4) == ([7] if news == "put" else [])


async def test_a_cancelled_wait_leaves_the_buffer_working() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(4)
    with anyio.move_on_after(0.01) as scope:
        await buffer.wait_for_news()
    assert scope.cancelled_caught
    buffer.put(1, 1)
    assert await _returns_without_yielding(buffer.wait_for_news)
    assert buffer.take(4) == [1]

    # And the next wait waits again, and wakes again.
    async def consumer() -> None:
        await buffer.wait_for_news()

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consumer)
            await anyio.wait_all_tasks_blocked()
            buffer.put(2, 1)
    assert buffer.take(4) == [2]
