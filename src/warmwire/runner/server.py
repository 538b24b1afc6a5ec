"""warmwire's own server loop: accept byte streams, route requests, run sessions.

:class:`Runner` owns the apps (warm after ``setup()``) and handles one
connection at a time per task; :func:`serve` binds a listener and runs the
accept loop inside the caller's asyncio or trio program.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterable
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
from warmwire.core.endpoint import parse_app_id
from warmwire.core.envelope import unauthorized_message
from warmwire.core.errors import ConfigurationError
from warmwire.core.events import BadRequest, HttpRequest, UpgradeRequest
from warmwire.core.protocol import DEFAULT_MAX_MESSAGE_SIZE, ServerProtocol
from warmwire.runner.app import App
from warmwire.runner.handlers import Handler
from warmwire.runner.routing import Admitted, Router, admit
from warmwire.runner.session import Session
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
    handshake_timeout: float = 10.0
    worker_threads: int = 1
    """Blocking handlers run in at most this many threads at once (one model, one GPU)."""


class Runner:
    """Hosts realtime apps and serves connections handed to :meth:`handle`."""

    def __init__(self, apps: Iterable[App], config: RunnerConfig | None = None) -> None:
        self.config = config or RunnerConfig()
        self.router = Router(apps)
        self.cold_start: float | None = None
        """Seconds ``setup()`` took for all apps: the cold start."""
        self.limiter = anyio.CapacityLimiter(self.config.worker_threads)
        self.sessions: set[Session] = set()
        self._ids = itertools.count(1)

    async def startup(self) -> None:
        """Run every app's ``setup()`` (in a thread: it may load a model for seconds)."""
        started = time.perf_counter()
        for app in self.router.apps:
            await anyio.to_thread.run_sync(app.setup)
        self.cold_start = time.perf_counter() - started
        log.info("runner ready; cold start %.3fs; serving %s", self.cold_start, self.router.paths)

    async def shutdown(self) -> None:
        """Run every app's ``teardown()``."""
        with anyio.CancelScope(shield=True):
            for app in self.router.apps:
                await anyio.to_thread.run_sync(app.teardown)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one client connection to its end."""
        ws = AsyncWebSocket(stream, ServerProtocol(max_message_size=self.config.max_message_size))
        try:
            with anyio.move_on_after(self.config.handshake_timeout):
                request = await ws.read_request()
            if request is None:
                return
            if isinstance(request, BadRequest):
                log.info("bad request: %s", request.reason)
            elif isinstance(request, HttpRequest):
                status, body = self.http(request)
                await ws.respond(status, body)
            elif isinstance(request, UpgradeRequest):
                await self._upgrade(ws, request)
        finally:
            await ws.aclose_transport()

    def http(self, request: HttpRequest) -> tuple[int, bytes]:
        """Plain HTTP routes: health and readiness."""
        path = request.target.split("?", 1)[0]
        service = self.config.auth.service if self.config.auth else None
        if service is not None:
            answer = service.handle(
                request.method, path, request.header("authorization"), request.body
            )
            if answer is not None:
                return answer.status, answer.body
        if path == "/health":
            return 200, orjson.dumps({"status": "ok"})
        if path == "/ready":
            ready = self.cold_start is not None
            body = {"ready": ready, "cold_start_seconds": self.cold_start}
            return (200 if ready else 503), orjson.dumps(body)
        return 404, orjson.dumps(
            {
                "error": "Not Found",
                "reason": f"no HTTP route {path!r}; realtime apps need a "
                f"WebSocket upgrade at one of: {', '.join(self.router.paths)}",
            }
        )

    async def _upgrade(self, ws: AsyncWebSocket, request: UpgradeRequest) -> None:
        decision = admit(self.router, request.target, request.subprotocols)
        if not isinstance(decision, Admitted):
            await ws.respond(decision.status, decision.body)
            return
        await ws.accept(decision.subprotocol)
        route = decision.route
        if not await self._authorised(ws, decision, request):
            return
        name = f"session-{next(self._ids)} {route.url_path}"
        session = Session(
            ws,
            Handler.of(route.handler),
            decision.codec,
            buffering=decision.buffering,
            session_timeout=route.config.session_timeout,
            max_batch_size=route.config.max_batch_size,
            emit_timings=route.config.emit_timings,
            limiter=self.limiter,
            name=name,
        )
        log.info("%s: open (codec %s, buffering %d)", name, decision.codec.name, decision.buffering)
        started = time.perf_counter()
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            closed = session.closed
            log.info(
                "%s: closed (%s) after %.1fs; %d in, %d out, %d dropped",
                name,
                f"{closed.code} {closed.reason}" if closed else "runner stopped",
                time.perf_counter() - started,
                session.received,
                session.sent,
                session.dropped,
            )

    async def _authorised(
        self, ws: AsyncWebSocket, decision: Admitted, request: UpgradeRequest
    ) -> bool:
        """Check credentials after the upgrade, so a browser can read why it was refused."""
        auth = self.config.auth
        if auth is None:
            return True
        route = decision.route
        endpoint = parse_app_id(route.app.app_id, route.config.path)
        reason = auth.check(endpoint, decision.token, request.header("authorization"))
        if reason is None:
            return True
        # The reason never contains the token or a secret.
        log.info("refused a connection to %s: %s", route.url_path, reason)
        await ws.send(unauthorized_message(reason))
        await ws.aclose(CloseCode.POLICY_VIOLATION, "Unauthorized")
        return False


@attrs.frozen(slots=True)
class RunningServer:
    """A runner accepting connections; ``url`` is what clients dial."""

    runner: Runner
    url: str
    port: int | None

    @property
    def cold_start(self) -> float | None:
        return self.runner.cold_start


def _sole(exc: Exception) -> Exception:
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], Exception):
        return _sole(inner[0])
    return exc


def _instantiate(apps: Iterable[App | type[App]]) -> list[App]:
    return [app() if isinstance(app, type) else app for app in apps]


def _check_auth(config: RunnerConfig, host: str) -> None:
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

        async with runner.serve(Echo, port=8080, insecure_no_auth=True) as server:
            print(server.url)

    ``setup()`` completes before the first connection is accepted; leaving
    the block stops accepting, ends the sessions and runs ``teardown()``.
    ``port=0`` picks a free port (see ``server.port``); ``uds`` serves a Unix
    socket; ``ssl_context`` serves ``wss://``; ``listener`` serves any anyio
    listener (the in-memory one in tests).  Other keyword arguments are
    :class:`RunnerConfig` fields.
    """
    config = attrs.evolve(config or RunnerConfig(), **options)
    _check_auth(config, "localhost" if uds or listener else host)
    runner = Runner(_instantiate(apps), config)
    await runner.startup()
    try:
        bound_port: int | None = None
        if listener is not None:
            url = "memory://"
        elif uds is not None:
            listener = await anyio.create_unix_listener(uds)
            url = f"ws+unix://{uds}"
        else:
            tcp = await anyio.create_tcp_listener(local_host=host, local_port=port)
            bound_port = tcp.extra(anyio.abc.SocketAttribute.local_port)
            listener = tcp
            scheme = "ws"
            if ssl_context is not None:
                listener = TLSListener(tcp, ssl_context, standard_compatible=False)
                scheme = "wss"
            shown = f"[{host}]" if ":" in host else host
            url = f"{scheme}://{shown}:{bound_port}"
        try:
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, runner.handle, tg)
                log.info("listening on %s", url)
                yield RunningServer(runner, url, bound_port)
                tg.cancel_scope.cancel()
        except Exception as exc:
            # An error in the caller's block comes back wrapped in the task group's
            # exception group; give the caller its own exception back.
            raise _sole(exc) from None
    finally:
        await runner.shutdown()
