"""Which driver runs a connection: decided once, by the byte stream a transport opened.

The built-in transports open asyncio's own sockets under asyncio (see
:mod:`warmwire.transports.eventloop`), driven by
:class:`~warmwire.transports.asyncio_websocket.AsyncioWebSocket`; every anyio
byte stream (trio's sockets, the in-memory pipe, a third-party transport's
stream) is driven by :class:`~warmwire.transports.anyio_websocket.AnyioWebSocket`.
"""

from __future__ import annotations

from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.connection import Connection
from warmwire.transports.anyio_websocket import AnyioWebSocket
from warmwire.transports.asyncio_socket import AsyncioSocket
from warmwire.transports.asyncio_websocket import AsyncioWebSocket
from warmwire.transports.base import Stream
from warmwire.transports.websocket import AsyncWebSocket


def websocket_over(
    stream: Stream, protocol: Connection, *, close_timeout: float = 10.0
) -> AsyncWebSocket:
    """A connection over ``stream`` in the role of ``protocol`` (the server role, mostly)."""
    if isinstance(stream, AsyncioSocket):
        return AsyncioWebSocket(stream, protocol, close_timeout=close_timeout)
    return AnyioWebSocket(stream, protocol, close_timeout=close_timeout)


async def open_client(
    stream: Stream, protocol: ClientProtocol, *, close_timeout: float = 10.0
) -> AsyncWebSocket:
    """Run the client side of the handshake over ``stream``; :class:`HandshakeError` if
    the runner refused it."""
    if isinstance(stream, AsyncioSocket):
        return await AsyncioWebSocket.open_client(stream, protocol, close_timeout=close_timeout)
    return await AnyioWebSocket.open_client(stream, protocol, close_timeout=close_timeout)
