"""The callback-style client: ``connect()`` / ``connect_async()``, like the JavaScript client.

``send()`` never blocks.  Inputs sent within ``throttle_interval`` collapse to
the latest one (the first is sent at once, the trailing one always follows).
The connection opens lazily on the first send, and the next send after the
runner closed (timeout, drain, network loss) reconnects with a valid token; a
refused token is forgotten so the reconnect fetches a fresh one.  Each event
goes to exactly one callback: ``on_result`` for results, ``on_error`` for
:class:`RealtimeError` (``x-fal-error``, abnormal closes, connection and token
failures).  Nothing raised inside the connection ever leaves it.

What ``on_error`` receives (``error.error`` is the code):

* the runner's ``x-fal-error``: ``INTERNAL_ERROR`` (the app raised),
  ``INVALID_INPUT`` (it could not take an input), ``TIMEOUT`` (no input for the
  session timeout; the next send reconnects);
* :class:`UnauthorizedError` (``Unauthorized``): the credentials were refused,
  once per refusal; the token is forgotten and the next send fetches a new one;
* :class:`ConnectionClosedError` (``CONNECTION_CLOSED``, with ``.code``): the
  connection ended abnormally (1001 draining, 1006 lost, 1009 too big...);
* ``CONNECTION_FAILED``: no connection could be opened (unreachable runner,
  refused upgrade, no token could be fetched, the open timed out);
* ``CONNECTION_CLOSED`` (a plain :class:`RealtimeError`): an input was not
  sent, because two connections in a row closed under it;
* ``INVALID_INPUT`` from the client itself: an input the codec cannot encode;
* ``INVALID_OUTPUT``: a result the codec cannot decode.

``send()`` raises only :class:`RealtimeError` ``CLOSED``, after ``close()``.
An exception raised by a callback is logged and does not stop the connection.
"""

from __future__ import annotations

import collections
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.from_thread

