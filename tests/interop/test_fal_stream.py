"""fal's official stream clients against warmwire's ``/stream`` route, pointed at the runner
by configuration only.

- ``fal-client`` (PyPI) ``stream()``, blocking and async: its URL constant
  (``RUN_URL_FORMAT``) names the runner; it POSTs the JSON input with
  ``Authorization: Key`` and yields each ``data:`` event as a dict.
- ``@fal-ai/client`` (npm) ``fal.stream`` in Node (``js/stream_client.js``) and in headless
  Chromium (``js/stream_page.html``: a page on another origin than the runner, whose token
  provider calls its backend's :class:`~warmwire.proxy.TokenProxy` route), running the
  scenarios of ``js/stream_scenarios.js``.  The ``fetch`` it is configured with
  (``fal.config({fetch})``) sends ``https://fal.run/...`` to the runner; everything else is
  the client's own.  In ``connectionMode: "server"`` (Node) it sends the key; in
  ``connectionMode: "client"`` a ``tokenProvider`` backed by a real token route gives a
  short-lived token, which the client puts in ``fal_jwt_token``.

The app streams ``{"step": i}`` progressively; errors arrive as the ``x-fal-error`` event
(the clients yield it as data), refusals as HTTP statuses (``ApiError`` in JavaScript).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import attrs
import fal_client
import fal_client.client
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from helpers.asgi_servers import uvicorn_server
from helpers.polling import wait_until_sync
from helpers.tools import require_chromium
from warmwire import runner
from warmwire.auth.tokens import TokenIssuer
from warmwire.proxy import Scope, TokenProxy, TokenRequest
from warmwire.runner import RunningServer

from .harness import (
    JS_DIR,
    KEY,
    KEY_ID,
    SETUP,
    NodeRun,
    node_command,
    run_node,
    runner_auth,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

APP = "interop/steps"


class StepsApp(runner.App, app_id=APP):
    """``{"n": N}`` streams ``{"step": i, "of": N}``; ``fail_at`` raises at that step;
    ``hold`` waits (for ever) after the first output, until the client goes away."""

    def setup(self) -> None:
        self.closed: list[str] = []

    @runner.realtime("/realtime", session_timeout=30)
    async def run(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            n = int(inp.get("n", 3))
            for i in range(n):
                if inp.get("fail_at") == i:
                    raise RuntimeError(f"asked to fail at step {i}")
                yield {"step": i, "of": n}
                if inp.get("hold"):
                    await anyio.sleep_forever()
        finally:
            self.closed.append(str(inp.get("tag", "")))


@attrs.define
class StreamRunner:
    server: RunningServer
    app: StepsApp
    signing_key: Ed25519PrivateKey

    @property
    def http_url(self) -> str:
        return self.server.http_url

    def token_for(self, *apps: str) -> str:
        return TokenIssuer(self.signing_key).mint(KEY_ID, list(apps), 120)


@contextmanager
def stream_runner_in_thread() -> Iterator[StreamRunner]:
    """``interop/steps`` with auth, on its own event loop in a thread (the peers block)."""
    signing_key = Ed25519PrivateKey.generate()
    app = StepsApp()
    serve = runner.serve(app, auth=runner_auth(signing_key), drain_timeout=2.0)
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serve) as server,
    ):
        yield StreamRunner(server, app, signing_key)


@pytest.fixture(scope="module")
def stream_runner() -> Iterator[StreamRunner]:
    with stream_runner_in_thread() as running:
        yield running


@pytest.fixture
def fal_at_runner(stream_runner: StreamRunner, monkeypatch: pytest.MonkeyPatch) -> StreamRunner:
    """fal-client configured for the runner: where it POSTs streams."""
    monkeypatch.setattr(fal_client.client, "RUN_URL_FORMAT", f"{stream_runner.http_url}/")
    return stream_runner


# -- fal-client (Python) ----------------------------------------------------------------------


def test_fal_client_stream_blocking(fal_at_runner: StreamRunner) -> None:
    client = fal_client.SyncClient(key=KEY)
    assert list(client.stream(APP, {"n": 3})) == [{"step": i, "of": 3} for i in range(3)]
    # An error mid-stream: the outputs before it, then the x-fal-error event as data.
    events = list(client.stream(APP, {"n": 3, "fail_at": 1}))
    assert events[0] == {"step": 0, "of": 3}
    assert events[1]["type"] == "x-fal-error"
    assert events[1]["error"] == "INTERNAL_ERROR"
    assert "asked to fail at step 1" in events[1]["reason"]
    assert len(events) == 2


@pytest.fixture
def anyio_backend() -> str:
    """fal-client's async client is asyncio-only."""
    return "asyncio"


@pytest.mark.anyio
async def test_fal_client_stream_async(fal_at_runner: StreamRunner) -> None:
    client = fal_client.AsyncClient(key=KEY)
    with anyio.fail_after(30):
        events = [event async for event in client.stream(APP, {"n": 2})]
    assert events == [{"step": 0, "of": 2}, {"step": 1, "of": 2}]


