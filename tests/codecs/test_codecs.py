"""The built-in codecs and codecs made of callables (warmwire.codecs)."""

from __future__ import annotations

import json
import math
import struct
import zlib
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.codecs import (
    CallableCodec,
    CborCodec,
    Codec,
    FrameKind,
    JsonCodec,
    MsgpackCodec,
    codec_from_callables,
)
from warmwire.core.errors import CodecError, WarmwireError

ALL_CODECS: list[Codec] = [MsgpackCodec(), JsonCodec(), CborCodec()]


def same(a: Any, b: Any) -> bool:
    """Deep equality that also tells ``True`` from ``1``, ``0.0`` from ``-0.0``, list from tuple."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("!d", a) == struct.pack("!d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


# -- values each codec must carry unchanged -------------------------------------------

INT64 = st.integers(-(2**63), 2**64 - 1)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)

json_values = st.recursive(
    st.none() | st.booleans() | INT64 | finite_floats | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
msgpack_values = st.recursive(
    st.none() | st.booleans() | INT64 | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.text(max_size=10) | INT64 | st.binary(max_size=8), children, max_size=5
        )
    ),
    max_leaves=25,
)
cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # bignums included
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10) | st.integers(), children, max_size=5)
    ),
    max_leaves=25,
)


def test_codec_attributes() -> None:
    assert (MsgpackCodec.name, MsgpackCodec.frame) == ("msgpack", FrameKind.BINARY)
    assert (JsonCodec.name, JsonCodec.frame) == ("json", FrameKind.TEXT)
    assert (CborCodec.name, CborCodec.frame) == ("cbor", FrameKind.BINARY)
    for codec in ALL_CODECS:
        assert isinstance(codec, Codec)


@pytest.mark.parametrize("codec", ALL_CODECS, ids=lambda c: c.name)
def test_encode_returns_the_frame_type(codec: Codec) -> None:
    encoded = codec.encode({"prompt": "a cat", "seed": 42})
    assert isinstance(encoded, str if codec.frame is FrameKind.TEXT else bytes)


@given(msgpack_values)
@settings(max_examples=200, deadline=None)
def test_msgpack_round_trip(value: Any) -> None:
    codec = MsgpackCodec()
    encoded = codec.encode(value)
    assert isinstance(encoded, bytes)
    assert same(codec.decode(encoded), value)


@given(msgpack_values, msgpack_values)
@settings(max_examples=200, deadline=None)
def test_msgpack_encodes_as_packb_does_even_after_a_failed_encode(before: Any, value: Any) -> None:
    # The codec reuses one Packer per thread: a pack that failed half-way must not
    # leave its bytes in front of the next message.
    codec = MsgpackCodec()
    with pytest.raises(CodecError, match="cannot encode"):
        codec.encode([before, object()])
    assert codec.encode(value) == msgpack.packb(value, use_bin_type=True)


def test_msgpack_encodes_as_packb_does_around_a_large_message() -> None:
    # After a message over a megabyte the thread's Packer is let go (its buffer would
    # stay that large); the next one is made afresh.
    codec = MsgpackCodec()
    for value in ({"n": 1}, {"image": bytes(range(256)) * 8192}, {"n": 2}):
        assert codec.encode(value) == msgpack.packb(value, use_bin_type=True)


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_json_round_trip(value: Any) -> None:
    codec = JsonCodec()
    encoded = codec.encode(value)
    assert isinstance(encoded, str)
    assert same(codec.decode(encoded), value)
    # A text codec's payload may also arrive in a binary frame.
    assert same(codec.decode(encoded.encode()), value)
    # It is standard JSON, readable by any client.
    assert same(json.loads(encoded), value)


@given(cbor_values)
@settings(max_examples=200, deadline=None)
def test_cbor_round_trip(value: Any) -> None:
    codec = CborCodec()
    encoded = codec.encode(value)
    assert isinstance(encoded, bytes)
    assert same(codec.decode(encoded), value)


@pytest.mark.parametrize("codec", [MsgpackCodec(), CborCodec()], ids=lambda c: c.name)
def test_images_stay_bytes(codec: Codec) -> None:
    image = bytes(range(256)) * 400
    decoded = codec.decode(codec.encode({"image": image, "request_id": "r1"}))
    assert decoded == {"image": image, "request_id": "r1"}
    assert type(decoded["image"]) is bytes


@pytest.mark.parametrize("codec", ALL_CODECS, ids=lambda c: c.name)
def test_tuples_come_back_as_lists(codec: Codec) -> None:
    assert codec.decode(codec.encode({"size": (512, 512)})) == {"size": [512, 512]}


def test_msgpack_decodes_text_input() -> None:
    codec = MsgpackCodec()
    assert codec.decode("*") == 42  # positive fixint 0x2a, handed over as text


def test_cbor_decodes_text_input() -> None:
    codec = CborCodec()
    assert codec.decode("ab") == "b"  # 0x61: text string of length 1, handed over as text


# -- encoding failures ------------------------------------------------------------


def test_json_refuses_bytes_and_points_at_msgpack() -> None:
    with pytest.raises(CodecError) as info:
        JsonCodec().encode({"image": b"\x89PNG"})
    message = str(info.value)
    assert "msgpack" in message
    assert "cbor" in message
    assert "dict" in message  # names what it was asked to encode


@pytest.mark.parametrize(
    "value",
    [object(), {1: "int key"}, {"set": {1, 2}}, 2**64, -(2**63) - 1, {"nested": [object()]}],
    ids=["object", "int-key", "set", "too-big", "too-small", "nested-object"],
)
def test_json_encode_failures(value: Any) -> None:
    with pytest.raises(CodecError, match="JSON cannot encode"):
        JsonCodec().encode(value)


@pytest.mark.parametrize(
    "value",
    [object(), 2**64, -(2**63) - 1, "\ud800", {"k": {1, 2}}],
    ids=["object", "too-big", "too-small", "lone-surrogate", "set"],
)
def test_msgpack_encode_failures(value: Any) -> None:
    with pytest.raises(CodecError, match="msgpack cannot encode"):
        MsgpackCodec().encode(value)


@pytest.mark.parametrize("value", [object(), {"f": lambda: 1}], ids=["object", "function"])
def test_cbor_encode_failures(value: Any) -> None:
    with pytest.raises(CodecError, match="CBOR cannot encode"):
        CborCodec().encode(value)


def test_codec_error_is_a_warmwire_error() -> None:
    with pytest.raises(WarmwireError):
        MsgpackCodec().decode(b"\xc1")


# -- decoding garbage ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "garbage"),
    [
        (MsgpackCodec(), b""),
        (MsgpackCodec(), b"\xc1"),  # never-used type byte
        (MsgpackCodec(), b"\x92\x01"),  # array of 2 with one element
        (MsgpackCodec(), b"\x01\x02"),  # trailing data
        (MsgpackCodec(), b"\xa3ab"),  # truncated string
        (MsgpackCodec(), b"\xdd\xff\xff\xff\xff"),  # array claiming 4 billion items
        (JsonCodec(), b""),
        (JsonCodec(), b"{"),
        (JsonCodec(), "{'single': 'quotes'}"),
        (JsonCodec(), b'"\xff"'),  # invalid UTF-8
        (JsonCodec(), "NaN"),
        (JsonCodec(), "[1] [2]"),
        (JsonCodec(), "[" * 2000 + "]" * 2000),  # nested too deep
        (CborCodec(), b""),
        (CborCodec(), b"\x82\x01"),  # array of 2 with one element
        (CborCodec(), b"\x1c"),  # reserved additional information
        (CborCodec(), b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff"),  # 2^64-byte string
        (CborCodec(), b"\x81" * 5000 + b"\x00"),  # nested too deep
    ],
)
def test_decode_garbage(codec: Codec, garbage: bytes | str) -> None:
    with pytest.raises(CodecError, match="undecodable"):
        codec.decode(garbage)


@pytest.mark.parametrize("codec", ALL_CODECS, ids=lambda c: c.name)
@given(data=st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_decode_or_raise_codec_error(codec: Codec, data: bytes) -> None:
    try:
        codec.decode(data)
    except CodecError:
        pass


@pytest.mark.parametrize("codec", ALL_CODECS, ids=lambda c: c.name)
@given(text=st.text(alphabet=st.characters(), max_size=50))  # lone surrogates included
@settings(max_examples=200, deadline=None)
def test_arbitrary_text_decodes_or_raises_codec_error(codec: Codec, text: str) -> None:
    try:
        codec.decode(text)
    except CodecError:
        pass


@pytest.mark.parametrize("codec", ALL_CODECS, ids=lambda c: c.name)
@given(prefix=st.binary(max_size=8), tail=st.binary(max_size=8))
@settings(max_examples=100, deadline=None)
def test_mangled_valid_payloads_decode_or_raise_codec_error(
    codec: Codec, prefix: bytes, tail: bytes
) -> None:
    encoded = codec.encode({"image": "aGVsbG8=", "seed": 7, "steps": [1, 2.5, None]})
    raw = encoded.encode() if isinstance(encoded, str) else encoded
    try:
        codec.decode(prefix + raw[len(prefix) :] + tail)
    except CodecError:
        pass


@pytest.mark.parametrize("codec", [MsgpackCodec(), CborCodec()], ids=lambda c: c.name)
@given(value=msgpack_values, data=st.data())
@settings(max_examples=100, deadline=None)
def test_truncated_binary_payloads_are_refused(
    codec: Codec, value: Any, data: st.DataObject
) -> None:
    encoded = codec.encode(value)
    assert isinstance(encoded, bytes)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(CodecError):
        codec.decode(encoded[:cut])


@pytest.mark.parametrize("codec", [MsgpackCodec(), CborCodec()], ids=lambda c: c.name)
def test_lone_surrogate_text_input(codec: Codec) -> None:
    with pytest.raises(CodecError, match="not valid UTF-8"):
        codec.decode("\udcff")


def test_json_decode_lone_surrogate_text_input() -> None:
    with pytest.raises(CodecError):
        JsonCodec().decode('"\udcff"')


# -- codecs made of callables -------------------------------------------------------


def _zjson_encode(obj: Any) -> bytes:
    return zlib.compress(json.dumps(obj).encode())


def _zjson_decode(data: bytes | str) -> Any:
    raw = data.encode() if isinstance(data, str) else data
    return json.loads(zlib.decompress(raw))


def test_codec_from_callables_uses_the_functions() -> None:
    codec = codec_from_callables(_zjson_encode, _zjson_decode)
    assert isinstance(codec, Codec)
    assert isinstance(codec, CallableCodec)
    assert codec.name == "custom"
    assert codec.frame is FrameKind.BINARY  # from the msgpack base
    encoded = codec.encode({"a": [1, 2]})
    assert encoded == _zjson_encode({"a": [1, 2]})
    assert codec.decode(encoded) == {"a": [1, 2]}


def test_codec_from_callables_takes_the_frame_from_its_base() -> None:
    codec = codec_from_callables(json.dumps, json.loads, base=JsonCodec())
    assert codec.frame is FrameKind.TEXT
    assert codec.encode({"x": 1}) == '{"x": 1}'


@given(json_values)
@settings(max_examples=100, deadline=None)
def test_callable_codec_round_trip(value: Any) -> None:
    codec = codec_from_callables(_zjson_encode, _zjson_decode)
    assert codec.decode(codec.encode(value)) == json.loads(json.dumps(value))


def test_missing_encoder_falls_back_to_the_base() -> None:
    codec = codec_from_callables(None, lambda data: ("custom", data))
    encoded = codec.encode({"x": b"\x00"})
    assert encoded == MsgpackCodec().encode({"x": b"\x00"})
    assert codec.decode(b"\x01") == ("custom", b"\x01")


def test_missing_decoder_falls_back_to_the_base() -> None:
    codec = codec_from_callables(lambda obj: "custom", None, base=JsonCodec())
    assert codec.encode({"ignored": True}) == "custom"
    assert codec.decode('{"x": 1}') == {"x": 1}
    with pytest.raises(CodecError, match="undecodable JSON"):
        codec.decode("{")  # the base's errors surface as they are


def test_encoder_errors_are_wrapped() -> None:
    def encode(obj: Any) -> bytes:
        raise ValueError("cannot pack this")

    codec = codec_from_callables(encode, None)
    with pytest.raises(CodecError, match=r"encode_message failed.*cannot pack this") as info:
        codec.encode({})
    assert isinstance(info.value.__cause__, ValueError)


def test_decoder_errors_are_wrapped() -> None:
    def decode(data: bytes | str) -> Any:
        raise KeyError("missing")

    codec = codec_from_callables(None, decode)
    with pytest.raises(CodecError, match=r"decode_message failed.*missing") as info:
        codec.decode(b"x")
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize(
    "result",
    [None, 42, {"not": "bytes"}, ["x"], bytearray(b"x"), memoryview(b"x")],
    ids=lambda r: type(r).__name__,
)
def test_encoder_must_return_bytes_or_str(result: Any) -> None:
    codec = codec_from_callables(lambda obj: result, None)
    with pytest.raises(CodecError, match=f"must return bytes or str, got {type(result).__name__}"):
        codec.encode({})


@pytest.mark.parametrize("result", [b"bytes", "text"])
def test_encoder_may_return_bytes_or_str(result: bytes | str) -> None:
    assert codec_from_callables(lambda obj: result, None).encode({}) == result


def test_callable_codec_custom_name() -> None:
    codec = CallableCodec(json.dumps, json.loads, JsonCodec(), name="plain-json")
    assert codec.name == "plain-json"
    assert codec.frame is FrameKind.TEXT
    assert codec.decode(codec.encode([1])) == [1]


def test_callable_codec_is_immutable() -> None:
    codec = CallableCodec(None, None)
    with pytest.raises(AttributeError):
        codec.name = "other"  # type: ignore[misc]
    assert math.isclose(codec.decode(codec.encode(0.5)), 0.5)
