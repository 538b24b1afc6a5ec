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


REFUSED_AFTER_UPGRADE = 4000
"""A refusal reported after the upgrade closes with this plus its HTTP status: 4404 no
such app or path, 4400 a bad request (``max_buffering``, codec).  The private-use
range (4000-4999), so no registered meaning is taken."""


def refusal_close_code(status: int) -> int:
    """The close code of an HTTP ``status`` refusal sent after the upgrade (404 → 4404)."""
    return REFUSED_AFTER_UPGRADE + status


def describe(code: int) -> str:
    """A short human description of ``code`` for error messages."""
    if REFUSED_AFTER_UPGRADE <= code < REFUSED_AFTER_UPGRADE + 1000:
        return f"refused by the runner (HTTP {code - REFUSED_AFTER_UPGRADE})"
    try:
        return CloseCode(code).name.lower().replace("_", " ")
    except ValueError:
        return "unknown close code"
