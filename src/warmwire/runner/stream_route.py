"""Progressive output over Server-Sent Events: fal's ``/stream`` contract, on every app.

``POST /{owner}/{alias}[{path}]/stream`` with the input as a JSON body answers
``text/event-stream``: each output of the endpoint's handler is one event
(``data: {json}``) sent as soon as it is yielded, and the response ends after
the last one, which fal's clients take as the final result.  A unary handler
answers one event.  This is the contract of ``fal-client``'s ``stream()`` and
``@fal-ai/client``'s ``fal.stream``: they POST the JSON input, read ``data:``
lines as JSON objects, and end when the response ends.

Which endpoint streams: ``/{app}{path}/stream`` is the endpoint at ``path``;
``/{app}/stream`` is the app's endpoint at ``/stream``, else at ``/realtime``,
else its only one.  Raw endpoints (``raw=True``) do not stream: their payloads
are not JSON.

The request runs the front-door sequence's steps (:mod:`warmwire.runner.front_door`):
a handshake turn while it is routed and its credentials checked, refusals counted
and (for credentials) paced, all within :meth:`Runner.opening` so that a drain
waits for streams under way, and refuses new ones with 503.  Credentials are the
realtime ones: ``Authorization: Key id:secret``, or a token in ``fal_jwt_token``
(what ``@fal-ai/client`` sends in ``connectionMode: "client"``).  Refusals before
the stream are HTTP statuses with a JSON body (``{"error", "reason"}``): 401 for
credentials (a token for another app says so), 404, 405, 503.

Once the stream has begun, errors are events, the realtime ``x-fal-error``
envelope under the SSE event name ``error``, after which the response ends:

- ``INVALID_INPUT``: the body is not a JSON object, or does not fit the model;
- ``INTERNAL_ERROR``: the handler raised (type and message only; the traceback is
  logged), or an output cannot be encoded as JSON;
- ``TIMEOUT``: no output for the endpoint's ``session_timeout`` seconds.  An async
  handler is cancelled then; a blocking generator's step cannot be interrupted, so
  the event goes out once that step returns.

fal's clients yield that event like any other (a dict with ``"type": "x-fal-error"``);
warmwire's clients raise :class:`~warmwire.client.stream.StreamError`.

Flow control: the next output is asked of the handler only once the previous
event has been written, so a client that reads slowly slows the handler, and the
runner holds at most one event for it.  A client that takes nothing for
``send_timeout`` seconds (a stalled reader) is disconnected: its response ends
without the final chunk (under an ASGI server, which then logs an incomplete
response), so its HTTP client reports a body cut short.  A client that goes
away (disconnect, abort) stops the handler: the generator is closed, so its
``finally`` runs, as soon as its current step returns.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.lowlevel
import attrs
import orjson

from warmwire.core.envelope import ErrorCode, error_message
from warmwire.core.errors import ConfigurationError
from warmwire.core.events import HttpRequest
from warmwire.core.request_target import parse_target
from warmwire.core.sse import encode_event
from warmwire.plugins import get_codec
from warmwire.runner.handlers import Handler
from warmwire.runner.models import ValidationFailed, to_plain
from warmwire.runner.routing import Admitted, Refused, Route, Router
from warmwire.runner.session import InvalidInput
from warmwire.runner.stall import StallWatch

if TYPE_CHECKING:  # the runner calls this module; the type only is needed here
    from warmwire.runner.host import Runner
    from warmwire.runner.workers import Workers

log = logging.getLogger("warmwire.runner")

SUFFIX = "/stream"
"""What fal's clients append to an app id to stream from it."""

CONTENT_TYPE = "text/event-stream"

ERROR_EVENT = "error"
"""The SSE event name of an ``x-fal-error`` (the stream's last event)."""

CORS_HEADERS = (("access-control-allow-origin", "*"),)
"""On every answer of a stream route: a page on another origin (``connectionMode:
"client"``) may read the events, and the reason of a refusal.  Any origin: the
credentials are the request's own (a token in the URL, or a header the page sets),
never a cookie, so another site gains nothing it did not hold already."""

PREFLIGHT_HEADERS = (
    *CORS_HEADERS,
    ("access-control-allow-methods", "POST"),
    ("access-control-allow-headers", "authorization, content-type, accept"),
    ("access-control-max-age", "600"),
)
"""The answer (``204``) to a browser's ``OPTIONS`` before it POSTs JSON across origins."""

