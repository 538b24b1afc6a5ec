"""The client: ``realtime_async`` (asyncio/trio), ``realtime`` (blocking), and the builder."""

from warmwire.client.async_connection import AsyncRealtimeConnection, realtime_async
from warmwire.client.builder import ConnectionBuilder
from warmwire.client.callbacks import (
    AsyncCallbackConnection,
    CallbackConnection,
    connect,
    connect_async,
)
from warmwire.client.sync_connection import RealtimeConnection, realtime

__all__ = [
    "AsyncCallbackConnection",
    "AsyncRealtimeConnection",
    "CallbackConnection",
    "ConnectionBuilder",
    "RealtimeConnection",
    "connect",
    "connect_async",
    "realtime",
    "realtime_async",
]
