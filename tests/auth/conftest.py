"""Fixtures for the auth tests: a real runner with real keys on real loopback sockets.

Every async test is ``@pytest.mark.anyio`` and runs under asyncio and trio
(``anyio_backend`` comes from ``tests/conftest.py``).  Tokens are real EdDSA
JWTs: minted by the runner's token service, by :class:`TokenIssuer`, or with
PyJWT directly from the runner's private key when a test needs odd claims.
Hand-made tokens (``alg: none``, HMAC with the public key) are built with
``hmac`` and base64url because PyJWT refuses to make them.

Helpers hang off the fixtures' objects (``auth_runner.mint(...)``) rather than
living in an importable module: test modules cannot import a ``conftest``.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.strategies import TokenStrategy
from warmwire.auth.tokens import DEFAULT_LEEWAY, TokenIssuer
from warmwire.client.builder import ConnectionBuilder
from warmwire.core.events import Closed
from warmwire.examples.echo import Echo
from warmwire.runner import RunningServer
from warmwire.transports.drivers import open_client

KEY_ID = "dev"
SECRET = "s3cret"
KEY = f"{KEY_ID}:{SECRET}"
APP = "warmwire/echo"
ENDPOINT_PATH = "warmwire/echo/realtime"
TIMEOUT = 10.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def http_base(ws_url: str) -> str:
    """``ws://host:port`` → ``http://host:port`` (the runner's token service)."""
    assert ws_url.startswith("ws://"), ws_url
    return "http://" + ws_url.removeprefix("ws://")


@attrs.define
class AuthRunner:
    """A running ``warmwire/echo`` with auth, and ways to make tokens for it."""

    server: RunningServer
    signing_key: Ed25519PrivateKey
    auth: RunnerAuth

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def http_url(self) -> str:
        return http_base(self.server.url)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims for ``warmwire/echo``; an override of ``None`` drops that claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": KEY_ID,
            "allowed_apps": [APP],
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "jti": "test-jti",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        key: Ed25519PrivateKey | None = None,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A JWT made with PyJWT directly (not the code under test)."""
        return jwt.encode(
            self.claims(**overrides),
            key or self.signing_key,
            algorithm="EdDSA",
            headers=headers,
        )

    def issue(self, allowed_apps: Sequence[str] = (APP,), expires_in: float = 60) -> str:
        """A JWT from warmwire's own issuer (what the token service hands out)."""
        return TokenIssuer(self.signing_key).mint(KEY_ID, allowed_apps, expires_in)

    def hand_made(
        self, header: dict[str, Any], signature: bytes | None = None, **claims: Any
    ) -> str:
        """``header.payload.signature`` built by hand; ``signature`` raw (``None``: empty)."""
        head = b64url(json.dumps(header).encode())
        body = b64url(json.dumps(self.claims(**claims)).encode())
        return f"{head}.{body}.{b64url(signature or b'')}"

    def decode(self, token: str) -> dict[str, Any]:
        """Verify and decode a token with the public key only (PyJWT, not warmwire)."""
        claims: dict[str, Any] = jwt.decode(token, self.public_key, algorithms=["EdDSA"])
        return claims

    def builder(self, auth: TokenStrategy, *, path: str = "/realtime") -> ConnectionBuilder:
        return ConnectionBuilder(app=APP, url=self.url, path=path, auth=auth)

    async def raw_refusal(self, auth: TokenStrategy) -> tuple[bytes | str, bytes | str | Closed]:
        """Open a raw WebSocket with ``auth``'s credentials; the first two things received.

        Bypasses the client's interpretation of frames so tests see the wire.
        """
        resolved = self.builder(auth).resolve()
        spec = resolved.spec
        creds = await resolved.auth.credentials(spec.endpoint, spec.url)
        with anyio.fail_after(TIMEOUT):
            stream = await resolved.transport.connect(spec.url, resolved.options)
            ws = await open_client(stream, spec.client_protocol(creds.token, creds.headers))
            try:
                first = await ws.recv()
                second = await ws.recv()
            finally:
                await ws.aclose_transport()
        return first, second

    async def round_trip(self, auth: TokenStrategy, *, path: str = "/realtime") -> None:
        """Connect with ``auth`` and echo one message: the credentials were accepted."""
        with anyio.fail_after(TIMEOUT):
            async with self.builder(auth, path=path).connect_async() as conn:
                await conn.send({"hello": b"world"})
                assert await conn.recv() == {"hello": b"world"}


