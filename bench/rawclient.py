"""A minimal WebSocket client for the load generator: one pre-built message, no codec.

The load run must measure the server, not the generator: on a 2-core machine a
generator that spends ~120 µs of CPU per message (warmwire's client, measured
at 126 % of a core for 10,000 messages/s) starves the server.  This client
sends the same pre-masked frame every time and only parses the answer's frame
header; what remains is asyncio's own cost per message (timer, wake-up, two
syscalls), and the report shows the generators' CPU next to the server's.
It speaks just enough RFC 6455: the opening handshake, binary frames, pongs to
pings, a close.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from urllib.parse import urlsplit


def masked_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """A final client frame (masked, as clients must) carrying ``payload``."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked


class RawClient(asyncio.Protocol):
    def __init__(self, frame: bytes) -> None:
        self._frame = frame
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self._open: asyncio.Future[None] = loop.create_future()
        self._answer: asyncio.Future[None] | None = None
        self._loop = loop

    @classmethod
    async def open(cls, url: str, target: str, payload: bytes) -> RawClient:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(
            lambda: cls(masked_frame(payload)), parts.hostname, parts.port
        )
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: msgpack\r\n\r\n"
        )
        assert client._transport is not None
        client._transport.write(request.encode())
        await asyncio.wait_for(client._open, 30)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError("the server closed the connection")
        for future in (self._open, self._answer):
            if future is not None and not future.done():
                future.set_exception(error)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._open.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:16])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self._open.set_exception(ConnectionError(f"upgrade refused: {status!r}"))
                return
            self._open.set_result(None)
        while len(buffer) >= 2:
            length = buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            opcode = buffer[0] & 0x0F
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == 0x9:  # ping: answer with the same payload
                assert self._transport is not None
                self._transport.write(masked_frame(payload, 0xA))
            elif opcode in (0x1, 0x2) and self._answer is not None and not self._answer.done():
                self._answer.set_result(None)
            elif opcode == 0x8:
                assert self._transport is not None
                self._transport.close()

    async def send(self, _obj: object = None) -> None:
        """Send the pre-built message (the argument is ignored: it is in the frame)."""
        assert self._transport is not None
        self._answer = self._loop.create_future()
        self._transport.write(self._frame)

    async def recv(self) -> None:
        assert self._answer is not None
        await self._answer

    async def aclose(self) -> None:
        assert self._transport is not None
        if not self._transport.is_closing():
            self._transport.write(masked_frame(struct.pack("!H", 1000), 0x8))
            self._transport.close()


async def one_session(url: str, target: str, payload: bytes) -> None:
    """Open a session, make one round trip, close it: what a session-rate generator repeats."""
    conn = await RawClient.open(url, target, payload)
    try:
        await conn.send()
        await conn.recv()
    finally:
        await conn.aclose()
