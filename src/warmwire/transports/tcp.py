"""``ws://``: plain TCP, with Nagle's algorithm off (small messages must not wait)."""

from __future__ import annotations

import socket

import anyio
import anyio.abc

from warmwire.core.endpoint import RunnerUrl
from warmwire.transports import asyncio_socket, eventloop
from warmwire.transports.base import ConnectOptions, Stream


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle's algorithm: a realtime frame must leave now, not in 40 ms."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TcpTransport:
    """TCP for ``ws://`` URLs."""

    async def connect(self, url: RunnerUrl, options: ConnectOptions) -> Stream:
        # Both set TCP_NODELAY on the streams they create.
        if eventloop.on_asyncio():
            return await asyncio_socket.connect_tcp(url.host, url.port)
        return await anyio.connect_tcp(url.host, url.port)

    def connect_sync(self, url: RunnerUrl, options: ConnectOptions) -> socket.socket:
        sock = socket.create_connection((url.host, url.port), timeout=options.timeout)
        set_nodelay(sock)
        sock.settimeout(None)
        return sock
