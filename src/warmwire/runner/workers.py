"""The runner's worker threads: where blocking handlers run, off the event loop.

A model call is blocking code; running it on the event loop would stop every
other session.  ``anyio.to_thread.run_sync`` would do, but it costs about three
times as much per call as a long-lived thread fed from a queue (a capacity
limiter, a checkpoint and a cancel scope per call; measured in
``docs/benchmarks.md``), and a realtime runner makes that call for every
message.  So the runner keeps ``worker_threads`` threads of its own for the
life of the process, asyncio or trio alike.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import anyio

from warmwire.transports.eventloop import thread_wakeup

T = TypeVar("T")


class Workers(Protocol):
    """Where a session makes its blocking calls."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``'s result, or its exception raised here."""
        ...


class Job(Generic[T]):
    """One blocking call handed to another thread, and its caller's wake-up."""

    __slots__ = ("_wait", "args", "error", "fn", "result", "wake")

    def __init__(self, fn: Callable[..., T], args: tuple[Any, ...]) -> None:
        """Made on the caller's event loop (the wake-up is for it)."""
        self.fn = fn
        self.args = args
        self.wake, self._wait = thread_wakeup()
        self.result: T | None = None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        """Make the call in the thread that took the job, then wake its caller."""
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # handed to the caller, who decides
            self.error = exc
        try:
            self.wake()
        except RuntimeError:
            pass  # the event loop is gone (closed, or the trio run ended): nobody waits

    async def ended(self) -> None:
        """Wait for the call to end; cancellable (the call goes on: see :meth:`outcome`)."""
        await self._wait()

    async def outcome(self) -> T:
        """Wait for the call to end; its result, or its exception raised here.

        Not abandoned on cancellation: a cancelled caller waits for the call to
        end, as with ``anyio.to_thread.run_sync``, so nothing of a session's
        work outlives it (``teardown()`` never races a running handler).
        """
        with anyio.CancelScope(shield=True):
            await self._wait()
        if self.error is not None:
            error, self.error = self.error, None  # no reference cycle through the traceback
            raise error
        return self.result  # type: ignore[return-value]  # set when error is None


class WorkerPool:
    """``size`` threads running blocking calls in the order they were submitted."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"worker_threads must be at least 1, got {size}")
        self.size = size
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Calls submitted that no thread has taken yet."""
        return self._jobs.qsize()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread; its result, or its exception raised here
        (see :meth:`Job.outcome`)."""
        if len(self._threads) < self.size:
            self._start()
        job = Job(fn, args)
        self._jobs.put(job)
        return await job.outcome()

    def close(self) -> None:
        """Stop the threads once the calls already submitted are done."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"warmwire-worker-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()
