"""A lean byte stream for asyncio: a ``Protocol`` feeding a queue, no per-call checkpoint.

anyio's own asyncio socket stream costs two ``epoll_ctl`` calls per
``receive()`` (reading is resumed and paused around each wait) and a shielded
cancel scope per ``send()``.  For a realtime message that is much of the cost
of moving it, so under asyncio warmwire's TCP and Unix sockets use this stream
instead; trio, and TLS, keep anyio's streams.

It keeps anyio's contract where warmwire relies on it: ``receive()`` raises
:class:`anyio.EndOfStream` at EOF, :class:`anyio.BrokenResourceError` when the
connection broke and :class:`anyio.ClosedResourceError` after ``aclose()``;
``send()`` waits while the kernel's and asyncio's buffers are full (the peer
is not reading), and reading pauses while :data:`READ_LIMIT` bytes wait unread.

It also has a *push* mode (:meth:`AsyncioStream.set_receiver`): each chunk is
handed to a function as soon as asyncio reads it, in the transport's own
callback, so a reader that can consume bytes synchronously (the runner's
session: parse, decode, buffer) costs no task wake-up per message.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable, Mapping
from typing import Any, cast

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

READ_LIMIT = 1024 * 1024
"""Unread bytes at which the socket stops being read (the peer then waits)."""

LARGE_WRITE = 64 * 1024
"""Writes from this size on are passed to asyncio as views (see ``send()``)."""

Receiver = Callable[[bytes | None], None]
"""Takes each chunk read in push mode; ``None`` once at EOF or when the connection is lost."""


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.unread = 0
        self.reading_paused = False
        self.eof = False
        self.lost = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.write_paused = False
        self.receiver: Receiver | None = None
        self.yield_on_send = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        # The loop ran other callbacks to get here: a sender need not yield again.
        self.yield_on_send = False
        if self.receiver is not None:
            self.receiver(data)
            return
        self.chunks.append(data)
        self.unread += len(data)
        if self.unread >= READ_LIMIT and not self.reading_paused:
            assert self.transport is not None
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        self.end_push()
        return True  # keep the transport open: our close frame may still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.error = exc
        self._wake_reader()
        self.end_push()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def end_push(self) -> None:
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            receiver(None)

    def _wake_reader(self) -> None:
        if self.reader is not None and not self.reader.done():
            self.reader.set_result(None)


class AsyncioStream(anyio.abc.ByteStream):
    """An :class:`anyio.abc.ByteStream` over an asyncio transport (see the module docstring)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        protocol = self._protocol
        while not protocol.chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.eof:
                raise anyio.EndOfStream
            if protocol.lost:
                raise anyio.BrokenResourceError from protocol.error
            protocol.reader = asyncio.get_running_loop().create_future()
            protocol.yield_on_send = False  # this wait let every other task run
            try:
                await protocol.reader
            finally:
                protocol.reader = None
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            protocol.chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        protocol.unread -= len(chunk)
        if protocol.reading_paused and protocol.unread < READ_LIMIT // 2:
            protocol.reading_paused = False
            self._transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        protocol = self._protocol
        if self._closed:
            raise anyio.ClosedResourceError
        if protocol.lost or self._transport.is_closing():
            raise anyio.BrokenResourceError from protocol.error
        # asyncio keeps what the socket did not take as data[sent:]: a view of a
        # large payload makes that slice free (bytes would be copied twice).
        self._transport.write(memoryview(item) if len(item) >= LARGE_WRITE else item)
        if protocol.yield_on_send:
            # A task sending in a loop to a fast reader must still let other tasks,
            # and its own cancellation, run: every second send in a row yields.
            # Request/response traffic, where the loop reads between sends, never
            # pays for that loop iteration.
            protocol.yield_on_send = False
            await asyncio.sleep(0)
        else:
            protocol.yield_on_send = True
        while protocol.write_paused and not protocol.lost:
            protocol.writable = asyncio.get_running_loop().create_future()
            try:
                await protocol.writable
            finally:
                protocol.writable = None
        if protocol.lost:
            raise anyio.BrokenResourceError from protocol.error

    def write_nowait(self, data: bytes | bytearray) -> None:
        """Queue ``data`` for writing now, without waiting for the peer to take it.

        For a few bytes that must not wait (a pong, a close reply, an error
        message written from push mode); ``send()`` is the way to write with
        flow control.  Dropped once the connection is closing.
        """
        if not self._closed and not self._transport.is_closing():
            self._transport.write(data)

    def set_receiver(self, receiver: Receiver | None) -> None:
        """Push mode: hand each chunk to ``receiver`` as it is read, instead of to ``receive()``.

        ``receiver`` runs in the event loop's read callback, so it must not
        block and must not raise.  Chunks already waiting go first; at EOF or
        when the connection is lost it gets ``None``, once, and push mode ends.
        ``set_receiver(None)`` ends it too: later chunks wait for ``receive()``.
        There is no read limit in push mode: the receiver bounds what it keeps.
        """
        protocol = self._protocol
        protocol.receiver = receiver
        if receiver is None:
            return
        if protocol.reading_paused:
            protocol.reading_paused = False
            self._transport.resume_reading()
        while protocol.chunks and protocol.receiver is receiver:
            chunk = protocol.chunks.popleft()
            protocol.unread -= len(chunk)
            receiver(chunk)
        if protocol.receiver is receiver and (protocol.eof or protocol.lost):
            protocol.end_push()

    async def send_eof(self) -> None:
        if not self._transport.is_closing():
            self._transport.write_eof()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._transport.get_write_buffer_size():
            # The peer is not taking what is queued: waiting for it to would keep
            # the socket open forever.
            self._transport.abort()
        else:
            self._transport.close()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return _socket_attributes(self._transport.get_extra_info("socket"), connected=True)


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


