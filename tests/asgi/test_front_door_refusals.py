"""One refusal matrix, driven through every front door: they run the same sequence.

Warmwire's own server (``runner.serve``) and the ASGI adapter under a real
uvicorn both hand upgrades to ``Runner.front_door``; so every way an upgrade
is refused must look the same on the wire at each: the same HTTP status and
JSON body before the upgrade, or the same ``Unauthorized`` text message and
then a 1008 close after it.  The one difference the doors document is checked
too: an ASGI server without the ``websocket.http.response`` extension can only
refuse an upgrade with its own 403, without warmwire's JSON body.

A browser cannot read a refused upgrade's status or body, so to a client that
says it is one (``Origin``, ``Sec-Fetch-Mode``) a 4xx refusal comes after the
upgrade, as an ``x-fal-error`` and a 4000 + status close, at every door; a 503
stays HTTP, for the load balancer in front to retry elsewhere.

Real loopback sockets, real EdDSA JWTs, a frame-level client (the test sees
the first message and the close frame themselves).  uvicorn runs in its own
thread on its own asyncio loop; the client side runs on the test's backend.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import attrs
import httpx
import jwt
import msgpack
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from helpers import polling
from helpers.asgi_servers import uvicorn_server
from warmwire import asgi, runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.close_codes import CloseCode
from warmwire.core.errors import HandshakeError
from warmwire.core.events import Closed
from warmwire.examples.echo import Echo
from warmwire.transports.drivers import open_client
from warmwire.transports.websocket import AsyncWebSocket

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0
KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
PATH = "/warmwire/echo/realtime"
SERVED = "/warmwire/echo/async, /warmwire/echo/realtime"

DOORS = ["warmwire", "uvicorn", "asgi-without-denial-response"]


def token(key: Ed25519PrivateKey = KEY, **overrides: Any) -> str:
    """A real EdDSA JWT for ``warmwire/echo``, made with PyJWT (not the code under test)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "dev",
        "allowed_apps": ["warmwire/echo"],
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": "matrix",
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="EdDSA")


def target(path: str = PATH, **query: str) -> str:
    return f"{path}?{urllib.parse.urlencode(query)}" if query else path


# -- the doors -------------------------------------------------------------------------------


@attrs.define
class Door:
    """A runner behind one front door, as the matrix needs it."""

    port: int
    runner: runner.Runner
    drain: Callable[[], Awaitable[None]]
    """Start draining the runner, on the loop that serves it."""
    denial_response: bool
    """Refusals before the upgrade carry warmwire's status and JSON body."""


