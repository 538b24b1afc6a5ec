"""A ``websockets`` (asyncio) echo server: decode msgpack, encode it back, as an app would."""

from __future__ import annotations

import asyncio
import signal

import msgpack
from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        obj = msgpack.unpackb(message, raw=False)
        await ws.send(msgpack.packb(obj, use_bin_type=True))


async def main() -> None:
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    # No permessage-deflate (warmwire does not compress; the images are random bytes);
    # no size limit (warmwire's default is 16 MiB, above every payload).
    async with serve(echo, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"ready ws://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
