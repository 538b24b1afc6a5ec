"""warmwire's own server loop: accept byte streams, route requests, run sessions.

:class:`Runner` owns the apps (warm after ``setup()``), the HTTP routes and the
sessions; :func:`serve` binds a listener and runs the accept loop inside the
caller's asyncio or trio program.  Leaving ``serve()`` drains: refuse new
sessions, finish the inputs already accepted, close every session with 1001.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import itertools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import attrs
import orjson
from anyio.streams.tls import TLSListener

from warmwire.auth.runner_auth import RunnerAuth
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE
from warmwire.core.endpoint import Endpoint, parse_app_id
from warmwire.core.envelope import unauthorized_message
from warmwire.core.errors import ConfigurationError, ProtocolError
from warmwire.core.events import BadRequest, HttpRequest, UpgradeRequest
from warmwire.core.server_handshake import ServerProtocol
from warmwire.runner.app import App
from warmwire.runner.handlers import Handler, Mode
from warmwire.runner.metrics import CONTENT_TYPE, Metrics
from warmwire.runner.pacing import Pacer
from warmwire.runner.routing import Admitted, Refused, Router, admit, refusal
from warmwire.runner.session import Channel, Session, SessionLimits
from warmwire.runner.workers import WorkerPool
from warmwire.transports import asyncio_stream, eventloop
from warmwire.transports.websocket import AsyncWebSocket

log = logging.getLogger("warmwire.runner")


@attrs.frozen(slots=True)
class RunnerConfig:
    """Runner-wide limits and switches."""

    auth: RunnerAuth | None = None
    """Token verification, API keys and the token service; required unless insecure."""
    insecure_no_auth: bool = False
    """Accept connections without credentials (loopback only; local experiments)."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    """Larger inputs close the session with 1009."""
    max_sessions: int | None = None
    """Further upgrades are refused with HTTP 503 and a JSON body."""
    max_pending_bytes: int | None = 64 * 1024 * 1024
    """Bytes of inputs a session may hold waiting; beyond, the oldest are dropped."""
    handshake_timeout: float = 10.0
    send_timeout: float | None = 30.0
    """A client that takes no message for this long is disconnected."""
    ping_interval: float | None = 20.0
    """Keepalive: ping every so often; ``None`` disables it."""
    ping_timeout: float = 20.0
    """A peer whose pong does not come within this time is gone."""
    close_timeout: float = 10.0
    """How long a closing handshake may wait for the client's reply before the connection is cut."""
    drain_timeout: float = 30.0
    """Grace period for in-flight work when draining; then sessions are cut."""
    worker_threads: int = 1
    """Blocking handlers run in at most this many threads at once (one model, one GPU)."""
    max_handshakes: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    """Upgrades handled at once (routing, the 101, the token check); more wait their turn.

    This bounds how much of the event loop new connections take from the
    sessions already streaming: a flood of attempts (bad tokens, a reconnect
    storm) slows itself down, not them.  A connection takes a turn only once
    its request is complete, so one that sends it slowly holds none.
    """
    max_refusal_rate: float | None = 100.0
    """Token refusals answered per second, after a burst of 50 ms worth; ``None``: no bound.

    Past the burst (5 refusals at the default rate), a refused connection
    waits, outside its turn and costing no CPU, before its ``Unauthorized``
    message: a flood of bad tokens, or a fleet reconnecting in a loop with an
    expired one, is then answered at this pace instead of taking the event
    loop (and, on a shared machine, the cores) from the sessions; a client
    that retries only after its answer retries no faster.  Rare refusals are
    answered at once, and authorised connections never wait here.  The burst
    is kept small on purpose: a large one is a flood at full speed.
    """