def test_fal_client_stream_wrong_key_is_refused(fal_at_runner: StreamRunner) -> None:
    client = fal_client.SyncClient(key=f"{KEY_ID}:wrong")
    # fal-client does not check the status of a stream: httpx-sse refuses the JSON refusal.
    with pytest.raises(Exception, match="text/event-stream"):
        list(client.stream(APP, {"n": 1}))


# -- @fal-ai/client (Node, headless Chromium) ------------------------------------------------


def run_in_node(running: StreamRunner) -> NodeRun:
    return run_node(
        "stream_client.js",
        {
            "INTEROP_RUNNER_HTTP": running.http_url,
            "INTEROP_KEY": KEY,
            "INTEROP_OTHER_APP_TOKEN": running.token_for("another-app"),
        },
    )


def page_backend(running: StreamRunner, bundle_dir: Path) -> Starlette:
    """The web app's own backend: the page, and its token route holding the API key."""
    session = secrets.token_urlsafe(16)

    def signed_in(scope: Scope, request: TokenRequest) -> bool:
        cookies = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        return f"interop_session={session}" in cookies

    host = running.http_url.split("://", 1)[1]
    proxy = TokenProxy(allowed_hosts=[host], key=KEY, authorize=signed_in)

    async def page(request: Request) -> Response:
        response = FileResponse(JS_DIR / "stream_page.html")
        response.set_cookie("interop_session", session, httponly=True, samesite="strict")
        return response

    async def config(request: Request) -> Response:
        return JSONResponse(
            {"runnerHttp": running.http_url, "otherAppToken": running.token_for("another-app")}
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/config.json", config),
            Route("/api/fal/proxy", proxy, methods=["POST"]),
            Mount("/js", StaticFiles(directory=JS_DIR)),
            Mount("/bundle", StaticFiles(directory=bundle_dir)),
        ]
    )


def run_in_chromium(running: StreamRunner, bundle_dir: Path) -> NodeRun:
    require_chromium(SETUP)
    subprocess.run(
        [*node_command(), "bundle.js", str(bundle_dir / "fal-client.js")],
        cwd=JS_DIR,
        check=True,
        timeout=60,
    )
    with uvicorn_server(page_backend(running, bundle_dir)) as base:
        run = run_node("browser_driver.js", {"INTEROP_PAGE_URL": f"{base}/"})
    # The browser logs the refused request of the wrong-token scenario (401): expected.
    problems = [
        r
        for r in run.records
        if "pageerror" in r or (r.get("console") == "error" and "401" not in r.get("text", ""))
    ]
    assert not problems, f"the page reported errors: {problems}; {run.describe()}"
    return run


@pytest.fixture(
    scope="module", params=["node", pytest.param("chromium", marks=pytest.mark.browser)]
)
def js_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, NodeRun, StreamRunner]:
    """Every scenario in one environment, against a runner of its own."""
    with stream_runner_in_thread() as running:
        if request.param == "node":
            run = run_in_node(running)
        else:
            run = run_in_chromium(running, tmp_path_factory.mktemp("bundle"))
        # While the runner still runs: the abort scenario's generator closes after it.
        wait_until_sync(lambda: "js-abort" in running.app.closed, "aborted generator closed")
    return str(request.param), run, running


def test_js_server_mode_streams_progressively(js_run: tuple[str, NodeRun, StreamRunner]) -> None:
    where, run, _ = js_run
    if where != "node":
        return  # a browser holds no API key: server mode is Node's
    report = run.scenario("server-key")
    assert report["events"] == [{"step": i, "of": 3} for i in range(3)]
    assert report["done"] == {"step": 2, "of": 3}  # done() resolves with the last event
    assert report["fetched"] == ["https://fal.run/interop/steps/stream"]


def test_js_client_mode_with_a_token_provider(js_run: tuple[str, NodeRun, StreamRunner]) -> None:
    _, run, _ = js_run
    report = run.scenario("client-token")
    assert report["events"] == [{"step": i, "of": 3} for i in range(3)]
    assert report["done"] == {"step": 2, "of": 3}
    # The provider is asked for the stream's endpoint; the token goes in fal_jwt_token.
    assert report["asked"] == ["interop/steps/stream"]
    assert report["fetched"] == ["https://fal.run/interop/steps/stream?fal_jwt_token=<jwt>"]


def test_js_error_event(js_run: tuple[str, NodeRun, StreamRunner]) -> None:
    _, run, _ = js_run
    report = run.scenario("error-event")
    assert report["events"][0] == {"step": 0, "of": 3}
    error = report["events"][1]
    assert (error["type"], error["error"]) == ("x-fal-error", "INTERNAL_ERROR")
    assert report["done"] == error


def test_js_token_for_another_app_is_refused(js_run: tuple[str, NodeRun, StreamRunner]) -> None:
    _, run, _ = js_run
    report = run.scenario("wrong-app-token")
    assert report["events"] == []
    assert report["error"]["status"] == 401
    assert report["error"]["body"]["error"] == "Unauthorized"
    assert "steps" in report["error"]["body"]["reason"]


def test_js_abort_stops_the_generator(js_run: tuple[str, NodeRun, StreamRunner]) -> None:
    _, run, running = js_run
    report = run.scenario("abort")
    assert report["events"] == [{"step": 0, "of": 3}]
    assert "js-abort" in running.app.closed  # its finally ran (waited for in js_run)
