"""Worker threads that are event loops: a blocking handler's session runs on one, whole.

With ``worker_loop`` on (the default; ``warmwire serve --no-worker-loop`` and
``worker_loop=False`` turn it off), each of the
runner's ``worker_threads`` runs an asyncio event loop of its own, and a
session whose handler is blocking is handed over to one of them once the
front door has admitted it (:meth:`FrontDoor.enter
<warmwire.runner.front_door.FrontDoor.enter>`).  That thread then reads the
session's socket, parses its frames, calls the handler and writes the results:
a message crosses no thread.  With it off, the plain :class:`~warmwire.runner.workers.WorkerPool`:
every message hops to a worker thread and back, two wake-ups of another CPU
that are most of what a blocking handler adds to a round trip
(``docs/benchmarks.md``).

The handler is called right there, the thread's loop waiting for it: the other
sessions on that thread wait too, as they would for the one model anyway, but
their inputs wait in the kernel instead of in their drop-oldest buffers, and
their pings are answered once the call is over.  The handler does not see the
loop (no running loop in its thread), as in any worker thread.

Blocking calls from elsewhere (a session that could not be handed over: TLS,
an ASGI server's connection; the stream route) are jobs for the same threads,
so no more than ``worker_threads`` handler calls ever run at once, as with the
pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from warmwire.runner.metrics import MessageFigures, Metrics
from warmwire.runner.workers import Job

if TYPE_CHECKING:  # a hosted session is the runner's; the type only is needed here
    from warmwire.runner.session import Session

T = TypeVar("T")


def _without_running_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, seeing no event loop in its thread, as in any worker thread: it may
    run one of its own (``asyncio.run``), and nothing mistakes it for async code.

    A plain function: a context manager's generator cost 11,000 instructions per
    round trip on a hosted session's path."""
    loop = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        return fn(*args)
    finally:
        asyncio._set_running_loop(loop)


class Inline:
    """A hosted session's blocking calls: made at once, on its worker thread's loop."""

    __slots__ = ()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        # _without_running_loop, written out: this is every message's call, and the
        # call to it cost 3,200 instructions per round trip (callgrind).
        loop = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        try:
            return fn(*args)
        finally:
            asyncio._set_running_loop(loop)


class _Loop:
    """One worker thread and its event loop."""

    def __init__(self, index: int, figures: MessageFigures) -> None:
        # asyncio's own loop, whatever the policy (uvloop's): the drain relies on its
        # order of callbacks (see HostedSession._drain_here).
        self.loop = asyncio.SelectorEventLoop()
        self.figures = figures
        """The per-message figures of the sessions hosted here (plain numbers, one writer)."""
        self.hosted = 0
        """Sessions hosted here (counted on the runner's loop)."""
        self.thread = threading.Thread(
            target=self.loop.run_forever, name=f"warmwire-worker-{index}", daemon=True
        )
        self.thread.start()

    def call(self, fn: Callable[..., object], *args: Any) -> None:
        """``fn(*args)`` soon, on this loop, from any thread.

        In a context of its own: the caller's would be copied, and with it what
        says which async library runs (sniffio's), which on the worker loop is asyncio.
        """
        self.loop.call_soon_threadsafe(fn, *args, context=contextvars.Context())

    def close(self) -> None:
        self.call(self.loop.stop)
        self.thread.join()
        self.loop.close()