class Runner:
    """Hosts realtime apps and serves connections handed to :meth:`handle`."""

    def __init__(self, apps: Iterable[App], config: RunnerConfig | None = None) -> None:
        self.config = config or RunnerConfig()
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
        self.metrics = Metrics()
        self.cold_start: float | None = None
        """Seconds ``setup()`` took for all apps: the cold start."""
        self.draining = False
        self.workers = WorkerPool(self.config.worker_threads)
        self._handshakes = anyio.Semaphore(self.config.max_handshakes, fast_acquire=True)
        """Where blocking handlers run."""
        self.sessions: set[Session] = set()
        self._session_ended = anyio.Event()
        self._opening = 0
        self._ids = itertools.count(1)
        self._endpoints: dict[str, Endpoint] = {}
        """Each route's endpoint, for the token check (parsed once, not per connection)."""
        self._refused_unauthorized = self.metrics.refused.labels("unauthorized")
        rate = self.config.max_refusal_rate
        if rate is not None and rate <= 0:
            raise ConfigurationError(
                f"max_refusal_rate must be above 0 (refusals per second) or None, not {rate}"
            )
        self._refusals = None if rate is None else Pacer(rate, burst=max(1, round(rate / 20)))

    @property
    def ready(self) -> bool:
        """Set up and not draining: what ``GET /ready`` reports."""
        return self.cold_start is not None and not self.draining

    async def startup(self) -> None:
        """Run every app's ``setup()`` (in a thread: it may load a model for seconds)."""
        started = time.perf_counter()
        for app in self.router.apps:
            await anyio.to_thread.run_sync(app.setup)
        self.cold_start = time.perf_counter() - started
        self.metrics.cold_start.set(self.cold_start)
        log.info("runner ready cold_start=%.3fs endpoints=%s", self.cold_start, self.router.paths)

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

    def _notify_session_ended(self) -> None:
        self._session_ended.set()
        self._session_ended = anyio.Event()

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one client connection to its end."""
        ws = AsyncWebSocket(
            stream,
            ServerProtocol(max_message_size=self.config.max_message_size),
            close_timeout=self.config.close_timeout,
        )
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
                status, body, content_type = self.http(request)
                await ws.respond(status, body, (("content-type", content_type),))
                closed = True
            elif isinstance(request, UpgradeRequest):
                closed = await self._upgrade(ws, request)
        except Exception:
            # One connection's failure must not reach the accept loop's task group:
            # that would stop the runner for every other session.
            log.exception("connection failed with an unexpected error")
        finally:
            if not closed:  # respond() and a refusal's aclose() have closed it already
                await ws.aclose_transport()

    def http(self, request: HttpRequest) -> tuple[int, bytes, str]:
        """Plain HTTP routes: token service, health, readiness, metrics."""
        path = request.target.split("?", 1)[0]
        json = "application/json"
        service = self.config.auth.service if self.config.auth else None
        if service is not None:
            answer = service.handle(
                request.method, path, request.header("authorization"), request.body
            )
            if answer is not None:
                return answer.status, answer.body, json
        if path == "/health":
            return 200, orjson.dumps({"status": "ok"}), json
        if path == "/ready":
            body = {
                "ready": self.ready,
                "draining": self.draining,
                "cold_start_seconds": self.cold_start,
                "sessions": len(self.sessions),
            }
            return (200 if self.ready else 503), orjson.dumps(body), json
        if path == "/metrics":
            return 200, self.metrics.render(), CONTENT_TYPE
        reason = (
            f"no HTTP route {path!r}; realtime apps need a WebSocket upgrade at one of: "
            f"{', '.join(self.router.paths) or '(none)'}"
        )
        return 404, orjson.dumps({"error": "Not Found", "reason": reason}), json

    def admit(self, request: UpgradeRequest) -> Admitted | Refused:
        """Route the upgrade, or refuse it: unknown path, draining, at capacity."""
        if self.draining:
            return refusal(503, "Service Unavailable", "runner draining; connect to another")
        limit = self.config.max_sessions
        if limit is not None and len(self.sessions) >= limit:
            return refusal(
                503,
                "Service Unavailable",
                f"runner at its limit of {limit} sessions; retry shortly or use another runner",
            )
        return admit(self.router, request.target, request.subprotocols)

    async def _upgrade(self, ws: AsyncWebSocket, request: UpgradeRequest) -> bool:
        """Serve an upgrade; ``True`` when it ended with the transport closed."""
        with self.opening():
            async with self._handshakes:
                decision = self.admit(request)
                if isinstance(decision, Refused):
                    self.metrics.refused.labels(str(decision.status)).inc()
                    await ws.respond(decision.status, decision.body)
                    return True
                await ws.accept(decision.subprotocol)
                problem = self.credentials_problem(decision, request.header("authorization"))
            if problem is not None:
                # Outside the turn: the pace and the client's close reply cost no CPU.
                await self.pace_refusal()
                await ws.aclose(
                    CloseCode.POLICY_VIOLATION,
                    "Unauthorized",
                    last_message=unauthorized_message(problem),  # one write for both
                )
                return True
            keepalive = None
            if self.config.ping_interval is not None:
                keepalive = functools.partial(self._keepalive, ws)
            await self.run_session(self.new_session(ws, decision), decision, keepalive)
            return False

    async def pace_refusal(self) -> None:
        """Wait for this token refusal's turn (``max_refusal_rate``), then answer it.

        Called outside the handshake turn: the wait costs no CPU.  Not paced while
        draining, when every connection is being let go anyway.
        """
        if self._refusals is not None and not self.draining:
            await self._refusals.wait()

    def new_session(self, channel: Channel, decision: Admitted) -> Session:
        """A session for an admitted, authorised connection, whichever front door it came in."""
        route = decision.route
        config = route.config
        return Session(
            channel,
            self.handlers[route.url_path],
            decision.codec,
            SessionLimits(
                buffering=decision.buffering,
                session_timeout=config.session_timeout,
                max_batch_size=config.max_batch_size,
                emit_timings=config.emit_timings,
                max_pending_bytes=self.config.max_pending_bytes,
                send_timeout=self.config.send_timeout,
                close_timeout=self.config.close_timeout,
            ),
            workers=self.workers,
            metrics=self.metrics,
            name=f"session={next(self._ids)} path={route.url_path}",
            raw=config.raw,
        )

    async def run_session(
        self,
        session: Session,
        decision: Admitted,
        beside: Callable[[str], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        """Run ``session`` to its end, counted and logged; ``beside`` runs alongside (keepalive)."""
        log.info(
            "%s open codec=%s buffering=%d", session.name, decision.codec.name, decision.buffering
        )
        started = time.perf_counter()
        self.sessions.add(session)
        self.metrics.sessions.inc()
        self.metrics.sessions_total.inc()
        if self.draining:  # drain began during the handshake
            session.drain()
        try:
            async with anyio.create_task_group() as tg:
                if beside is not None:
                    tg.start_soon(beside, session.name)
                await session.run()
                tg.cancel_scope.cancel()
        finally:
            self.sessions.discard(session)
            self.metrics.sessions.dec()
            self._notify_session_ended()
            closed = session.closed
            log.info(
                "%s closed code=%s reason=%r duration=%.1fs in=%d out=%d dropped=%d",
                session.name,
                closed.code if closed else None,
                (closed.reason if closed else "runner stopped"),
                time.perf_counter() - started,
                session.received,
                session.sent,
                session.dropped,
            )

    async def _keepalive(self, ws: AsyncWebSocket, name: str) -> None:
        """Ping the peer; one that stays silent past ``ping_timeout`` is gone: cut it."""
        assert self.config.ping_interval is not None
        while True:
            await anyio.sleep(self.config.ping_interval)
            with anyio.move_on_after(self.config.ping_timeout) as scope:
                try:
                    await ws.ping()
                except ProtocolError:
                    # The closing handshake has begun: no more pings; the session's
                    # close_timeout bounds the wait for the client's reply.
                    return
            if scope.cancelled_caught:
                log.info(
                    "%s peer unresponsive for %ss; disconnecting", name, self.config.ping_timeout
                )
                await ws.aclose_transport()
                return

    def credentials_problem(self, decision: Admitted, authorization: str | None) -> str | None:
        """Why the connection's credentials are refused (safe to send), or ``None``.

        Checked after the upgrade, so a browser can read the reason.
        """
        auth = self.config.auth
        if auth is None:
            return None
        route = decision.route
        endpoint = self._endpoints.get(route.url_path)
        if endpoint is None:
            endpoint = parse_app_id(route.app.app_id, route.config.path)
            self._endpoints[route.url_path] = endpoint
        reason = auth.check(endpoint, decision.token, authorization)
        if reason is not None:
            # The reason never contains the token or a secret.
            self._refused_unauthorized.inc()
            log.info("refused path=%s reason=%s", route.url_path, reason)
        return reason


@attrs.frozen(slots=True)
class RunningServer:
    """A runner accepting connections; ``url`` is what clients dial."""

    runner: Runner
    url: str
    port: int | None

    @property
    def cold_start(self) -> float | None:
        return self.runner.cold_start

    @property
    def http_url(self) -> str:
        """The base URL of the plain HTTP routes (``/health``, ``/ready``, ``/metrics``)."""
        return self.url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)


def _sole(exc: Exception) -> Exception:
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], Exception):
        return _sole(inner[0])
    return exc


def instantiate_apps(apps: Iterable[App | type[App]]) -> list[App]:
    return [app() if isinstance(app, type) else app for app in apps]


def check_auth_configured(config: RunnerConfig, host: str) -> None:
    if config.auth is not None:
        return
    if not config.insecure_no_auth:
        raise ConfigurationError(
            "no authentication is configured for this runner: give it a signing key "
            "(--signing-key, create one with 'warmwire keys generate'), a verify key "
            "(--verify-key / --jwks-url) or API keys (--key-file / $WARMWIRE_KEYS). For local "
            "experiments only, pass insecure_no_auth=True (CLI: --insecure-no-auth); the "
            "runner then binds loopback only."
        )
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            f"--insecure-no-auth only binds loopback (127.0.0.1, ::1, localhost), not {host!r}"
        )


class _QuietTLSListener(TLSListener):
    """A TLS listener that logs a failed client handshake as one line, not a traceback.

    Scanners and clients that do not trust the certificate fail the handshake
    all day long; that is the client's problem, not the runner's.
    """

    @staticmethod
    async def handle_handshake_error(exc: BaseException, stream: anyio.abc.AnyByteStream) -> None:
        await anyio.aclose_forcefully(stream)
        if isinstance(exc, Exception):
            log.info("TLS handshake failed: %s", exc)
        else:
            raise exc


async def _listen(
    host: str, port: int, uds: str | None, ssl_context: ssl.SSLContext | None
) -> tuple[anyio.abc.Listener[Any], str, int | None]:
    native = eventloop.on_asyncio()
    if uds is not None:
        if native:
            return await asyncio_stream.create_unix_listener(uds), f"ws+unix://{uds}", None
        return await anyio.create_unix_listener(uds), f"ws+unix://{uds}", None
    tcp: anyio.abc.Listener[Any]
    if native and ssl_context is None and _is_ip(host):
        tcp = await asyncio_stream.create_tcp_listener(host, port)
    else:
        # TLS, trio, and host names that may resolve to several addresses: anyio's
        # listener (one port for all of them when port is 0).
        tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
    bound = tcp.extra(anyio.abc.SocketAttribute.local_port)
    shown = f"[{host}]" if ":" in host else host
    if ssl_context is not None:
        return (
            _QuietTLSListener(tcp, ssl_context, standard_compatible=False),
            f"wss://{shown}:{bound}",
            bound,
        )
    return tcp, f"ws://{shown}:{bound}", bound


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@asynccontextmanager
async def serve(
    *apps: App | type[App],
    host: str = "127.0.0.1",
    port: int = 0,
    uds: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    listener: anyio.abc.Listener[Any] | None = None,
    config: RunnerConfig | None = None,
    **options: Any,
) -> AsyncIterator[RunningServer]:
    """Run ``apps`` on a listener for the ``async with`` block (asyncio or trio)::

        async with runner.serve(Echo, port=8080, auth=auth) as server:
            print(server.url)

    ``setup()`` completes before the first connection is accepted.  Leaving
    the block normally drains (new sessions and ``/ready`` get 503, accepted
    inputs are finished, sessions close with 1001 within ``drain_timeout``);
    leaving it with an exception cuts the sessions.  ``teardown()`` runs last
    either way.  ``port=0`` picks a free port (see ``server.port``); ``uds``
    serves a Unix socket; ``ssl_context`` serves ``wss://``; ``listener``
    serves any anyio listener (the in-memory one in tests).  Other keyword
    arguments are :class:`RunnerConfig` fields.
    """
    config = attrs.evolve(config or RunnerConfig(), **options)
    check_auth_configured(config, "localhost" if uds or listener else host)
    runner = Runner(instantiate_apps(apps), config)
    await runner.startup()
    try:
        if listener is None:
            listener, url, bound_port = await _listen(host, port, uds, ssl_context)
        else:
            # Not a network address, but it parses: clients dial it with the listener's
            # own transport (e.g. MemoryTransport(listener)).
            url, bound_port = "memory://runner", None
        try:
            async with listener, anyio.create_task_group() as tg:
                accepting = anyio.CancelScope()

                async def accept() -> None:
                    with accepting:
                        await listener.serve(runner.handle, tg)

                tg.start_soon(accept)
                log.info("listening on %s", url)
                yield RunningServer(runner, url, bound_port)
                # While draining, connections are still answered: /ready says 503
                # and upgrades are refused with 503 ("runner draining"), so load
                # balancers and clients go elsewhere instead of hanging in the
                # listen backlog.
                await runner.drain()
                accepting.cancel()
                tg.cancel_scope.cancel()
        except Exception as exc:
            # An error in the caller's block comes back wrapped in the task group's
            # exception group; give the caller its own exception back.
            raise _sole(exc) from None
    finally:
        await runner.shutdown()
