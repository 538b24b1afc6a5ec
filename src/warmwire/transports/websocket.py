"""What a WebSocket connection offers above the sans-IO core, whichever driver runs it.

A driver runs a :class:`~warmwire.core.connection.Connection` (client or
server role) over one kind of byte transport.  There are two, one per
event-loop design, and nothing else knows which one it has:

* :class:`~warmwire.transports.asyncio_websocket.AsyncioWebSocket`, asyncio's
  own: it is the transport's protocol, so every read is *pushed* to it in the
  loop's read callback, and every write is a synchronous ``transport.write``
  (asyncio writes never wait, so there is nothing to lock);
* :class:`~warmwire.transports.anyio_websocket.AnyioWebSocket`, over any anyio
  byte stream (trio's sockets, TLS and the in-memory pipe, or a third-party
  transport's stream, on either loop): reads are pulled by the task in
  ``recv()`` and writes are serialised by a lock, because there a write is an
  ``await`` that may wait for the peer.

:func:`~warmwire.transports.drivers.websocket_over` picks the driver from the
byte stream a transport opened; the built-in transports open asyncio's own
under asyncio (:mod:`warmwire.transports.eventloop` decides) and anyio's
under trio.  Every decision about the protocol stays in :mod:`warmwire.core`.
"""

from __future__ import annotations

import collections
import socket
from collections.abc import Callable, Sequence

from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import Connection
from warmwire.core.events import (
    BadRequest,
    Closed,
    Event,
    HttpRequest,
    Initiator,
    Message,
    Opened,
    Pong,
    Rejected,
    UpgradeRequest,
)
from warmwire.core.server_handshake import ServerProtocol

COALESCE_BYTES = 64 * 1024
"""Frames waiting to go out are joined into one write up to this size; larger ones
are written apart rather than copied."""

IncomingRequest = HttpRequest | UpgradeRequest | BadRequest