@attrs.define
class _Served:
    """The ASGI app as the server calls it, remembering the server's loop (to drain the
    runner on it).  Without ``denial_response``, as a server lacking the
    ``websocket.http.response`` extension presents it: the scope does not offer it."""

    app: asgi.WarmwireASGI
    denial_response: bool
    loop: asyncio.AbstractEventLoop | None = None
    called: threading.Event = attrs.field(factory=threading.Event)
    """Set at the server's first call (lifespan startup): ``loop`` is known."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.called.set()
        if not self.denial_response and scope["type"] == "websocket":
            extensions = dict(scope.get("extensions") or {})
            extensions.pop("websocket.http.response", None)
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)

    async def drain(self) -> None:
        assert await anyio.to_thread.run_sync(self.called.wait, TIMEOUT), "the app never started"
        loop = self.loop
        assert loop is not None
        # Scheduled from an empty context: the test's own tells sniffio (and so anyio)
        # which loop runs the *test*, and the drain must run as uvicorn's asyncio.
        future = contextvars.Context().run(
            asyncio.run_coroutine_threadsafe, self.app.runner.drain(), loop
        )
        await anyio.to_thread.run_sync(future.result, TIMEOUT)


CONFIG: dict[str, Any] = {
    "auth": RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s3cret")]), signing_key=KEY),
    "max_sessions": 1,
}


@asynccontextmanager
async def served(kind: str) -> AsyncIterator[Door]:
    if kind == "warmwire":
        async with runner.serve(Echo, **CONFIG) as server:
            assert server.port is not None
            yield Door(server.port, server.runner, server.runner.drain, denial_response=True)
        return
    app = _Served(asgi.app(Echo, **CONFIG), denial_response=kind == "uvicorn")
    with uvicorn_server(app) as base:
        port = int(base.rsplit(":", 1)[1])
        yield Door(port, app.app.runner, app.drain, denial_response=app.denial_response)


@pytest.fixture(params=DOORS)
async def door(request: pytest.FixtureRequest) -> AsyncIterator[Door]:
    async with served(str(request.param)) as door:
        yield door


# -- a frame-level client ----------------------------------------------------------------------


@asynccontextmanager
async def upgrade(
    door: Door,
    path: str,
    headers: Sequence[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
) -> AsyncIterator[AsyncWebSocket]:
    """Open a WebSocket to ``door`` (``HandshakeError`` if refused before the upgrade)."""
    stream = await anyio.connect_tcp("127.0.0.1", door.port)
    protocol = ClientProtocol(
        host=f"127.0.0.1:{door.port}", target=path, headers=headers, subprotocols=subprotocols
    )
    ws = await open_client(stream, protocol, close_timeout=5)
    try:
        yield ws
    finally:
        if ws.closed is None:
            await ws.aclose()
        else:
            await ws.aclose_transport()


@attrs.frozen
class HttpRefusal:
    """Refused before the upgrade: this HTTP status, and a JSON body with ``error`` and
    a ``reason`` that contains ``reason_part``."""

    status: int
    error: str
    reason_part: str


@attrs.frozen
class Unauthorized:
    """Upgraded, then the ``Unauthorized`` message with ``reason_part`` in its reason,
    then a 1008 close."""

    reason_part: str


async def refused_total(door: Door, reason: str) -> float:
    """``warmwire_refused_connections_total{reason=...}`` from the door's ``/metrics``."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        response = await client.get(f"http://127.0.0.1:{door.port}/metrics")
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            counted = sample.name == "warmwire_refused_connections_total"
            if counted and sample.labels.get("reason") == reason:
                return float(sample.value)
    return 0.0


async def refused_before_upgrade(
    door: Door, path: str, expected: HttpRefusal, headers: Sequence[tuple[str, str]] = ()
) -> None:
    before = await refused_total(door, str(expected.status))
    with anyio.fail_after(TIMEOUT), pytest.raises(HandshakeError) as refused:
        async with upgrade(door, path, headers):
            pass
    # Counted by the one sequence, whatever the door could tell the client.
    assert await refused_total(door, str(expected.status)) == before + 1
    if not door.denial_response:
        # The documented difference: a close before the accept, which the server
        # answers with its own 403; warmwire's reason cannot reach the client.
        assert refused.value.status_code == 403
        assert expected.reason_part.encode() not in refused.value.body
        return
    assert refused.value.status_code == expected.status
    body = orjson.loads(refused.value.body)
    assert set(body) == {"error", "reason"}
    assert body["error"] == expected.error
    assert expected.reason_part in body["reason"]


async def refused_after_upgrade(
    door: Door, path: str, headers: Sequence[tuple[str, str]], expected: Unauthorized
) -> None:
    before = await refused_total(door, "unauthorized")
    with anyio.fail_after(TIMEOUT):
        async with upgrade(door, path, headers) as ws:
            first = await ws.recv()
            second = await ws.recv()
    assert await refused_total(door, "unauthorized") == before + 1
    assert isinstance(first, str), "the refusal is a text frame, which a browser can read"
    message = orjson.loads(first)
    assert set(message) == {"status", "error", "reason"}
    assert (message["status"], message["error"]) == ("error", "Unauthorized")
    assert expected.reason_part in message["reason"]
    assert isinstance(second, Closed)
    assert second.code == CloseCode.POLICY_VIOLATION  # 1008
    assert second.reason == "Unauthorized"


