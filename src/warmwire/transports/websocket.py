"""The async I/O driver: a core protocol over an anyio byte stream (asyncio or trio).

Thin on purpose: every decision is in :mod:`warmwire.core.protocol`; this
module only moves bytes.  Writes are serialised by a lock, and the bytes to
write are taken from the protocol *inside* that lock so that automatic pongs,
close replies and messages leave in the order the protocol produced them.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from typing import cast

import anyio
import anyio.abc

from warmwire.core.client_handshake import ClientProtocol, rejection_error
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import Connection, State
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
from warmwire.transports.asyncio_stream import AsyncioStream
from warmwire.transports.send_lock import SendLock

RECEIVE_SIZE = 256 * 1024
COALESCE_BYTES = 64 * 1024
"""Frames waiting to go out are joined into one write up to this size; larger ones
are written apart rather than copied."""
_STREAM_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class AsyncWebSocket:
    """One WebSocket connection; use ``recv()`` from one task and ``send()`` from any."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        protocol: Connection,
        *,
        close_timeout: float = 10.0,
        subprotocol: str | None = None,
    ) -> None:
        self._stream = stream
        self._protocol = protocol
        self._close_timeout = close_timeout
        self._send_lock = SendLock()
        self._pending: collections.deque[bytes | str] = collections.deque()
        self._closed: Closed | None = None
        self._pong = anyio.Event()
        self.subprotocol = subprotocol
        self._rejected: Rejected | None = None
        self._request: HttpRequest | UpgradeRequest | BadRequest | None = None
        self._close_started = False
        # Push mode (push_messages): where messages go, and what the reading task
        # waits for instead of the stream: the read that ended push mode.
        self._on_message: Callable[[bytes | str], None] | None = None
        self._push_ended: asyncio.Future[bytes | None] | None = None

    @classmethod
    async def open_client(
        cls, stream: anyio.abc.ByteStream, protocol: ClientProtocol, *, close_timeout: float = 10.0
    ) -> AsyncWebSocket:
        """Run the client side of the handshake; :class:`HandshakeError` if refused."""
        ws = cls(stream, protocol, close_timeout=close_timeout)
        try:
            await ws._flush()
            while protocol.state is State.CONNECTING:
                await ws._receive_once()
        except BaseException:
            await ws.aclose_transport()
            raise
        if ws._rejected is not None:
            await ws.aclose_transport()
            raise rejection_error(ws._rejected)
        return ws

    async def read_request(self) -> HttpRequest | UpgradeRequest | BadRequest | None:
        """Server role: wait for the request; ``None`` if the client left first."""
        while self._request is None and not self._protocol.close_transport:
            await self._receive_once()
        return self._request

    async def accept(self, subprotocol: str | None = None) -> None:
        """Server role: accept the pending upgrade."""
        protocol = self._server_protocol()
        async with self._send_lock:
            protocol.accept(subprotocol)
            self.subprotocol = subprotocol
            await self._write_pending()
        for event in protocol.events():  # frames that came with the request
            self._on_event(event)

    async def respond(
        self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """Server role: answer the pending request over plain HTTP, then close."""
        protocol = self._server_protocol()
        async with self._send_lock:
            protocol.respond(status, body, headers)
            await self._write_pending()
        await self.aclose_transport()

    def _server_protocol(self) -> ServerProtocol:
        assert isinstance(self._protocol, ServerProtocol), "a server-role method on a client"
        return self._protocol

    def unread(self) -> tuple[bytes | str, ...]:
        """Messages received that ``recv()`` has not returned yet."""
        return tuple(self._pending)

    @property
    def closed(self) -> Closed | None:
        """The close event once the connection is over, else ``None``."""
        return self._closed

    async def send(self, data: bytes | str) -> None:
        """Send one message (``str`` → text frame, ``bytes`` → binary frame)."""
        async with self._send_lock:
            self._protocol.send_message(data)
            await self._write_pending()

    async def send_many(self, data: Sequence[bytes | str]) -> None:
        """Send several messages, in order; small ones leave in one write."""
        async with self._send_lock:
            try:
                for item in data:
                    self._protocol.send_message(item)
            finally:
                # Those framed before a ProtocolError (the connection closing) still go.
                await self._write_pending()

    def push_messages(self, on_message: Callable[[bytes | str], None]) -> bool:
        """Hand every message to ``on_message`` as soon as it is read; ``False`` if unsupported.

        ``on_message`` runs in the event loop's read callback (warmwire's own
        asyncio stream only), so a message costs no task wake-up; it must not
        block and must not raise.  ``recv()`` then returns only the
        :class:`Closed` event, and pongs and close replies are written from the
        callback.  Push mode ends with the connection.
        """
        stream = self._stream
        if not isinstance(stream, AsyncioStream) or self._closed is not None:
            return False
        while self._pending:  # messages read with the request come first
            on_message(self._pending.popleft())
        self._on_message = on_message
        self._push_ended = asyncio.get_running_loop().create_future()
        stream.set_receiver(self._pushed)
        return True

    def send_nowait(self, data: bytes | str) -> None:
        """Send one message without waiting (push mode's replies from the read callback).

        Written at once unless a ``send()`` is under way, which then writes it
        before it returns; :class:`~warmwire.core.errors.ProtocolError` if the
        connection is no longer open.
        """
        self._protocol.send_message(data)
        self._write_now()

    async def recv(self) -> bytes | str | Closed:
        """The next message, or the :class:`Closed` event once the connection is over."""
        while not self._pending:
            if self._closed is not None:
                return self._closed
            await self._receive_once()
        return self._pending.popleft()

    async def ping(self) -> None:
        """Send a ping and wait for its pong (bound it with ``anyio.fail_after``)."""
        self._pong = anyio.Event()
        async with self._send_lock:
            self._protocol.send_ping()
            await self._write_pending()
        await self._pong.wait()

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
        async with self._send_lock:
            self._close_started = True
            if last_message is not None:
                self._protocol.send_message(last_message)
            self._protocol.close(code, reason)
            await self._write_pending()

    async def aclose(
        self,
        code: int = CloseCode.NORMAL,
        reason: str = "",
        *,
        last_message: bytes | str | None = None,
    ) -> Closed:
        """Close the connection: closing handshake (bounded by ``close_timeout``), then the stream.

        Only for a caller that owns reading; messages still in flight are
        discarded.  ``last_message`` goes out with the close frame (see
        :meth:`start_close`).
        """
        await self.start_close(code, reason, last_message=last_message)
        with anyio.move_on_after(self._close_timeout, shield=True):
            while self._closed is None:
                await self._receive_once()
        await self.aclose_transport()
        if self._closed is None:
            self._closed = Closed(code, reason, Initiator.LOCAL)
        return self._closed

    async def aclose_transport(self) -> None:
        """Close the byte stream without a closing handshake."""
        with anyio.CancelScope(shield=True):
            try:
                await self._stream.aclose()
            except _STREAM_GONE:
                pass

    async def _receive_once(self) -> None:
        data: bytes | None
        if self._push_ended is not None:
            # Push mode: the read callback has done the reading; wait for the read
            # that ended it, and finish that read's work here.
            # Shielded: a cancelled wait (a timeout) must not cancel the future itself.
            data = await asyncio.shield(self._push_ended)
            self._push_ended = None
        else:
            try:
                data = await self._stream.receive(RECEIVE_SIZE)
            except _STREAM_GONE:
                data = None
            self._protocol.receive_data(data)
            for event in self._protocol.events():
                self._on_event(event)
        if self._protocol.close_transport:
            # The close frame (ours or our reply) must go out before the stream closes.
            with anyio.move_on_after(self._close_timeout):
                async with self._send_lock:
                    await self._write_pending()
            if data is not None and self._failed_the_connection():
                await self._linger()
            await self.aclose_transport()
        elif self._protocol.has_data_to_send():  # pongs, close replies: rare
            await self._flush()

    def _pushed(self, data: bytes | None) -> None:
        """Push mode's read callback: messages to ``on_message``, the rest as in pull mode."""
        protocol = self._protocol
        protocol.receive_data(data)
        on_message = self._on_message
        assert on_message is not None
        for event in protocol.events():
            if isinstance(event, Message):
                on_message(event.data)
            else:
                self._on_event(event)
        if data is None or protocol.close_transport or self._closed is not None:
            # The end of the connection has work that waits (the close frame out,
            # lingering): back to pull mode, and the task in recv() does it.
            assert isinstance(self._stream, AsyncioStream)
            self._stream.set_receiver(None)
            self._on_message = None
            if self._push_ended is not None and not self._push_ended.done():
                self._push_ended.set_result(data)
        elif protocol.has_data_to_send():  # pongs: rare
            self._write_now()

    def _write_now(self) -> None:
        """Write the protocol's output without waiting, unless a sender holds the lock
        (it writes everything pending before it releases it)."""
        if self._send_lock.locked():
            return
        assert isinstance(self._stream, AsyncioStream)
        for chunk in self._protocol.chunks_to_send():
            self._stream.write_nowait(chunk)

    def _failed_the_connection(self) -> bool:
        """True when the protocol, not a closing handshake, ended an open connection."""
        closed = self._closed
        return (
            closed is not None
            and closed.initiator is Initiator.LOCAL
            and closed.code != CloseCode.ABNORMAL
            and not self._close_started
        )

    async def _linger(self) -> None:
        """Let our close frame reach a peer that may still be sending, then close.

        After a protocol failure (1002, 1007, 1009...) the peer may still be
        writing, e.g. the rest of an oversized message.  Closing a socket with
        unread input makes the kernel answer with a reset, which can destroy
        the close frame in flight (asyncio drops a connection's pending input
        when a write fails): the peer would see 1006 instead of the reason.
        So half-close where the stream allows it, and discard input until the
        peer closes, for at most ``close_timeout``.
        """
        with anyio.move_on_after(self._close_timeout):
            try:
                await self._stream.send_eof()
            except (NotImplementedError, *_STREAM_GONE):
                pass  # TLS streams cannot half-close: the peer closes after our close frame
            try:
                while await self._stream.receive(RECEIVE_SIZE):
                    pass
            except _STREAM_GONE:
                pass

    def _on_event(self, event: Event) -> None:
        if isinstance(event, Message):
            self._pending.append(event.data)
        elif isinstance(event, Pong):
            self._pong.set()
        elif isinstance(event, Closed):
            self._closed = event
        elif isinstance(event, Opened):
            self.subprotocol = event.subprotocol
        elif isinstance(event, Rejected):
            self._rejected = event
        else:
            self._request = event

    async def _flush(self) -> None:
        """Write what reading produced (pongs, close replies), without ever waiting for it.

        A reader must not wait for the send lock: a sender blocked on a peer
        that is not reading would stop this side from reading too, and two
        such peers deadlock.  The task holding the lock writes everything
        pending before it releases it (see :meth:`_write_pending`).
        """
        if self._send_lock.locked() or not self._protocol.has_data_to_send():
            return
        async with self._send_lock:
            await self._write_pending()

    async def _write_pending(self) -> None:
        """With the send lock held: write the protocol's output until there is none left.

        Bytes are taken from the protocol inside the lock so that they leave in
        the order the protocol produced them; looping picks up what a reader
        added meanwhile, and no checkpoint separates the last (empty) take
        from the release of the lock.
        """
        while chunks := self._protocol.chunks_to_send():
            if len(chunks) > 1 and sum(map(len, chunks)) <= COALESCE_BYTES:
                # Several small frames: one write (under trio, one checkpoint).
                chunks = [b"".join(chunks)]
            elif len(chunks) > 1 and isinstance(self._stream, AsyncioStream):
                # A large frame's header and payload: hand the first to asyncio at
                # once, and wait (flow control, a yield) on the last one only.
                for chunk in chunks[:-1]:
                    self._stream.write_nowait(chunk)
                chunks = chunks[-1:]
            for chunk in chunks:
                await self._write(chunk)

    async def _write(self, data: bytes | bytearray) -> None:
        if not data:
            return
        try:
            # Typed bytes, but every anyio stream (socket, TLS, trio) and warmwire's
            # own take any bytes-like object; a masked payload is a bytearray, and
            # copying a megabyte to please the annotation is what this avoids.
            await self._stream.send(cast(bytes, data))
        except _STREAM_GONE:
            # The peer is gone; the reading side reports it as a 1006 close.
            pass