RESPONSE_HEADERS = (
    ("content-type", CONTENT_TYPE),
    ("cache-control", "no-cache"),
    # nginx honours this one per response: no buffering, whatever the location says.
    ("x-accel-buffering", "no"),
    *CORS_HEADERS,
)
"""The headers of a stream's ``200``."""

_ids = itertools.count(1)


class StreamDoor(Protocol):
    """What a stream needs from the door it came in at (warmwire's own server, ASGI)."""

    async def refuse(self, refused: Refused) -> None:
        """Answer with ``refused``'s HTTP status and JSON body (and :data:`CORS_HEADERS`),
        instead of a stream."""
        ...

    async def start(self) -> None:
        """Send the ``200`` with :data:`RESPONSE_HEADERS`; the body follows in parts."""
        ...

    async def send(self, data: bytes) -> None:
        """Send one event; waits while the client is not taking what was sent."""
        ...

    async def end(self) -> None:
        """End the response (the stream's end, for the client)."""
        ...

    async def wait_gone(self) -> None:
        """Return once the client has gone (disconnected, aborted)."""
        ...

    async def abort(self) -> None:
        """Drop the connection without ending the response (a client that stopped reading)."""
        ...


def wants_stream(path: str) -> bool:
    """Whether a plain HTTP request for ``path`` is for a stream route."""
    return path.split("?", 1)[0].rstrip("/").endswith(SUFFIX)


def is_preflight(request: HttpRequest) -> bool:
    """A browser's CORS preflight: answer ``204`` with :data:`PREFLIGHT_HEADERS`, no stream."""
    return request.method == "OPTIONS"


def match(router: Router, path: str) -> Route | None:
    """The route ``path`` (``/{app}[{path}]/stream``) streams from, or ``None``."""
    path = path.rstrip("/")
    if not path.endswith(SUFFIX):
        return None
    base = path[: -len(SUFFIX)]
    route = router.match(base)
    if route is None or route.url_path != base:  # not the catch-all endpoint
        route = _default_route(router, base)
    if route is None or route.config.raw:
        return None
    return route


def _default_route(router: Router, app_path: str) -> Route | None:
    for app in router.apps:
        if f"/{app.app_id}" != app_path:
            continue
        routes = [r for _, r in router.routes() if r.app is app]
        for preferred in (SUFFIX, "/realtime"):
            for route in routes:
                if route.config.path == preferred:
                    return route
        return routes[0] if len(routes) == 1 else None
    return None


def paths(router: Router) -> list[str]:
    """Every path a stream can be requested at (for error messages)."""
    found = {
        f"/{app.app_id}{SUFFIX}" for app in router.apps if _default_route(router, f"/{app.app_id}")
    }
    found.update(f"{path}{SUFFIX}" for path, route in router.routes() if not route.config.raw)
    return sorted(found)


@attrs.frozen(slots=True)
class StreamAdmitted:
    """A stream request may proceed: the route that serves it, and what its credentials
    are checked against (the path as requested, so that a token whose ``allowed_apps``
    names ``owner/alias/stream``, as ``@fal-ai/client``'s token provider is asked for,
    is valid here; an alias or ``owner/alias`` is valid for every path of the app)."""

    route: Route
    checked: Admitted


def admit(runner: Runner, request: HttpRequest) -> StreamAdmitted | Refused:
    """Route a stream request, or refuse it: draining, at capacity, wrong method, unknown path."""
    unavailable = runner.unavailable()
    if unavailable is not None:
        return unavailable
    if request.method != "POST":
        return Refused(
            405, "Method Not Allowed", "a stream takes its input as a JSON body: POST it"
        )
    try:
        target = parse_target(request.target)
    except ConfigurationError as exc:
        return Refused(400, "Bad Request", str(exc))
    route = match(runner.router, target.path)
    if route is None:
        return Refused(
            404,
            "Not Found",
            f"no stream at {target.path!r} on this runner; it streams at: "
            + (", ".join(paths(runner.router)) or "nothing"),
        )
    requested = target.path.rstrip("/")[len(route.app.app_id) + 1 :]
    as_requested = Route(route.app, route.method_name, attrs.evolve(route.config, path=requested))
    return StreamAdmitted(route, Admitted(as_requested, get_codec("json"), None, 1, target.token))


