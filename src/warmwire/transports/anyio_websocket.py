"""The anyio driver: a core connection over any anyio byte stream (trio, TLS, memory, plugins).

Reads are pulled by the task in ``recv()``.  A write is an ``await`` that may
wait for a peer that is not reading, so writes are serialised by a lock, and
the bytes to write are taken from the protocol *inside* that lock: automatic
pongs, close replies and messages leave in the order the protocol produced
them.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import cast

import anyio
import anyio.abc
from anyio.streams.tls import TLSAttribute

from warmwire.core.client_handshake import ClientProtocol, rejection_error
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import Connection, State
from warmwire.core.events import Closed
from warmwire.transports.eventloop import current_library
from warmwire.transports.send_lock import SendLock
from warmwire.transports.websocket import AsyncWebSocket, IncomingRequest, coalesced

RECEIVE_SIZE = 256 * 1024
_STREAM_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class AnyioWebSocket(AsyncWebSocket):
    """One WebSocket connection over an anyio byte stream."""

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        protocol: Connection,
        *,
        close_timeout: float = 10.0,
        subprotocol: str | None = None,
    ) -> None:
        super().__init__(protocol, close_timeout=close_timeout, subprotocol=subprotocol)
        self._stream = stream
        self._send_lock = SendLock()

    @classmethod
    async def open_client(
        cls, stream: anyio.abc.ByteStream, protocol: ClientProtocol, *, close_timeout: float = 10.0
    ) -> AnyioWebSocket:
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

    async def read_request(self) -> IncomingRequest | None:
        while self._request is None and not self._protocol.close_transport:
            await self._receive_once()
        request, self._request = self._request, None
        return request

    async def accept(self, subprotocol: str | None = None) -> None:
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
        protocol = self._server_protocol()
        async with self._send_lock:
            protocol.respond(status, body, headers)
            await self._write_pending()
        await self.aclose_transport()

    async def start_response(self, status: int, headers: tuple[tuple[str, str], ...]) -> None:
        async with self._send_lock:
            self._server_protocol().start_response(status, headers)
            await self._write_pending()

    async def send_body(self, data: bytes) -> None:
        async with self._send_lock:
            self._server_protocol().send_body(data)
            await self._write_pending()

    async def end_response(self) -> None:
        async with self._send_lock:
            self._server_protocol().end_response()
            await self._write_pending()
        await self.aclose_transport()

    async def wait_gone(self) -> None:
        while not self._protocol.close_transport:
            await self._receive_once()

    async def send(self, data: bytes | str) -> None:
        async with self._send_lock:
            self._protocol.send_message(data)
            await self._write_pending()

    async def send_many(self, data: Sequence[bytes | str]) -> None:
        async with self._send_lock:
            try:
                for item in data:
                    self._protocol.send_message(item)
            finally:
                # Those framed before a ProtocolError (the connection closing) still go.
                await self._write_pending()

    async def recv(self) -> bytes | str | Closed:
        while not self._pending:
            if self._closed is not None:
                return self._closed
            await self._receive_once()
        return self._pending.popleft()

    async def send_ping(self) -> None:
        self._protocol.send_ping()
        await self._flush()  # or the sender holding the lock takes it along

    async def start_close(
        self,
        code: int = CloseCode.NORMAL,
        reason: str = "",
        *,
        last_message: bytes | str | None = None,
    ) -> None:
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
        await self.start_close(code, reason, last_message=last_message)
        with anyio.move_on_after(self._close_timeout, shield=True):
            while self._closed is None:
                await self._receive_once()
        await self.aclose_transport()
        return self._local_close(code, reason)

    async def aclose_transport(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self._stream.aclose()
            except _STREAM_GONE:
                pass

    async def detach(self) -> socket.socket | None:
        stream = self._stream
        if self._send_lock.locked() or stream.extra(TLSAttribute.ssl_object, None) is not None:
            return None
        if current_library() != "trio":
            # anyio's asyncio streams may hold bytes read ahead; trio's sockets never do.
            return None
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if raw is None:
            return None
        moved = raw.dup()
        await self.aclose_transport()  # closes this descriptor only: the peer sees nothing
        return moved

    async def _receive_once(self) -> None:
        try:
            data: bytes | None = await self._stream.receive(RECEIVE_SIZE)
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

    async def _linger(self) -> None:
        """Let our close frame reach a peer that may still be sending, then close
        (see ``_failed_the_connection``)."""
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

    async def _flush(self) -> None:
        """Write what reading produced (pongs, close replies), without ever waiting for it.

        A reader must not wait for the send lock: a sender blocked on a peer
        that is not reading would stop this side from reading too, and two
        such peers deadlock.  The task holding the lock writes everything
        pending before it releases it (see :meth:`_write_pending`).
        """
        if self._send_lock.locked() or not self._protocol.has_data_to_send():
            return
        # Shielded: the reader's wait has a deadline (the session's next look), and a
        # write cut short by it would lose the frame taken from the protocol, or leave
        # half of it on the wire.  Bounded instead by close_timeout: a peer that takes
        # nothing for that long is cut, and its stream is closed, never left half-written.
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + self._close_timeout
            async with self._send_lock:
                await self._write_pending()
        if scope.cancelled_caught:
            await self.aclose_transport()

    async def _write_pending(self) -> None:
        """With the send lock held: write the protocol's output until there is none left.

        Bytes are taken from the protocol inside the lock so that they leave in
        the order the protocol produced them; looping picks up what a reader
        added meanwhile, and no checkpoint separates the last (empty) take
        from the release of the lock.
        """
        while chunks := self._protocol.chunks_to_send():
            for chunk in coalesced(chunks):
                await self._write(chunk)

    async def _write(self, data: bytes | bytearray) -> None:
        if not data:
            return
        try:
            # Typed bytes, but every anyio stream (socket, TLS, trio) takes any
            # bytes-like object; a masked payload is a bytearray, and copying a
            # megabyte to please the annotation is what this avoids.
            await self._stream.send(cast(bytes, data))
        except _STREAM_GONE:
            # The peer is gone; the reading side reports it as a 1006 close.
            pass
