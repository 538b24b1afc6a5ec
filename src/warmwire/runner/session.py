"""One realtime session: the logic of a connection, whatever carries its frames.

A :class:`Session` reads inputs from a :class:`Channel`, buffers them
(drop-oldest), runs the app's handler in the endpoint's mode and sends results
back.  warmwire's own server drives it over
:class:`~warmwire.transports.websocket.AsyncWebSocket`; the ASGI adapter drives
it over the ASGI ``receive``/``send`` pair, where the ASGI server owns the
framing (and so pings and the closing handshake).  The session never knows
which.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
import orjson

from warmwire.codecs.base import Codec, FrameKind
from warmwire.core.close_codes import CloseCode
from warmwire.core.envelope import ErrorCode, error_message, timings_message
from warmwire.core.errors import CodecError, ProtocolError
from warmwire.core.events import Closed
from warmwire.runner.backlog import Backlog, Outbox
from warmwire.runner.buffer import DropOldestBuffer
from warmwire.runner.handlers import Handler, Mode
from warmwire.runner.metrics import MessageFigures, Metrics
from warmwire.runner.models import ValidationFailed, to_plain
from warmwire.runner.stall import LOOKS, StallWatch, first_look_phase
from warmwire.runner.workers import WorkerPool, Workers
from warmwire.transports import eventloop

log = logging.getLogger("warmwire.runner.session")

Input = dict[str, Any] | bytes | str
"""A decoded input: a map of fields, or a raw endpoint's payload as sent."""

RETIRE_LOOK = 7.5
"""Without a ``send_timeout`` (whose looks retire it too), how often the reading task looks
at an on-demand working task, to retire it once the session is idle: seconds."""

DRAINING_REASON = (
    "runner draining: this input was not processed; reconnect (the runner closes with 1001) "
    "and send it again"
)


