"""The identity codec: payloads pass through unchanged, in the frame they came in.

For raw endpoints (``@runner.realtime(raw=True)``) and clients of servers
that do not speak the fal envelope (an echo server, a conformance suite):
a ``str`` is a text frame, ``bytes`` a binary frame, both ways.
"""

from __future__ import annotations

from typing import Any

from warmwire.codecs.base import FrameKind
from warmwire.core.errors import CodecError

IDENTITY = "identity"


class IdentityCodec:
    """``encode`` and ``decode`` return the payload itself (``bytes`` or ``str``)."""

    name = IDENTITY
    frame = FrameKind.AS_SENT

    def encode(self, obj: Any) -> bytes | str:
        if isinstance(obj, bytes | str):
            return obj
        if isinstance(obj, bytearray | memoryview):
            return bytes(obj)
        raise CodecError(
            f"the identity codec sends bytes (a binary frame) or str (a text frame), not "
            f"{type(obj).__name__}; encode it first or use a codec such as msgpack"
        )

    def decode(self, data: bytes | str) -> bytes | str:
        return data
