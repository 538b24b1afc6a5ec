"""The ASGI token proxy mounted in a real Starlette app under uvicorn, used by real clients."""

from __future__ import annotations

import anyio
import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

import warmwire
from helpers.asgi_servers import uvicorn_server
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.strategies import TokenFetchError
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.examples.echo import Echo
from warmwire.proxy import TokenProxy

KEY = "dev:s3cret"


@pytest.fixture
def auth() -> RunnerAuth:
    return RunnerAuth.create(
        keys=KeyStore([ApiKey("dev", "s3cret")]),
        signing_key=load_signing_key(generate_signing_key()),
    )


def backend(hosts: list[str], calls: list[str], allow: bool = True) -> Starlette:
    async def authorize(scope: dict[str, object]) -> bool:
        calls.append(str(scope["path"]))
        return allow

    proxy = TokenProxy(allowed_hosts=hosts, key=KEY, authorize=authorize)
    return Starlette(routes=[Mount("/api/warmwire", app=proxy)])


def host_of(url: str) -> str:
    return url.split("://", 1)[1]


@pytest.mark.anyio
async def test_proxy_url_mints_through_the_backend(auth: RunnerAuth) -> None:
    calls: list[str] = []
    async with runner.serve(Echo, auth=auth) as server:
        with uvicorn_server(backend([host_of(server.url)], calls)) as base:
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
    # The caller check ran once per token request.
    assert len(calls) == 2


@pytest.mark.anyio
async def test_proxy_refuses_caller_and_foreign_hosts(auth: RunnerAuth) -> None:
    calls: list[str] = []
    async with runner.serve(Echo, auth=auth) as server:
        with uvicorn_server(backend([host_of(server.url)], calls, allow=False)) as base:
            with pytest.raises(TokenFetchError, match="401"):
                async with warmwire.realtime_async(
                    "warmwire/echo", url=server.url, proxy_url=f"{base}/api/warmwire/"
                ):
                    pass
        with uvicorn_server(backend(["runner.example.com"], calls)) as base:
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{base}/api/warmwire/",
                    headers={"x-fal-target-url": f"http://{host_of(server.url)}/tokens/"},
                    json={"allowed_apps": ["echo"], "token_expiration": 60},
                )
            assert response.status_code == 403
            assert "not allowed" in response.json()["reason"]
            async with httpx.AsyncClient() as http:
                response = await http.post(f"{base}/api/warmwire/", json={})
            assert response.status_code == 400
            assert "x-fal-target-url" in response.json()["reason"]
