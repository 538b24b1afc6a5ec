"""An ASGI proxy for token requests: the browser never holds the API key.

Mount it in your backend (Starlette, FastAPI, any ASGI app)::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from warmwire.proxy import TokenProxy

    app = Starlette(routes=[Mount("/api/warmwire", app=TokenProxy(
        allowed_hosts=["runner.example.com"], authorize=check_session_cookie))])

A client with ``proxy_url=".../api/warmwire"`` sends its token request here with
the real target in the ``x-fal-target-url`` header.  The proxy asks your
``authorize`` hook whether this caller may have a token, allows only the
configured target hosts, adds ``Authorization: Key …`` and forwards with httpx.
"""

from __future__ import annotations

import inspect
import logging
import os
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import httpx
import orjson

from warmwire.auth.keys import KEY_ENV, parse_key
from warmwire.core.errors import ConfigurationError

log = logging.getLogger("warmwire.proxy")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Authorize = Callable[[Scope], bool | Awaitable[bool]]

TARGET_HEADER = "x-fal-target-url"
MAX_BODY = 64 * 1024
_FORWARDED_METHODS = frozenset({"GET", "POST"})


class TokenProxy:
    """ASGI app forwarding token requests to allowed hosts with the server-side API key."""

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str],
        key: str | None = None,
        authorize: Authorize | None = None,
        timeout: float = 10.0,
    ) -> None:
        key = key if key is not None else os.environ.get(KEY_ENV)
        if not key:
            raise ConfigurationError(f"TokenProxy needs key='id:secret' or ${KEY_ENV}")
        self._authorization = f"Key {parse_key(key)}"
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        if not self.allowed_hosts:
            raise ConfigurationError("TokenProxy needs at least one allowed target host")
        self.authorize = authorize
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise RuntimeError("TokenProxy serves HTTP requests only")
        status, body = await self._handle(scope, receive)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        method = scope["method"]
        if method not in _FORWARDED_METHODS:
            return _error(405, f"the token proxy forwards GET and POST, not {method}")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        target = headers.get(TARGET_HEADER)
        if not target:
            return _error(400, f"missing the {TARGET_HEADER} header naming the token endpoint")
        parsed = urllib.parse.urlsplit(target)
        host = (parsed.netloc or "").lower()
        if parsed.scheme not in ("http", "https") or host not in self.allowed_hosts:
            return _error(403, f"target host {host!r} is not allowed by this proxy")
        if self.authorize is not None:
            allowed = self.authorize(scope)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                return _error(401, "this caller is not allowed to request tokens")
        body = await _read_body(receive)
        if body is None:
            return _error(413, f"request body over {MAX_BODY} bytes")
        forward = {"authorization": self._authorization}
        if "content-type" in headers:
            forward["content-type"] = headers["content-type"]
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.request(method, target, content=body, headers=forward)
        except httpx.HTTPError as exc:
            log.warning("token proxy: %s unreachable: %s", host, type(exc).__name__)
            return _error(502, f"the target {host} is unreachable")
        return response.status_code, response.content


def _error(status: int, reason: str) -> tuple[int, bytes]:
    return status, orjson.dumps({"error": "proxy", "reason": reason})


async def _read_body(receive: Receive) -> bytes | None:
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body", False):
            return bytes(body)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
