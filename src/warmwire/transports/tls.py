"""``wss://``: TLS over TCP, verified against the given or the default trust store."""

from __future__ import annotations

import socket
import ssl

import anyio
import anyio.abc

from warmwire.core.endpoint import RunnerUrl
from warmwire.transports import asyncio_socket, eventloop
from warmwire.transports.base import ConnectOptions, Stream
from warmwire.transports.tcp import set_nodelay


class TlsTransport:
    """TLS for ``wss://`` URLs; pass ``ssl_context`` to trust a private CA."""

    async def connect(self, url: RunnerUrl, options: ConnectOptions) -> Stream:
        context = options.ssl_context or ssl.create_default_context()
        if eventloop.on_asyncio():
            return await asyncio_socket.connect_tcp(url.host, url.port, ssl_context=context)
        return await anyio.connect_tcp(
            url.host, url.port, tls=True, ssl_context=context, tls_standard_compatible=False
        )

    def connect_sync(self, url: RunnerUrl, options: ConnectOptions) -> socket.socket:
        context = options.ssl_context or ssl.create_default_context()
        raw = socket.create_connection((url.host, url.port), timeout=options.timeout)
        set_nodelay(raw)
        try:
            sock = context.wrap_socket(raw, server_hostname=url.host)
        except BaseException:
            raw.close()
            raise
        sock.settimeout(None)
        return sock
