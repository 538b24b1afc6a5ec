"""One session logic, three front doors: the same end-to-end cases against warmwire's own
server, and the ASGI adapter under uvicorn and under hypercorn (mounted in FastAPI too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

import warmwire
from helpers.asgi_servers import hypercorn_server, uvicorn_server
from warmwire import asgi, runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.core.errors import ConfigurationError

DOORS = ["warmwire", "uvicorn", "hypercorn", "fastapi-mount"]


class Lab(runner.App, app_id="test/lab"):
    """Echo with the knobs the cases need."""

    setups = 0

    def setup(self) -> None:
        type(self).setups += 1

    @runner.realtime("/realtime", buffering=60, session_timeout=0.5, emit_timings=True)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise RuntimeError("asked to fail")
        return inp


@asynccontextmanager
async def served(door: str, **config: Any) -> AsyncIterator[str]:
    """The runner behind ``door``; yields the ws:// base URL clients dial."""
    if door == "warmwire":
        async with runner.serve(Lab, **config) as server:
            yield server.url
        return
    application = asgi.app(Lab, **config)
    prefix = ""
    if door == "fastapi-mount":
        api = FastAPI()

        @api.get("/hello")
        def hello() -> dict[str, str]:
            return {"hello": "world"}

        api.mount("/apps", application)
        host: Any = api
        prefix = "/apps"
        serve_with = uvicorn_server
    else:
        host = application
        serve_with = uvicorn_server if door == "uvicorn" else hypercorn_server
    with serve_with(host) as base:
        yield base.replace("http://", "ws://") + prefix


@pytest.fixture(params=DOORS)
def door(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize("codec", ["msgpack", "json", "cbor"])
async def test_round_trip_and_timings(door: str, codec: str) -> None:
    async with served(door, insecure_no_auth=True) as url:
        with anyio.fail_after(20):
            async with warmwire.realtime_async("test/lab", url=url, codec=codec) as conn:
                assert conn.subprotocol == codec
                for n in range(3):
                    await conn.send({"n": n, "request_id": f"r{n}"})
                    # The timings message after each result is skipped by the client.
                    assert await conn.recv() == {"n": n, "request_id": f"r{n}"}


@pytest.mark.anyio
async def test_errors_timeout_and_invalid_input(door: str) -> None:
    async with served(door, insecure_no_auth=True) as url:
        with anyio.fail_after(20):
            async with warmwire.realtime_async("test/lab", url=url) as conn:
                await conn.send({"fail": True})
                with pytest.raises(warmwire.RealtimeError) as failed:
                    await conn.recv()
                assert failed.value.error == "INTERNAL_ERROR"
                assert "asked to fail" in failed.value.reason
                await conn.send([1, 2, 3])  # not a map of fields
                with pytest.raises(warmwire.RealtimeError) as invalid:
                    await conn.recv()
                assert invalid.value.error == "INVALID_INPUT"
                await conn.send({"still": "open"})
                assert await conn.recv() == {"still": "open"}
                # No input for session_timeout: TIMEOUT, then a normal close.
                with pytest.raises(warmwire.RealtimeError) as timeout:
                    await conn.recv()
                assert timeout.value.error == "TIMEOUT"
                assert await conn.recv() is None


@pytest.mark.anyio
async def test_unknown_app_is_refused(door: str) -> None:
    async with served(door, insecure_no_auth=True) as url:
        with pytest.raises(warmwire.HandshakeError) as refused:
            async with warmwire.realtime_async("test/nope", url=url):
                pass
    # warmwire and servers with the ASGI denial-response extension answer 404 with
    # the JSON reason; others can only refuse the upgrade (403).
    assert refused.value.status_code in (404, 403)
    if refused.value.status_code == 404:
        assert b"test/lab/realtime" in refused.value.body


@pytest.mark.anyio
async def test_tokens_and_unauthorized(door: str) -> None:
    auth = RunnerAuth.create(
        keys=KeyStore([ApiKey("dev", "s3cret")]),
        signing_key=load_signing_key(generate_signing_key()),
    )
    async with served(door, auth=auth) as url:
        with anyio.fail_after(20):
            async with warmwire.realtime_async("test/lab", url=url, key="dev:s3cret") as conn:
                await conn.send({"n": 1})
                assert await conn.recv() == {"n": 1}
            async with warmwire.realtime_async("test/lab", url=url, token="forged") as conn:
                with pytest.raises(warmwire.UnauthorizedError):
                    await conn.recv()
                with pytest.raises(warmwire.ConnectionClosedError) as closed:
                    await conn.recv()
                assert closed.value.code == 1008


@pytest.mark.anyio
async def test_token_refusals_are_paced(door: str) -> None:
    """Every front door answers bad tokens at ``max_refusal_rate`` past the burst."""
    auth = RunnerAuth.create(signing_key=load_signing_key(generate_signing_key()))
    async with served(door, auth=auth, max_refusal_rate=2.0) as url:  # burst of 1

        async def refused_after() -> float:
            started = anyio.current_time()
            async with warmwire.realtime_async("test/lab", url=url, token="forged") as conn:
                with pytest.raises(warmwire.UnauthorizedError):
                    await conn.recv()
            return anyio.current_time() - started

        with anyio.fail_after(20):
            await refused_after()
            # The pace sleeps until the next slot, 0.5 s after the first one's:
            # a lower bound it guarantees, whatever the machine's speed.
            assert await refused_after() >= 0.4


@pytest.mark.anyio
async def test_health_ready_metrics_and_host_routes(door: str) -> None:
    async with served(door, insecure_no_auth=True) as url:
        http = url.replace("ws://", "http://")
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(f"{http}/health")).json() == {"status": "ok"}
            ready = (await client.get(f"{http}/ready")).json()
            assert ready["ready"] is True
            assert ready["cold_start_seconds"] is not None
            before = (await client.get(f"{http}/metrics")).text
            async with warmwire.realtime_async("test/lab", url=url) as conn:
                await conn.send({"n": 1})
                await conn.recv()
            after = (await client.get(f"{http}/metrics")).text
            assert _sample(after, "warmwire_messages_in_total") == (
                _sample(before, "warmwire_messages_in_total") + 1
            )
            if door == "fastapi-mount":
                root = http.removesuffix("/apps")
                assert (await client.get(f"{root}/hello")).json() == {"hello": "world"}


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in metrics")