async def served_one(ws: AsyncWebSocket) -> None:
    """One echo on ``ws``: the session is running, so the runner counts it."""
    await ws.send(orjson.dumps({"n": 1}).decode())  # a text frame is JSON
    reply = await ws.recv()
    assert isinstance(reply, bytes)
    assert msgpack.unpackb(reply) == {"n": 1}  # results in the default codec


# -- the matrix ----------------------------------------------------------------------------------


Setup = Callable[[Door], Awaitable[None]]
Path = Callable[[], str]
"""The request target, made when the test runs (tokens expire)."""


async def nothing(door: Door) -> None:
    pass


async def draining(door: Door) -> None:
    await door.drain()


BEFORE_UPGRADE: list[Any] = [
    pytest.param(
        lambda: target("/warmwire/nope/realtime", fal_jwt_token=token()),
        nothing,
        HttpRefusal(404, "Not Found", f"it serves: {SERVED}"),
        id="unknown-path",
    ),
    pytest.param(
        lambda: target(fal_jwt_token=token(), max_buffering="0"),
        nothing,
        HttpRefusal(400, "Bad Request", "max_buffering"),
        id="bad-max-buffering",
    ),
    pytest.param(
        lambda: target(fal_jwt_token=token(), max_buffering="many"),
        nothing,
        HttpRefusal(400, "Bad Request", "max_buffering"),
        id="max-buffering-not-a-number",
    ),
    pytest.param(
        lambda: target(fal_jwt_token=token()),
        draining,
        HttpRefusal(503, "Service Unavailable", "runner draining; connect to another"),
        id="draining",
    ),
]


@pytest.mark.parametrize(("path", "setup", "expected"), BEFORE_UPGRADE)
async def test_refused_before_the_upgrade(
    door: Door, path: Path, setup: Setup, expected: HttpRefusal
) -> None:
    await setup(door)
    await refused_before_upgrade(door, path(), expected)


async def test_refused_at_capacity(door: Door) -> None:
    with anyio.fail_after(TIMEOUT):
        async with upgrade(door, target(fal_jwt_token=token())) as first:
            await served_one(first)
            await refused_before_upgrade(
                door,
                target(fal_jwt_token=token()),
                HttpRefusal(503, "Service Unavailable", "at its limit of 1 sessions"),
            )
            await served_one(first)  # the session already open is unaffected
        # The runner counts the session out once its close is done: then there is room.
        await polling.wait_until(lambda: not door.runner.sessions, what="the session counted out")
        async with upgrade(door, target(fal_jwt_token=token())) as again:
            await served_one(again)


def _ago(seconds: int) -> int:
    return int(time.time()) - seconds


AFTER_UPGRADE: list[Any] = [
    pytest.param(lambda: target(), (), Unauthorized("missing token"), id="no-token"),
    pytest.param(
        lambda: target(fal_jwt_token=token(iat=_ago(600), nbf=_ago(600), exp=_ago(300))),
        (),
        Unauthorized("expired"),
        id="expired-token",
    ),
    pytest.param(
        lambda: target(fal_jwt_token=token(OTHER_KEY)),
        (),
        Unauthorized("signature is not valid"),
        id="forged-token",
    ),
    pytest.param(
        lambda: target(fal_jwt_token=token(allowed_apps=["other"])),
        (),
        Unauthorized("not valid for app"),
        id="token-for-another-app",
    ),
    pytest.param(
        lambda: target(),
        (("authorization", "Key dev:wrong"),),
        Unauthorized("invalid API key"),
        id="wrong-api-key",
    ),
]


