"""Codecs: msgpack (default), json, cbor, and codecs made of plain callables."""

from warmwire.codecs.base import Codec, FrameKind
from warmwire.codecs.callables import CallableCodec, codec_from_callables
from warmwire.codecs.cbor import CborCodec
from warmwire.codecs.json import JsonCodec
from warmwire.codecs.msgpack import MsgpackCodec

__all__ = [
    "CallableCodec",
    "CborCodec",
    "Codec",
    "FrameKind",
    "JsonCodec",
    "MsgpackCodec",
    "codec_from_callables",
]
