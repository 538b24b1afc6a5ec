"""The realtime input buffer: bounded, and when full the oldest input is dropped.

In realtime the newest frame wins: a camera at 30 fps in front of a model at
10 fps must show the latest frame, not a growing backlog.  Every drop is
counted so that it is visible, never silent.
"""

from __future__ import annotations

import collections
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class DropOldestBuffer(Generic[T]):
    """A FIFO of at most ``capacity`` items for one producer and one consumer task."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.dropped = 0
        self._items: collections.deque[T] = collections.deque()
        self._ready = anyio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> T | None:
        """Add ``item``; return the item dropped to make room, if any."""
        if self._closed:
            raise anyio.ClosedResourceError
        dropped = None
        if len(self._items) >= self.capacity:
            dropped = self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()
        return dropped

    async def get_batch(self, max_items: int = 1) -> list[T]:
        """Wait for at least one item; take up to ``max_items``. ``[]`` once closed and empty."""
        while not self._items:
            if self._closed:
                return []
            self._ready = anyio.Event()
            await self._ready.wait()
        count = min(max_items, len(self._items))
        return [self._items.popleft() for _ in range(count)]

    def close(self) -> None:
        """No more puts; the consumer drains what is left, then gets ``[]``."""
        self._closed = True
        self._ready.set()
