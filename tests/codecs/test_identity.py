"""The identity codec: payloads pass through unchanged, text as text and binary as binary."""

from __future__ import annotations

from typing import Any

import pytest

from warmwire.codecs import Codec, FrameKind, IdentityCodec
from warmwire.core.errors import CodecError
from warmwire.plugins import get_codec


@pytest.mark.parametrize("payload", ["", "héllo", '{"type": "x-fal-error"}', b"", b"\x00\xff"])
def test_round_trip_keeps_the_payload_and_its_kind(payload: bytes | str) -> None:
    codec = IdentityCodec()
    encoded = codec.encode(payload)
    assert encoded == payload
    assert type(encoded) is type(payload)
    assert codec.decode(encoded) == payload
    assert type(codec.decode(encoded)) is type(payload)


def test_bytes_like_payloads_are_sent_as_bytes() -> None:
    codec = IdentityCodec()
    assert codec.encode(bytearray(b"ab")) == b"ab"
    assert codec.encode(memoryview(b"cd")) == b"cd"


@pytest.mark.parametrize("obj", [{"a": 1}, [1], 3, None])
def test_anything_else_cannot_be_sent(obj: Any) -> None:
    with pytest.raises(CodecError, match="identity codec sends bytes"):
        IdentityCodec().encode(obj)


def test_it_is_a_codec() -> None:
    codec = IdentityCodec()
    assert isinstance(codec, Codec)
    assert (codec.name, codec.frame) == ("identity", FrameKind.AS_SENT)
    assert get_codec(codec) is codec
