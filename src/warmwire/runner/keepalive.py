"""Keepalive pings on warmwire's own server, without a task of their own.

A runner holds thousands of idle sessions, and every task a session keeps costs
it memory (about 3 KiB on asyncio: the task, its frames, anyio's scope and
bookkeeping).  So pings are not a loop beside the session: the session's
reading task, which waits on the connection anyway, looks up at
:meth:`Pings.look`'s times (the deadline of the wait it already has), sends a
ping without waiting for its pong, and at the next look checks that a pong
came.
"""

from __future__ import annotations

import logging
import math

from warmwire.core.errors import ProtocolError
from warmwire.runner.stall import first_look_phase
from warmwire.transports.websocket import AsyncWebSocket

log = logging.getLogger("warmwire.runner")


class Pings:
    """Ping ``ws`` every ``interval`` seconds; cut it when a pong is ``timeout`` late.

    A ping sent at *t* must be answered by *t + timeout*, when the next look
    comes; the next ping leaves at *t + max(interval, timeout)*, one ping in
    flight at a time.
    """

    __slots__ = ("_interval", "_pongs", "_sent_at", "_timeout", "_ws")

    def __init__(self, ws: AsyncWebSocket, interval: float, timeout: float) -> None:
        self._ws = ws
        self._interval = interval
        self._timeout = timeout
        self._sent_at: float | None = None
        """When the ping in flight left (``None``: none in flight)."""
        self._pongs = 0
        """``ws.pongs`` when it left."""

    def start(self, now: float) -> float:
        """The session begins at ``now``: when to look first (within one interval, at a
        phase of its own: see :func:`~warmwire.runner.stall.first_look_phase`)."""
        return now + self._interval * first_look_phase()

    async def look(self, now: float, name: str) -> float:
        """Check the ping in flight and send the next one; when to look again
        (``math.inf``: never, the peer is cut or the connection is closing)."""
        ws = self._ws
        sent_at = self._sent_at
        if sent_at is not None:
            if ws.pongs == self._pongs:
                if now < sent_at + self._timeout:
                    return sent_at + self._timeout  # woken early (another deadline)
                log.info("%s peer unresponsive for %ss; disconnecting", name, self._timeout)
                await ws.aclose_transport()
                return math.inf
            if now < sent_at + self._interval:
                return sent_at + self._interval
        try:
            self._pongs = ws.pongs
            await ws.send_ping()
        except ProtocolError:
            # The closing handshake has begun: no more pings; the session's
            # close_timeout bounds the wait for the client's reply.
            return math.inf
        self._sent_at = now
        return now + min(self._interval, self._timeout)
