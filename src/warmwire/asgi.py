"""Realtime apps as an ASGI application: run under uvicorn or hypercorn, mount in Starlette.

::

    from warmwire import asgi
    application = asgi.app(Stylize, auth=auth)          # uvicorn module:application
    # or, beside your own routes:
    api = FastAPI(); api.mount("/apps", asgi.app(Stylize, auth=auth))

The same :class:`~warmwire.runner.host.Runner` as ``warmwire serve`` does the
work, and upgrades go through the same front-door sequence
(:mod:`warmwire.runner.front_door`): routing by app id and path, codec
negotiation, handshake turns, token checks, the refusal pace and the
``Unauthorized`` message, sessions with buffering, timeouts, errors, timings,
and ``/health``, ``/ready``, ``/metrics``, ``/tokens/``, and the streams
(``POST …/stream``, Server-Sent Events: :mod:`warmwire.runner.stream_route`).  What differs is who
owns the WebSocket framing: here the ASGI server does, so its settings bound
message size (uvicorn's ``--ws-max-size``) and keepalive (``--ws-ping-interval``),
and it performs the closing handshake once the session asks to close.  A server
without the ``websocket.http.response`` extension cannot send a refusal's HTTP
status and body: the upgrade is then refused with a close, which it answers 403.

Lifespan events run ``setup()`` and ``teardown()`` once.  Mounted apps do not
receive lifespan events in Starlette; then ``setup()`` runs on the first
request instead, and ``teardown()`` is the host application's to call
(``await application.shutdown()``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import anyio
import attrs

from warmwire.core.close_codes import CloseCode
from warmwire.core.errors import ConfigurationError
from warmwire.core.events import Closed, HttpRequest, Initiator, UpgradeRequest
from warmwire.core.handshake_headers import parse_subprotocols
from warmwire.runner import stream_route
from warmwire.runner.app import App
from warmwire.runner.config import RunnerConfig, check_auth_configured
from warmwire.runner.host import Runner, instantiate_apps
from warmwire.runner.routing import Refused
from warmwire.runner.session import Channel, Keepalive

log = logging.getLogger("warmwire.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class WarmwireASGI:
    """An ASGI application serving realtime apps with warmwire's runner."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._started = False
        self._start_lock: anyio.Lock | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.startup()
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    async def startup(self) -> None:
        """Run ``setup()`` once (lifespan startup, or the first request when mounted)."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = anyio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.runner.startup()
                self._started = True

    async def shutdown(self) -> None:
        """Drain the sessions, then run ``teardown()``."""
        if self._started:
            await self.runner.drain()
            await self.runner.shutdown()
            self._started = False

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("setup() failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = _target(scope)
        streams = stream_route.wants_stream(target)
        limit = self.runner.body_limit(target)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit or not message.get("more_body", False):
                break
        headers: Sequence[tuple[str, str]]
        if len(body) > limit:
            status, payload, headers = (
                413,
                b'{"error": "request body too large"}',
                (("content-type", "application/json"),),
            )
        else:
            request = HttpRequest(scope["method"], target, _headers(scope), bytes(body))
            if streams and stream_route.is_preflight(request):
                await _respond(send, 204, b"", stream_route.PREFLIGHT_HEADERS)
                return
            if streams:
                await stream_route.enter(self.runner, _AsgiStreamDoor(receive, send), request)
                return
            client = scope.get("client")
            caller = f"{client[0]}:{client[1]}" if client else None
            status, payload, headers = self.runner.http(request, caller)
        await _respond(send, status, payload, headers)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = _headers(scope)
        subprotocols = tuple(
            scope.get("subprotocols")
            or parse_subprotocols([v for k, v in headers if k == "sec-websocket-protocol"])
        )
        request = UpgradeRequest(_target(scope), headers, subprotocols)
        await self.runner.front_door.enter(_AsgiDoor(scope, receive, send), request)


@attrs.define
class _AsgiStreamDoor:
    """A stream under an ASGI server: the response body in parts (``more_body``).

    The server applies flow control in ``send`` and reports the client's end as
    ``http.disconnect``.  A stalled client is dropped by returning without ending
    the response: the server then closes the connection (and logs that the
    response was incomplete).
    """

    receive: Receive
    send_message: Send
    gone: bool = False

    async def refuse(self, refused: Refused) -> None:
        await _respond(
            self.send_message,
            refused.status,
            refused.body,
            (("content-type", "application/json"), *stream_route.CORS_HEADERS),
        )

    async def start(self) -> None:
        await self.send_message(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode(), v.encode()) for k, v in stream_route.RESPONSE_HEADERS],
            }
        )

    async def send(self, data: bytes) -> None:
        if self.gone:
            return
        try:
            await self.send_message({"type": "http.response.body", "body": data, "more_body": True})
        except OSError:
            # The client went away (ClientDisconnected); wait_gone() reports it.
            self.gone = True

    async def end(self) -> None:
        if not self.gone:
            try:
                await self.send_message({"type": "http.response.body", "body": b""})
            except OSError:
                self.gone = True

    async def wait_gone(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.gone = True

    async def abort(self) -> None:
        self.gone = True


@attrs.define
class _AsgiDoor:
    """One upgrade under an ASGI server: the front-door sequence's steps as ASGI events.

    No keepalive: the ASGI server pings by its own settings.
    """

    scope: Scope
    receive: Receive
    send: Send
    channel: AsgiChannel | None = None
    keepalive: Keepalive | None = None

    async def refuse(self, refused: Refused) -> None:
        await _refuse(self.scope, self.send, refused)

    async def accept(self, subprotocol: str | None) -> Channel:
        await self.send({"type": "websocket.accept", "subprotocol": subprotocol})
        self.channel = AsgiChannel(self.receive, self.send)
        return self.channel

    async def reject(self, message: str, code: int, reason: str) -> None:
        assert self.channel is not None, "refused after the upgrade: accept() came first"
        await self.channel.send(message)
        await self.channel.start_close(code, reason)

    async def hand_over(self) -> None:
        return None  # the ASGI server owns the connection


@attrs.define
class AsgiChannel:
    """A session's connection over ASGI ``receive``/``send``.

    The server does the closing handshake: once the session asks to close, the
    connection is over as far as the session is concerned.
    """

    receive: Receive
    send_message: Send
    closed: Closed | None = None

    async def recv(self) -> bytes | str | Closed:
        if self.closed is not None:
            return self.closed
        message = await self.receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            return text if text is not None else bytes(message.get("bytes") or b"")
        code = int(message.get("code", CloseCode.NO_STATUS))
        self.closed = Closed(code, str(message.get("reason") or ""), Initiator.REMOTE)
        return self.closed

    async def send(self, data: bytes | str) -> None:
        if self.closed is not None:
            return
        key = "text" if isinstance(data, str) else "bytes"
        try:
            await self.send_message({"type": "websocket.send", key: data})
        except OSError:
            # The client went away; recv() reports the disconnect.
            pass

    async def send_many(self, data: Sequence[bytes | str]) -> None:
        # ASGI has one event per message; the server decides how they are written.
        for item in data:
            await self.send(item)

    async def start_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        if self.closed is not None:
            return
        self.closed = Closed(code, reason, Initiator.LOCAL)
        try:
            await self.send_message({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            pass

    async def aclose_transport(self) -> None:
        await self.start_close(CloseCode.INTERNAL_ERROR, "client stopped reading")


async def _respond(
    send: Send, status: int, payload: bytes, headers: Sequence[tuple[str, str]]
) -> None:
    encoded = [(b"content-length", str(len(payload)).encode())]
    encoded += [(name.encode(), value.encode()) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": payload})


async def _refuse(scope: Scope, send: Send, refused: Refused) -> None:
    """An HTTP refusal before the upgrade, where the server supports it (else a 403 close)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refused.status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": refused.body})
    else:
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})


def _target(scope: Scope) -> str:
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def _headers(scope: Scope) -> tuple[tuple[str, str], ...]:
    return tuple(
        (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", ())
    )


def app(
    *apps: App | type[App],
    config: RunnerConfig | None = None,
    **options: Any,
) -> WarmwireASGI:
    """An ASGI application serving ``apps``; keyword arguments are :class:`RunnerConfig` fields.

    Authentication is required as with ``warmwire serve`` (``auth=``), unless
    ``insecure_no_auth=True``.  ``worker_loop`` does not apply: the ASGI server owns
    the sockets, so no session can move to a worker thread's loop, and blocking
    handlers' calls always hop to the plain worker threads.
    """
    if options.get("worker_loop"):
        raise ConfigurationError(
            "worker_loop=True cannot apply under an ASGI server, which owns the sockets: "
            "leave it out (blocking handlers run in the worker threads all the same)"
        )
    config = attrs.evolve(config or RunnerConfig(), **{**options, "worker_loop": False})
    # The bind address belongs to the ASGI server; insecure mode is the caller's promise.
    check_auth_configured(config, "localhost")
    return WarmwireASGI(Runner(instantiate_apps(apps), config))
