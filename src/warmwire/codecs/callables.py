"""Wrap a plain ``encode_message``/``decode_message`` pair as a codec.

The JavaScript client takes ``encodeMessage``/``decodeMessage`` options; this
is the Python counterpart, usable on the client and in an app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from warmwire.codecs.base import Codec, FrameKind
from warmwire.codecs.msgpack import MsgpackCodec
from warmwire.core.errors import CodecError


@attrs.frozen(slots=True)
class CallableCodec:
    """A codec made of two functions; either may be missing and falls back to ``base``."""

    encode_message: Callable[[Any], bytes | str] | None
    decode_message: Callable[[bytes | str], Any] | None
    base: Codec = attrs.field(factory=MsgpackCodec)
    name: str = "custom"

    @property
    def frame(self) -> FrameKind:
        return self.base.frame

    def encode(self, obj: Any) -> bytes | str:
        if self.encode_message is None:
            return self.base.encode(obj)
        try:
            data = self.encode_message(obj)
        except Exception as exc:
            raise CodecError(f"encode_message failed: {exc!r}") from exc
        if not isinstance(data, bytes | str):
            raise CodecError(f"encode_message must return bytes or str, got {type(data).__name__}")
        return data

    def decode(self, data: bytes | str) -> Any:
        if self.decode_message is None:
            return self.base.decode(data)
        try:
            return self.decode_message(data)
        except Exception as exc:
            raise CodecError(f"decode_message failed: {exc!r}") from exc


def codec_from_callables(
    encode_message: Callable[[Any], bytes | str] | None,
    decode_message: Callable[[bytes | str], Any] | None,
    base: Codec | None = None,
) -> Codec:
    """Build a codec from plain functions; the missing half comes from ``base`` (msgpack)."""
    return CallableCodec(encode_message, decode_message, base or MsgpackCodec())
