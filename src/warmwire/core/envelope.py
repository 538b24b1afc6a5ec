"""The fal realtime message envelope: control messages beside the results.

Results travel in the session codec.  Control messages are always JSON text:
``x-fal-message`` (timings and the cold start, which clients skip), ``x-fal-error``
(``TIMEOUT``, ``INTERNAL_ERROR``, ``INVALID_INPUT``, and a refusal reported after
the upgrade) and the ``Unauthorized`` status message that a browser can read where
it could not read an HTTP 401.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs
import orjson


class ErrorCode(str, enum.Enum):
    """The ``error`` field of an ``x-fal-error`` message."""

    TIMEOUT = "TIMEOUT"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    INVALID_INPUT = "INVALID_INPUT"


@attrs.frozen(slots=True)
class FalError:
    """An ``x-fal-error`` message."""

    error: str
    reason: str


@attrs.frozen(slots=True)
class FalMessage:
    """An ``x-fal-message`` (informational; clients skip it)."""

    action: str
    body: dict[str, Any]


@attrs.frozen(slots=True)
class Unauthorized:
    """The ``{"status": "error", "error": "Unauthorized"}`` message before a 1008 close."""

    reason: str


Control = FalError | FalMessage | Unauthorized


def error_message(code: ErrorCode | str, reason: str) -> str:
    """Encode an ``x-fal-error`` message (JSON text)."""
    error = code.value if isinstance(code, ErrorCode) else code
    return _dumps({"type": "x-fal-error", "error": error, "reason": reason})


def timings_message(seconds: float) -> str:
    """Encode the ``timings`` ``x-fal-message`` sent after a result."""
    return _dumps({"type": "x-fal-message", "action": "timings", "timing": seconds})


def cold_start_message(seconds: float) -> str:
    """Encode the ``cold_start`` ``x-fal-message``: how long the runner's ``setup()`` took,
    sent first to the session that waited for it."""
    return _dumps({"type": "x-fal-message", "action": "cold_start", "cold_start": seconds})


def unauthorized_message(reason: str) -> str:
    """Encode the ``Unauthorized`` status message."""
    return _dumps({"status": "error", "error": "Unauthorized", "reason": reason})


def classify(obj: object) -> Control | None:
    """Return the control message ``obj`` is, or ``None`` for an ordinary result."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if kind == "x-fal-error":
        return FalError(str(obj.get("error", "")), str(obj.get("reason", "")))
    if kind == "x-fal-message":
        return FalMessage(str(obj.get("action", "")), obj)
    if obj.get("status") == "error" and obj.get("error") == "Unauthorized":
        return Unauthorized(str(obj.get("reason", "")))
    return None


def _dumps(obj: dict[str, Any]) -> str:
    return orjson.dumps(obj).decode()
