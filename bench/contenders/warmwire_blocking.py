"""warmwire's blocking client (``realtime``): a plain socket, no event loop."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import warmwire
from bench.contenders.base import Contender, blocking_pipeline, check_echo
from bench.payloads import Payload

APP = "bench/echo"


class WarmwireBlocking(Contender):
    key = "ww-blocking"
    label = "warmwire blocking client"
    family = "warmwire"
    style = "blocking"
    server = "warmwire"
    backend = None
    path = "/async"
    connect_note = "token in hand; the runner verifies its EdDSA signature"

    _stack: contextlib.ExitStack
    _conn: Any

    def _connect(self) -> Any:
        return warmwire.realtime(
            APP, url=self.url, path=self.path, token=self.servers[self.server].token
        )

    def open(self) -> None:
        self._stack = contextlib.ExitStack()
        self._conn = self._stack.enter_context(self._connect())

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
        with contextlib.ExitStack() as stack:
            started = time.perf_counter()
            stack.enter_context(self._connect())
            return time.perf_counter() - started

    def close(self) -> None:
        self._stack.close()