async def enter(runner: Runner, door: StreamDoor, request: HttpRequest) -> None:
    """Run the stream ``request`` that came in at ``door`` to its end: refused, or streamed."""
    front_door = runner.front_door
    with runner.opening():
        async with front_door.turn():
            decision = admit(runner, request)
            if isinstance(decision, Refused):
                front_door.count_refusal(decision)
                await door.refuse(decision)
                return
            problem = await front_door.credentials_problem(
                decision.checked, request.header("authorization")
            )
        if problem is not None:
            # Outside the turn, as for an upgrade: the pace costs no CPU.
            await front_door.pace_refusal()
            await door.refuse(Refused(401, "Unauthorized", problem))
            return
        await _Stream(runner, door, decision.route, f"stream={next(_ids)}").run(request.body)


class _Stream:
    """One stream: the handler's outputs as events, until its end, an error, or the client's."""

    def __init__(self, runner: Runner, door: StreamDoor, route: Route, name: str) -> None:
        self._runner = runner
        self._door = door
        self._route = route
        self._handler: Handler = runner.handlers[route.url_path]
        self.name = f"{name} path={route.url_path}{SUFFIX}"
        self._sends = StallWatch()
        self.sent = 0
        self.gone = False
        """The client went away before the end."""
        self.stalled = False
        """The client stopped reading and was disconnected."""

    async def run(self, body: bytes) -> None:
        runner = self._runner
        clock = runner.clock
        started = clock()
        runner.metrics.messages_in += 1
        log.info("%s open", self.name)
        await self._door.start()
        send_timeout = runner.config.send_timeout
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._cut_when_gone, tg.cancel_scope)
            if send_timeout is not None:
                tg.start_soon(self._cut_when_stalled, send_timeout, tg.cancel_scope)
            await self._produce(body)
            tg.cancel_scope.cancel()
        if self.stalled:
            log.warning("%s: the client stopped reading; disconnected", self.name)
            await self._door.abort()
        elif not self.gone:
            await self._door.end()
        runner.metrics.observe_handler(clock() - started)
        log.info(
            "%s closed events=%d duration=%.1fs%s",
            self.name,
            self.sent,
            clock() - started,
            " (client gone)" if self.gone else " (client stalled)" if self.stalled else "",
        )

    async def _cut_when_gone(self, scope: anyio.CancelScope) -> None:
        await self._door.wait_gone()
        self.gone = True
        scope.cancel()

    async def _cut_when_stalled(self, limit: float, scope: anyio.CancelScope) -> None:
        await self._sends.until_stalled(limit)
        self.stalled = True
        scope.cancel()

    async def _produce(self, body: bytes) -> None:
        try:
            inp = _decode(body)
            arg = self._validated(inp)
        except InvalidInput as exc:
            await self._error(ErrorCode.INVALID_INPUT, str(exc))
            return
        timeout = self._route.config.session_timeout
        outputs = _Outputs(self._handler, arg, self._runner.workers)
        try:
            while True:
                # A blocking handler's steps wait shielded (see WorkerPool.run): without
                # this, a client gone or stalled would never stop a generator that never
                # stops producing.
                await anyio.lowlevel.checkpoint_if_cancelled()
                with anyio.move_on_after(math.inf if timeout is None else timeout) as waited:
                    out = await outputs.next()
                if waited.cancelled_caught:
                    await self._error(
                        ErrorCode.TIMEOUT,
                        f"no output for {timeout} seconds; the stream is over, ask again",
                    )
                    return
                if out is _DONE:
                    return
                await self._event(inp, out)
        except _Ended:
            pass
        except InvalidInput as exc:
            # The app refused this input on purpose: the client's mistake, not the app's.
            log.info("%s: the app refused the input: %s", self.name, exc)
            await self._error(ErrorCode.INVALID_INPUT, str(exc))
        except Exception as exc:
            log.error("%s: the app raised while streaming", self.name, exc_info=exc)
            await self._error(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            # The client may be gone: the generator is closed all the same (its
            # finally runs), within close_timeout.
            with anyio.move_on_after(self._runner.config.close_timeout, shield=True):
                await outputs.aclose()

    def _validated(self, inp: dict[str, Any]) -> Any:
        validate = self._handler.validate
        if validate is None:
            return inp
        try:
            return validate(inp)
        except ValidationFailed as exc:
            raise InvalidInput(f"invalid input: {exc}") from None

    async def _event(self, inp: dict[str, Any], out: Any) -> None:
        out = to_plain(out)
        if isinstance(out, dict) and "request_id" in inp and "request_id" not in out:
            out = {**out, "request_id": inp["request_id"]}
        try:
            data = orjson.dumps(out)
        except TypeError as exc:
            log.error("%s: cannot encode the app's output as JSON: %s", self.name, exc)
            await self._error(
                ErrorCode.INTERNAL_ERROR,
                f"the app's output cannot be encoded as JSON ({exc}); a stream's outputs "
                "must be JSON values (send images as URLs or data URIs)",
            )
            raise _Ended from None
        await self._send(encode_event(data))
        self.sent += 1
        self._runner.metrics.messages_out += 1

    async def _error(self, code: ErrorCode, reason: str) -> None:
        self._runner.metrics.errors.labels(code.value).inc()
        await self._send(encode_event(error_message(code, reason).encode(), ERROR_EVENT))

    async def _send(self, event: bytes) -> None:
        sends = self._sends
        sends.pending += 1
        try:
            await self._door.send(event)
        finally:
            sends.pending -= 1
            sends.finished += 1


class _Ended(Exception):
    """The stream ended with an error event already sent."""


_DONE: Any = object()


def _decode(body: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidInput(f"an input must be a JSON object of fields, got {type(obj).__name__}")
    return obj


class _Outputs:
    """A handler's outputs for one input, one at a time, whatever its mode and kind.

    Blocking handlers run in the runner's worker threads (each step of a generator
    too); async ones on the loop.  :meth:`aclose` closes a generator so that its
    ``finally`` runs.
    """

    def __init__(self, handler: Handler, arg: Any, workers: Workers) -> None:
        self._handler = handler
        self._arg = arg
        self._workers = workers
        self._next: Callable[[], Any] | None = None
        self._close: Callable[[], Any] | None = None
        self._done = False

    async def next(self) -> Any:
        """The next output, or ``_DONE``."""
        if self._done:
            return _DONE
        if self._next is None:
            first = await self._start()
            if first is not _STREAMING:
                self._done = True
                return first
        assert self._next is not None
        try:
            return await self._next()
        except StopAsyncIteration:
            self._done = True
            return _DONE

    async def _start(self) -> Any:
        """Call the handler: a unary one's output, or ``_STREAMING`` once outputs will come."""
        handler = self._handler
        arg: Any = self._arg
        if handler.mode.streams_input:
            arg = _one(arg)
        if not handler.mode.streams_output:
            if handler.is_async:
                return await handler.fn(arg)
            return await self._workers.run(handler.fn, arg)
        if handler.is_async:
            produced = handler.fn(arg)
            if not hasattr(produced, "__aiter__") and not hasattr(produced, "__iter__"):
                produced = await produced  # "async def" returning an iterator
            if hasattr(produced, "__aiter__"):
                iterator = produced.__aiter__()
                self._next = iterator.__anext__
                self._close = getattr(iterator, "aclose", None)
            else:
                sync_iterator = iter(produced)
                self._next = lambda: _next_now(sync_iterator)
                self._close = _closer(sync_iterator)
            return _STREAMING
        workers = self._workers
        blocking = await workers.run(lambda: iter(handler.fn(arg)))

        async def step() -> Any:
            out = await workers.run(next, blocking, _DONE)
            if out is _DONE:
                raise StopAsyncIteration
            return out

        self._next = step
        close = getattr(blocking, "close", None)
        if close is not None:

            async def close_in_thread() -> None:
                await workers.run(close)

            self._close = close_in_thread
        return _STREAMING

    async def aclose(self) -> None:
        close, self._close = self._close, None
        self._done = True
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result


_STREAMING: Any = object()


async def _next_now(iterator: Any) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        raise StopAsyncIteration from None


def _closer(iterator: Any) -> Callable[[], Any] | None:
    return getattr(iterator, "close", None)


async def _one(inp: Any) -> AsyncIterator[Any]:
    """The single input of a stream, as the async iterator a streaming-input handler reads."""
    yield inp