class WorkerLoops:
    """``size`` worker threads, each an event loop, hosting sessions and running jobs."""

    inline = Inline()
    """How a hosted session makes its blocking calls."""

    def __init__(self, size: int, metrics: Metrics) -> None:
        if size < 1:
            raise ValueError(f"worker_threads must be at least 1, got {size}")
        self.size = size
        self._metrics = metrics
        self._loops: list[_Loop] = []
        self._lock = threading.Lock()
        self._next_job = 0

    @property
    def hosted(self) -> int:
        """Sessions hosted on the worker loops now."""
        return sum(loop.hosted for loop in self._loops)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a worker thread, between its sessions' work; its result, or its
        exception raised here (see :meth:`Job.outcome <warmwire.runner.workers.Job.outcome>`)."""
        loops = self._started()
        self._next_job = (self._next_job + 1) % len(loops)
        job = Job(fn, args)
        loops[self._next_job].call(_without_running_loop, job)
        return await job.outcome()

    def seat(self) -> HostedSession:
        """A place for one session, on the worker loop hosting the fewest."""
        where = min(self._started(), key=lambda loop: loop.hosted)
        return HostedSession(where)

    def close(self) -> None:
        """Stop the threads once the jobs already submitted are done (sessions have ended)."""
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()

    def _started(self) -> list[_Loop]:
        loops = self._loops
        if len(loops) < self.size:
            with self._lock:
                while len(self._loops) < self.size:
                    self._loops.append(_Loop(len(self._loops), self._metrics.shard()))
                loops = self._loops
        return loops


class HostedSession:
    """A session run on a worker loop, as the runner sees it from its own loop.

    :meth:`run` runs it there and returns (or raises) when it has ended; the runner
    can :meth:`drain` it meanwhile, from its loop.  Cancelling :meth:`run` cancels
    the session there, and waits for it to end: nothing of it outlives the call.
    """

    __slots__ = ("_drain_asked", "_here", "_scope", "_session", "_task")

    def __init__(self, here: _Loop) -> None:
        self._here = here
        self._session: Session | None = None
        self._drain_asked = False
        self._scope: anyio.CancelScope | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def figures(self) -> MessageFigures:
        """Where the session counts its messages (its worker loop's figures)."""
        return self._here.figures

    @property
    def session(self) -> Session | None:
        """The session hosted, once it has begun on its loop (``None`` until then).

        It lives on another thread: its figures (``received``, ``dropped``...) can be
        read from here, plain numbers, but call none of its methods."""
        return self._session

    @property
    def workers(self) -> Inline:
        """How the session makes its blocking calls."""
        return WorkerLoops.inline

    async def run(self, serve: Callable[[], Awaitable[None]]) -> None:
        """Run ``serve()`` on the worker loop, to its end; its exception raised here."""
        here = self._here
        here.hosted += 1
        try:
            ended = Job(self._outcome, ())
            here.call(self._start, serve, ended)
            try:
                await ended.ended()
            except BaseException:
                # Cancelled here (the runner cuts its sessions): cut it there too, and
                # wait for it to be over.
                cut: Job[None] = Job(_nothing, ())
                here.call(self._cut, cut)
                await cut.outcome()
                raise
            await ended.outcome()
        finally:
            here.hosted -= 1

    def attach(self, session: Session) -> None:
        """On the worker loop: ``session`` is the one hosted (drained at once if asked)."""
        self._session = session
        if self._drain_asked:
            session.drain()

    def drain(self) -> None:
        """From the runner's loop: finish the accepted inputs, then close with 1001."""
        self._here.call(self._drain_here)

    # -- on the worker loop -------------------------------------------------------------------

    def _start(self, serve: Callable[[], Awaitable[None]], ended: Job[None]) -> None:
        async def main() -> None:
            with anyio.CancelScope() as self._scope:
                await serve()

        task = self._task = self._here.loop.create_task(main())
        task.add_done_callback(lambda _: ended())

    def _outcome(self) -> None:
        """Raises what ended the task, if anything did (``run`` raises it in its loop)."""
        task = self._task
        assert task is not None, "called once the task is done"
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error

    def _cut(self, cut: Job[None]) -> None:
        task, scope = self._task, self._scope
        assert task is not None, "started first"
        if task.done():
            cut()
            return
        task.add_done_callback(lambda _: cut())
        if scope is not None:
            scope.cancel()
        else:  # not begun yet: it never will
            task.cancel()

    def _drain_here(self) -> None:
        # What the client sent before the drain may still wait in the kernel, unread
        # while a handler held this loop.  A timer due now runs after the read callbacks
        # of the loop's next look at its sockets (asyncio's order: ready callbacks, then
        # I/O, then timers), so those inputs are read, and answered, first.
        self._here.loop.call_later(0, self._drain_now)

    def _drain_now(self) -> None:
        self._drain_asked = True
        if self._session is not None:
            self._session.drain()


def _nothing() -> None:
    pass
