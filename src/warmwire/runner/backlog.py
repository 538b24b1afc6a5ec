"""A backlog's results leave together: fewer writes when inputs queue behind an async handler.

When inputs wait behind the one an async unary handler is taking, the session
hands them to :class:`Backlog`, which handles them one batch after another and
holds their results to send in one write: a backlog is cleared in fewer writes,
and under trio in fewer scheduling rounds (every write is a checkpoint there).
Holding is bounded in time, never by the handler's speed (see COALESCE_WINDOW).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

from warmwire.runner.buffer import DropOldestBuffer

COALESCE_WINDOW = 0.001
"""Seconds: results of inputs already waiting that an async handler finishes within
this time of the first leave in one write."""

T = TypeVar("T")

Outbox = list[bytes | str]


class Backlog(Generic[T]):
    """Handles the inputs waiting in a session's buffer and sends their results in one write.

    One per session whose handler is async and unary (a blocking one's results
    leave as its thread delivers them; a streaming one's must leave as produced).
    """

    __slots__ = ("_buffer", "_clock", "_handle", "_hold", "_max_batch_size", "_send")

    def __init__(
        self,
        buffer: DropOldestBuffer[T],
        max_batch_size: int,
        *,
        handle: Callable[[list[T]], Awaitable[None]],
        hold: Callable[[Outbox | None], None],
        send: Callable[[Outbox], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        """``handle`` runs one batch, sending its results through the session as usual;
        ``hold`` tells the session where to put results instead (``None``: send them
        again); ``send`` writes held results at once; ``clock`` is the session's."""
        self._buffer = buffer
        self._max_batch_size = max_batch_size
        self._handle = handle
        self._hold = hold
        self._send = send
        self._clock = clock

    async def run(self, batch: list[T]) -> None:
        """Handle ``batch`` and the inputs waiting behind it, for up to COALESCE_WINDOW,
        and send their results in one write.

        A result is never held longer than COALESCE_WINDOW: if a handler call is
        still running by then (it awaits something slow), what is held leaves
        without waiting for it.
        """
        clock = self._clock
        buffer = self._buffer
        started = clock()
        outbox: Outbox = []
        self._hold(outbox)
        waiting = anyio.CancelScope()

        async def send_late() -> None:
            with waiting:
                await anyio.sleep(COALESCE_WINDOW)
            if not waiting.cancel_called:
                held = outbox[:]
                outbox.clear()
                await self._send(held)

        async with anyio.create_task_group() as tg:
            tg.start_soon(send_late)
            try:
                while True:
                    await self._handle(batch)
                    if not len(buffer) or clock() - started > COALESCE_WINDOW:
                        break
                    batch = buffer.take(self._max_batch_size)
            finally:
                self._hold(None)
            waiting.cancel()  # stops the wait only: a late send under way finishes first
        if outbox:
            await self._send(outbox)