@pytest.mark.anyio
async def test_official_fal_client_through_every_door(
    door: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fal_client
    import fal_client.client

    auth = RunnerAuth.create(
        keys=KeyStore([ApiKey("dev", "s3cret")]),
        signing_key=load_signing_key(generate_signing_key()),
    )
    async with served(door, auth=auth) as url:
        # Configuration only: where fal-client mints its token and dials.  A client of
        # our own: fal_client's module-level client caches the first key it sees.
        client = fal_client.SyncClient(key="dev:s3cret")
        monkeypatch.setattr(fal_client.client, "REALTIME_URL_FORMAT", f"{url}/")
        monkeypatch.setattr(fal_client.client, "REST_URL", url.replace("ws://", "http://"))

        def blocking() -> list[Any]:
            with client.realtime("test/lab") as conn:
                conn.send({"n": 1, "image": b"\x89PNG"})
                first = conn.recv()
                conn.send({"fail": True})
                try:
                    conn.recv()
                except fal_client.client.RealtimeError as exc:
                    error = exc.error
                return [first, error]

        with anyio.fail_after(30):
            first, error = await anyio.to_thread.run_sync(blocking)
    assert first == {"n": 1, "image": b"\x89PNG"}
    assert error == "INTERNAL_ERROR"


def test_under_asgi_blocking_handlers_use_the_plain_worker_threads() -> None:
    # The ASGI server owns the sockets: no session can move to a worker loop.
    application = asgi.app(Lab, insecure_no_auth=True)
    assert application.runner.worker_loops is None
    with pytest.raises(ConfigurationError, match="worker_loop=True cannot apply under an ASGI"):
        asgi.app(Lab, insecure_no_auth=True, worker_loop=True)
