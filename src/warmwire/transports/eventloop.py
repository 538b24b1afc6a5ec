"""Which event loop runs the current task: the one place in warmwire that asks.

warmwire runs under asyncio and trio.  Most code is written once on anyio;
where the two loops differ enough to matter for speed (asyncio's native
transports, each loop's own ``Event``, how a thread wakes the loop), the
choice is made here, from :func:`current_library`, and nowhere else.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Literal, Protocol, TypeVar

import anyio
import sniffio

Library = Literal["asyncio", "trio"]
T = TypeVar("T")


class EventLike(Protocol):
    """What :func:`event_factory`'s events offer, whichever loop runs."""

    def set(self) -> object: ...
    def is_set(self) -> bool: ...
    def wait(self) -> Awaitable[object]: ...


def current_library() -> Library | None:
    """``"asyncio"`` or ``"trio"``: the event loop running the current task (``None``: none)."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None
    return "trio" if library == "trio" else "asyncio"


def call_on_asyncio(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)`` from an asyncio callback (a protocol's ``connection_made``), where
    anyio must know it runs on asyncio.

    Outside a task, sniffio finds the loop only through its context variable, which
    ``anyio.run`` sets and a plain ``asyncio.run`` does not: without this, a runner
    served under ``asyncio.run`` could not start a task for a connection.
    """
    token = sniffio.current_async_library_cvar.set("asyncio")
    try:
        return fn(*args)
    finally:
        sniffio.current_async_library_cvar.reset(token)


def on_asyncio() -> bool:
    """Whether the current task runs on asyncio (not trio): native transports apply."""
    return current_library() == "asyncio"


def clock() -> Callable[[], float]:
    """The running loop's own clock, the one its timeouts and deadlines are measured on.

    Taken once (per runner, per session) and then called freely: asyncio's is
    ``loop.time``, trio's ``trio.current_time``; both are monotonic seconds, so
    durations measured on it are true durations, and deadlines computed from it
    can be handed to ``anyio.CancelScope`` as they are.
    """
    if current_library() == "trio":
        import trio  # running, so installed; imported here because it is optional

        # trio.current_time() looks the clock up on every call; its bound method does not.
        return trio.lowlevel.current_clock().current_time
    loop = asyncio.get_running_loop()
    if type(loop).time is asyncio.BaseEventLoop.time:
        # What BaseEventLoop.time() returns, without its Python frame: the runner reads
        # the clock three times a message.  A loop with a clock of its own keeps it.
        return time.monotonic
    return loop.time


class _AsyncioWaiter:
    """An asyncio event for one waiter at a time: one future, made only when waited for.

    ``asyncio.Event`` keeps a dict and a deque of waiters (about 1 KiB); a
    runner keeps one of these per session, and makes one per message.
    """

    __slots__ = ("_future", "_value")

    def __init__(self) -> None:
        self._value = False
        self._future: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._value = True
        future = self._future
        if future is not None:
            self._future = None  # the waiting task holds it until it wakes; an idle session, none
            if not future.done():
                future.set_result(None)

    def is_set(self) -> bool:
        return self._value

    def wait(self) -> Awaitable[None]:
        # The future itself, not a coroutine awaiting it: a runner waits once a message
        # per session, and each coroutine would live in the collector's young generation
        # until the next message.
        if self._value:
            return NO_WAIT
        assert self._future is None or self._future.done(), "one waiter at a time"
        future = self._future = asyncio.get_running_loop().create_future()
        return future


class _NoWait:
    """An awaitable that is done at once: awaiting it does not yield to the loop."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator function, which ends before its first yield


NO_WAIT: Awaitable[None] = _NoWait()
"""What a function that returns an awaitable returns when there is nothing to wait for."""


def event_factory() -> Callable[[], EventLike]:
    """The cheapest event class for the running loop, for code that makes one per message
    and waits on it from one task at a time.

    ``anyio.Event()`` looks the backend up and wraps the loop's own event each
    time; the loop's own class is the same thing without that (on asyncio, a
    lighter one still, see :class:`_AsyncioWaiter`).  Outside a loop
    (construction before ``run``), anyio's, which finds the loop at the first wait.
    """
    library = current_library()
    if library == "asyncio":
        return _AsyncioWaiter
    if library == "trio":
        import trio

        return trio.Event
    return anyio.Event


class AsyncioChild:
    """A task of asyncio's that its owner starts cheaply, one at a time, and must join.

    ``start()`` works from a task or from a plain callback (a protocol's
    ``data_received``); ``aclose()`` cancels the task if it still runs and waits
    for it, shielded, and belongs in the owner's ``finally``.  An exception
    escaping the task goes to ``on_error``, where the owner cancels its own
    scope and raises it once that scope is done.

    Why not anyio's task group: its ``start_soon`` gives every task a cancel
    scope and a record of its own, about 50 µs at a session's first input
    against 2 µs for ``loop.create_task``, and a thousand sessions starting at
    once paid that in the runner's tail.  What the task group would add beyond
    the owner's joining (cancel scopes, ``anyio.sleep``...) works in any asyncio
    task all the same.
    """

    __slots__ = ("_fn", "_on_error", "_task")

    def __init__(
        self,
        fn: Callable[[], Coroutine[Any, Any, None]],
        on_error: Callable[[BaseException], object],
    ) -> None:
        self._fn = fn
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run ``fn()`` in a new task; the previous one must be over."""
        assert self._task is None or self._task.done(), "one task at a time"
        self._task = asyncio.get_running_loop().create_task(self._fn())
        self._task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._on_error(exc)

    async def aclose(self) -> None:
        """Cancel the task if it still runs, and wait for it to end."""
        task = self._task
        if task is None:
            return
        task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait((task,))


def thread_wakeup() -> tuple[Callable[[], object], Callable[[], Awaitable[object]]]:
    """A wake-up for the current task that another thread gives once: ``(wake, wait)``.

    ``wake()`` may be called from any thread (once); ``wait()`` returns once it
    has been.  The loop's own means, nothing more: per blocking call, an asyncio
    future and one ``call_soon_threadsafe``, or a trio event and its token.
    """
    if current_library() == "trio":
        import trio

        event = trio.Event()
        return (
            functools.partial(trio.lowlevel.current_trio_token().run_sync_soon, event.set),
            event.wait,
        )
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    return functools.partial(loop.call_soon_threadsafe, _resolve, future), lambda: future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # not cancelled by a plain asyncio cancel meanwhile
        future.set_result(None)
