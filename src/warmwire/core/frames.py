"""The RFC 6455 frame format: building frames and judging what a peer sent.

Only the format lives here (pure functions, no state); reading a stream of
frames, assembling messages and the closing handshake are in
:mod:`warmwire.core.connection`.  warmwire negotiates no extensions, so the
reserved bits must be zero.
"""

from __future__ import annotations

import enum
import struct

from warmwire.core.masking import mask


class Opcode(enum.IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset((Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY))
KNOWN_OPCODES = frozenset(int(op) for op in Opcode)
MAX_CONTROL_PAYLOAD = 125

_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
_CLOSE_CODE = struct.Struct("!H")


class FrameError(Exception):
    """The peer broke the frame format: fail the connection with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


SPLIT_AT = 256 * 1024
"""Payloads from this size are written apart from their header, not copied behind it.

Below it, one chunk (one write, one ``send()`` system call, and the peer reads
the frame whole more often) is worth copying the payload behind its header:
at 100 KB the copy costs about 3 us, a second write several times that.
Above it, a payload-sized allocation per frame costs more than the second write
(glibc grows and trims its heap around such blocks, faulting pages in anew).
"""


def build(opcode: int, payload: bytes, mask_key: bytes | None = None) -> list[bytes | bytearray]:
    """One final frame carrying ``payload``, masked when ``mask_key`` is given (client role).

    The frame's bytes in order: one chunk, or for a large payload the header
    and the payload as two, so that a megabyte is not copied just to put a few
    header bytes in front of it.
    """
    length = len(payload)
    first = 0x80 | opcode
    mask_bit = 0x80 if mask_key is not None else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 0x10000:
        header = bytes((first, mask_bit | 126)) + _U16.pack(length)
    else:
        header = bytes((first, mask_bit | 127)) + _U64.pack(length)
    body: bytes | bytearray = payload
    if mask_key is not None:
        header += mask_key
        body = mask(payload, mask_key)
    if length >= SPLIT_AT:
        return [header, body]
    return [header + body]


def close_payload(code: int, reason: str) -> bytes:
    """A close frame's payload; 1005 (no status) is sent as an empty payload, as RFC 6455 says."""
    if code == 1005:
        return b""
    return _CLOSE_CODE.pack(code) + reason.encode("utf-8")


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received close frame (1005 when it carries none)."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise FrameError(1002, "close frame with a 1-byte payload; a close code takes 2 bytes")
    (code,) = _CLOSE_CODE.unpack_from(payload)
    if not is_valid_close_code(code):
        raise FrameError(1002, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(1007, "close reason is not valid UTF-8") from None
    return code, reason


def is_valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (RFC 6455 §7.4 and the IANA registry)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def check_header(first: int, second: int, *, expect_masked: bool) -> tuple[int, bool]:
    """Judge a frame's first two bytes; return its opcode and FIN bit, or raise FrameError."""
    if first & 0x70:
        raise FrameError(1002, "reserved bits set in a frame; no extension was negotiated")
    opcode = first & 0x0F
    if opcode not in KNOWN_OPCODES:
        raise FrameError(1002, f"unknown opcode {opcode:#x}")
    fin = bool(first & 0x80)
    if bool(second & 0x80) is not expect_masked:
        if expect_masked:
            raise FrameError(1002, "client frames must be masked (RFC 6455 §5.1)")
        raise FrameError(1002, "server frames must not be masked (RFC 6455 §5.1)")
    if opcode >= 0x8:
        if not fin:
            raise FrameError(1002, "fragmented control frame")
        if (second & 0x7F) > MAX_CONTROL_PAYLOAD:
            raise FrameError(1002, "control frame payload over 125 bytes")
    return opcode, fin


def read_length(buf: bytes | bytearray | memoryview, pos: int, short: int) -> tuple[int, int]:
    """The payload length from the extended length field at ``pos``, and the field's size.

    ``short`` is the 7-bit length from the second byte.  The caller has checked
    that enough bytes are there (:func:`length_field_size`).
    """
    if short < 126:
        return short, 0
    if short == 126:
        return _U16.unpack_from(buf, pos)[0], 2
    length = _U64.unpack_from(buf, pos)[0]
    if length >> 63:
        raise FrameError(1002, "frame length with the most significant bit set")
    return length, 8


def length_field_size(short: int) -> int:
    """How many extended length bytes follow the second byte."""
    return 0 if short < 126 else 2 if short == 126 else 8
