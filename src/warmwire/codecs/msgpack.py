"""msgpack: the default codec, binary-safe (``bytes`` stay ``bytes``)."""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from warmwire.codecs.base import FrameKind
from warmwire.core.errors import CodecError

_packers = threading.local()
"""One ``msgpack.Packer`` per thread: ``msgpack.packb`` builds a Packer for every call (more
than half its time on a small message), and a Packer is not safe to share between threads."""

_KEEP_BELOW = 1 << 20
"""A Packer's buffer grows to its largest message and stays: after a larger one, the
thread's Packer is let go (packing megabytes costs far more than making a Packer)."""


class MsgpackCodec:
    """msgpack with ``use_bin_type`` so images round-trip as ``bytes``."""

    name = "msgpack"
    frame = FrameKind.BINARY

    def encode(self, obj: Any) -> bytes:
        try:
            pack = _packers.pack
        except AttributeError:  # this thread's first message
            pack = _packers.pack = msgpack.Packer(use_bin_type=True).pack
        try:
            # A failed pack resets the Packer's buffer: the next message starts clean.
            data: bytes = pack(obj)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"msgpack cannot encode {type(obj).__name__}: {exc}") from None
        if len(data) >= _KEEP_BELOW:
            del _packers.pack
        return data

    def decode(self, data: bytes | str) -> Any:
        try:
            raw = data.encode() if isinstance(data, str) else data
        except UnicodeEncodeError as exc:  # a str holding lone surrogates
            raise CodecError(
                f"undecodable msgpack payload: text is not valid UTF-8: {exc}"
            ) from None
        try:
            return msgpack.unpackb(raw, raw=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises a zoo of types for bad input
            raise CodecError(f"undecodable msgpack payload ({len(raw)} bytes): {exc}") from None
