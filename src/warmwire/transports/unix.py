"""``ws+unix:///path/to.sock``: a Unix domain socket (a runner behind a local proxy)."""

from __future__ import annotations

import socket

import anyio
import anyio.abc

from warmwire.core.endpoint import RunnerUrl
from warmwire.transports import asyncio_socket, eventloop
from warmwire.transports.base import ConnectOptions, Stream


class UnixTransport:
    """Unix domain sockets for ``ws+unix://`` URLs."""

    async def connect(self, url: RunnerUrl, options: ConnectOptions) -> Stream:
        assert url.unix_path is not None
        if eventloop.on_asyncio():
            return await asyncio_socket.connect_unix(url.unix_path)
        return await anyio.connect_unix(url.unix_path)

    def connect_sync(self, url: RunnerUrl, options: ConnectOptions) -> socket.socket:
        assert url.unix_path is not None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(options.timeout)
            sock.connect(url.unix_path)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        return sock
