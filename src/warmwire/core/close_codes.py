"""WebSocket close codes used by the fal realtime protocol."""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    """Close codes warmwire sends, with the meaning a client should act on."""

    NORMAL = 1000
    """Session over (client done, or ``TIMEOUT``): reconnect when needed."""
    GOING_AWAY = 1001
    """Runner draining: reconnect, a load balancer sends you elsewhere."""
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    """No close frame: the peer or the network vanished."""
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    """Authorization failed; fetch a fresh token before reconnecting."""
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


def describe(code: int) -> str:
    """A short human description of ``code`` for error messages."""
    try:
        return CloseCode(code).name.lower().replace("_", " ")
    except ValueError:
        return "unknown close code"
