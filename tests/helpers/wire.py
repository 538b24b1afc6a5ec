"""Both roles talking by bytes alone, and frames built by hand: the sans-IO tests' toolkit.

No sockets and no event loop: a ClientProtocol and a ServerProtocol talk to each
other by passing ``data_to_send()`` into ``receive_data()``; hand-built frames
(masked with wsproto's masker, an independent reference) cover what a
well-behaved peer would never send.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import h11
from wsproto.frame_protocol import XorMaskerSimple

from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import State
from warmwire.core.events import (
    Event,
    Opened,
    UpgradeRequest,
)
from warmwire.core.server_handshake import ServerProtocol

TARGET = "/acme/stylize/realtime?fal_jwt_token=tok"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    mask: bytes | None = b"\x37\xfa\x21\x3d",
    rsv: int = 0,
) -> bytes:
    """Build one WebSocket frame by hand (masked, as a client sends, unless ``mask=None``)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0 if mask is None else 0x80
    n = len(payload)
    if n < 126:
        header = bytes([first, mask_bit | n])
    elif n < 1 << 16:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", n)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return header + payload
    return header + mask + bytes(XorMaskerSimple(mask).process(bytearray(payload)))


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def parse_frames(data: bytes) -> list[tuple[int, bool, bytes]]:
    """Decode unmasked or masked frames into (opcode, fin, payload) triples."""
    frames = []
    i = 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        i += 2
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", data[i : i + 2])
            i += 2
        elif n == 127:
            (n,) = struct.unpack("!Q", data[i : i + 8])
            i += 8
        payload = data[i + (4 if b1 & 0x80 else 0) : i + (4 if b1 & 0x80 else 0) + n]
        if b1 & 0x80:
            payload = bytes(XorMaskerSimple(data[i : i + 4]).process(bytearray(payload)))
            i += 4
        i += n
        frames.append((b0 & 0x0F, bool(b0 & 0x80), payload))
    return frames


def close_code_of(data: bytes) -> int | None:
    """The status code of the (single) close frame in ``data``, or None without one."""
    closes = [p for op, _, p in parse_frames(data) if op == OP_CLOSE]
    assert len(closes) <= 1
    if not closes:
        return None
    if not closes[0]:
        return CloseCode.NO_STATUS
    return int(struct.unpack("!H", closes[0][:2])[0])


def parse_response(data: bytes, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Parse an HTTP response with h11 (as an independent client would)."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("host", "runner")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    status = 0
    headers: dict[str, str] = {}
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            status = event.status_code
            headers = {k.decode(): v.decode() for k, v in event.headers}
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return status, headers, body
        else:  # pragma: no cover - a malformed response fails the test here
            raise AssertionError(f"incomplete response: {event!r}")


def feed(proto: ClientProtocol | ServerProtocol, *chunks: bytes | None) -> list[Event]:
    for chunk in chunks:
        proto.receive_data(chunk)
    return proto.events()


def upgrade(
    *,
    subprotocols: Sequence[str] = (),
    headers: Iterable[tuple[str, str]] = (),
    client_max: int | None = 1 << 24,
    server_max: int | None = 1 << 24,
) -> tuple[ClientProtocol, ServerProtocol, UpgradeRequest]:
    """A client and a server with the upgrade request delivered, not yet answered."""
    client = ClientProtocol(
        host="runner.test",
        target=TARGET,
        headers=headers,
        subprotocols=subprotocols,
        max_message_size=client_max,
    )
    server = ServerProtocol(max_message_size=server_max)
    events = feed(server, client.data_to_send())
    assert len(events) == 1
    assert isinstance(events[0], UpgradeRequest)
    return client, server, events[0]


def open_pair(
    subprotocol: str | None = None, **kwargs: Any
) -> tuple[ClientProtocol, ServerProtocol]:
    client, server, _ = upgrade(**kwargs)
    server.accept(subprotocol)
    events = feed(client, server.data_to_send())
    assert events == [Opened(subprotocol, ())]
    assert client.state is State.OPEN
    assert server.state is State.OPEN
    return client, server


def http_request(request: bytes, **kwargs: Any) -> tuple[ServerProtocol, list[Event]]:
    server = ServerProtocol(**kwargs)
    return server, feed(server, request)
