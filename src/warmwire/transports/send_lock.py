"""The lock that serialises a connection's writes, cheap when nobody else holds it.

Every message a connection sends takes it, so an uncontended acquire must cost
almost nothing: it is a flag, with no checkpoint and no lookup of the current
task (anyio's ``Lock`` does both, even with ``fast_acquire``).  Waiters queue in
order and the lock passes straight to the first one on release.
"""

from __future__ import annotations

import collections
from types import TracebackType

import anyio


class SendLock:
    """A FIFO async lock for one connection's writers (asyncio or trio)."""

    def __init__(self) -> None:
        self._locked = False
        self._waiters: collections.deque[anyio.Event] = collections.deque()

    def locked(self) -> bool:
        """Whether a task holds the lock (its writes are under way)."""
        return self._locked

    async def __aenter__(self) -> None:
        if not self._locked:
            self._locked = True
            return
        waiter = anyio.Event()
        self._waiters.append(waiter)
        try:
            await waiter.wait()
        except BaseException:
            if waiter.is_set():
                self._release()  # the lock was handed to us as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise
        # Handed over by _release: the lock stayed locked for us.

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self._locked = False
