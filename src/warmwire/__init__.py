"""warmwire: realtime inference over a persistent WebSocket to a warm model runner.

The client API lives here; the runner API in :mod:`warmwire.runner`.
"""

from warmwire.client import (
    AsyncRealtimeConnection,
    ConnectionBuilder,
    RealtimeConnection,
    realtime,
    realtime_async,
)
from warmwire.core.errors import (
    CodecError,
    ConfigurationError,
    ConnectionClosedError,
    HandshakeError,
    InvalidEndpointError,
    ProtocolError,
    RealtimeError,
    UnauthorizedError,
    WarmwireError,
)

__all__ = [
    "AsyncRealtimeConnection",
    "CodecError",
    "ConfigurationError",
    "ConnectionBuilder",
    "ConnectionClosedError",
    "HandshakeError",
    "InvalidEndpointError",
    "ProtocolError",
    "RealtimeConnection",
    "RealtimeError",
    "UnauthorizedError",
    "WarmwireError",
    "realtime",
    "realtime_async",
]
