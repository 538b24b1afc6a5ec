"""JSON (orjson), sent as text frames."""

from __future__ import annotations

from typing import Any

import orjson

from warmwire.codecs.base import FrameKind
from warmwire.core.errors import CodecError


class JsonCodec:
    """JSON text frames; ``bytes`` values cannot be encoded (use msgpack or cbor for images)."""

    name = "json"
    frame = FrameKind.TEXT

    def encode(self, obj: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError as exc:
            raise CodecError(
                f"JSON cannot encode {type(obj).__name__}: {exc}; binary data needs the "
                "msgpack or cbor codec"
            ) from None

    def decode(self, data: bytes | str) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"undecodable JSON payload: {exc}") from None
