"""warmwire: realtime inference over a persistent WebSocket to a warm model runner.

The client API lives here; the runner API in :mod:`warmwire.runner`.
"""

from warmwire.client import (
    AsyncCallbackConnection,
    AsyncEventStream,
    AsyncRealtimeConnection,
    CallbackConnection,
    ClientOptions,
    ConnectionBuilder,
    EventStream,
    RealtimeConnection,
    StreamError,
    connect,
    connect_async,
    realtime,
    realtime_async,
    stream,
    stream_async,
)
from warmwire.core.errors import (
    CodecError,
    ConfigurationError,
    ConnectionClosedError,
    HandshakeError,
    InvalidEndpointError,
    OpenTimeoutError,
    ProtocolError,
    RealtimeError,
    UnauthorizedError,
    WarmwireError,
)

__all__ = [
    "AsyncCallbackConnection",
    "AsyncEventStream",
    "AsyncRealtimeConnection",
    "CallbackConnection",
    "ClientOptions",
    "CodecError",
    "ConfigurationError",
    "ConnectionBuilder",
    "ConnectionClosedError",
    "EventStream",
    "HandshakeError",
    "InvalidEndpointError",
    "OpenTimeoutError",
    "ProtocolError",
    "RealtimeConnection",
    "RealtimeError",
    "StreamError",
    "UnauthorizedError",
    "WarmwireError",
    "connect",
    "connect_async",
    "realtime",
    "realtime_async",
    "stream",
    "stream_async",
]
