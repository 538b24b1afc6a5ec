"""Turning received frames into results or errors: shared by the async and sync clients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from warmwire.codecs.base import Codec, FrameKind
from warmwire.core.close_codes import CloseCode
from warmwire.core.envelope import FalError, FalMessage, Unauthorized, classify
from warmwire.core.errors import (
    CodecError,
    ConnectionClosedError,
    RealtimeError,
    UnauthorizedError,
)
from warmwire.core.events import Closed

_SKIP = object()
"""Marker for a message the client consumes silently (``x-fal-message``)."""

NORMAL_CLOSES = frozenset({CloseCode.NORMAL, CloseCode.NO_STATUS})


def interpret(item: bytes | str | Closed, codec: Codec) -> Any:
    """The result in ``item``; ``None`` at a normal close; ``_SKIP`` for informational messages.

    Raises :class:`RealtimeError` (or a subclass) for errors the runner reported
    and for abnormal closes.
    """
    if isinstance(item, Closed):
        if item.code in NORMAL_CLOSES:
            return None
        raise ConnectionClosedError(item.code, item.reason)
    if isinstance(item, str) and codec.frame is FrameKind.BINARY:
        # A binary codec's peer sends its control messages as JSON text.
        try:
            obj = orjson.loads(item)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"the runner sent a text frame that is not JSON: {exc}") from None
    else:
        obj = codec.decode(item)
    control = classify(obj)
    if control is None:
        return obj
    if isinstance(control, FalMessage):
        return _SKIP
    if isinstance(control, FalError):
        raise RealtimeError(control.error, control.reason)
    if isinstance(control, Unauthorized):
        raise UnauthorizedError(control.reason)
    return obj  # pragma: no cover - classify() returns one of the above


def unread_error(unread: Iterable[bytes | str], codec: Codec) -> RealtimeError | None:
    """The error the runner sent on a connection it then closed, if ``recv()`` has not seen it.

    A runner that refuses a token answers ``Unauthorized`` and closes right
    after the upgrade, often in the same packet as the 101 response: the
    caller's first ``send()`` must then say "unauthorized", not just "closed".
    Nothing is consumed: ``recv()`` still returns what arrived.
    """
    for item in unread:
        try:
            interpret(item, codec)
        except RealtimeError as exc:
            return exc
        except CodecError:
            continue
    return None


def closed_error(closed: Closed, unread: Iterable[bytes | str], codec: Codec) -> RealtimeError:
    """What ``send()`` raises on a connection that is over: the error the runner reported
    before closing, if ``recv()`` has not returned it yet, else the close itself."""
    return unread_error(unread, codec) or ConnectionClosedError(
        closed.code, closed.reason, hint="open a new connection to send more"
    )


def is_skip(value: Any) -> bool:
    return value is _SKIP
