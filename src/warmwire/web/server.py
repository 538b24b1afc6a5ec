"""The camera page's backend: the page, its token route, and a runner with a real model.

Two servers on loopback, in one event loop:

- **the runner** (warmwire's own server, :func:`warmwire.runner.serve`) hosts
  :class:`~warmwire.examples.faces.Faces`; the browser's WebSocket goes
  straight to it, with a short-lived token in ``fal_jwt_token``;
- **the page server** (Starlette under uvicorn) serves the page, its bundled
  JavaScript, ``GET /api/config`` (where the runner is, its cold start) and
  ``GET /api/token?app=…``, the route the page's ``tokenProvider`` calls.

The token route is what a real backend does: it holds an API key, asks the
runner's token service for a token limited to one app and two minutes, and
hands the browser only that token.  Here the key is generated at start and
never leaves this process; in a real backend the route would also check the
user's session before minting.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import attrs
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.service import TokenService
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.core.endpoint import parse_app_id
from warmwire.core.errors import ConfigurationError, InvalidEndpointError
from warmwire.examples.faces import MODES, Faces, sample_portrait_path

log = logging.getLogger("warmwire.web")

STATIC = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC / "app.js"
BUILD_HINT = (
    "from a clone of warmwire run 'make web', or build it by hand: "
    "cd web && npm ci && npm run build"
)
TOKEN_EXPIRATION = 120
"""Seconds a page token lives; the page's client refreshes it at 90% of that."""
NO_STORE = {"cache-control": "no-store"}


class BundleMissing(ConfigurationError):
    """The page's JavaScript bundle has not been built."""


@attrs.frozen(slots=True)
class WebDemo:
    """A running camera page: open ``url`` in a browser."""

    url: str
    """The page, ``http://127.0.0.1:PORT/``."""
    runner: runner.RunningServer

    @property
    def cold_start(self) -> float:
        return self.runner.cold_start or 0.0


def check_ready() -> None:
    """Raise :class:`ConfigurationError` saying what to install or build, if anything."""
    if importlib.util.find_spec("mediapipe") is None:
        raise ConfigurationError(
            "the camera page's model needs MediaPipe: pip install 'warmwire[web]' "
            "(mediapipe 0.10.21 has wheels for CPython 3.9 to 3.12), or run 'make web'"
        )
    if not BUNDLE.is_file():
        raise BundleMissing(
            f"the camera page's JavaScript bundle {BUNDLE} is missing: {BUILD_HINT}"
        )


def create_app(
    *,
    runner_url: str,
    cold_start: float,
    mint: Callable[[str], str],
    token_expiration: int = TOKEN_EXPIRATION,
) -> Starlette:
    """The page server: the page, its assets, its config and its token route.

    ``mint(app_id)`` returns a token for ``app_id``; the route never sees a key.
    """
    page_config = {
        "app": Faces.app_id,
        "runner": runner_url,
        "cold_start_ms": round(cold_start * 1000, 1),
        "max_buffering": Faces.endpoints["/realtime"][1].buffering,
        "token_expiration": token_expiration,
        "modes": list(MODES),
        "model": "MediaPipe BlazeFace short-range face detector",
        "mediapipe": _version("mediapipe"),
        "sample": sample_portrait_path() is not None,
    }

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def config(request: Request) -> Response:
        return JSONResponse(page_config, headers=NO_STORE)

    async def token(request: Request) -> Response:
        requested = request.query_params.get("app", "")
        try:
            app_id = parse_app_id(requested).app_id
        except InvalidEndpointError as exc:
            return _error(400, "Bad Request", str(exc))
        if app_id != Faces.app_id:
            return _error(403, "Forbidden", f"this page mints tokens for {Faces.app_id} only")
        try:
            minted = await anyio.to_thread.run_sync(mint, app_id)
        except RuntimeError as exc:
            return _error(502, "Bad Gateway", str(exc))
        return JSONResponse({"token": minted, "expires_in": token_expiration}, headers=NO_STORE)

    async def sample(request: Request) -> Response:
        path = sample_portrait_path()
        if path is None:
            return _error(404, "Not Found", "no sample portrait: matplotlib is not installed")
        return FileResponse(path, media_type="image/jpeg")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/api/config", config),
            Route("/api/token", token),
            Route("/sample.jpg", sample),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )


def service_minter(
    service: TokenService, key: ApiKey, expiration: int = TOKEN_EXPIRATION
) -> Callable[[str], str]:
    """``mint(app_id)`` through ``service``'s ``POST /tokens/`` logic, with ``key``."""
    authorization = f"Key {key}"

    def mint(app_id: str) -> str:
        body = orjson.dumps({"allowed_apps": [app_id], "token_expiration": expiration})
        answer = service.handle("POST", "/tokens/", authorization, body)
        if answer is None or answer.status != 200:
            status = answer.status if answer else None
            raise RuntimeError(f"the token service refused the page's key (HTTP {status})")
        minted = orjson.loads(answer.body)
        assert isinstance(minted, str)
        return minted

    return mint


@asynccontextmanager
async def serve_web_demo(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    token_expiration: int = TOKEN_EXPIRATION,
    key: ApiKey | None = None,
) -> AsyncIterator[WebDemo]:
    """Run the runner (model set up first) and the page server for the ``async with`` block.

    asyncio only (uvicorn).  ``port=0`` picks a free port for the page; the
    runner always takes a free one.  ``key`` is the API key the page server
    mints with (default: a random one, generated here and never shown).
    """
    check_ready()
    # Throwaway credentials for this process: the page server mints with the key,
    # the runner verifies the tokens with the signing key's public half.
    key = key or ApiKey("web-demo", secrets.token_urlsafe(24))
    auth = RunnerAuth.create(
        keys=KeyStore([key]), signing_key=load_signing_key(generate_signing_key())
    )
    assert auth.service is not None
    with _listening_socket(host, port) as sock:
        async with runner.serve(Faces, host=host, port=0, auth=auth) as server:
            app = create_app(
                runner_url=server.url,
                cold_start=server.cold_start or 0.0,
                mint=service_minter(auth.service, key, token_expiration),
                token_expiration=token_expiration,
            )
            page = _EmbeddedUvicorn(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                    ws="none",
                    timeout_graceful_shutdown=5,
                )
            )
            bound = sock.getsockname()[1]
            async with anyio.create_task_group() as tg:
                tg.start_soon(page.serve, [sock])
                # The socket listens already: requests made now wait in its backlog.
                yield WebDemo(f"http://{host}:{bound}/", server)
                page.should_exit = True


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside someone else's program: the program owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _listening_socket(host: str, port: int) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        yield sock
    finally:
        sock.close()


def _error(status: int, error: str, reason: str) -> Response:
    return JSONResponse({"error": error, "reason": reason}, status_code=status, headers=NO_STORE)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
