"""The codec interface: how results and inputs become WebSocket frames."""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable


class FrameKind(str, enum.Enum):
    """Which WebSocket frame a codec's encoded messages travel in."""

    BINARY = "binary"
    TEXT = "text"
    AS_SENT = "as-sent"
    """``str`` in text frames, ``bytes`` in binary ones (the identity codec)."""


@runtime_checkable
class Codec(Protocol):
    """Turns Python objects into message payloads and back.

    ``name`` is what the client offers in ``Sec-WebSocket-Protocol``;
    ``frame`` says whether ``encode`` returns ``bytes`` (binary frames),
    ``str`` (text frames), or either (``AS_SENT``: the identity codec).
    ``decode`` accepts either: a peer may send a text codec's payload in a
    binary frame.  Both raise
    :class:`warmwire.core.errors.CodecError` on failure.
    """

    @property
    def name(self) -> str: ...

    @property
    def frame(self) -> FrameKind: ...

    def encode(self, obj: Any) -> bytes | str: ...

    def decode(self, data: bytes | str) -> Any: ...
