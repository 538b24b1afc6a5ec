"""The fal stack: ``fal-client`` against a ``fal.realtime`` endpoint under FastAPI/uvicorn.

``fal-client`` is pointed at the local endpoint by configuration only: its
module constants ``REALTIME_URL_FORMAT`` (normally ``wss://{FAL_RUN_HOST}/``,
here ``ws://127.0.0.1:PORT/``) and ``REST_URL`` (the token route, here served
by the same uvicorn process).  Everything else is the library as shipped:
its defaults (permessage-deflate offered by the websockets client it uses,
accepted by uvicorn) stay on.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from bench.contenders.base import Contender, async_pipeline, blocking_pipeline, check_echo
from bench.payloads import Payload

APP = "bench/echo"


def configure_fal_client(http_base: str) -> None:
    """Point ``fal_client`` at ``http_base`` (``http://127.0.0.1:PORT``)."""
    import fal_client.client

    fal_client.client.REALTIME_URL_FORMAT = http_base.replace("http://", "ws://", 1) + "/"
    fal_client.client.REST_URL = http_base


class _Fal(Contender):
    def _configure(self) -> None:
        # Module constants, read at connect time: set them before every connect, since
        # the fal contenders (one at a time) dial different servers.
        configure_fal_client(self.servers[self.server].http_url)


class FalAsync(_Fal):
    key = "fal-async"
    label = "fal-client async ↔ fal.realtime (FastAPI/uvicorn)"
    family = "fal"
    style = "async"
    server = "fal"
    backend = "asyncio"
    connect_note = (
        "POST /tokens/ (local route), then the handshake; the endpoint checks no token "
        "(fal's gateway does that in production)"
    )

    _stack: contextlib.AsyncExitStack
    _conn: Any
    _client: Any

    async def open(self) -> None:
        import fal_client

        self._configure()
        self._client = fal_client.AsyncClient(key=self.servers[self.server].api_key)
        self._stack = contextlib.AsyncExitStack()
        self._conn = await self._stack.enter_async_context(self._client.realtime(APP))

    async def roundtrips(self, payload: Payload, count: int) -> list[float]:
        conn, obj = self._conn, payload.obj
        clock = time.perf_counter
        durations = []
        result = None
        for _ in range(count):
            started = clock()
            await conn.send(obj)
            result = await conn.recv()
            durations.append(clock() - started)
        check_echo(payload, result)
        return durations

    async def pipelined(self, payload: Payload, count: int, window: int) -> float:
        conn, obj = self._conn, payload.obj

        async def send() -> None:
            await conn.send(obj)

        started = time.perf_counter()
        last = await async_pipeline(send, conn.recv, count, window)
        elapsed = time.perf_counter() - started
        check_echo(payload, last)
        return elapsed

    async def connect_once(self) -> float:
        self._configure()
        async with contextlib.AsyncExitStack() as stack:
            started = time.perf_counter()
            await stack.enter_async_context(self._client.realtime(APP))
            return time.perf_counter() - started

    async def close(self) -> None:
        await self._stack.aclose()

    async def negotiated(self) -> str:
        """The ``Sec-WebSocket-Extensions`` the endpoint accepted (deflate or nothing)."""
        response = self._conn._ws.response
        return str(response.headers.get("Sec-WebSocket-Extensions", ""))


class FalSync(_Fal):
    key = "fal-sync"
    label = "fal-client sync ↔ fal.realtime (FastAPI/uvicorn)"
    family = "fal"
    style = "blocking"
    server = "fal"
    backend = None
    connect_note = FalAsync.connect_note

    _stack: contextlib.ExitStack
    _conn: Any
    _client: Any

    def open(self) -> None:
        import fal_client

        self._configure()
        self._client = fal_client.SyncClient(key=self.servers[self.server].api_key)
        self._stack = contextlib.ExitStack()
        self._conn = self._stack.enter_context(self._client.realtime(APP))

    def roundtrips(self, payload: Payload, count: int) -> list[float]:
        conn, obj = self._conn, payload.obj
        clock = time.perf_counter
        durations = []
        result = None
        for _ in range(count):
            started = clock()
            conn.send(obj)
            result = conn.recv()
            durations.append(clock() - started)
        check_echo(payload, result)
        return durations

    def pipelined(self, payload: Payload, count: int, window: int) -> float:
        conn, obj = self._conn, payload.obj
        started = time.perf_counter()
        last = blocking_pipeline(lambda: conn.send(obj), conn.recv, count, window)
        elapsed = time.perf_counter() - started
        check_echo(payload, last)
        return elapsed

    def connect_once(self) -> float:
        self._configure()
        with contextlib.ExitStack() as stack:
            started = time.perf_counter()
            stack.enter_context(self._client.realtime(APP))
            return time.perf_counter() - started

    def close(self) -> None:
        self._stack.close()


class FalAsyncNoDeflate(FalAsync):
    """For information: the same stack with the server refusing permessage-deflate."""

    key = "fal-async-nodeflate"
    label = "fal-client async ↔ fal.realtime, deflate refused by uvicorn (info)"
    server = "fal-nodeflate"
