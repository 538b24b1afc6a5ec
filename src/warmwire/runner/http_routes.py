"""The runner's plain HTTP routes: token service, health, readiness, metrics.

Every door answers them with this one function: warmwire's own server for a
request that is not an upgrade, the ASGI adapter for an ``http`` scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from warmwire.core.events import HttpRequest
from warmwire.runner.metrics import CONTENT_TYPE

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
        f"{', '.join(runner.router.paths) or '(none)'}"
    )
    return 404, orjson.dumps({"error": "Not Found", "reason": reason}), _JSON