from warmwire.client.async_connection import AsyncRealtimeConnection
from warmwire.client.builder import ConnectionBuilder
from warmwire.client.options import ClientOptions
from warmwire.core.close_codes import CloseCode
from warmwire.core.errors import (
    CodecError,
    ConfigurationError,
    ConnectionClosedError,
    HandshakeError,
    ProtocolError,
    RealtimeError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    # Typing only: PEP 692's Unpack is in typing from 3.11, and warmwire supports 3.10.
    from typing_extensions import Unpack

log = logging.getLogger("warmwire.client")

ResultCallback = Callable[[Any], Any]
ErrorCallback = Callable[[RealtimeError], Any]
DEFAULT_THROTTLE = 0.128


class _CallbackCore:
    """The event loop side: throttled sending, lazy (re)connection, reading into callbacks."""

    def __init__(
        self,
        builder: ConnectionBuilder,
        on_result: ResultCallback,
        on_error: ErrorCallback | None,
        throttle_interval: float,
    ) -> None:
        if throttle_interval < 0:
            raise ConfigurationError(f"throttle_interval must be >= 0, got {throttle_interval}")
        self._resolved = builder.resolve()
        self._on_result = on_result
        self._on_error = on_error
        self._throttle = throttle_interval
        # Unthrottled, every input waits its turn; throttled, the queue holds the
        # leading input (sent at once) and one trailing slot that newer inputs overwrite.
        self._queue: collections.deque[Any] = collections.deque()
        self._idle = True
        self._wake = anyio.Event()
        self._closing = False
        self._conn: AsyncRealtimeConnection | None = None
        self._reader_done: anyio.Event | None = None
        self.connections = 0
        """How many connections were opened (the first, then each reconnect)."""

    def push(self, obj: Any) -> None:
        if self._closing:
            raise RealtimeError("CLOSED", "this connection was closed; create a new one")
        if self._throttle and not self._idle and self._queue:
            self._queue[-1] = obj  # collapse into the trailing input
        else:
            self._queue.append(obj)
        self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            while True:
                while not self._queue and not self._closing:
                    self._idle = True
                    await self._wake.wait()
                    self._wake = anyio.Event()
                if self._closing:
                    break
                self._idle = False
                await self._deliver(self._queue.popleft(), tg)
                if self._throttle:
                    # Inputs during this pause collapse into one: the trailing edge.
                    await anyio.sleep(self._throttle)
            # Cancelling the reader makes it close its connection (its finally).
            tg.cancel_scope.cancel()

    async def _deliver(self, obj: Any, tg: anyio.abc.TaskGroup) -> None:
        """Send ``obj``, reconnecting once if the connection turns out to be over.

        Nothing raised here may leave: an error escaping would end the whole
        ``connect()`` block.  Each failure is one ``on_error`` event.
        """
        for attempt in (1, 2):
            conn = await self._connection(tg)
            if conn is None:
                return
            try:
                await conn.send(obj)
                return
            except (ProtocolError, RealtimeError):
                # The connection is over.  A RealtimeError here (UnauthorizedError when
                # the refusal came in the same packet as the 101) is the runner's last
                # word on it, and the reader reports that one: not reported twice.
                if self._conn is conn:
                    self._conn = None
                if attempt == 2:
                    await self._error(
                        RealtimeError(
                            "CONNECTION_CLOSED",
                            "the input was not sent: the connection closed before it could "
                            "be, twice in a row (see the previous error); send it again",
                        )
                    )
            except Exception as exc:  # CodecError, or whatever a plugin codec raises
                await self._error(RealtimeError("INVALID_INPUT", f"cannot encode the input: {exc}"))
                return

    async def _connection(self, tg: anyio.abc.TaskGroup) -> AsyncRealtimeConnection | None:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if self._reader_done is not None:
            # Let the last connection's reader deal with how it ended first: a
            # refused token is forgotten there, and must not be used to redial.
            with anyio.move_on_after(self._resolved.spec.close_timeout):
                await self._reader_done.wait()
        try:
            conn = await AsyncRealtimeConnection.open(self._resolved)
        except (HandshakeError, ConfigurationError, TimeoutError, OSError) as exc:
            await self._error(RealtimeError("CONNECTION_FAILED", str(exc) or type(exc).__name__))
            return None
        except Exception as exc:  # a transport or token-strategy plugin's own error
            log.exception("opening a realtime connection failed unexpectedly")
            await self._error(RealtimeError("CONNECTION_FAILED", repr(exc)))
            return None
        self.connections += 1
        self._conn = conn
        self._reader_done = done = anyio.Event()
        tg.start_soon(self._read, conn, done)
        return conn

    async def _read(self, conn: AsyncRealtimeConnection, done: anyio.Event) -> None:
        refused = False
        try:
            while True:
                try:
                    result = await conn.recv()
                except UnauthorizedError as exc:
                    refused = True
                    if self._conn is conn:
                        self._conn = None  # closing with 1008: later sends reconnect
                    invalidate = getattr(self._resolved.auth, "invalidate", None)
                    if callable(invalidate):
                        invalidate()  # the next connection fetches a fresh token
                    await self._error(exc)
                    continue
                except ConnectionClosedError as exc:
                    # After "Unauthorized" the 1008 close is the same event: one callback.
                    if not (refused and exc.code == CloseCode.POLICY_VIOLATION):
                        await self._error(exc)
                    return
                except RealtimeError as exc:
                    await self._error(exc)
                    continue
                except CodecError as exc:
                    await self._error(RealtimeError("INVALID_OUTPUT", str(exc)))
                    continue
                except Exception as exc:
                    # Not one message's problem (a plugin's bug?): end this connection,
                    # the next send opens another.
                    log.exception("reading a realtime connection failed unexpectedly")
                    await self._error(RealtimeError("CONNECTION_FAILED", repr(exc)))
                    return
                if result is None:
                    return
                await _call(self._on_result, result)
        finally:
            if self._conn is conn:
                self._conn = None
            with anyio.move_on_after(self._resolved.spec.close_timeout, shield=True):
                await conn.aclose()
            done.set()

    async def _error(self, error: RealtimeError) -> None:
        if self._on_error is None:
            log.warning("realtime error (no on_error callback): %s", error)
            return
        await _call(self._on_error, error)


async def _call(callback: Callable[[Any], Any], arg: Any) -> None:
    try:
        result = callback(arg)
        if inspect.isawaitable(result):
            await result
    except Exception:
        # A failing callback must not stop the connection for the next events.
        log.exception("a realtime callback raised")


class CallbackConnection:
    """Blocking flavour: the connection lives on a background thread's event loop."""

    def __init__(self, core: _CallbackCore) -> None:
        self._core = core
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        self._runner = self._portal.start_task_soon(core.run)
        self._closed = False

    @property
    def connections(self) -> int:
        return self._core.connections

    def send(self, obj: Any) -> None:
        """Queue ``obj`` for sending; returns at once.

        Raises :class:`RealtimeError` ``CLOSED`` after :meth:`close`; every other
        failure goes to ``on_error`` (see the module docstring).
        """
        if self._closed:
            raise RealtimeError("CLOSED", "this connection was closed; create a new one")
        self._portal.start_task_soon(_push, self._core, obj)

    def close(self) -> None:
        """Close the connection and stop the background thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._portal.call(_close, self._core)
        self._runner.result()
        self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> CallbackConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _push(core: _CallbackCore, obj: Any) -> None:
    core.push(obj)


async def _close(core: _CallbackCore) -> None:
    core.close()


class AsyncCallbackConnection:
    """Async flavour: lives in the task group of ``async with connect_async(...)``."""

    def __init__(self, core: _CallbackCore) -> None:
        self._core = core

    @property
    def connections(self) -> int:
        return self._core.connections

    def send(self, obj: Any) -> None:
        """Queue ``obj`` for sending; returns at once.

        Raises :class:`RealtimeError` ``CLOSED`` after :meth:`close`; every other
        failure goes to ``on_error`` (see the module docstring).
        """
        self._core.push(obj)

    def close(self) -> None:
        """Close the connection; the ``async with`` block's exit waits for it. Idempotent."""
        self._core.close()


def _core(
    app: str,
    on_result: ResultCallback,
    on_error: ErrorCallback | None,
    throttle_interval: float,
    options: ClientOptions,
) -> _CallbackCore:
    return _CallbackCore(ConnectionBuilder(app, **options), on_result, on_error, throttle_interval)


def connect(
    app: str,
    *,
    on_result: ResultCallback,
    on_error: ErrorCallback | None = None,
    throttle_interval: float = DEFAULT_THROTTLE,
    **options: Unpack[ClientOptions],
) -> CallbackConnection:
    """Callback-style connection on a background thread (use as ``with connect(...) as conn``).

    ``on_result`` gets each result and ``on_error`` each :class:`RealtimeError`
    (without it, errors are logged); both run on that thread and may be plain
    functions or coroutines.  Inputs sent within ``throttle_interval`` seconds
    collapse to the latest (``0``: send every one).  The other options are those
    of :func:`warmwire.realtime`, described in
    :class:`~warmwire.client.options.ClientOptions`.
    """
    core = _core(app, on_result, on_error, throttle_interval, options)
    return CallbackConnection(core)


@asynccontextmanager
async def connect_async(
    app: str,
    *,
    on_result: ResultCallback,
    on_error: ErrorCallback | None = None,
    throttle_interval: float = DEFAULT_THROTTLE,
    **options: Unpack[ClientOptions],
) -> AsyncIterator[AsyncCallbackConnection]:
    """Callback-style connection in the caller's event loop (asyncio or trio)::

        async with warmwire.connect_async("acme/stylize", on_result=show) as conn:
            conn.send({"image": frame})

    The same options as :func:`connect`: ``on_result``, ``on_error`` and
    ``throttle_interval``, then those of :func:`warmwire.realtime_async`, described
    in :class:`~warmwire.client.options.ClientOptions`; callbacks run in this
    event loop.
    """
    core = _core(app, on_result, on_error, throttle_interval, options)
    async with anyio.create_task_group() as tg:
        tg.start_soon(core.run)
        try:
            yield AsyncCallbackConnection(core)
        finally:
            core.close()
