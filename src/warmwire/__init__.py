"""warmwire: realtime inference over a persistent WebSocket to a warm model runner.

The client API lives here; the runner API in :mod:`warmwire.runner`.
"""

from warmwire.client import (
    AsyncCallbackConnection,
    AsyncRealtimeConnection,
    CallbackConnection,
    ClientOptions,
    ConnectionBuilder,
    RealtimeConnection,
    connect,
    connect_async,
    realtime,
    realtime_async,
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
    "AsyncRealtimeConnection",
    "CallbackConnection",
    "ClientOptions",
    "CodecError",
    "ConfigurationError",
    "ConnectionBuilder",
    "ConnectionClosedError",
    "HandshakeError",
    "InvalidEndpointError",
    "OpenTimeoutError",
    "ProtocolError",
    "RealtimeConnection",
    "RealtimeError",
    "UnauthorizedError",
    "WarmwireError",
    "connect",
    "connect_async",
    "realtime",
    "realtime_async",
]