@pytest.mark.parametrize(("path", "headers", "expected"), AFTER_UPGRADE)
async def test_refused_after_the_upgrade(
    door: Door, path: Path, headers: Sequence[tuple[str, str]], expected: Unauthorized
) -> None:
    await refused_after_upgrade(door, path(), headers, expected)


async def test_good_credentials_pass_every_door(door: Door) -> None:
    """The matrix's other side: what it refuses is refused for its credentials alone."""
    with anyio.fail_after(TIMEOUT):
        async with upgrade(door, target(fal_jwt_token=token())) as ws:
            await served_one(ws)
        # One session at a time (max_sessions=1): the next once this one is counted out.
        await polling.wait_until(lambda: not door.runner.sessions, what="the session counted out")
        async with upgrade(door, target(), (("authorization", "Key dev:s3cret"),)) as ws:
            await served_one(ws)


# -- refusals a browser can read -----------------------------------------------------------------

BROWSERS = [
    pytest.param((("origin", "http://page.example"),), id="origin"),
    pytest.param((("sec-fetch-mode", "websocket"),), id="sec-fetch-mode"),
]


@pytest.mark.parametrize("browser", BROWSERS)
@pytest.mark.parametrize(
    ("path", "setup", "expected"), [case for case in BEFORE_UPGRADE if case.id != "draining"]
)
async def test_a_browser_reads_why_it_was_refused(
    door: Door,
    browser: Sequence[tuple[str, str]],
    path: Path,
    setup: Setup,
    expected: HttpRefusal,
) -> None:
    """Upgraded (with a subprotocol it offered, or a browser fails the upgrade), then the
    reason as an ``x-fal-error`` text message, then a close with 4000 + the status."""
    await setup(door)
    before = await refused_total(door, str(expected.status))
    with anyio.fail_after(TIMEOUT):
        async with upgrade(door, path(), browser, subprotocols=("msgpack", "json")) as ws:
            assert ws.subprotocol == "msgpack"
            first = await ws.recv()
            second = await ws.recv()
    assert await refused_total(door, str(expected.status)) == before + 1
    assert isinstance(first, str), "the refusal is a text frame, which a browser can read"
    message = orjson.loads(first)
    assert set(message) == {"type", "error", "reason"}
    assert (message["type"], message["error"]) == ("x-fal-error", expected.error)
    assert expected.reason_part in message["reason"]
    assert isinstance(second, Closed)
    assert second.code == 4000 + expected.status
    assert second.reason == expected.error


@pytest.mark.parametrize("browser", BROWSERS)
async def test_a_browser_is_refused_with_http_503_for_the_balancer(
    door: Door, browser: Sequence[tuple[str, str]]
) -> None:
    """Draining (like at capacity) stays an HTTP 503: what nginx retries elsewhere."""
    await door.drain()
    await refused_before_upgrade(
        door,
        target(fal_jwt_token=token()),
        HttpRefusal(503, "Service Unavailable", "runner draining; connect to another"),
        browser,
    )


@pytest.mark.parametrize("browser", BROWSERS)
async def test_a_browser_offering_no_served_codec_is_told_which_would_do(
    door: Door, browser: Sequence[tuple[str, str]]
) -> None:
    """A browser given no subprotocol it asked for fails the handshake silently; other
    clients fall back to the endpoint's codec (tests/e2e/test_plugins_e2e.py)."""
    with anyio.fail_after(TIMEOUT):
        async with upgrade(door, target(fal_jwt_token=token()), browser, ("nope",)) as ws:
            assert ws.subprotocol == "nope"  # echoed, so that the browser reads on
            first = await ws.recv()
            second = await ws.recv()
    assert isinstance(first, str)
    message = orjson.loads(first)
    assert (message["type"], message["error"]) == ("x-fal-error", "Bad Request")
    assert "none of the codecs offered (nope) is served here" in message["reason"]
    assert "msgpack" in message["reason"]
    assert isinstance(second, Closed)
    assert (second.code, second.reason) == (4400, "Bad Request")
