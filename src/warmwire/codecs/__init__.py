"""Codecs: msgpack (default), json, cbor, identity, and codecs made of plain callables."""

from warmwire.codecs.base import Codec, FrameKind
from warmwire.codecs.callables import CallableCodec, codec_from_callables
from warmwire.codecs.cbor import CborCodec
from warmwire.codecs.identity import IdentityCodec
from warmwire.codecs.json import JsonCodec
from warmwire.codecs.msgpack import MsgpackCodec

__all__ = [
    "CallableCodec",
    "CborCodec",
    "Codec",
    "FrameKind",
    "IdentityCodec",
    "JsonCodec",
    "MsgpackCodec",
    "codec_from_callables",
]
