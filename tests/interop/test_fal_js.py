"""@fal-ai/client (npm, pinned in js/package.json) against a warmwire runner, in Node.js and in
headless Chromium.

``fal.realtime.connect(app, {tokenProvider, tokenExpirationSeconds, onResult, onError, path,
encodeMessage, decodeMessage})`` runs unchanged; it dials ``wss://fal.run/...`` by design and
the only thing replaced is the global ``WebSocket``, wrapped to dial the runner instead
(``js/redirect.js``).  The same scenarios (``js/scenarios.js``) run in both places:

- in Node, the token provider is server-side code holding the API key: it mints at the
  runner's ``POST /tokens/`` with the request @fal-ai/client itself makes;
- in Chromium, on a page served from loopback by a small Starlette backend, the token
  provider calls the backend's proxy route (:class:`warmwire.proxy.TokenProxy`, the
  ``@fal-ai/server-proxy`` pattern), which adds the key; the browser never holds it.

Each environment runs once per module (one Node process, one browser session); the tests
below assert on what it reported, scenario by scenario, and on what the runner's handlers
saw.  The tests are synchronous: the runner has its own loop in a thread.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from helpers.asgi_servers import uvicorn_server
from helpers.tools import require_chromium
from warmwire.proxy import Scope, TokenProxy, TokenRequest

from .harness import (
    JS_DIR,
    KEY,
    SETUP,
    InteropRunner,
    NodeRun,
    errors,
    node_command,
    results,
    run_node,
    runner_in_thread,
)

pytestmark = pytest.mark.interop

ENDPOINT_URL = "wss://fal.run/interop/echo/realtime?fal_jwt_token=<jwt>"
"""What @fal-ai/client builds for ``interop/echo`` (the token itself is not recorded)."""

SESSION_COOKIE = "interop_session"


def before_close(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events up to the scenario's own ``conn.close()``.

    Closing makes the client report its own close (code 1005) through ``onError``:
    that is the client's behaviour for any close that is not 1000, not the runner's.
    """
    marker = events.index({"closed": True})
    return events[:marker]


def texts(report: dict[str, Any], socket: int) -> list[dict[str, Any]]:
    """The JSON text frames the runner sent on the scenario's ``socket`` (0: the first dialed)."""
    return [json.loads(t["text"]) for t in report["wire"]["texts"] if t["socket"] == socket]


def close_code(report: dict[str, Any], socket: int) -> int:
    (code,) = [c["code"] for c in report["wire"]["closes"] if c["socket"] == socket]
    return int(code)


# -- the two environments -------------------------------------------------------------------


def run_in_node(runner: InteropRunner) -> NodeRun:
    return run_node(
        "node_client.js",
        {
            "INTEROP_RUNNER_WS": runner.url,
            "INTEROP_RUNNER_HTTP": runner.http_url,
            "INTEROP_KEY": KEY,
            "INTEROP_STALE_TOKEN": runner.stale_token(),
        },
    )


