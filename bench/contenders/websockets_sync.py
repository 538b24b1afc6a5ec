"""The ``websockets`` library's sync (threading) client against the same echo server."""

from __future__ import annotations

import time
from typing import Any

import msgpack
from websockets.sync.client import ClientConnection, connect

from bench.contenders.base import Contender, blocking_pipeline, check_echo
from bench.payloads import Payload


class WebsocketsSync(Contender):
    key = "websockets-sync"
    label = "websockets sync client"
    family = "websockets"
    style = "blocking"
    server = "websockets"
    backend = None
    connect_note = "no authentication"

    _ws: ClientConnection

    def _connect(self) -> ClientConnection:
        return connect(self.url, compression=None, max_size=None, open_timeout=10)

    def open(self) -> None:
        self._ws = self._connect()

    def roundtrips(self, payload: Payload, count: int) -> list[float]:
        ws, obj = self._ws, payload.obj
        packb, unpackb = msgpack.packb, msgpack.unpackb
        clock = time.perf_counter
        durations = []
        result = None
        for _ in range(count):
            started = clock()
            ws.send(packb(obj, use_bin_type=True))
            result = unpackb(ws.recv(), raw=False)
            durations.append(clock() - started)
        check_echo(payload, result)
        return durations

    def pipelined(self, payload: Payload, count: int, window: int) -> float:
        ws, obj = self._ws, payload.obj

        def recv() -> Any:
            return msgpack.unpackb(ws.recv(), raw=False)

        started = time.perf_counter()
        last = blocking_pipeline(
            lambda: ws.send(msgpack.packb(obj, use_bin_type=True)), recv, count, window
        )
        elapsed = time.perf_counter() - started
        check_echo(payload, last)
        return elapsed

    def connect_once(self) -> float:
        started = time.perf_counter()
        ws = self._connect()
        elapsed = time.perf_counter() - started
        ws.close()
        return elapsed

    def close(self) -> None:
        self._ws.close()
