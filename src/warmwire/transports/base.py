"""The transport interface: how a client reaches a runner.

A transport opens a byte stream to a :class:`~warmwire.core.endpoint.RunnerUrl`:
an anyio ``ByteStream`` (or asyncio's own socket, see :data:`Stream`) for the
async client (asyncio or trio), and optionally
a connected blocking socket for the sync client.  Transports are chosen by URL
scheme through the ``warmwire.transports`` entry-point group.
"""

from __future__ import annotations

import socket
import ssl
from typing import Protocol, runtime_checkable

import anyio.abc
import attrs

from warmwire.core.endpoint import RunnerUrl
from warmwire.transports.asyncio_socket import AsyncioSocket

Stream = anyio.abc.ByteStream | AsyncioSocket
"""What a transport opens: any anyio byte stream, or (the built-in transports under
asyncio) asyncio's own socket; :mod:`warmwire.transports.drivers` picks the driver."""


@attrs.frozen(slots=True)
class ConnectOptions:
    """Per-connection settings a transport honours."""

    ssl_context: ssl.SSLContext | None = None
    """For ``wss://``; the system's default trust store when ``None``."""
    timeout: float | None = 10.0
    """Seconds allowed to establish the byte stream (blocking transports)."""


@runtime_checkable
class Transport(Protocol):
    """Opens async byte streams; see :class:`SyncTransport` for blocking sockets."""

    async def connect(self, url: RunnerUrl, options: ConnectOptions) -> Stream: ...


@runtime_checkable
class SyncTransport(Protocol):
    """A transport the blocking client can use."""

    def connect_sync(self, url: RunnerUrl, options: ConnectOptions) -> socket.socket: ...
