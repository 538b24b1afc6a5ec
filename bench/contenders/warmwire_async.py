"""warmwire's async client (``realtime_async``) under asyncio and under trio."""

from __future__ import annotations

import contextlib
import time
from typing import Any, ClassVar

import warmwire
from bench.contenders.base import Contender, async_pipeline, check_echo
from bench.payloads import Payload

APP = "bench/echo"


class WarmwireAsyncio(Contender):
    key = "ww-asyncio"
    label = "warmwire async client (asyncio)"
    family = "warmwire"
    style = "async"
    server = "warmwire"
    backend: ClassVar[str | None] = "asyncio"
    path = "/async"
    """The echo endpoint whose handler runs on the loop, like the peers' echo servers."""
    connect_note = "token in hand; the runner verifies its EdDSA signature"

    _stack: contextlib.AsyncExitStack
    _conn: Any

    def _connect(self) -> Any:
        return warmwire.realtime_async(
            APP, url=self.url, path=self.path, token=self.servers[self.server].token
        )

    async def open(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._conn = await self._stack.enter_async_context(self._connect())

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
        async with contextlib.AsyncExitStack() as stack:
            started = time.perf_counter()
            await stack.enter_async_context(self._connect())
            return time.perf_counter() - started

    async def close(self) -> None:
        await self._stack.aclose()


class WarmwireTrio(WarmwireAsyncio):
    key = "ww-trio"
    label = "warmwire async client (trio)"
    backend = "trio"


class WarmwireSyncHandler(WarmwireAsyncio):
    """The same client against the endpoint whose (sync) handler runs in a worker thread:
    by default (``worker_loop``) the session is served whole on that thread's own loop."""

    key = "ww-asyncio-thread"
    label = "warmwire async client (asyncio) → sync handler (worker thread's loop)"
    path = "/realtime"


class WarmwireHop(WarmwireSyncHandler):
    """The same endpoint on a runner with ``worker_loop`` off (``--no-worker-loop``): the
    session stays on the runner's loop and every call hops to the thread and back."""

    key = "ww-asyncio-hop"
    label = "warmwire async client (asyncio) → sync handler (hop, --no-worker-loop)"
    server = "warmwire-hop"


class WarmwireMint(WarmwireAsyncio):
    """Connect only: ``key=`` mints a fresh token at the runner's token service first."""

    key = "ww-asyncio-mint"
    label = "warmwire async client (asyncio), key= (mint + verify)"
    connect_note = "POST /tokens/ with the API key, then the handshake; the runner verifies"

    def _connect(self) -> Any:
        return warmwire.realtime_async(
            APP, url=self.url, path=self.path, key=self.servers[self.server].api_key
        )
