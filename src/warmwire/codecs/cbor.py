"""CBOR (cbor2), sent as binary frames."""

from __future__ import annotations

from typing import Any

import cbor2

from warmwire.codecs.base import FrameKind
from warmwire.core.errors import CodecError


class CborCodec:
    """CBOR binary frames; ``bytes`` stay ``bytes``."""

    name = "cbor"
    frame = FrameKind.BINARY

    def encode(self, obj: Any) -> bytes:
        try:
            data: bytes = cbor2.dumps(obj)
        except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
            raise CodecError(f"CBOR cannot encode {type(obj).__name__}: {exc}") from None
        return data

    def decode(self, data: bytes | str) -> Any:
        try:
            raw = data.encode() if isinstance(data, str) else data
        except UnicodeEncodeError as exc:  # a str holding lone surrogates
            raise CodecError(f"undecodable CBOR payload: text is not valid UTF-8: {exc}") from None
        try:
            return cbor2.loads(raw)
        except Exception as exc:  # cbor2 raises several types for bad input
            raise CodecError(f"undecodable CBOR payload ({len(raw)} bytes): {exc}") from None