class Channel(Protocol):
    """What a session needs from a connection."""

    async def recv(self) -> bytes | str | Closed:
        """The next message, or the :class:`Closed` event once the connection is over."""
        ...

    async def send(self, data: bytes | str) -> None:
        """Send one message (``str`` as text, bytes as binary).

        Once the connection is no longer open, either drop the message or raise
        :class:`~warmwire.core.errors.ProtocolError`.
        """
        ...

    async def send_many(self, data: Sequence[bytes | str]) -> None:
        """Send several messages, in order, in as few writes as the connection allows."""
        ...

    async def start_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Begin the closing handshake; ``recv()`` returns :class:`Closed` when it is done."""
        ...

    async def aclose_transport(self) -> None:
        """Drop the connection without a handshake (a peer that stopped reading)."""
        ...


@runtime_checkable
class PushChannel(Channel, Protocol):
    """A channel that can hand messages over as they are read, without a task wake-up."""

    def push_messages(self, on_message: Callable[[bytes | str], None]) -> bool:
        """From now on call ``on_message`` with each message; ``False`` if this connection
        cannot (keep calling ``recv()``).  Once pushing, ``recv()`` returns only
        :class:`Closed`."""
        ...

    def send_nowait(self, data: bytes | str) -> None:
        """Send without waiting (only while pushing); ``ProtocolError`` once not open."""
        ...


class Keepalive(Protocol):
    """Pings the peer, looked at by the session's reading task (no task of its own: see
    :mod:`warmwire.runner.keepalive`)."""

    def start(self, now: float) -> float:
        """The session begins at ``now``: when to look first."""
        ...

    async def look(self, now: float, name: str) -> float:
        """Ping, or cut a peer that did not answer; when to look next (``math.inf``: never)."""
        ...


@attrs.frozen(slots=True)
class SessionLimits:
    """Per-session settings from the endpoint and the runner."""

    buffering: int
    session_timeout: float | None
    max_batch_size: int = 1
    emit_timings: bool = False
    max_pending_bytes: int | None = None
    send_timeout: float | None = 30.0
    """A client that does not take a message within this time is disconnected."""
    close_timeout: float = 10.0


class InvalidInput(Exception):
    """An input the app cannot take; reported as ``INVALID_INPUT`` and skipped.

    The runner raises it for undecodable input and model validation failures;
    a handler raises it (``warmwire.runner.InvalidInput``) for inputs only the
    app can judge, such as bytes that are not an image.  The client gets the
    message as the reason (so write it for the client), the session goes on,
    and unlike any other exception from a handler it is not logged as an app
    failure.
    """


class Session:
    """Serves one connection until the client leaves, times out, or the runner drains.

    Two tasks: the reading one and the working one.  What watches the session
    (its timeout, the keepalive, a client that stopped reading) is looked at by
    the reading task at the deadline of the wait it has anyway: a task each
    would cost every idle session their memory.  Where the handler takes one input
    at a time, the working task is started by the first input and retired by the
    reading task once the session has been idle from one look to the next: an idle
    session is then one task.  The input comes from the channel's read callback
    where it pushes them (asyncio's driver; the task is then a plain asyncio one,
    cheaper to start), or from the reading task.
    """

    # Slots: an idle session's attributes in a dict were 1.5 KiB of its memory.
    __slots__ = (
        "_backlog",
        "_clock",
        "_close_deadline",
        "_closing",
        "_draining",
        "_failure",
        "_keepalive",
        "_last_input",
        "_look_every",
        "_next_ping",
        "_next_stall_look",
        "_on_demand",
        "_outbox",
        "_read_scope",
        "_received_at_look",
        "_reply_now",
        "_retiring",
        "_sends",
        "_tasks",
        "_worker",
        "_worker_running",
        "buffer",
        "channel",
        "closed",
        "codec",
        "handler",
        "limits",
        "metrics",
        "name",
        "raw",
        "received",
        "sent",
        "stalled",
        "workers",
        "working",
    )

    def __init__(
        self,
        channel: Channel,
        handler: Handler,
        codec: Codec,
        limits: SessionLimits,
        *,
        workers: Workers | None = None,
        metrics: MessageFigures | None = None,
        name: str = "session",
        raw: bool = False,
        clock: Callable[[], float] | None = None,
        keepalive: Keepalive | None = None,
    ) -> None:
        self.channel = channel
        self.handler = handler
        self.codec = codec
        self.limits = limits
        self.raw = raw
        """Inputs are payloads as sent, not maps (``@realtime(raw=True)``)."""
        self.buffer: DropOldestBuffer[Input] = DropOldestBuffer(
            limits.buffering, limits.max_pending_bytes
        )
        self.workers: Workers = workers or WorkerPool(1)
        self.metrics: MessageFigures = metrics or Metrics()
        self.name = name
        self._clock = clock or eventloop.clock()
        """The runner's clock (the event loop's own): deadlines, idle time, handler times."""
        self.received = 0
        self.sent = 0
        self.closed: Closed | None = None
        self.stalled = False
        """True when the session ended because the client stopped reading."""
        self._sends = StallWatch()
        self._keepalive = keepalive
        self._next_ping = math.inf
        """When the reading task next looks at the keepalive."""
        self._next_stall_look = math.inf
        """When the reading task next looks at the working task: for a send stuck past
        ``send_timeout``, and (on demand) to retire it once the session is idle."""
        self._look_every = math.inf
        self._outbox: Outbox | None = None
        """Results held to leave in one write (see :class:`Backlog`), or ``None``."""
        self._backlog: Backlog[Input] | None = None
        if handler.mode is Mode.UNARY and handler.is_async:
            # Only an async unary handler's results are held back: a blocking one
            # runs in a thread (its results leave as they come), a streaming one's
            # outputs must leave as they are produced.
            self._backlog = Backlog(
                self.buffer,
                limits.max_batch_size,
                handle=self._run_batch,
                hold=self._hold,
                send=self._send_now,
                clock=self._clock,
            )
        self.working = False
        """True while the app holds an input (the session is not idle)."""
        self._tasks: anyio.abc.TaskGroup | None = None
        self._on_demand = False
        """The working task runs only while there are inputs (see the class docstring)."""
        self._worker: eventloop.AsyncioChild | None = None
        """The working task while ``_on_demand``: started at the first input of a burst."""
        self._failure: BaseException | None = None
        """What escaped that task: the session ends and raises it."""
        self._worker_running = False
        self._retiring = False
        """The reading task asks the idle working task to end."""
        self._received_at_look = 0
        """``received`` at the reading task's last look."""
        self._draining = False
        self._closing = False
        self._close_deadline = math.inf
        self._last_input = self._clock()
        self._read_scope: anyio.CancelScope | None = None
        """Set while the reading task waits for the connection (its deadline, the next look)."""
        self._reply_now: Callable[[bytes | str], None] | None = None
        """How error replies go out from a pushing channel's read callback."""

    @property
    def dropped(self) -> int:
        """Inputs dropped by the realtime buffer (oldest first) so far."""
        return self.buffer.dropped

    async def run(self) -> None:
        """Serve until the connection is over."""
        async with anyio.create_task_group() as tg:
            self._tasks = tg
            channel = self.channel
            self._on_demand = not self.handler.mode.streams_input
            if isinstance(channel, PushChannel):
                # Where it can, the channel hands inputs to _accept_pushed in its read
                # callback (the ones read with the request at once); the reading task
                # then only waits for the end of the connection and looks up at the
                # deadlines.
                self._reply_now = channel.send_nowait
                if channel.push_messages(self._accept_pushed) and self._on_demand:
                    self._worker = eventloop.AsyncioChild(self._work, self._worker_failed)
            if not self._on_demand or self.buffer.closed:  # closed: drained before it ran
                self._start_worker()
            try:
                await self._read()
            finally:
                self._on_demand = False  # no working task starts once the session is over
                if self._worker is not None:
                    await self._worker.aclose()
            tg.cancel_scope.cancel()
        if self._failure is not None:
            raise self._failure
        if self.stalled:
            log.warning("%s: the client stopped reading; disconnected", self.name)
            await self.channel.aclose_transport()

    def drain(self) -> None:
        """Finish the inputs already accepted, send their results, then close with 1001."""
        self._draining = True
        self.buffer.close()
        if self._on_demand:
            self._start_worker()  # it closes the session with 1001 once the inputs are done

    # -- reading ------------------------------------------------------------------------------

    async def _read(self) -> None:
        channel = self.channel
        now = self._clock()
        if self._keepalive is not None:
            self._next_ping = self._keepalive.start(now)
        send_timeout = self.limits.send_timeout
        if send_timeout is not None:
            self._look_every = send_timeout / LOOKS
        elif self._on_demand:
            self._look_every = RETIRE_LOOK
        self._next_stall_look = now + self._look_every * first_look_phase()
        while True:
            # One cancel scope, and one deadline, for many messages: inputs do not
            # move it (that would be an update in the event loop per message);
            # when it passes, the session is idle only if no input came since.
            with anyio.CancelScope(deadline=self._next_look()) as scope:
                while True:
                    self._read_scope = scope
                    item = await channel.recv()
                    if isinstance(item, Closed):
                        self._read_scope = None
                        self.closed = item
                        self.buffer.close()
                        return
                    # With the scope in reach: the input may start the working task,
                    # whose looks bring its deadline in.
                    problem = self._take(item)
                    self._read_scope = None
                    if problem is not None:  # rare: an error reply to send
                        deadline, scope.deadline = scope.deadline, math.inf
                        with self._cut_if_stuck():  # never cut halfway by the deadline
                            await self._error(*problem)
                        if self.stalled:
                            return
                        scope.deadline = min(deadline, self._close_deadline)  # if we closed
            self._read_scope = None
            if not await self._look(self._clock()):
                return

    async def _look(self, now: float) -> bool:
        """What the reading task does at its deadline; ``False``: the session is over."""
        if now >= self._next_stall_look:
            if self.limits.send_timeout is not None and self._sends.look():
                self.stalled = True
                return False
            self._next_stall_look = now + self._look_every
        if now >= self._next_ping:
            assert self._keepalive is not None, "no pings without a keepalive"
            with self._cut_if_stuck():
                self._next_ping = await self._keepalive.look(now, self.name)
        if self._on_demand and self._worker_running and self._idle_since_last_look():
            self._retiring = True
            self.buffer.nudge()
        self._received_at_look = self.received
        if self._closing:
            # Past the close timeout, the client never answered our close: give up on it.
            return now < self._close_deadline and not self.stalled
        if self.working or len(self.buffer):
            # Idle means no input *and* nothing in hand: a handler slower than
            # the timeout must still deliver its result.
            self._last_input = now
        elif self._idle_deadline() <= now:
            with self._cut_if_stuck():
                await self._timeout()
        return not self.stalled

    def _idle_since_last_look(self) -> bool:
        return not self.working and not len(self.buffer) and self.received == self._received_at_look

    @contextlib.contextmanager
    def _cut_if_stuck(self) -> Iterator[None]:
        """Bound a send of the reading task's own by ``send_timeout``: no other task looks
        for the reading task stuck on a client that stopped reading."""
        limit = self.limits.send_timeout
        with anyio.move_on_after(math.inf if limit is None else limit) as scope:
            yield
        if scope.cancelled_caught:
            self.stalled = True

    def _next_look(self) -> float:
        """When the reading task stops waiting to look up: the next ping, the next look
        for a stuck send, and the session timeout since the last input (the close
        timeout once our close frame is out).

        No looks for a stuck send while no working task runs: only it waits on
        sends (the reading task bounds its own); :meth:`_start_worker` brings the
        next look back in.
        """
        stall_look = self._next_stall_look if self._worker_running else math.inf
        return min(self._idle_deadline(), self._next_ping, stall_look)

    def _idle_deadline(self) -> float:
        if self._closing:
            return self._close_deadline
        timeout = self.limits.session_timeout
        if timeout is None:
            return math.inf
        return self._last_input + timeout

    def _accept_pushed(self, item: bytes | str) -> None:
        problem = self._take(item)
        if problem is not None:
            assert self._reply_now is not None, "inputs come without a task only when pushed"
            try:
                self._reply_now(self._error_message(*problem))
            except ProtocolError:
                log.debug("%s: connection closing, an error reply was not sent", self.name)

    def _take(self, item: bytes | str) -> tuple[ErrorCode, str] | None:
        """Count an input and buffer it decoded; the error to send back instead, if any."""
        self.received += 1
        self.metrics.messages_in += 1
        self._last_input = self._clock()
        if self._closing:
            # Sent before the client saw our close frame: it can no longer be
            # answered, and the close code (1000 or 1001) tells the client why.
            log.debug("%s: input after our close frame, ignored", self.name)
            return None
        if self._draining:
            return ErrorCode.INTERNAL_ERROR, DRAINING_REASON
        try:
            inp = self._decode(item)
        except InvalidInput as exc:
            return ErrorCode.INVALID_INPUT, str(exc)
        for old in self.buffer.put(inp, len(item)):
            self.metrics.dropped.inc()
            log.debug(
                "%s: buffer full (%d inputs), dropped the oldest (request_id=%r); %d dropped",
                self.name,
                self.buffer.capacity,
                old.get("request_id") if isinstance(old, dict) else None,
                self.buffer.dropped,
            )
        if self._on_demand and not self._worker_running:
            self._start_worker()
        return None

    async def _timeout(self) -> None:
        log.info("%s: no input for %ss, closing", self.name, self.limits.session_timeout)
        await self._error(
            ErrorCode.TIMEOUT,
            f"no input for {self.limits.session_timeout} seconds; reconnect when needed",
        )
        await self._close(CloseCode.NORMAL, "session timeout")

    def _decode(self, data: bytes | str) -> Input:
        if self.raw:
            return data
        try:
            if isinstance(data, str) and self.codec.frame is FrameKind.BINARY:
                obj = orjson.loads(data)
            else:
                obj = self.codec.decode(data)
        except (CodecError, orjson.JSONDecodeError) as exc:
            raise InvalidInput(f"undecodable input: {exc}") from None
        if not isinstance(obj, dict):
            raise InvalidInput(f"an input must be a map/object of fields, got {type(obj).__name__}")
        return obj

    # -- working ------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        """Start the working task (on demand, from the read callback too)."""
        if self._worker_running:
            return
        assert self._tasks is not None, "the session's task group is open while it runs"
        self._worker_running = True
        self._retiring = False
        if self._read_scope is not None:  # the reading task waits without stall looks
            self._read_scope.deadline = min(self._read_scope.deadline, self._next_stall_look)
        if self._worker is not None:  # on demand: maybe from the read callback
            self._worker.start()
        else:
            self._tasks.start_soon(self._work)

    def _worker_failed(self, exc: BaseException) -> None:
        self._failure = exc
        assert self._tasks is not None, "the working task runs inside the session's task group"
        self._tasks.cancel_scope.cancel()

    async def _next_batch(self) -> list[Input] | None:
        """The inputs to handle next; ``[]`` once the buffer is closed and empty, ``None``
        once the reading task has retired this working task (it has set
        ``_worker_running`` aside at once: an input from now on starts another)."""
        buffer = self.buffer
        size = self.limits.max_batch_size
        while not (batch := buffer.take(size)):
            if buffer.closed:
                return []
            if self._retiring:
                self._worker_running = False
                return None
            await buffer.wait_for_news()
        self._retiring = False
        return batch

    async def _work(self) -> None:
        if self.handler.mode.streams_input:
            # Each handler call starts with an input waiting, so one that returns
            # without reading cannot spin.
            while await self.buffer.wait():
                self.working = True
                await self._run_stream()
                self.working = False
        else:
            backlog = self._backlog
            while batch := await self._next_batch():
                self.working = True
                if backlog is not None and len(self.buffer):
                    await backlog.run(batch)
                else:
                    await self._run_batch(batch)
                self.working = False
            if batch is None:
                return  # retired (see _next_batch)
        if self._draining:
            await self._close(CloseCode.GOING_AWAY, "runner draining")

    async def _run_batch(self, batch: list[Input]) -> None:
        clock = self._clock
        started = clock()
        try:
            args = batch if self.handler.validate is None else [self._validated(i) for i in batch]
        except InvalidInput as exc:
            await self._error(ErrorCode.INVALID_INPUT, str(exc))
            return
        try:
            if self.handler.mode is Mode.SERVER_STREAMING:
                async for out in self._outputs(args[0]):
                    await self._result(batch[0], out, clock() - started)
                self.metrics.observe_handler(clock() - started)
                return
            outputs = await self._call_unary(args)
        except Exception as exc:
            await self._app_failed(exc)
            return
        elapsed = clock() - started
        self.metrics.observe_handler(elapsed)
        for inp, out in zip(batch, outputs, strict=True):
            await self._result(inp, out, elapsed)

    async def _run_stream(self) -> None:
        """One call of a client-streaming or bidirectional handler over the inputs to come."""
        clock = self._clock
        started = clock()
        inputs = _InputStream(self)
        try:
            if self.handler.mode is Mode.BIDIRECTIONAL:
                async for out in self._outputs(inputs):
                    await self._result(inputs.last or {}, out, clock() - started)
            else:
                out = await self.handler.fn(inputs)
                await self._result(inputs.last or {}, out, clock() - started)
        except Exception as exc:
            await self._app_failed(exc)
            return
        self.metrics.observe_handler(clock() - started)

    def _validated(self, inp: Input) -> Any:
        if self.handler.validate is None or not isinstance(inp, dict):
            return inp
        try:
            return self.handler.validate(inp)
        except ValidationFailed as exc:
            raise InvalidInput(f"invalid input: {exc}") from None

    async def _call_unary(self, args: list[Any]) -> list[Any]:
        # A batched handler gets a list of its own: the batch itself is read after it returns.
        arg: Any = list(args) if self.limits.max_batch_size > 1 else args[0]
        if self.handler.is_async:
            result = await self.handler.fn(arg)
        else:
            result = await self.workers.run(self.handler.fn, arg)
        if self.limits.max_batch_size == 1:
            return [result]
        if not isinstance(result, list) or len(result) != len(args):
            raise TypeError(
                f"a batched handler must return a list of {len(args)} outputs, one per input"
            )
        return result

    async def _outputs(self, arg: Any) -> AsyncIterator[Any]:
        """A streaming handler's outputs: async ones on the loop, blocking ones in a thread."""
        fn = self.handler.fn
        if self.handler.is_async:
            produced = fn(arg)
            if not hasattr(produced, "__aiter__"):
                produced = await produced  # "async def" returning an iterator
            if hasattr(produced, "__aiter__"):
                async for out in produced:
                    yield out
            else:
                for out in produced:
                    yield out
            return
        # A blocking generator may do model work between items: each step runs
        # in a worker thread, like a unary call.
        iterator = await self.workers.run(lambda: iter(fn(arg)))
        done = object()
        while True:
            out = await self.workers.run(next, iterator, done)
            if out is done:
                return
            yield out

    # -- sending ------------------------------------------------------------------------------

    async def _result(self, inp: Input, out: Any, elapsed: float) -> None:
        if type(out) is not dict:  # a dict, the common case, is plain already
            out = to_plain(out)
        if (
            isinstance(out, dict)
            and isinstance(inp, dict)
            and "request_id" in inp
            and "request_id" not in out
        ):
            out = {**out, "request_id": inp["request_id"]}
        try:
            data = self.codec.encode(out)
        except CodecError as exc:
            log.error("%s: cannot encode the app's output: %s", self.name, exc)
            await self._error(
                ErrorCode.INTERNAL_ERROR, f"the app's output cannot be encoded: {exc}"
            )
            return
        await self._send(data)
        self.sent += 1
        self.metrics.messages_out += 1
        if self.limits.emit_timings:
            await self._send(timings_message(elapsed))

    async def _app_failed(self, exc: Exception) -> None:
        if isinstance(exc, InvalidInput):
            # The app refused this input on purpose: the client's mistake, not the app's.
            log.info("%s: the app refused an input: %s", self.name, exc)
            await self._error(ErrorCode.INVALID_INPUT, str(exc))
            return
        # The traceback goes to the runner's log; the client gets the exception's
        # type and message only.
        log.error("%s: the app raised while handling an input", self.name, exc_info=exc)
        await self._error(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")

    async def _error(self, code: ErrorCode, reason: str) -> None:
        await self._send(self._error_message(code, reason))

    def _error_message(self, code: ErrorCode, reason: str) -> str:
        """The ``x-fal-error`` message to send, counted."""
        self.metrics.errors.labels(code.value).inc()
        return error_message(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        if not self._closing:
            self._closing = True
            self._close_deadline = self._clock() + self.limits.close_timeout
            if self._read_scope is not None:  # the reader waits for its next look
                self._read_scope.deadline = min(self._read_scope.deadline, self._close_deadline)
            await self.channel.start_close(code, reason)

    def _hold(self, outbox: Outbox | None) -> None:
        """Put results in ``outbox`` from now on, instead of sending them (``None``: send)."""
        self._outbox = outbox

    def _send(self, data: bytes | str) -> Awaitable[None]:
        # Not a coroutine of its own: once per result, it hands over _send_now's.
        if self._outbox is not None:
            self._outbox.append(data)
            return _sent_already()
        return self._send_now(data)

    async def _send_now(self, data: bytes | str | list[bytes | str]) -> None:
        """Send one message, or a list of them in as few writes as possible."""
        # No cancel scope per message (that is the hot path): the sends count
        # themselves, and the reading task notices one stuck past send_timeout
        # (a client that stopped reading, whose socket buffers are full: holding
        # more for it would grow without bound).
        sends = self._sends
        sends.pending += 1
        try:
            if isinstance(data, list):
                await self.channel.send_many(data)
            else:
                await self.channel.send(data)
        except ProtocolError:
            # The connection stopped being open under us (the peer's close
            # crossed this message): nothing more can be sent, and the read
            # side is about to see the close and end the session.
            log.debug("%s: connection closing, a message was not sent", self.name)
        finally:
            sends.pending -= 1
            sends.finished += 1


async def _sent_already() -> None:
    """What :meth:`Session._send` returns when the message went to the outbox."""


class _InputStream:
    """The async iterator a streaming-input handler reads: inputs as they are accepted."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.last: Input | None = None

    def __aiter__(self) -> _InputStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            # Waiting for the next input is idle time for the session timeout.
            self._session.working = False
            batch = await self._session.buffer.get_batch(1)
            self._session.working = True
            if not batch:
                raise StopAsyncIteration
            self.last = batch[0]
            try:
                return self._session._validated(batch[0])
            except InvalidInput as exc:
                await self._session._error(ErrorCode.INVALID_INPUT, str(exc))
