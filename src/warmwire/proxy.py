"""An ASGI proxy for token requests: the browser never holds the API key.

Mount it in your backend (Starlette, FastAPI, any ASGI app)::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from warmwire.proxy import TokenProxy, TokenRequest

    def may_have_token(scope, request: TokenRequest) -> bool:
        user = session_user(scope)              # your own session check
        return user is not None and request.apps == ("acme/stylize",)

    app = Starlette(routes=[Mount("/api/warmwire", app=TokenProxy(
        token_url="https://tokens.example.com/tokens/", authorize=may_have_token))])

A client with ``proxy_url=".../api/warmwire"`` sends its token request here with
the real target in the ``x-fal-target-url`` header.  The proxy reads the token
request (apps, expiration), asks your ``authorize`` hook whether this caller
may have that token, allows only the configured targets, adds
``Authorization: Key …`` and forwards with httpx.

The hook is required: a token route anyone can call hands anyone a token.  For
a local demo, ``allow_anyone=True`` says so explicitly.

``@fal-ai/client``'s ``proxyUrl`` flow targets fal's own token URL
(``https://rest.fal.ai/tokens/``); the proxy sends it to ``token_url`` instead,
or refuses it with a message saying so when no ``token_url`` is configured.
"""

from __future__ import annotations

import inspect
import logging
import os
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import attrs
import httpx
import orjson

from warmwire.auth.keys import KEY_ENV, parse_key
from warmwire.core.errors import ConfigurationError

log = logging.getLogger("warmwire.proxy")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TARGET_HEADER = "x-fal-target-url"
MAX_BODY = 64 * 1024
FAL_TOKEN_HOSTS = frozenset({"rest.fal.ai", "rest.alpha.fal.ai"})
"""Where ``@fal-ai/client`` and ``fal-client`` send token requests by default."""


@attrs.frozen(slots=True)
class TokenRequest:
    """What a caller asks the token service for, as the proxy's ``authorize`` hook sees it."""

    apps: tuple[str, ...]
    """``allowed_apps`` as asked (aliases or ``owner/alias``)."""
    expiration: float | None
    """``token_expiration`` (or ``duration``) in seconds; ``None``: the service's default."""
    target: str
    """The token service URL the request goes to."""


Authorize = Callable[[Scope, TokenRequest], bool | Awaitable[bool]]
"""``authorize(scope, request)``: true when this caller (the ASGI ``scope``: cookies,
headers, client) may have this token (``request``: apps, expiration)."""


class TokenProxy:
    """ASGI app forwarding token requests to allowed targets with the server-side API key."""

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str] = (),
        key: str | None = None,
        authorize: Authorize | None = None,
        allow_anyone: bool = False,
        token_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        key = key if key is not None else os.environ.get(KEY_ENV)
        if not key:
            raise ConfigurationError(f"TokenProxy needs key='id:secret' or ${KEY_ENV}")
        self._authorization = f"Key {parse_key(key)}"
        if authorize is None and not allow_anyone:
            raise ConfigurationError(
                "TokenProxy needs authorize=: a function (scope, TokenRequest) -> bool that "
                "checks the caller (e.g. your session cookie) and what it asks for; a token "
                "route without it gives a token to anyone. For a local demo only, pass "
                "allow_anyone=True."
            )
        if authorize is not None and allow_anyone:
            raise ConfigurationError("give TokenProxy authorize= or allow_anyone=True, not both")
        self.authorize = authorize
        self.token_url = token_url
        hosts = {h.lower() for h in allowed_hosts}
        if token_url is not None:
            parsed = urllib.parse.urlsplit(token_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigurationError(
                    f"token_url must be an http(s) URL such as "
                    f"'https://tokens.example.com/tokens/', not {token_url!r}"
                )
            hosts.add(parsed.netloc.lower())
        self.allowed_hosts = frozenset(hosts)
        if not self.allowed_hosts:
            raise ConfigurationError(
                "TokenProxy needs token_url= (your token service) or at least one allowed host"
            )
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
        if method != "POST":
            return _error(405, f"the token proxy forwards token requests (POST), not {method}")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        target = headers.get(TARGET_HEADER)
        if not target:
            return _error(400, f"missing the {TARGET_HEADER} header naming the token endpoint")
        target, problem = self._route(target)
        if problem is not None:
            return problem
        body = await _read_body(receive)
        if body is None:
            return _error(413, f"request body over {MAX_BODY} bytes")
        request = _token_request(body, target)
        if isinstance(request, str):
            return _error(400, request)
        if self.authorize is not None:
            allowed = self.authorize(scope, request)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                return _error(403, "this caller may not have this token (refused by the backend)")
        forward = {"authorization": self._authorization}
        if "content-type" in headers:
            forward["content-type"] = headers["content-type"]
        host = urllib.parse.urlsplit(target).netloc
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.request(method, target, content=body, headers=forward)
        except httpx.HTTPError as exc:
            log.warning("token proxy: %s unreachable: %s", host, type(exc).__name__)
            return _error(502, f"the target {host} is unreachable")
        return response.status_code, response.content

    def _route(self, target: str) -> tuple[str, tuple[int, bytes] | None]:
        """Where to send a request for ``target``, or the refusal."""
        parsed = urllib.parse.urlsplit(target)
        host = (parsed.netloc or "").lower()
        if host in FAL_TOKEN_HOSTS and parsed.path.rstrip("/") == "/tokens":
            if self.token_url is None:
                return target, _error(
                    403,
                    f"the client asks for fal's token URL ({host}); this proxy serves warmwire "
                    "tokens: configure TokenProxy(token_url='https://<your token service>/"
                    "tokens/'), or give the client a tokenProvider",
                )
            return self.token_url, None
        if parsed.scheme not in ("http", "https") or host not in self.allowed_hosts:
            return target, _error(403, f"target host {host!r} is not allowed by this proxy")
        return target, None


def _token_request(body: bytes, target: str) -> TokenRequest | str:
    """The parsed token request, or what is wrong with it."""
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return "the token request body must be JSON"
    if not isinstance(data, dict):
        return "the token request body must be a JSON object"
    apps = data.get("allowed_apps")
    if not isinstance(apps, list) or not apps or not all(isinstance(a, str) for a in apps):
        return "field 'allowed_apps' must be a non-empty list of app names"
    expiration = data.get("token_expiration", data.get("duration"))
    if expiration is not None and (
        isinstance(expiration, bool) or not isinstance(expiration, int | float)
    ):
        return "field 'token_expiration' must be a number of seconds"
    return TokenRequest(tuple(apps), expiration, target)


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