class AsyncWebSocket:
    """One WebSocket connection: ``recv()`` from one task, ``send()`` from any.

    The state every driver keeps, and the interface they share; see the
    module docstring for the two drivers.
    """

    def __init__(
        self, protocol: Connection, *, close_timeout: float, subprotocol: str | None = None
    ) -> None:
        self._protocol = protocol
        self._close_timeout = close_timeout
        self._pending: collections.deque[bytes | str] | None = None
        """Messages for ``recv()``, from the first one on: a session whose messages are
        pushed never makes one (an empty deque is 760 bytes, per idle session)."""
        self._closed: Closed | None = None
        self.subprotocol = subprotocol
        """The subprotocol (codec name) agreed in the opening handshake, if any."""
        self._rejected: Rejected | None = None
        self._request: IncomingRequest | None = None
        self._close_started = False
        self.pongs = 0
        """Pongs received so far: a peer that answers :meth:`send_ping` is alive."""

    # -- what both drivers share --------------------------------------------------------------

    def unread(self) -> tuple[bytes | str, ...]:
        """Messages received that ``recv()`` has not returned yet."""
        return tuple(self._pending or ())

    @property
    def closed(self) -> Closed | None:
        """The close event once the connection is over, else ``None``."""
        return self._closed

    def _server_protocol(self) -> ServerProtocol:
        assert isinstance(self._protocol, ServerProtocol), "a server-role method on a client"
        return self._protocol

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Message):
            if self._pending is None:
                self._pending = collections.deque()
            self._pending.append(event.data)
        elif isinstance(event, Pong):
            self.pongs += 1
        elif isinstance(event, Closed):
            self._closed = event
        elif isinstance(event, Opened):
            self.subprotocol = event.subprotocol
        elif isinstance(event, Rejected):
            self._rejected = event
        else:
            self._request = event

    def _failed_the_connection(self) -> bool:
        """True when the protocol, not a closing handshake, ended an open connection.

        After such a failure (1002, 1007, 1009...) the peer may still be
        writing, e.g. the rest of an oversized message.  Closing a socket with
        unread input makes the kernel answer with a reset, which can destroy
        the close frame in flight: the peer would see 1006 instead of the
        reason.  So the drivers half-close and discard input until the peer
        closes, for at most ``close_timeout`` ("lingering").
        """
        closed = self._closed
        return (
            closed is not None
            and closed.initiator is Initiator.LOCAL
            and closed.code != CloseCode.ABNORMAL
            and not self._close_started
        )

    def _local_close(self, code: int, reason: str) -> Closed:
        """The close event of a connection we gave up on before the peer answered."""
        if self._closed is None:
            self._closed = Closed(code, reason, Initiator.LOCAL)
        return self._closed

    def _took_over(self, other: AsyncWebSocket) -> None:
        """Go on where ``other`` (detached: :meth:`detach`) stopped."""
        self._pending = other._pending
        self._closed = other._closed
        self.subprotocol = other.subprotocol
        self._close_started = other._close_started
        self.pongs = other.pongs

    # -- the interface each driver implements -------------------------------------------------

    async def detach(self) -> socket.socket | None:
        """Server role, an open connection no task is reading: let go of it for another
        event loop's driver to go on with (:meth:`AsyncioWebSocket.adopt
        <warmwire.transports.asyncio_websocket.AsyncioWebSocket.adopt>`), without a word
        to the peer.  A duplicate of its socket; ``None``, nothing done, where it cannot
        move (TLS, an in-memory pipe, bytes still queued to write)."""
        return None

    async def read_request(self) -> IncomingRequest | None:
        """Server role: wait for the request; ``None`` if the client left first.

        Handed over, not kept: a session must not hold its handshake's headers
        (about 1 KiB) for its whole life.
        """
        raise NotImplementedError

    async def accept(self, subprotocol: str | None = None) -> None:
        """Server role: accept the pending upgrade."""
        raise NotImplementedError

    async def respond(
        self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """Server role: answer the pending request over plain HTTP, then close."""
        raise NotImplementedError

    async def start_response(self, status: int, headers: tuple[tuple[str, str], ...]) -> None:
        """Server role: answer the pending plain request with a body in parts (chunked)."""
        raise NotImplementedError

    async def send_body(self, data: bytes) -> None:
        """Server role: one part of a response begun with :meth:`start_response`; waits
        while the peer is not taking what was sent (flow control).

        :class:`~warmwire.core.errors.ProtocolError` once the client has gone.
        """
        raise NotImplementedError

    async def end_response(self) -> None:
        """Server role: end a response begun with :meth:`start_response`, then close."""
        raise NotImplementedError

    async def wait_gone(self) -> None:
        """Server role, during a response in parts: return once the client has gone."""
        raise NotImplementedError

    async def send(self, data: bytes | str) -> None:
        """Send one message (``str`` → text frame, ``bytes`` → binary frame).

        :class:`~warmwire.core.errors.ProtocolError` once the connection is no
        longer open.  Waits while the peer is not taking what was sent (flow
        control); a peer that is gone is reported by ``recv()`` (1006).
        """
        raise NotImplementedError

    async def send_many(self, data: Sequence[bytes | str]) -> None:
        """Send several messages, in order; small ones leave in one write."""
        raise NotImplementedError

    def push_messages(self, on_message: Callable[[bytes | str], None]) -> bool:
        """Hand every message to ``on_message`` as soon as it is read; ``False`` if this
        driver cannot (the caller keeps calling ``recv()``).

        ``on_message`` runs in the event loop's read callback, so a message
        costs no task wake-up; it must not block and must not raise.
        ``recv()`` then returns only the :class:`Closed` event.
        """
        return False

    def send_nowait(self, data: bytes | str) -> None:
        """Send one message without waiting: only while pushing (see :meth:`push_messages`)."""
        raise NotImplementedError

    async def recv(self) -> bytes | str | Closed:
        """The next message, or the :class:`Closed` event once the connection is over."""
        raise NotImplementedError

    async def send_ping(self) -> None:
        """Send a ping; its pong adds one to :attr:`pongs` when the reading side reads it.

        Never waits for a send under way (a peer that is not reading holds
        that one up): the ping then leaves right after it.
        :class:`~warmwire.core.errors.ProtocolError` once the connection is no
        longer open.
        """
        raise NotImplementedError

    async def start_close(
        self,
        code: int = CloseCode.NORMAL,
        reason: str = "",
        *,
        last_message: bytes | str | None = None,
    ) -> None:
        """Send the close frame; the task reading ``recv()`` sees the handshake finish.

        ``last_message`` is sent just before the close frame, in the same write.
        """
        raise NotImplementedError

    async def aclose(
        self,
        code: int = CloseCode.NORMAL,
        reason: str = "",
        *,
        last_message: bytes | str | None = None,
    ) -> Closed:
        """Close the connection: closing handshake (bounded by ``close_timeout``), then the
        transport.  Only for a caller that owns reading; messages still in flight are
        discarded.  ``last_message`` goes out with the close frame (see :meth:`start_close`).
        """
        raise NotImplementedError

    async def aclose_transport(self) -> None:
        """Close the transport without a closing handshake."""
        raise NotImplementedError


def coalesced(chunks: list[bytes | bytearray]) -> list[bytes | bytearray]:
    """Several small frames as one write (one syscall; under trio one checkpoint)."""
    if len(chunks) > 1 and sum(map(len, chunks)) <= COALESCE_BYTES:
        return [b"".join(chunks)]
    return chunks
