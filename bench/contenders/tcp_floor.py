"""The floor: the same msgpack bytes over raw TCP, length-prefixed, no WebSocket, no codec."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any
from urllib.parse import urlsplit

from bench.contenders.base import Contender, async_pipeline, blocking_pipeline
from bench.payloads import Payload

HEADER = struct.Struct("!I")


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _check(payload: Payload, data: bytes) -> None:
    if data != payload.encoded:
        raise AssertionError(f"the TCP echo of the {payload.name} payload came back different")


class TcpAsyncio(Contender):
    key = "tcp-asyncio"
    label = "raw TCP, asyncio streams (floor)"
    family = "tcp"
    style = "async"
    server = "tcp"
    backend = "asyncio"
    connect_note = "TCP connect only"

    _reader: asyncio.StreamReader
    _writer: asyncio.StreamWriter

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(*_address(self.url))

    async def _recv(self) -> bytes:
        header = await self._reader.readexactly(HEADER.size)
        return await self._reader.readexactly(HEADER.unpack(header)[0])

    async def roundtrips(self, payload: Payload, count: int) -> list[float]:
        reader, writer = self._reader, self._writer
        frame = HEADER.pack(payload.size) + payload.encoded
        clock = time.perf_counter
        durations = []
        data = b""
        for _ in range(count):
            started = clock()
            writer.write(frame)
            await writer.drain()
            header = await reader.readexactly(HEADER.size)
            data = await reader.readexactly(HEADER.unpack(header)[0])
            durations.append(clock() - started)
        _check(payload, data)
        return durations

    async def pipelined(self, payload: Payload, count: int, window: int) -> float:
        frame = HEADER.pack(payload.size) + payload.encoded
        writer = self._writer

        async def send() -> None:
            writer.write(frame)
            await writer.drain()

        started = time.perf_counter()
        last = await async_pipeline(send, self._recv, count, window)
        elapsed = time.perf_counter() - started
        _check(payload, last)
        return elapsed

    async def connect_once(self) -> float:
        started = time.perf_counter()
        _, writer = await asyncio.open_connection(*_address(self.url))
        elapsed = time.perf_counter() - started
        writer.close()
        await writer.wait_closed()
        return elapsed

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


class TcpBlocking(Contender):
    key = "tcp-blocking"
    label = "raw TCP, blocking sockets (floor)"
    family = "tcp"
    style = "blocking"
    server = "tcp"
    backend = None
    connect_note = "TCP connect only"

    _sock: socket.socket

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(_address(self.url), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        return sock

    def open(self) -> None:
        self._sock = self._connect()

    def _recv_exactly(self, size: int) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            n = self._sock.recv_into(view[got:])
            if not n:
                raise ConnectionError("the TCP echo server closed the connection")
            got += n
        return bytes(buffer)

    def _recv(self) -> bytes:
        return self._recv_exactly(HEADER.unpack(self._recv_exactly(HEADER.size))[0])

    def roundtrips(self, payload: Payload, count: int) -> list[float]:
        sock, recv = self._sock, self._recv
        frame = HEADER.pack(payload.size) + payload.encoded
        clock = time.perf_counter
        durations = []
        data = b""
        for _ in range(count):
            started = clock()
            sock.sendall(frame)
            data = recv()
            durations.append(clock() - started)
        _check(payload, data)
        return durations

    def pipelined(self, payload: Payload, count: int, window: int) -> float:
        frame = HEADER.pack(payload.size) + payload.encoded
        sock = self._sock
        started = time.perf_counter()
        last: Any = blocking_pipeline(lambda: sock.sendall(frame), self._recv, count, window)
        elapsed = time.perf_counter() - started
        _check(payload, last)
        return elapsed

    def connect_once(self) -> float:
        started = time.perf_counter()
        sock = self._connect()
        elapsed = time.perf_counter() - started
        sock.close()
        return elapsed

    def close(self) -> None:
        self._sock.close()
