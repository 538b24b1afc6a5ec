"""The client: ``realtime_async`` (asyncio/trio), ``realtime`` (blocking), the builder, and
``stream``/``stream_async`` (one request's outputs over SSE)."""

from warmwire.client.api import realtime, realtime_async
from warmwire.client.async_connection import AsyncRealtimeConnection
from warmwire.client.builder import ConnectionBuilder
from warmwire.client.callbacks import (
    AsyncCallbackConnection,
    CallbackConnection,
    connect,
    connect_async,
)
from warmwire.client.options import ClientOptions
from warmwire.client.stream import AsyncEventStream, EventStream, StreamError, stream, stream_async
from warmwire.client.sync_connection import RealtimeConnection

__all__ = [
    "AsyncCallbackConnection",
    "AsyncEventStream",
    "AsyncRealtimeConnection",
    "CallbackConnection",
    "ClientOptions",
    "ConnectionBuilder",
    "EventStream",
    "RealtimeConnection",
    "StreamError",
    "connect",
    "connect_async",
    "realtime",
    "realtime_async",
    "stream",
    "stream_async",
]
