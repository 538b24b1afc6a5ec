"""The ``websockets`` library's asyncio client against a ``websockets`` echo server.

Both ends encode and decode msgpack, as warmwire's client and runner do, and
both turn off permessage-deflate (websockets' default; warmwire does not
compress, and the images are incompressible).
"""

from __future__ import annotations

import time

import msgpack
from websockets.asyncio.client import ClientConnection, connect

from bench.contenders.base import Contender, async_pipeline, check_echo
from bench.payloads import Payload


class WebsocketsAsyncio(Contender):
    key = "websockets-asyncio"
    label = "websockets asyncio client"
    family = "websockets"
    style = "async"
    server = "websockets"
    backend = "asyncio"
    connect_note = "no authentication"

    _ws: ClientConnection

    def _connect(self) -> connect:
        return connect(self.url, compression=None, max_size=None, open_timeout=10)

    async def open(self) -> None:
        self._ws = await self._connect()

    async def roundtrips(self, payload: Payload, count: int) -> list[float]:
        ws, obj = self._ws, payload.obj
        packb, unpackb = msgpack.packb, msgpack.unpackb
        clock = time.perf_counter
        durations = []
        result = None
        for _ in range(count):
            started = clock()
            await ws.send(packb(obj, use_bin_type=True))
            result = unpackb(await ws.recv(), raw=False)
            durations.append(clock() - started)
        check_echo(payload, result)
        return durations

    async def pipelined(self, payload: Payload, count: int, window: int) -> float:
        ws, obj = self._ws, payload.obj

        async def send() -> None:
            await ws.send(msgpack.packb(obj, use_bin_type=True))

        async def recv() -> object:
            return msgpack.unpackb(await ws.recv(), raw=False)

        started = time.perf_counter()
        last = await async_pipeline(send, recv, count, window)
        elapsed = time.perf_counter() - started
        check_echo(payload, last)
        return elapsed

    async def connect_once(self) -> float:
        started = time.perf_counter()
        ws = await self._connect()
        elapsed = time.perf_counter() - started
        await ws.close()
        return elapsed

    async def close(self) -> None:
        await self._ws.close()
