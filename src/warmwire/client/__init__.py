"""The client: ``realtime_async`` (asyncio/trio), ``realtime`` (blocking), and the builder."""

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
from warmwire.client.sync_connection import RealtimeConnection

__all__ = [
    "AsyncCallbackConnection",
    "AsyncRealtimeConnection",
    "CallbackConnection",
    "ClientOptions",
    "ConnectionBuilder",
    "RealtimeConnection",
    "connect",
    "connect_async",
    "realtime",
    "realtime_async",
]
