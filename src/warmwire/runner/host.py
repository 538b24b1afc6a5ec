"""The runner: hosts realtime apps, warm after ``setup()``, and serves what its doors hand it.

:class:`Runner` owns the apps and their routes, the sessions, the lifecycle
(``setup()``, drain, ``teardown()``) and the decisions every door shares:
admitting an upgrade and answering the plain HTTP routes.  The order in which
an upgrade becomes a session is :mod:`warmwire.runner.front_door`'s; listening
is :mod:`warmwire.runner.server`'s (warmwire's own server) or an ASGI server's
(:mod:`warmwire.asgi`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Iterator

import anyio
import anyio.abc
import anyio.to_thread
import attrs

from warmwire.core.errors import ConfigurationError
from warmwire.core.events import BadRequest, HttpRequest, UpgradeRequest
from warmwire.core.server_handshake import MAX_REQUEST_BODY, ServerProtocol
from warmwire.runner import http_routes, stream_route
from warmwire.runner.app import App
from warmwire.runner.config import RunnerConfig
from warmwire.runner.front_door import FrontDoor
from warmwire.runner.handlers import Handler, Mode
from warmwire.runner.metrics import Metrics
from warmwire.runner.routing import Admitted, Refused, Router, admit
from warmwire.runner.session import Session
from warmwire.runner.websocket_door import WebSocketDoor
from warmwire.runner.worker_group import WorkerGroup
from warmwire.runner.worker_loops import HostedSession, WorkerLoops
from warmwire.runner.workers import WorkerPool
from warmwire.transports import eventloop
from warmwire.transports.base import Stream
from warmwire.transports.drivers import websocket_over
from warmwire.transports.websocket import AsyncWebSocket

log = logging.getLogger("warmwire.runner")


def _not_started() -> float:
    raise RuntimeError(
        "the runner has not started: await runner.startup() before serving connections "
        "(runner.serve() and the ASGI app do it for you)"
    )


class Runner:
    """Hosts realtime apps and serves connections handed to :meth:`handle`."""

    def __init__(
        self,
        apps: Iterable[App],
        config: RunnerConfig | None = None,
        *,
        worker_group: WorkerGroup | None = None,
    ) -> None:
        self.config = config or RunnerConfig()
        self.worker_group = worker_group
        """The processes this runner shares its port with, if any (``serve --workers``)."""
        self.router = Router(apps)
        self.handlers = {path: Handler.of(route.handler) for path, route in self.router.routes()}
        for path, route in self.router.routes():
            mode = self.handlers[path].mode
            if route.config.max_batch_size > 1 and mode is not Mode.UNARY:
                # A streaming handler takes one input per call: a batch would lose the rest.
                raise ConfigurationError(
                    f"{type(route.app).__name__}.{route.method_name} ({path}) is a {mode.value} "
                    "handler: max_batch_size applies to unary handlers only; remove it"
                )
        self.config = _with_session_limit(self.config, self.router.apps)
        self.metrics = Metrics()
        self.clock: Callable[[], float] = _not_started
        """The serving loop's own clock, taken at :meth:`startup`: every deadline, timeout
        and duration of the runner and its sessions is read from it."""
        self.cold_start: float | None = None
        """Seconds ``setup()`` took for all apps: the cold start."""
        self._cold_start_untold: float | None = None
        """The cold start until the first session is told it (:meth:`take_cold_start`)."""
        self.draining = False
        self.worker_loops: WorkerLoops | None = None
        """The worker threads, where they are event loops hosting sessions (``worker_loop``)."""
        self.workers: WorkerPool | WorkerLoops
        """Where blocking handlers run."""
        if self.config.worker_loop:
            self.workers = self.worker_loops = WorkerLoops(self.config.worker_threads, self.metrics)
        else:
            self.workers = WorkerPool(self.config.worker_threads)
        self.sessions: set[Session | HostedSession] = set()
        self._session_ended = anyio.Event()
        """Set (and replaced) whenever a session or an opening ends: what a drain waits on."""
        self._opening = 0
        self.front_door = FrontDoor(self)
        """The sequence every door runs an upgrade through."""

    @property
    def ready(self) -> bool:
        """Set up and not draining: what ``GET /ready`` reports."""
        return self.cold_start is not None and not self.draining

    async def startup(self) -> None:
        """Run every app's ``setup()`` (in a thread: it may load a model for seconds)."""
        # What belongs to the serving loop is made here, on it: an ASGI app is
        # built before its server's loop runs (maybe under another loop).
        self.clock = eventloop.clock()
        self._session_ended = anyio.Event()
        self.front_door.start(self.clock)
        started = self.clock()
        for app in self.router.apps:
            await anyio.to_thread.run_sync(app.setup)
        if self.config.freeze_gc:
            gc.collect()  # what setup() left as garbage is freed, not frozen
            gc.freeze()
        self.cold_start = self._cold_start_untold = self.clock() - started
        self.metrics.cold_start.set(self.cold_start)
        log.info(
            "runner ready cold_start=%.3fs endpoints=%s gc_frozen=%d",
            self.cold_start,
            self.router.paths,
            gc.get_freeze_count(),
        )

    def take_cold_start(self) -> float | None:
        """The cold start for the runner's first session, the one that waited for it
        (where the runner was started for it, as on a scale-up from zero); then ``None``."""
        seconds, self._cold_start_untold = self._cold_start_untold, None
        return seconds

    async def shutdown(self) -> None:
        """Run every app's ``teardown()``."""
        with anyio.CancelScope(shield=True):
            for app in self.router.apps:
                await anyio.to_thread.run_sync(app.teardown)
            await anyio.to_thread.run_sync(self.workers.close)

    async def drain(self) -> None:
        """Finish accepted inputs and close every session with 1001, within ``drain_timeout``."""
        self.draining = True
        log.info("draining sessions=%d", len(self.sessions))
        for session in list(self.sessions):
            session.drain()
        with anyio.move_on_after(self.config.drain_timeout):
            # Connections still between the upgrade and their session count too:
            # their session starts draining as soon as it exists.
            while self.sessions or self._opening:
                await self._session_ended.wait()
        if self.sessions or self._opening:
            log.warning("drain timeout: %d sessions cut", len(self.sessions) + self._opening)

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        """Wrap a front door's work from an admitted upgrade to the session's end,
        so that a drain waits for a connection that has no session yet."""
        self._opening += 1
        try:
            yield
        finally:
            self._opening -= 1
            if self.draining:  # only a drain waits for it; a flood of refusals need not wake anyone
                self._notify_session_ended()

    @contextlib.contextmanager
    def hosting(self, session: Session | HostedSession) -> Iterator[None]:
        """Count ``session`` among the runner's while it runs: a drain reaches it, and waits."""
        self.sessions.add(session)
        self.metrics.sessions.inc()
        self.metrics.sessions_total.inc()
        if self.draining:  # drain began during the handshake
            session.drain()
        try:
            yield
        finally:
            self.sessions.discard(session)
            self.metrics.sessions.dec()
            self._notify_session_ended()

    def _notify_session_ended(self) -> None:
        self._session_ended.set()
        self._session_ended = anyio.Event()

    def admit(self, request: UpgradeRequest) -> Admitted | Refused:
        """Route the upgrade, or refuse it: unknown path, draining, at capacity."""
        return self.unavailable() or admit(self.router, request.target, request.subprotocols)

    def unavailable(self) -> Refused | None:
        """The refusal of any new work while draining or at ``max_sessions``, else ``None``."""
        if self.draining:
            return Refused(503, "Service Unavailable", "runner draining; connect to another")
        limit = self.config.max_sessions
        if limit is not None and len(self.sessions) >= limit:
            return Refused(
                503,
                "Service Unavailable",
                f"runner at its limit of {limit} sessions; retry shortly or use another runner",
            )
        return None

    def http(
        self, request: HttpRequest, caller: str | None = None
    ) -> tuple[int, bytes, http_routes.Headers]:
        """Plain HTTP routes: token service, health, readiness, metrics.

        ``caller``: the client's address, for the token service's audit line.
        """
        return http_routes.answer(self, request, caller)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one client connection of warmwire's own server to its end."""
        ws = self._websocket(stream)
        closed = False
        try:
            request = None
            with anyio.move_on_after(self.config.handshake_timeout):
                request = await ws.read_request()
            if request is None:
                return
            if isinstance(request, BadRequest):
                log.info("bad request status=%d reason=%s", request.status_code, request.reason)
            elif isinstance(request, HttpRequest):
                closed = await http_routes.respond(self, ws, request, _caller(stream))
            elif isinstance(request, UpgradeRequest):
                door = WebSocketDoor(ws, self.config)
                entering = self.front_door.enter(door, request)
                del request  # enter() lets it go once the session runs (see there)
                await entering
                closed = door.closed
        except Exception:
            # One connection's failure must not reach the accept loop's task group:
            # that would stop the runner for every other session.
            log.exception("connection failed with an unexpected error")
        finally:
            if not closed:  # respond() and a refusal's close have closed it already
                await ws.aclose_transport()

    def body_limit(self, target: str) -> int:
        """The largest request body for ``target``, at every door: a stream's input may be as
        large as a realtime message; other bodies (token requests) are small."""
        if stream_route.wants_stream(target):
            return max(MAX_REQUEST_BODY, self.config.max_message_size)
        return MAX_REQUEST_BODY

    def _websocket(self, stream: Stream) -> AsyncWebSocket:
        """The server side of one connection of warmwire's own server."""
        return websocket_over(
            stream,
            ServerProtocol(
                max_message_size=self.config.max_message_size, body_limit=self.body_limit
            ),
            close_timeout=self.config.close_timeout,
        )


def _with_session_limit(config: RunnerConfig, apps: list[App]) -> RunnerConfig:
    """``max_sessions`` defaults to what the apps declare (``max_multiplexing``, summed
    when a runner hosts several); an explicit ``max_sessions`` wins."""
    declared = [app.scaling.max_multiplexing for app in apps]
    if config.max_sessions is not None or not declared or None in declared:
        return config
    return attrs.evolve(config, max_sessions=sum(m for m in declared if m is not None))


def instantiate_apps(apps: Iterable[App | type[App]]) -> list[App]:
    """Apps given as classes are instantiated (once: the runner keeps them warm)."""
    return [app() if isinstance(app, type) else app for app in apps]


def _caller(stream: object) -> str | None:
    """The peer's address (``host:port``), for the audit line; ``None`` when unknown.

    An anyio stream says it through its typed attributes; warmwire's asyncio socket
    through its transport's ``peername``.
    """
    address: object = None
    if isinstance(stream, anyio.TypedAttributeProvider):
        address = stream.extra(anyio.abc.SocketAttribute.remote_address, None)
    else:
        transport = getattr(stream, "transport", None)
        if transport is not None:
            address = transport.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address) if address else None
