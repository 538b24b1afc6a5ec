"""The raw-TCP floor's server: length-prefixed frames echoed back byte for byte."""

from __future__ import annotations

import asyncio
import signal
import struct

HEADER = struct.Struct("!I")


class Echo(asyncio.Protocol):
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= HEADER.size:
            end = HEADER.size + HEADER.unpack_from(buffer)[0]
            if len(buffer) < end:
                return
            assert self._transport is not None
            self._transport.write(bytes(buffer[:end]))
            del buffer[:end]


async def main() -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set_result, None)
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        print(f"ready tcp://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
