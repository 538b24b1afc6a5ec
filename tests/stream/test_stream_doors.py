"""One stream logic, every front door: warmwire's own server, and the ASGI adapter under
uvicorn and hypercorn (mounted in FastAPI too).  Outputs, errors, credentials, and a
client that goes away: the generator is closed (its ``finally`` runs) at every door."""

from __future__ import annotations

import anyio
import httpx
import pytest

import warmwire
from helpers.polling import wait_until
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key

from .apps import APP, Steps
from .doors import served

pytestmark = pytest.mark.anyio


async def test_outputs_errors_and_credentials(door: str) -> None:
    signing_key = load_signing_key(generate_signing_key())
    auth = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s3cret")]), signing_key=signing_key)
    app = Steps()
    async with served(door, app, auth=auth) as url:
        with anyio.fail_after(30):
            async with warmwire.stream_async(
                APP, {"n": 3, "request_id": "r"}, url=url, key="dev:s3cret"
            ) as events:
                assert [out async for out in events] == [
                    {"step": i, "request_id": "r"} for i in range(3)
                ]
            with pytest.raises(warmwire.StreamError) as failed:
                async with warmwire.stream_async(
                    APP, {"fail": True}, url=url, path="/unary", key="dev:s3cret"
                ) as events:
                    await events.__anext__()
            assert failed.value.error == "INTERNAL_ERROR"
            other_app = TokenIssuer(signing_key).mint("dev", ["another"], 60)
            with pytest.raises(warmwire.UnauthorizedError) as refused:
                async with warmwire.stream_async(APP, {}, url=url, token=other_app) as events:
                    await events.__anext__()
            assert "steps" in refused.value.reason


@pytest.mark.parametrize("path", ["/realtime", "/async"])
async def test_a_client_that_goes_away_stops_the_generator(door: str, path: str) -> None:
    """Blocking and async generators alike: closed, so their ``finally`` runs."""
    app = Steps()
    # An async generator that waits for ever after its first output: only the
    # client's going away can end it.  A blocking one that never ends: the same.
    inp = {"n": -1, "tag": "gone"} if path == "/realtime" else {"hang_after": 1, "tag": "gone"}
    async with served(door, app, insecure_no_auth=True) as url:
        with anyio.fail_after(30):
            async with warmwire.stream_async(APP, inp, url=url, path=path) as events:
                assert await events.__anext__() == {"step": 0}
            await wait_until(lambda: "gone" in app.closed, "the generator closed", within=20)


async def test_cross_origin_pages_may_stream(door: str) -> None:
    """A browser page on another origin: the preflight is answered, and the events and a
    refusal's reason are readable (CORS)."""
    signing_key = load_signing_key(generate_signing_key())
    auth = RunnerAuth.create(signing_key=signing_key)
    async with served(door, Steps(), auth=auth) as url:
        stream_url = f"{url}/{APP}/stream"
        async with httpx.AsyncClient(timeout=10) as client:
            preflight = await client.options(
                stream_url,
                headers={
                    "origin": "http://page.example",
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "content-type",
                },
            )
            assert preflight.status_code == 204
            assert preflight.headers["access-control-allow-origin"] == "*"
            assert "POST" in preflight.headers["access-control-allow-methods"]
            assert "content-type" in preflight.headers["access-control-allow-headers"]
            refused = await client.post(stream_url, json={}, headers={"origin": "http://x"})
            assert refused.status_code == 401
            assert refused.headers["access-control-allow-origin"] == "*"
            token = TokenIssuer(signing_key).mint("dev", ["test/steps"], 60)
            streamed = await client.post(f"{stream_url}?fal_jwt_token={token}", json={"n": 1})
            assert streamed.status_code == 200
            assert streamed.headers["access-control-allow-origin"] == "*"
            assert streamed.text == 'data: {"step":0}\n\n'


async def test_an_input_may_be_as_large_as_a_message(door: str) -> None:
    """A stream's input (an image, say) is bounded by ``max_message_size`` at every door,
    not by the small limit of the other HTTP routes; beyond it, 413."""
    async with served(door, Steps(), insecure_no_auth=True, max_message_size=256 * 1024) as url:
        async with httpx.AsyncClient(timeout=10) as client:
            image = "x" * (200 * 1024)
            fits = await client.post(f"{url}/{APP}/stream", json={"n": 1, "image": image})
            assert fits.text == 'data: {"step":0}\n\n'
            too_large = await client.post(f"{url}/{APP}/stream", json={"image": image * 2})
            assert too_large.status_code == 413
