"""asyncio's own sockets for warmwire: a ``Protocol`` that hands every read to one receiver.

anyio's asyncio socket stream costs two ``epoll_ctl`` calls per ``receive()``
(reading is resumed and paused around each wait) and a shielded cancel scope
per ``send()``; for a realtime message that is much of the cost of moving it.
So under asyncio the built-in transports (TCP, Unix sockets, TLS) open an
:class:`AsyncioSocket`, and :class:`~warmwire.transports.asyncio_websocket.AsyncioWebSocket`
drives it: each chunk is pushed to the driver in the loop's read callback,
and writes are asyncio's synchronous ``transport.write``.

Until a driver sets its receiver, chunks (and the end of the stream) wait here.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any, cast

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from warmwire.transports.eventloop import call_on_asyncio

Receiver = Callable[[bytes | None], None]
"""Takes each chunk read; ``None`` once, at EOF or when the connection is lost."""


class AsyncioSocket(asyncio.Protocol):
    """One asyncio connection's transport callbacks, handed to a single receiver."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._receiver: Receiver | None = None
        self._early: list[bytes] = []
        self._ended = False
        """EOF or loss seen (and, once there is a receiver, reported to it)."""
        self.lost = False
        self.write_paused = False
        self._writable: asyncio.Future[None] | None = None

    # -- asyncio's callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._receiver is not None:
            self._receiver(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        self._end()
        return True  # keep the transport open: our close frame may still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._end()
        self._wake_writer()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_writer()

    # -- what a driver uses -------------------------------------------------------------------

    def set_receiver(self, receiver: Receiver) -> None:
        """Hand each chunk to ``receiver`` from now on, the ones already read first.

        ``receiver`` runs in the event loop's read callback: it must not block
        and must not raise.
        """
        self._receiver = receiver
        early, self._early = self._early, []
        for data in early:
            receiver(data)
        if self._ended:
            receiver(None)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for writing now (asyncio writes what the socket takes at once)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def writable(self) -> None:
        """Wait while asyncio's buffer is over its high-water mark (the peer is not reading)."""
        while self.write_paused and not self.lost:
            self._writable = asyncio.get_running_loop().create_future()
            try:
                await self._writable
            finally:
                self._writable = None

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def detach(self) -> socket.socket | None:
        """Let go of the connection without a word to the peer: a duplicate of its socket,
        for another event loop to serve, and this transport closed; or ``None``, nothing
        done, where it cannot move: TLS (its state is in asyncio's protocol), bytes still
        queued to write, the connection ending."""
        transport = self.transport
        if transport is None or transport.is_closing() or self._ended or self._early:
            return None
        if transport.get_extra_info("sslcontext") is not None:
            return None
        raw = transport.get_extra_info("socket")
        if raw is None or transport.get_write_buffer_size():
            return None
        moved: socket.socket = raw.dup()
        # Closing this descriptor sends nothing while the duplicate is open; what this
        # transport would report of it (the loss) is nobody's news.
        self._ended = True
        self._receiver = None
        transport.abort()
        return moved

    def write_eof(self) -> None:
        """Half-close (TLS cannot: then nothing happens, and the peer closes after our
        close frame)."""
        transport = self.transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()

    def close(self) -> None:
        """Close once what is queued is written; cut at once if the peer is not taking it."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size():
            # The peer is not taking what is queued: waiting for it to would keep
            # the socket open forever.
            transport.abort()
        else:
            transport.close()

    def finish(self, timeout: float) -> None:
        """Close once what is queued is written (our close frame, behind a large result
        perhaps), or cut after ``timeout`` seconds if the peer does not take it."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.close()  # asyncio writes what is queued first
        if transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(timeout, transport.abort)

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        """anyio's socket attributes (local and remote address, port, raw socket)."""
        assert self.transport is not None
        return _socket_attributes(self.transport.get_extra_info("socket"), connected=True)

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._receiver is not None:
            self._receiver(None)

    def _wake_writer(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)


def _socket_attributes(sock: socket.socket, *, connected: bool) -> dict[Any, Callable[[], Any]]:
    """anyio's socket attributes, for a connected or a listening socket."""
    attributes: dict[Any, Callable[[], Any]] = {
        SocketAttribute.raw_socket: lambda: sock,
        SocketAttribute.family: lambda: sock.family,
        SocketAttribute.local_address: sock.getsockname,
    }
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        attributes[SocketAttribute.local_port] = lambda: sock.getsockname()[1]
        if connected:
            attributes[SocketAttribute.remote_address] = sock.getpeername
            attributes[SocketAttribute.remote_port] = lambda: sock.getpeername()[1]
    return attributes


async def connect_tcp(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncioSocket:
    """Open a TCP connection, with TLS when ``ssl_context`` is given (asyncio sets
    ``TCP_NODELAY``)."""
    loop = asyncio.get_running_loop()
    # No happy_eyeballs_delay: uvloop does not take it; addresses are tried in turn.
    _, sock = await loop.create_connection(
        AsyncioSocket,
        host,
        port,
        ssl=ssl_context,
        server_hostname=host if ssl_context is not None else None,
    )
    return sock


async def connect_unix(path: str) -> AsyncioSocket:
    """Open a Unix socket connection."""
    _, sock = await asyncio.get_running_loop().create_unix_connection(AsyncioSocket, path)
    return sock


class AsyncioListener(anyio.abc.Listener[AsyncioSocket]):
    """Accepts connections with an ``asyncio.Server``; each one is handled in the task group."""

    def __init__(self, server: asyncio.Server, connections: _Connections) -> None:
        self._server = server
        self._connections = connections

    async def serve(
        self,
        handler: Callable[[AsyncioSocket], Any],
        task_group: anyio.abc.TaskGroup | None = None,
    ) -> None:
        async with anyio.create_task_group() as own:
            group = task_group or own
            start_soon = group.start_soon
            self._connections.start = lambda sock: call_on_asyncio(start_soon, handler, sock)
            for sock in self._connections.waiting:
                group.start_soon(handler, sock)
            self._connections.waiting.clear()
            try:
                await anyio.sleep_forever()
            finally:
                self._connections.start = None

    async def aclose(self) -> None:
        self._server.close()
        for sock in self._connections.waiting:
            sock.close()
        self._connections.waiting.clear()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return _socket_attributes(self._server.sockets[0], connected=False)


class _Connections:
    """Hands accepted connections to the listener's handler, or keeps them until it starts."""

    def __init__(self) -> None:
        self.start: Callable[[AsyncioSocket], object] | None = None
        self.waiting: list[AsyncioSocket] = []

    def factory(self) -> AsyncioSocket:
        return _AcceptedSocket(self)


class _AcceptedSocket(AsyncioSocket):
    def __init__(self, connections: _Connections) -> None:
        super().__init__()
        self._connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._connections.start is not None:
            self._connections.start(self)
        else:
            self._connections.waiting.append(self)


async def create_tcp_listener(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    reuse_port: bool = False,
) -> AsyncioListener:
    """Listen on ``host:port`` (0 picks a free port), with TLS when ``ssl_context`` is given;
    ``reuse_port`` lets other processes listen on the same port (``SO_REUSEPORT``)."""
    connections = _Connections()
    server = await asyncio.get_running_loop().create_server(
        connections.factory,
        host,
        port,
        reuse_address=True,
        reuse_port=reuse_port or None,
        ssl=ssl_context,
    )
    return AsyncioListener(server, connections)


async def create_unix_listener(path: str) -> AsyncioListener:
    """Listen on the Unix socket ``path``."""
    connections = _Connections()
    server = await asyncio.get_running_loop().create_unix_server(connections.factory, path)
    return AsyncioListener(server, connections)