def backend(runner: InteropRunner, bundle_dir: Path) -> Starlette:
    """The app's own backend: serves the page and its token route, holds the API key."""
    session = secrets.token_urlsafe(16)

    def signed_in(scope: Scope, request: TokenRequest) -> bool:
        # Only this site's visitors get tokens: the page's cookie must come along.
        cookies = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        return f"{SESSION_COOKIE}={session}" in cookies

    proxy = TokenProxy(allowed_hosts=[runner.host], key=KEY, authorize=signed_in)

    async def page(request: Request) -> Response:
        response = FileResponse(JS_DIR / "page.html")
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict")
        return response

    async def config(request: Request) -> Response:
        return JSONResponse(
            {
                "runnerWs": runner.url,
                "runnerHttp": runner.http_url,
                "staleToken": runner.stale_token(),
            }
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


def run_in_chromium(runner: InteropRunner, bundle_dir: Path) -> NodeRun:
    require_chromium(SETUP)
    # The npm package is CommonJS: bundle it for the page as published, untouched.
    subprocess.run(
        [*node_command(), "bundle.js", str(bundle_dir / "fal-client.js")],
        cwd=JS_DIR,
        check=True,
        timeout=60,
    )
    with uvicorn_server(backend(runner, bundle_dir)) as base:
        run = run_node("browser_driver.js", {"INTEROP_PAGE_URL": f"{base}/"})
    problems = [r for r in run.records if "pageerror" in r or r.get("console") == "error"]
    assert not problems, f"the page reported errors: {problems}; {run.describe()}"
    agents = [r["userAgent"] for r in run.records if "userAgent" in r]
    assert len(agents) == 1, run.describe()
    assert "HeadlessChrome" in agents[0], run.describe()
    return run


@pytest.fixture(
    scope="module", params=["node", pytest.param("chromium", marks=pytest.mark.browser)]
)
def js_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[NodeRun, InteropRunner]:
    """One run of every scenario in one environment, against a runner of its own.

    The runner has stopped when the tests look: what its handlers saw is final.
    """
    with runner_in_thread() as runner:
        if request.param == "node":
            run = run_in_node(runner)
        else:
            run = run_in_chromium(runner, tmp_path_factory.mktemp("bundle"))
    return run, runner


# -- the scenarios --------------------------------------------------------------------------


def test_results_reach_on_result(js_run: tuple[NodeRun, InteropRunner]) -> None:
    run, runner = js_run
    report = run.scenario("results")
    events = before_close(report["events"])
    first = {"scenario": "results", "n": 1, "request_id": "req-1", "text": "héllo"}
    second = {"scenario": "results", "n": 2, "nested": {"list": [1, 2.5, None, True]}}
    # Every event is a result: the timings messages after each were consumed silently.
    assert events == [
        {"result": {**first, "served_by": "warmwire"}},
        {"result": {**second, "served_by": "warmwire"}},
    ]
    assert report["tokenProviderAsked"] == ["interop/echo/realtime"]
    assert report["wire"]["dialed"] == [ENDPOINT_URL]
    cold_start, *timings = texts(report, 0)
    # The runner's first session: its cold start first, which the client skips.
    assert (cold_start["type"], cold_start["action"]) == ("x-fal-message", "cold_start")
    assert timings, "the runner sends timings after each result"
    assert all(t["type"] == "x-fal-message" and t["action"] == "timings" for t in timings)
    assert runner.app.inputs("/realtime", "results") == [first, second]


def test_throttling_keeps_only_the_latest_input(js_run: tuple[NodeRun, InteropRunner]) -> None:
    run, runner = js_run
    report = run.scenario("throttle")
    events = before_close(report["events"])
    assert [r["n"] for r in results(events)] == [0, 10]
    assert errors(events) == []
    # The runner buffers up to 60 inputs and drops none here: 1..9 were never sent.
    assert [inp["n"] for inp in runner.app.inputs("/realtime", "throttle")] == [0, 10]


def test_x_fal_error_reaches_on_error(js_run: tuple[NodeRun, InteropRunner]) -> None:
    run, runner = js_run
    report = run.scenario("errors")
    events = before_close(report["events"])
    internal, invalid = errors(events)
    assert internal["message"] == "INTERNAL_ERROR: RuntimeError: asked to fail: boom"
    assert internal["status"] == 400
    assert internal["body"] == {
        "type": "x-fal-error",
        "error": "INTERNAL_ERROR",
        "reason": "RuntimeError: asked to fail: boom",
    }
    assert invalid["body"]["error"] == "INVALID_INPUT"
    assert invalid["message"].startswith("INVALID_INPUT: ")
    # Neither error closed the connection: the next input is served on the same socket.
    assert results(events) == [{"scenario": "errors", "n": 1, "served_by": "warmwire"}]
    assert len(report["wire"]["dialed"]) == 1
    assert runner.app.inputs("/realtime", "errors") == [
        {"scenario": "errors", "fail": "boom"},
        {"scenario": "errors", "n": 1},
    ]


def test_a_refused_session_says_why(js_run: tuple[NodeRun, InteropRunner]) -> None:
    """The runner's reason reaches the page, not "Unknown error" and a 1006."""
    run, _ = js_run
    report = run.scenario("refused")
    reason = (
        "no realtime endpoint at '/interop/nope/realtime' on this runner; it serves: "
        "/interop/echo/realtime, /interop/echo/short, /interop/echo/v2/json"
    )
    said, closed = errors(before_close(report["events"]))
    assert said == {
        "message": f"Not Found: {reason}",
        "status": 400,
        "body": {"type": "x-fal-error", "error": "Not Found", "reason": reason},
    }
    assert closed == {
        "message": "Error closing the connection: Not Found",
        "status": 4404,
        "body": None,
    }
    assert close_code(report, 0) == 4404
    assert len(report["wire"]["dialed"]) == 1


def test_expired_token_makes_it_fetch_a_new_one(js_run: tuple[NodeRun, InteropRunner]) -> None:
    run, runner = js_run
    report = run.scenario("expired")
    events = before_close(report["events"])
    # The runner refused the stale token with the message a browser can read, then 1008.
    assert texts(report, 0) == [
        {
            "status": "error",
            "error": "Unauthorized",
            "reason": "token expired: fetch a fresh token and reconnect",
        }
    ]
    assert close_code(report, 0) == 1008
    assert errors(events) == [
        {"message": "Error closing the connection: Unauthorized", "status": 1008, "body": None}
    ]
    # The client dropped the token: the next send asked the provider again and reconnected.
    assert report["tokenProviderCalls"] == 2
    assert report["wire"]["dialed"] == [ENDPOINT_URL, ENDPOINT_URL]
    assert results(events) == [{"scenario": "expired", "n": 2, "served_by": "warmwire"}]
    assert runner.app.inputs("/realtime", "expired") == [{"scenario": "expired", "n": 2}]


def test_token_expiration_seconds_refreshes_on_the_same_connection(
    js_run: tuple[NodeRun, InteropRunner],
) -> None:
    run, _ = js_run
    report = run.scenario("refresh")
    events = before_close(report["events"])
    assert [r["n"] for r in results(events)] == [1, 2]
    assert errors(events) == []
    fetches = [e["tokenFetch"] for e in events if "tokenFetch" in e]
    assert fetches[:2] == [1, 2]
    assert len(report["wire"]["dialed"]) == 1


def test_session_timeout_is_not_an_error_and_it_reconnects(
    js_run: tuple[NodeRun, InteropRunner],
) -> None:
    run, runner = js_run
    report = run.scenario("timeout")
    events = before_close(report["events"])
    assert texts(report, 0) == [
        {
            "type": "x-fal-error",
            "error": "TIMEOUT",
            "reason": "no input for 0.5 seconds; reconnect when needed",
        }
    ]
    assert close_code(report, 0) == 1000
    # TIMEOUT and the normal close are silent for the client ...
    assert errors(events) == []
    # ... and the next send reconnects with a fresh token.
    assert report["tokenProviderCalls"] == 2
    assert report["wire"]["dialed"] == [ENDPOINT_URL.replace("/realtime", "/short")] * 2
    assert [r["n"] for r in results(events)] == [1, 2]
    assert [inp["n"] for inp in runner.app.inputs("/short", "timeout")] == [1, 2]


def test_json_codec_override_and_path(js_run: tuple[NodeRun, InteropRunner]) -> None:
    run, runner = js_run
    report = run.scenario("json")
    events = before_close(report["events"])
    assert results(events) == [
        {"scenario": "json", "n": 1, "text": "ünïcode", "served_by": "warmwire", "codec": "json"},
        {"scenario": "json", "n": 2, "served_by": "warmwire", "codec": "json"},
    ]
    assert errors(events) == []
    assert report["wire"]["dialed"] == [ENDPOINT_URL.replace("/realtime", "/v2/json")]
    assert report["encodes"] >= 2
    assert report["decodes"] >= 2
    assert runner.app.inputs("/v2/json", "json") == [
        {"scenario": "json", "n": 1, "text": "ünïcode"},
        {"scenario": "json", "n": 2},
    ]
