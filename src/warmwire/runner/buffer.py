"""The realtime input buffer: bounded, and when full the oldest input is dropped.

In realtime the newest frame wins: a camera at 30 fps in front of a model at
10 fps must show the latest frame, not a growing backlog.  The bound is a count
(``buffering``) and optionally bytes (``max_pending_bytes``).  Every drop is
counted so that it is visible, never silent.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Generic, TypeVar

import anyio

from warmwire.transports.eventloop import NO_WAIT, event_factory

T = TypeVar("T")


class DropOldestBuffer(Generic[T]):
    """A FIFO for one producer and one consumer task, bounded in items and bytes."""

    def __init__(self, capacity: int, max_bytes: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.dropped = 0
        self.pending_bytes = 0
        # A list, not a deque: at most MAX_BUFFERING items, and an empty deque costs
        # every idle session 760 bytes.
        self._items: list[tuple[T, int]] = []
        self._new_event = event_factory()
        self._ready = self._new_event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: T, size: int = 0) -> list[T]:
        """Add ``item`` (``size`` bytes); return the items dropped to make room, oldest first."""
        if self._closed:
            raise anyio.ClosedResourceError
        dropped: list[T] = []
        items = self._items
        items.append((item, size))
        self.pending_bytes += size
        max_bytes = self.max_bytes
        # The newest input always stays, even alone over the byte limit: the message
        # size limit, not this one, bounds a single input.
        while len(items) > self.capacity or (
            max_bytes is not None and self.pending_bytes > max_bytes and len(items) > 1
        ):
            old, old_size = items.pop(0)
            self.pending_bytes -= old_size
            dropped.append(old)
        self.dropped += len(dropped)
        self._ready.set()
        return dropped

    async def wait(self) -> bool:
        """Wait for an item; ``False`` once closed and empty."""
        while not self._items:
            if self._closed:
                return False
            await self.wait_for_news()
        return True

    def wait_for_news(self) -> Awaitable[object]:
        """Wait for an item, the close, or :meth:`nudge` (the consumer looks again):
        ``await buffer.wait_for_news()``.

        Not a coroutine: the event's own wait is handed over, so nothing more lives
        per session between messages (each would be scanned by the collector's young
        collections)."""
        if self._items or self._closed:
            return NO_WAIT
        self._ready = self._new_event()
        return self._ready.wait()

    def nudge(self) -> None:
        """Wake the consumer waiting in :meth:`wait_for_news`, with nothing new."""
        self._ready.set()

    async def get_batch(self, max_items: int = 1) -> list[T]:
        """Wait for at least one item; take up to ``max_items``. ``[]`` once closed and empty."""
        if not await self.wait():
            return []
        return self.take(max_items)

    def take(self, max_items: int = 1) -> list[T]:
        """Take up to ``max_items`` without waiting (``[]`` when empty)."""
        if not self._items:
            return []
        taken = self._items[:max_items]
        del self._items[:max_items]
        batch = []
        for item, size in taken:
            self.pending_bytes -= size
            batch.append(item)
        return batch

    def close(self) -> None:
        """No more puts; the consumer drains what is left, then gets ``[]``."""
        self._closed = True
        self._ready.set()