@asynccontextmanager
async def serve_auth(
    *,
    signing_key: Ed25519PrivateKey | None,
    keys: KeyStore | None = None,
    verify_keys: Sequence[Ed25519PublicKey] = (),
    leeway: float = DEFAULT_LEEWAY,
) -> AsyncIterator[tuple[RunningServer, RunnerAuth]]:
    auth = RunnerAuth.create(
        keys=keys, signing_key=signing_key, verify_keys=verify_keys, leeway=leeway
    )
    async with runner.serve(Echo, config=runner.RunnerConfig(auth=auth)) as server:
        yield server, auth


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own ``$WARMWIRE_KEY`` must not leak into these tests."""
    for name in ("WARMWIRE_KEY", "WARMWIRE_KEYS", "WARMWIRE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def other_key() -> Ed25519PrivateKey:
    """An Ed25519 key the runner does not know."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
async def auth_runner(signing_key: Ed25519PrivateKey) -> AsyncIterator[AuthRunner]:
    """``warmwire/echo`` with API key ``dev:s3cret``, a signing key and the default leeway."""
    keys = KeyStore([ApiKey(KEY_ID, SECRET)])
    async with serve_auth(signing_key=signing_key, keys=keys) as (server, auth):
        yield AuthRunner(server, signing_key, auth)


@pytest.fixture
async def strict_runner(signing_key: Ed25519PrivateKey) -> AsyncIterator[AuthRunner]:
    """Like ``auth_runner`` but with ``leeway=0``: tokens die exactly at ``exp``."""
    keys = KeyStore([ApiKey(KEY_ID, SECRET)])
    async with serve_auth(signing_key=signing_key, keys=keys, leeway=0) as (server, auth):
        yield AuthRunner(server, signing_key, auth)


@attrs.define
class FakeClock:
    """A monotonic clock the test moves by hand (for the strategies' token cache)."""

    start: float = 1000.0
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def at(self, seconds: float) -> None:
        """Move to ``seconds`` after the start (never backwards)."""
        target = self.start + seconds
        assert target >= self.now, "a monotonic clock does not go back"
        self.now = target


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@attrs.define
class TokenBackend:
    """A user's backend answering ``GET /api/token?app=…`` with ``{"token": …}``."""

    url: str
    apps: list[str]
    issued: list[str]
    status: list[int]
    """``status[0]`` is what the next answers use (200 or an error)."""


@pytest.fixture
def token_backend(signing_key: Ed25519PrivateKey) -> Iterator[TokenBackend]:
    """A real HTTP server in a thread (``http.server``), minting with the runner's key."""
    issuer = TokenIssuer(signing_key)
    apps: list[str] = []
    issued: list[str] = []
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            split = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(split.query)
            if split.path != "/api/token" or "app" not in query:
                self.send_error(404)
                return
            app = query["app"][0]
            apps.append(app)
            if status[0] != 200:
                body = json.dumps({"error": "backend says no"}).encode()
            else:
                token = issuer.mint("backend-user", [app], 60)
                issued.append(token)
                body = json.dumps({"token": token}).encode()
            self.send_response(status[0])
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=lambda: server.serve_forever(poll_interval=0.05), name="token-backend", daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield TokenBackend(f"http://{host!s}:{port}/api/token", apps, issued, status)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
