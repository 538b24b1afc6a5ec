"""What every contender does, and the worker thread that runs it.

Each contender lives in its own thread with its own event loop (asyncio or
trio) or none (blocking clients).  The bench's main thread hands it one
command at a time (a batch of round trips, a pipelined burst, some connects)
and waits for the answer, so exactly one contender runs at any moment and the
per-message path never crosses a thread.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import anyio

from bench.payloads import Payload

# A batch that takes longer than this is a hang: the bench stops with an error.
CALL_TIMEOUT = 300.0


class Contender:
    """A client library talking to its server.

    Subclasses set the class attributes and implement ``open``, ``roundtrips``,
    ``pipelined``, ``connect_once`` and ``close``: coroutines when ``backend``
    names an event loop, plain methods when it is ``None``.
    """

    key: ClassVar[str]
    """Short id, used on the command line (``--only``)."""
    label: ClassVar[str]
    """What the table shows."""
    family: ClassVar[str]
    """``warmwire``, ``websockets``, ``fal`` or ``tcp``."""
    style: ClassVar[str]
    """``async`` or ``blocking``: which raw-TCP floor and which peers it is compared with."""
    server: ClassVar[str]
    """Which server process it talks to (a key of the bench's server table)."""
    backend: ClassVar[str | None] = None
    """``asyncio``, ``trio`` or ``None`` (blocking)."""
    connect_note: ClassVar[str] = ""
    """What a connect includes (token checks, ...)."""

    def __init__(self, servers: dict[str, Any]) -> None:
        self.servers = servers

    @property
    def url(self) -> str:
        return str(self.servers[self.server].url)

    # Every method below may be sync or async (see the class docstring).
    def open(self) -> Any:
        raise NotImplementedError

    def roundtrips(self, payload: Payload, count: int) -> Any:
        """``count`` sequential round trips; the list of their durations in seconds."""
        raise NotImplementedError

    def pipelined(self, payload: Payload, count: int, window: int) -> Any:
        """``count`` messages with up to ``window`` in flight; the seconds it took."""
        raise NotImplementedError

    def connect_once(self) -> Any:
        """Open a new connection (and close it); the seconds the opening took."""
        raise NotImplementedError

    def close(self) -> Any:
        raise NotImplementedError


def check_echo(payload: Payload, result: Any) -> None:
    """Fail loudly if a server answered something else than the payload."""
    if result != payload.obj:
        raise AssertionError(f"the echo of the {payload.name} payload came back different")


def blocking_pipeline(
    send: Callable[[], None], recv: Callable[[], Any], count: int, window: int
) -> Any:
    """Pipelining on one thread: keep up to ``window`` messages in flight."""
    sent = received = 0
    last = None
    while received < count:
        while sent < count and sent - received < window:
            send()
            sent += 1
        last = recv()
        received += 1
    return last


async def async_pipeline(
    send: Callable[[], Any], recv: Callable[[], Any], count: int, window: int
) -> Any:
    """Pipelining with a sender task: keep up to ``window`` messages in flight."""
    slots = anyio.Semaphore(window)
    last = None

    async def sender() -> None:
        for _ in range(count):
            await slots.acquire()
            await send()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sender)
        for _ in range(count):
            last = await recv()
            slots.release()
    return last


class Worker:
    """Runs one contender in its own thread; :meth:`call` runs one of its methods there."""

    def __init__(self, contender: Contender) -> None:
        self.contender = contender
        self._requests: queue.Queue[
            tuple[str, tuple[Any, ...], concurrent.futures.Future[Any]] | None
        ]
        self._requests = queue.Queue()
        self._thread = threading.Thread(
            target=self._main, name=f"bench-{contender.key}", daemon=True
        )
        self._thread.start()

    def call(self, method: str, *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._requests.put((method, args, future))
        return future.result(timeout=timeout)

    def stop(self) -> None:
        self._requests.put(None)
        self._thread.join(timeout=30)

    def _main(self) -> None:
        backend = self.contender.backend
        if backend is None:
            self._serve_blocking()
        else:
            anyio.run(self._serve_async, backend=backend)

    def _serve_blocking(self) -> None:
        while (item := self._requests.get()) is not None:
            method, args, future = item
            try:
                future.set_result(getattr(self.contender, method)(*args))
            except BaseException as exc:
                future.set_exception(exc)

    async def _serve_async(self) -> None:
        while True:
            item = await anyio.to_thread.run_sync(self._requests.get)
            if item is None:
                return
            method, args, future = item
            try:
                future.set_result(await getattr(self.contender, method)(*args))
            except BaseException as exc:
                future.set_exception(exc)


def timed_loop(step: Callable[[], Any], count: int) -> tuple[list[float], Any]:
    """Run ``step`` ``count`` times; each duration, and the last result."""
    durations = []
    result = None
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        result = step()
        durations.append(clock() - started)
    return durations, result
