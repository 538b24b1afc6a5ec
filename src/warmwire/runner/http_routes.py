"""The runner's plain HTTP routes: token service, health, readiness, metrics, streams.

Every door answers them with this one function: warmwire's own server for a
request that is not an upgrade, the ASGI adapter for an ``http`` scope.  Stream
requests (``…/stream``, see :mod:`warmwire.runner.stream_route`) are answered in
parts instead, by :func:`respond` here and by the ASGI adapter's own door.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import orjson

from warmwire.core.errors import ProtocolError
from warmwire.core.events import HttpRequest
from warmwire.runner import stream_route
from warmwire.runner.metrics import CONTENT_TYPE
from warmwire.runner.routing import Refused
from warmwire.transports.websocket import AsyncWebSocket

if TYPE_CHECKING:  # the runner calls this module; the type only is needed here
    from warmwire.runner.host import Runner

JSON = "application/json"
Headers = tuple[tuple[str, str], ...]
_JSON: Headers = (("content-type", JSON),)


def answer(
    runner: Runner, request: HttpRequest, caller: str | None = None
) -> tuple[int, bytes, Headers]:
    """The ``(status, body, headers)`` for a plain HTTP request to ``runner``.

    ``caller`` (the client's address) goes into the token service's audit line.
    """
    path = request.target.split("?", 1)[0]
    service = runner.config.auth.service if runner.config.auth else None
    if service is not None:
        answered = service.handle(
            request.method, path, request.header("authorization"), request.body, caller
        )
        if answered is not None:
            return answered.status, answered.body, _JSON + answered.headers
    if path == "/health":
        return 200, orjson.dumps({"status": "ok"}), _JSON
    if path == "/ready":
        body = {
            "ready": runner.ready,
            "draining": runner.draining,
            "cold_start_seconds": runner.cold_start,
            "sessions": len(runner.sessions),
        }
        return (200 if runner.ready else 503), orjson.dumps(body), _JSON
    if path == "/metrics":
        return 200, runner.metrics.render(), (("content-type", CONTENT_TYPE),)
    reason = (
        f"no HTTP route {path!r}; realtime apps need a WebSocket upgrade at one of: "
        f"{', '.join(runner.router.paths) or '(none)'}; streams are POSTed to: "
        f"{', '.join(stream_route.paths(runner.router)) or '(none)'}"
    )
    return 404, orjson.dumps({"error": "Not Found", "reason": reason}), _JSON


async def respond(
    runner: Runner, ws: AsyncWebSocket, request: HttpRequest, caller: str | None = None
) -> bool:
    """Answer a plain HTTP request of warmwire's own server; whether the connection is closed.

    ``caller`` (the client's address) goes into the token service's audit line.
    """
    if stream_route.wants_stream(request.target):
        if stream_route.is_preflight(request):
            await ws.respond(204, b"", stream_route.PREFLIGHT_HEADERS)
            return True
        door = _OwnStreamDoor(ws)
        await stream_route.enter(runner, door, request)
        return door.closed
    group = runner.worker_group
    answered = None if group is None else await group.answer(request, runner.metrics)
    status, body, headers = answered or answer(runner, request, caller)
    await ws.respond(status, body, headers)
    return True


@attrs.define
class _OwnStreamDoor:
    """A stream on warmwire's own server: the response in chunks on the connection."""

    ws: AsyncWebSocket
    closed: bool = False

    async def refuse(self, refused: Refused) -> None:
        headers = (("content-type", JSON), *stream_route.CORS_HEADERS)
        await self.ws.respond(refused.status, refused.body, headers)
        self.closed = True

    async def start(self) -> None:
        await self.ws.start_response(200, stream_route.RESPONSE_HEADERS)

    async def send(self, data: bytes) -> None:
        try:
            await self.ws.send_body(data)
        except ProtocolError:
            # The client has gone: wait_gone() reports it and ends the stream.
            pass

    async def end(self) -> None:
        try:
            await self.ws.end_response()
        except ProtocolError:
            return  # gone meanwhile; the runner closes the transport
        self.closed = True

    async def wait_gone(self) -> None:
        await self.ws.wait_gone()

    async def abort(self) -> None:
        await self.ws.aclose_transport()
        self.closed = True
