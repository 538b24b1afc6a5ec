"""The blocking I/O driver: a core protocol over a plain socket, for the sync client.

No event loop and no helper thread: ``send`` writes, ``recv`` reads until a
whole message is there.  One thread may send while another receives: the
protocol object is only touched under a short state lock (never held during
I/O), and writes are serialised by a send lock that the reading thread takes
only when reading produced bytes to write (pongs, close replies).
"""

from __future__ import annotations

import collections
import socket
import threading
import time

from warmwire.core.client_handshake import ClientProtocol, rejection_error
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import State
from warmwire.core.events import Closed, Initiator, Message, Opened, Rejected

RECEIVE_SIZE = 256 * 1024


class SyncWebSocket:
    """A client WebSocket on a blocking socket."""

    def __init__(
        self, sock: socket.socket, protocol: ClientProtocol, *, close_timeout: float = 10.0
    ):
        self._sock = sock
        self._protocol = protocol
        self._close_timeout = close_timeout
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: collections.deque[bytes | str] = collections.deque()
        self._closed: Closed | None = None
        self._rejected: Rejected | None = None
        self.subprotocol: str | None = None

    @classmethod
    def open_client(
        cls,
        sock: socket.socket,
        protocol: ClientProtocol,
        *,
        open_timeout: float | None = 10.0,
        close_timeout: float = 10.0,
    ) -> SyncWebSocket:
        """Run the opening handshake; raise :class:`HandshakeError` if the runner refuses."""
        ws = cls(sock, protocol, close_timeout=close_timeout)
        try:
            ws._flush()
            deadline = None if open_timeout is None else time.monotonic() + open_timeout
            while protocol.state is State.CONNECTING:
                ws._receive_once(deadline)
        except BaseException:
            ws.close_transport()
            raise
        if ws._rejected is not None:
            ws.close_transport()
            raise rejection_error(ws._rejected)
        return ws

    def unread(self) -> tuple[bytes | str, ...]:
        """Messages received that ``recv()`` has not returned yet."""
        return tuple(self._pending)

    @property
    def closed(self) -> Closed | None:
        return self._closed

    def send(self, data: bytes | str) -> None:
        """Send one message (``str`` → text frame, ``bytes`` → binary frame)."""
        with self._send_lock:
            with self._state_lock:
                self._protocol.send_message(data)
                out = self._protocol.chunks_to_send()
            self._write(out)

    def recv(self, timeout: float | None = None) -> bytes | str | Closed:
        """The next message or the :class:`Closed` event; ``TimeoutError`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            if self._closed is not None:
                return self._closed
            self._receive_once(deadline)
        return self._pending.popleft()

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> Closed:
        """Closing handshake (bounded by ``close_timeout``), then close the socket."""
        with self._send_lock:
            with self._state_lock:
                self._protocol.close(code, reason)
                out = self._protocol.chunks_to_send()
            self._write(out)
        deadline = time.monotonic() + self._close_timeout
        try:
            while self._closed is None:
                self._receive_once(deadline)
        except TimeoutError:
            pass
        self.close_transport()
        if self._closed is None:
            self._closed = Closed(code, reason, Initiator.LOCAL)
        return self._closed

    def close_transport(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def _receive_once(self, deadline: float | None) -> None:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise TimeoutError("no message from the runner within the timeout")
        try:
            # Inside the try: on a socket the runner already dropped, settimeout fails too.
            self._sock.settimeout(remaining)
            data: bytes | None = self._sock.recv(RECEIVE_SIZE) or None
        except TimeoutError:
            raise TimeoutError("no message from the runner within the timeout") from None
        except OSError:
            data = None
        with self._state_lock:
            try:
                self._protocol.receive_data(data)
            finally:
                events = self._protocol.events()
                out = self._protocol.chunks_to_send()
                close_transport = self._protocol.close_transport
        for event in events:
            if isinstance(event, Message):
                self._pending.append(event.data)
            elif isinstance(event, Closed):
                self._closed = event
            elif isinstance(event, Opened):
                self.subprotocol = event.subprotocol
            elif isinstance(event, Rejected):
                self._rejected = event
        if out:
            # Bytes the protocol produced while reading leave after any message
            # a sender has already taken, and before any it takes later.
            with self._send_lock:
                self._write(out)
        if close_transport:
            self.close_transport()

    def _flush(self) -> None:
        with self._send_lock:
            with self._state_lock:
                out = self._protocol.chunks_to_send()
            self._write(out)

    def _write(self, chunks: list[bytes | bytearray]) -> None:
        """Write all of ``chunks``, in order.

        The reading thread sets the socket's timeout for its own deadline, and
        that timeout applies to writes on the same socket too.  ``sendall``
        would then fail part-way, with no way to tell how much was sent, and
        leave half a frame on the wire.  ``send`` reports what it wrote, so a
        timeout here only means "try again".
        """
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                try:
                    sent = self._sock.send(view)
                except TimeoutError:
                    continue
                except OSError:
                    return  # the peer is gone; the reading side reports it as a 1006 close
                view = view[sent:]
