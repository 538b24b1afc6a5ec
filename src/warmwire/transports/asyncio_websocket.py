"""The asyncio driver: a core connection run from asyncio's own callbacks.

Every read is pushed: asyncio calls the driver with each chunk, which it parses
at once; messages go to the session's callback (:meth:`push_messages`) or wait
for ``recv()``, and pongs, close replies and the end of the connection
(lingering after a failure included) are handled right there, without a task.
Every write is ``transport.write``, which never waits: bytes leave in the
order the protocol framed them, so unlike the anyio driver there is no lock.
A sender waits only for flow control (the peer not reading), and every second
send in a row yields to the loop so that a task sending in a loop cannot
starve the others.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence

import anyio

from warmwire.core.client_handshake import ClientProtocol, rejection_error
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import Connection, State
from warmwire.core.errors import HandshakeError
from warmwire.core.events import Closed, Message
from warmwire.transports.asyncio_socket import AsyncioSocket
from warmwire.transports.websocket import AsyncWebSocket, IncomingRequest, coalesced

READ_LIMIT = 1024 * 1024
"""Bytes of messages waiting for ``recv()`` at which the socket stops being read."""

LARGE_WRITE = 64 * 1024
"""Writes from this size on are passed to asyncio as views: what the socket does not
take at once is kept as a slice, free for a view, a copy for bytes."""


class AsyncioWebSocket(AsyncWebSocket):
    """One WebSocket connection over an :class:`AsyncioSocket`."""

    def __init__(
        self,
        sock: AsyncioSocket,
        protocol: Connection,
        *,
        close_timeout: float = 10.0,
        subprotocol: str | None = None,
    ) -> None:
        super().__init__(protocol, close_timeout=close_timeout, subprotocol=subprotocol)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._waiters: list[asyncio.Future[None]] = []
        self._on_message: Callable[[bytes | str], None] | None = None
        self._unread_bytes = 0
        self._reading_paused = False
        self._ended = False
        """The transport is closed, or closing (lingering, or flushing our last bytes)."""
        self._yield_on_send = False
        self._failure: HandshakeError | None = None
        sock.set_receiver(self._received)

    @classmethod
    async def open_client(
        cls, sock: AsyncioSocket, protocol: ClientProtocol, *, close_timeout: float = 10.0
    ) -> AsyncioWebSocket:
        """Run the client side of the handshake; :class:`HandshakeError` if refused."""
        ws = cls(sock, protocol, close_timeout=close_timeout)
        try:
            ws._write_out()
            while protocol.state is State.CONNECTING and not ws._ended:
                await ws._changed()
            if ws._failure is not None:
                raise ws._failure
        except BaseException:
            await ws.aclose_transport()
            raise
        if ws._rejected is not None:
            await ws.aclose_transport()
            raise rejection_error(ws._rejected)
        return ws

    @classmethod
    async def adopt(cls, sock: socket.socket, detached: AsyncWebSocket) -> AsyncioWebSocket:
        """Go on, on the running loop, with the connection ``detached`` let go of
        (:meth:`~warmwire.transports.websocket.AsyncWebSocket.detach`) as ``sock``."""
        try:
            _, moved = await asyncio.get_running_loop().connect_accepted_socket(AsyncioSocket, sock)
        except BaseException:
            sock.close()
            raise
        ws = cls(moved, detached._protocol, close_timeout=detached._close_timeout)
        ws._took_over(detached)
        return ws

    # -- reading: asyncio's read callback -----------------------------------------------------

    def _received(self, data: bytes | None) -> None:
        # The loop ran other callbacks to get here: a sender need not yield again.
        self._yield_on_send = False
        if self._ended:
            if data is None:
                self._sock.close()  # the lingering peer has closed its side too
            return  # lingering: discard what the peer still sends
        protocol = self._protocol
        try:
            protocol.receive_data(data)
        except HandshakeError as exc:  # the client role's answer was not a WebSocket upgrade
            self._failure = exc
            self._end(lingering=False)
            self._wake()
            return
        on_message = self._on_message
        # Whether a task waiting here has something to look at: not for a pushed
        # message (waking the session's reader for it would cost a task switch each).
        news = False
        for event in protocol.events():
            if on_message is not None and type(event) is Message:
                on_message(event.data)
            else:
                news = True
                self._on_event(event)
                if type(event) is Message:
                    self._count_unread(event.data)
        if protocol.close_transport:
            news = True
            self._end(lingering=data is not None and self._failed_the_connection())
        elif protocol.has_data_to_send():  # pongs, close replies: rare
            self._write_out()
        if news:
            self._wake()

    def _count_unread(self, data: bytes | str) -> None:
        self._unread_bytes += len(data)
        if self._unread_bytes >= READ_LIMIT and not self._reading_paused:
            # Nobody is calling recv(): stop reading, and the peer waits.
            self._reading_paused = True
            self._sock.pause_reading()

    def _end(self, *, lingering: bool) -> None:
        """The protocol is done with the transport: our last bytes out, then close it."""
        self._ended = True
        self._write_out()  # the close frame, ours or our reply
        if lingering:
            # See AsyncWebSocket._failed_the_connection: half-close, keep reading
            # (and discarding) until the peer closes, for at most close_timeout.
            self._sock.write_eof()
            if self._reading_paused:
                self._sock.resume_reading()
            self._loop.call_later(self._close_timeout, self._sock.close)
        else:
            self._sock.finish(self._close_timeout)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _changed(self) -> None:
        """Wait for the read callback to have news (a message, an event, the end)."""
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        self._yield_on_send = False  # this wait let every other task run
        try:
            await waiter
        finally:
            if not waiter.done():  # cancelled: only this waiter goes
                self._waiters.remove(waiter)

    # -- writing: synchronous, then flow control ----------------------------------------------

    def _write_out(self) -> None:
        sock = self._sock
        chunks = self._protocol.chunks_to_send()
        if len(chunks) > 1:  # one message is one chunk: no call for it
            chunks = coalesced(chunks)
        for chunk in chunks:
            if chunk:
                sock.write(memoryview(chunk) if len(chunk) >= LARGE_WRITE else chunk)

    async def _sent(self) -> None:
        """After a write: let other tasks run every second send in a row, and wait while
        the peer is not taking what was written."""
        if self._yield_on_send:
            # Request/response traffic, where the loop reads between sends, never pays
            # for this loop iteration; a task sending in a loop does, every other time.
            self._yield_on_send = False
            await asyncio.sleep(0)
        else:
            self._yield_on_send = True
        if self._sock.write_paused:
            await self._sock.writable()

    # -- the interface ------------------------------------------------------------------------

    async def read_request(self) -> IncomingRequest | None:
        while self._request is None and not self._protocol.close_transport and not self._ended:
            await self._changed()
        request, self._request = self._request, None
        return request

    async def accept(self, subprotocol: str | None = None) -> None:
        protocol = self._server_protocol()
        protocol.accept(subprotocol)
        self.subprotocol = subprotocol
        self._write_out()
        for event in protocol.events():  # frames that came with the request
            self._on_event(event)
            if type(event) is Message:
                self._count_unread(event.data)
        if protocol.close_transport and not self._ended:  # and the end, if it came too
            self._end(lingering=self._failed_the_connection())

    async def respond(
        self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._server_protocol().respond(status, body, headers)
        self._write_out()
        await self.aclose_transport()

    async def start_response(self, status: int, headers: tuple[tuple[str, str], ...]) -> None:
        self._server_protocol().start_response(status, headers)
        self._write_out()
        await self._sent()

    async def send_body(self, data: bytes) -> None:
        self._server_protocol().send_body(data)
        self._write_out()
        await self._sent()

    async def end_response(self) -> None:
        self._server_protocol().end_response()
        if not self._ended:
            self._end(lingering=False)  # the last chunk out, then the transport closed

    async def wait_gone(self) -> None:
        while not self._ended:
            await self._changed()

    async def send(self, data: bytes | str) -> None:
        self._protocol.send_message(data)
        self._write_out()
        if self._yield_on_send or self._sock.write_paused:
            await self._sent()
        else:  # what _sent() would do, without its coroutine: once per message
            self._yield_on_send = True

    async def send_many(self, data: Sequence[bytes | str]) -> None:
        try:
            for item in data:
                self._protocol.send_message(item)
        finally:
            # Those framed before a ProtocolError (the connection closing) still go.
            self._write_out()
        await self._sent()

    def push_messages(self, on_message: Callable[[bytes | str], None]) -> bool:
        pending, self._pending = self._pending, None
        for data in pending or ():  # messages read with the request come first
            on_message(data)
        self._unread_bytes = 0
        if self._reading_paused:
            self._reading_paused = False
            self._sock.resume_reading()
        self._on_message = on_message
        return True

    def send_nowait(self, data: bytes | str) -> None:
        self._protocol.send_message(data)
        self._write_out()

    async def recv(self) -> bytes | str | Closed:
        while not self._pending:
            if self._closed is not None:
                return self._closed
            if self._ended:
                # Cut by aclose_transport() (a stalled peer, a dead keepalive): the read
                # callback stops feeding the protocol, so no close event will come.
                return self._local_close(CloseCode.ABNORMAL, "connection lost")
            await self._changed()
        data = self._pending.popleft()
        if self._on_message is None:
            self._unread_bytes -= len(data)
            if self._reading_paused and self._unread_bytes < READ_LIMIT // 2:
                self._reading_paused = False
                self._sock.resume_reading()
        return data

    async def send_ping(self) -> None:
        self._protocol.send_ping()
        self._write_out()

    async def start_close(
        self,
        code: int = CloseCode.NORMAL,
        reason: str = "",
        *,
        last_message: bytes | str | None = None,
    ) -> None:
        self._close_started = True
        if last_message is not None:
            self._protocol.send_message(last_message)
        self._protocol.close(code, reason)
        self._write_out()

    async def aclose(
        self,
        code: int = CloseCode.NORMAL,
        reason: str = "",
        *,
        last_message: bytes | str | None = None,
    ) -> Closed:
        await self.start_close(code, reason, last_message=last_message)
        # Shielded: a caller cancelled while closing still closes (within close_timeout).
        with anyio.move_on_after(self._close_timeout, shield=True):
            while self._closed is None and not self._ended:
                await self._changed()
        await self.aclose_transport()
        return self._local_close(code, reason)

    async def aclose_transport(self) -> None:
        self._ended = True
        self._sock.close()
        self._wake()

    async def detach(self) -> socket.socket | None:
        if self._ended or self._waiters or self._on_message is not None:
            return None
        moved = self._sock.detach()
        if moved is not None:
            self._ended = True
        return moved
