"""An in-memory transport: a client and a runner in one process, no sockets.

For unit tests of the layers above the transports; end-to-end tests use real
loopback sockets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from warmwire.core.endpoint import RunnerUrl
from warmwire.transports.base import ConnectOptions


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of an in-memory byte pipe pair."""

    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive
        self._pending = b""

    async def send(self, item: bytes) -> None:
        try:
            await self._send.send(bytes(item))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise anyio.BrokenResourceError from None

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._pending:
            try:
                self._pending = await self._receive.receive()
            except anyio.EndOfStream:
                raise
            except anyio.ClosedResourceError:
                raise anyio.EndOfStream from None
        data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def send_eof(self) -> None:
        await self._send.aclose()

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def memory_stream_pair() -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected byte streams."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](math.inf)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


class MemoryListener(anyio.abc.Listener[anyio.abc.ByteStream]):
    """A listener the runner can serve; :class:`MemoryTransport` dials it."""

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[anyio.abc.ByteStream](
            math.inf
        )

    async def connect(self) -> anyio.abc.ByteStream:
        client, server = memory_stream_pair()
        await self._send.send(server)
        return client

    async def serve(
        self,
        handler: Callable[[anyio.abc.ByteStream], Any],
        task_group: anyio.abc.TaskGroup | None = None,
    ) -> None:
        async with AsyncExitStack() as stack:
            if task_group is None:
                task_group = await stack.enter_async_context(anyio.create_task_group())
            async for stream in self._receive:
                task_group.start_soon(handler, stream)

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()

    @property
    def extra_attributes(self) -> dict[object, object]:  # type: ignore[override]
        return {}


class MemoryTransport:
    """A transport that connects to one :class:`MemoryListener`, whatever the URL says."""

    def __init__(self, listener: MemoryListener) -> None:
        self.listener = listener

    async def connect(self, url: RunnerUrl, options: ConnectOptions) -> anyio.abc.ByteStream:
        return await self.listener.connect()
