"""The ASGI token proxy mounted in a real Starlette app under uvicorn, used by real clients:
warmwire's own (Python) and the official ``@fal-ai/client`` in Node (its ``proxyUrl`` flow)."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

import warmwire
from helpers.asgi_servers import uvicorn_server
from interop.harness import results, run_node
from warmwire import runner
from warmwire.auth.keys import KeyStore, parse_key_line
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.strategies import TokenFetchError
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.core.errors import ConfigurationError
from warmwire.examples.echo import Echo
from warmwire.proxy import Scope, TokenProxy, TokenRequest

KEY = "dev:s3cret"


class Private(runner.App, app_id="warmwire/private"):
    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


@pytest.fixture
def auth() -> RunnerAuth:
    # Scoped to one owner: fal's clients ask for the alias alone, resolved to warmwire/...
    return RunnerAuth.create(
        keys=KeyStore([parse_key_line(f"{KEY} apps=warmwire/* max_expiration=600")]),
        signing_key=load_signing_key(generate_signing_key()),
    )


def backend(hosts: list[str], seen: list[TokenRequest], allow: bool = True) -> Starlette:
    async def authorize(scope: Scope, request: TokenRequest) -> bool:
        seen.append(request)
        return allow

    proxy = TokenProxy(allowed_hosts=hosts, key=KEY, authorize=authorize)
    return Starlette(routes=[Mount("/api/warmwire", app=proxy)])


def host_of(url: str) -> str:
    return url.split("://", 1)[1]


@pytest.mark.anyio
async def test_proxy_url_mints_through_the_backend(auth: RunnerAuth) -> None:
    seen: list[TokenRequest] = []
    async with runner.serve(Echo, auth=auth) as server:
        with uvicorn_server(backend([host_of(server.url)], seen)) as base:
            proxy_url = f"{base}/api/warmwire/"
            with anyio.fail_after(20):
                async with warmwire.realtime_async(
                    "warmwire/echo", url=server.url, proxy_url=proxy_url
                ) as conn:
                    await conn.send({"n": 1})
                    assert await conn.recv() == {"n": 1}

                def blocking() -> object:
                    with warmwire.realtime(
                        "warmwire/echo", url=server.url, proxy_url=proxy_url
                    ) as conn:
                        conn.send({"n": 2})
                        return conn.recv(timeout=10)

                assert await anyio.to_thread.run_sync(blocking) == {"n": 2}
    # The hook ran once per token request and saw what was asked.
    assert len(seen) == 2
    assert all(request.apps == ("echo",) for request in seen)
    assert all(request.target.endswith("/tokens/") for request in seen)


@pytest.mark.anyio
async def test_proxy_refuses_caller_and_foreign_hosts(auth: RunnerAuth) -> None:
    seen: list[TokenRequest] = []
    async with runner.serve(Echo, auth=auth) as server:
        with uvicorn_server(backend([host_of(server.url)], seen, allow=False)) as base:
            with pytest.raises(TokenFetchError, match="403"):
                async with warmwire.realtime_async(
                    "warmwire/echo", url=server.url, proxy_url=f"{base}/api/warmwire/"
                ):
                    pass
        with uvicorn_server(backend(["runner.example.com"], seen)) as base:
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{base}/api/warmwire/",
                    headers={"x-fal-target-url": f"http://{host_of(server.url)}/tokens/"},
                    json={"allowed_apps": ["echo"], "token_expiration": 60},
                )
                assert response.status_code == 403
                assert "not allowed" in response.json()["reason"]
                response = await http.post(f"{base}/api/warmwire/", json={})
                assert response.status_code == 400
                assert "x-fal-target-url" in response.json()["reason"]
                target = {"x-fal-target-url": "http://runner.example.com/tokens/"}
                response = await http.post(
                    f"{base}/api/warmwire/", headers=target, json={"allowed_apps": "echo"}
                )
                assert response.status_code == 400
                assert "allowed_apps" in response.json()["reason"]


def test_a_proxy_without_a_hook_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="authorize=") as missing:
        TokenProxy(allowed_hosts=["runner.example.com"], key=KEY)
    assert "allow_anyone=True" in str(missing.value)
    with pytest.raises(ConfigurationError, match="authorize="):
        TokenProxy(allowed_hosts=["runner.example.com"], key=KEY, authorize=None)
    with pytest.raises(ConfigurationError, match="not both"):
        TokenProxy(
            allowed_hosts=["runner.example.com"],
            key=KEY,
            authorize=lambda scope, request: True,
            allow_anyone=True,
        )
    assert TokenProxy(allowed_hosts=["runner.example.com"], key=KEY, allow_anyone=True)


@pytest.mark.interop
@pytest.mark.anyio
async def test_fal_js_client_proxy_url_flow(auth: RunnerAuth) -> None:
    """``@fal-ai/client`` with ``proxyUrl`` and no token provider, in Node: its request for
    fal's token URL goes to the configured token service, the hook sees (and may refuse)
    the apps and the expiry asked for, and a proxy without ``token_url`` says what to do."""
    seen: list[TokenRequest] = []

    def authorize(scope: Scope, request: TokenRequest) -> bool:
        seen.append(request)
        return request.apps == ("echo",) and (request.expiration or 0) <= 120

    async with runner.serve(Echo, Private, auth=auth) as server:
        http_url = "http://" + host_of(server.url)
        app = Starlette(
            routes=[
                Mount(
                    "/api/fal/proxy",
                    app=TokenProxy(key=KEY, token_url=f"{http_url}/tokens/", authorize=authorize),
                ),
                Mount(
                    "/api/bare/proxy",
                    app=TokenProxy(
                        key=KEY, allowed_hosts=[host_of(server.url)], authorize=authorize
                    ),
                ),
            ]
        )
        with uvicorn_server(app) as base:
            env = {
                "PROXY_RUNNER_WS": server.url,
                "PROXY_URL": f"{base}/api/fal/proxy",
                "PROXY_URL_WITHOUT_TOKEN_URL": f"{base}/api/bare/proxy",
            }
            run = await anyio.to_thread.run_sync(run_node, "proxy_fal_client.js", env)

    proxied = run.scenario("proxied")
    # (Closing makes the client report its own close through onError: not the runner's.)
    assert results(proxied["events"]) == [{"n": 1}], run.describe()
    (exchange,) = proxied["exchanges"]
    assert exchange["url"] == f"{base}/api/fal/proxy"
    assert exchange["target"] == "https://rest.fal.ai/tokens/"
    assert exchange["body"] == {"allowed_apps": ["echo"], "token_expiration": 120}
    assert exchange["status"] == 200
    assert seen[0] == TokenRequest(("echo",), 120, f"{http_url}/tokens/")

    refused = run.scenario("refused-by-hook")
    assert results(refused["events"]) == []
    (exchange,) = refused["exchanges"]
    assert exchange["body"]["allowed_apps"] == ["private"]
    assert exchange["status"] == 403
    assert "refused by the backend" in exchange["answer"]

    unconfigured = run.scenario("no-token-url")
    assert results(unconfigured["events"]) == []
    (exchange,) = unconfigured["exchanges"]
    assert exchange["status"] == 403
    assert "token_url" in exchange["answer"]
    assert "rest.fal.ai" in exchange["answer"]
    assert len(seen) == 2, "a request the proxy cannot route never reaches the hook"
