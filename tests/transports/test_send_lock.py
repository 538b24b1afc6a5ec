"""The connection's send lock: FIFO, and never lost to a cancelled waiter."""

from __future__ import annotations

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from warmwire.transports.send_lock import SendLock

pytestmark = pytest.mark.anyio

TIMEOUT = 5.0


async def test_uncontended_acquire_and_release() -> None:
    lock = SendLock()
    assert not lock.locked()
    async with lock:
        assert lock.locked()
    assert not lock.locked()


async def test_waiters_enter_in_order_one_at_a_time() -> None:
    lock = SendLock()
    entered: list[int] = []
    inside = 0

    async def writer(n: int) -> None:
        nonlocal inside
        async with lock:
            inside += 1
            assert inside == 1, "two tasks held the lock at once"
            entered.append(n)
            await anyio.lowlevel.checkpoint()  # let the others run while this one holds the lock
            inside -= 1

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            async with lock:
                for n in range(5):
                    tg.start_soon(writer, n)
                    await anyio.wait_all_tasks_blocked()  # n is queued before n + 1 starts
    assert entered == [0, 1, 2, 3, 4]
    assert not lock.locked()


async def _writer(lock: SendLock, entered: list[str], name: str, scope: anyio.CancelScope) -> None:
    with scope:
        async with lock:
            entered.append(name)
            await anyio.lowlevel.checkpoint()


async def _queue_two(
    tg: anyio.abc.TaskGroup, lock: SendLock, entered: list[str], gone: anyio.CancelScope
) -> None:
    """With the lock held: queue a waiter in ``gone``, then another one, "next"."""
    tg.start_soon(_writer, lock, entered, "cancelled", gone)
    await anyio.wait_all_tasks_blocked()
    tg.start_soon(_writer, lock, entered, "next", anyio.CancelScope())
    await anyio.wait_all_tasks_blocked()


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    lock = SendLock()
    entered: list[str] = []
    gone = anyio.CancelScope()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            async with lock:
                await _queue_two(tg, lock, entered, gone)
                gone.cancel()
                await anyio.wait_all_tasks_blocked()
    assert entered == ["next"]
    assert not lock.locked()


async def test_a_waiter_cancelled_as_the_lock_reaches_it_passes_it_on() -> None:
    lock = SendLock()
    entered: list[str] = []
    gone = anyio.CancelScope()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            async with lock:
                await _queue_two(tg, lock, entered, gone)
            # The lock was just handed to the first waiter: cancel it before it runs.
            gone.cancel()
        async with lock:  # not lost: free again once every waiter is done
            pass
    # asyncio cancels the first waiter in its wait, trio once it holds the lock.
    assert entered[-1:] == ["next"]
    assert not lock.locked()


async def test_a_waiter_cancelled_by_asyncio_itself_as_the_lock_reaches_it_passes_it_on(
    anyio_backend: str,
) -> None:
    """asyncio's own cancellation (``asyncio.wait_for`` around a send) can strike a waiter
    the lock was just handed to; the lock must go on to the next one, not be lost."""
    lock = SendLock()
    entered: list[str] = []
    with anyio.fail_after(TIMEOUT):
        if anyio_backend != "asyncio":
            # trio (like anyio) delivers a cancellation to a woken task at its next
            # checkpoint, inside the lock: the other test covers that.
            return
        import asyncio

        async def writer(name: str) -> None:
            async with lock:
                entered.append(name)

        async with lock:
            first = asyncio.ensure_future(writer("cancelled"))
            await anyio.wait_all_tasks_blocked()
            second = asyncio.ensure_future(writer("next"))
            await anyio.wait_all_tasks_blocked()
        first.cancel()  # the lock is already on its way to `first`
        await asyncio.gather(first, second, return_exceptions=True)
        assert first.cancelled()
        async with lock:
            pass
    assert entered == ["next"]
    assert not lock.locked()