def _wrap(transport: asyncio.BaseTransport, protocol: _Protocol) -> AsyncioStream:
    return AsyncioStream(cast(asyncio.Transport, transport), protocol)


async def connect_tcp(host: str, port: int) -> AsyncioStream:
    """Open a TCP stream (asyncio sets ``TCP_NODELAY`` on it)."""
    loop = asyncio.get_running_loop()
    # No happy_eyeballs_delay: uvloop does not take it; addresses are tried in turn.
    transport, protocol = await loop.create_connection(_Protocol, host, port)
    return _wrap(transport, protocol)


async def connect_unix(path: str) -> AsyncioStream:
    """Open a Unix socket stream."""
    transport, protocol = await asyncio.get_running_loop().create_unix_connection(_Protocol, path)
    return _wrap(transport, protocol)


class AsyncioListener(anyio.abc.Listener[AsyncioStream]):
    """Accepts connections with an ``asyncio.Server``; each one is handled in the task group."""

    def __init__(self, server: asyncio.Server, connections: _Connections) -> None:
        self._server = server
        self._connections = connections

    async def serve(
        self,
        handler: Callable[[AsyncioStream], Any],
        task_group: anyio.abc.TaskGroup | None = None,
    ) -> None:
        async with anyio.create_task_group() as own:
            group = task_group or own
            self._connections.start = lambda stream: group.start_soon(handler, stream)
            for stream in self._connections.waiting:
                group.start_soon(handler, stream)
            self._connections.waiting.clear()
            try:
                await anyio.sleep_forever()
            finally:
                self._connections.start = None

    async def aclose(self) -> None:
        self._server.close()
        for stream in self._connections.waiting:
            await stream.aclose()
        self._connections.waiting.clear()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return _socket_attributes(self._server.sockets[0], connected=False)


class _Connections:
    """Hands accepted connections to the listener's handler, or keeps them until it starts."""

    def __init__(self) -> None:
        self.start: Callable[[AsyncioStream], object] | None = None
        self.waiting: list[AsyncioStream] = []

    def factory(self) -> _Protocol:
        return _AcceptedProtocol(self)


class _AcceptedProtocol(_Protocol):
    def __init__(self, connections: _Connections) -> None:
        super().__init__()
        self._connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        stream = _wrap(transport, self)
        if self._connections.start is not None:
            self._connections.start(stream)
        else:
            self._connections.waiting.append(stream)


async def create_tcp_listener(host: str, port: int) -> AsyncioListener:
    """Listen on ``host:port`` (0 picks a free port)."""
    connections = _Connections()
    server = await asyncio.get_running_loop().create_server(
        connections.factory, host, port, reuse_address=True
    )
    return AsyncioListener(server, connections)


async def create_unix_listener(path: str) -> AsyncioListener:
    """Listen on the Unix socket ``path``."""
    connections = _Connections()
    server = await asyncio.get_running_loop().create_unix_server(connections.factory, path)
    return AsyncioListener(server, connections)
