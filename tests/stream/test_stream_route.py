"""The ``/stream`` route on warmwire's own server, driven by warmwire's own stream clients
(``stream_async`` under asyncio and trio, ``stream`` blocking): progressive outputs, the
endpoint choice, errors as events, refusals as HTTP statuses, credentials as for realtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

import warmwire
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key
from warmwire.runner import RunningServer

from .apps import APP, Steps

pytestmark = pytest.mark.anyio

KEY = "dev:s3cret"


@asynccontextmanager
async def served(**config: Any) -> AsyncIterator[RunningServer]:
    config.setdefault("insecure_no_auth", "auth" not in config)
    async with runner.serve(Steps(), **config) as server:
        yield server


def app_of(server: RunningServer) -> Steps:
    app = server.runner.router.apps[0]
    assert isinstance(app, Steps)
    return app


async def collect(app: str, arguments: Any, **options: Any) -> list[Any]:
    with anyio.fail_after(20):
        async with warmwire.stream_async(app, arguments, **options) as events:
            return [out async for out in events]


async def test_generator_outputs_arrive_as_events_and_end_with_the_last() -> None:
    async with served() as server:
        outputs = await collect(APP, {"n": 4, "request_id": "r1"}, url=server.url)
        assert outputs == [{"step": i, "request_id": "r1"} for i in range(4)]
        # The async generator, by its endpoint path.
        outputs = await collect(APP, {"n": 2}, url=server.url, path="/async")
        assert outputs == [{"step": 0}, {"step": 1}]
        # The endpoint path may also end the app id, as for realtime().
        assert await collect(f"{APP}/async", {"n": 1}, url=server.url) == [{"step": 0}]


async def test_each_event_leaves_before_the_next_output_is_made() -> None:
    """Progressive: the first output is in the client's hands while the handler waits."""
    async with served() as server:
        with anyio.fail_after(20):
            async with warmwire.stream_async(
                APP, {"n": 1, "hang_after": 1, "tag": "progressive"}, url=server.url, path="/async"
            ) as events:
                assert await events.__anext__() == {"step": 0}
        # Leaving the block closed the connection: the runner closed the generator.
        await _closed(server, "progressive")


async def test_unary_handler_answers_one_event() -> None:
    async with served() as server:
        assert await collect(APP, {"a": 1}, url=server.url, path="/unary") == [{"echo": {"a": 1}}]


async def test_errors_are_events_the_client_raises() -> None:
    async with served() as server:
        url = server.url
        with pytest.raises(warmwire.StreamError) as failed:
            await collect(APP, {"n": 5, "fail_at": 2}, url=url)
        assert failed.value.error == "INTERNAL_ERROR"
        assert "asked to fail at step 2" in failed.value.reason
        with pytest.raises(warmwire.StreamError) as unary_failed:
            await collect(APP, {"fail": True}, url=url, path="/unary")
        assert unary_failed.value.error == "INTERNAL_ERROR"
        with pytest.raises(warmwire.StreamError) as refused:
            await collect(APP, {"refuse": True}, url=url, path="/unary")
        assert refused.value.error == "INVALID_INPUT"
        with pytest.raises(warmwire.StreamError) as invalid:
            await collect(APP, [1, 2], url=url)
        assert invalid.value.error == "INVALID_INPUT"
        with pytest.raises(warmwire.StreamError) as timeout:
            await collect(APP, {"tag": "timeout"}, url=url, path="/short")
        assert timeout.value.error == "TIMEOUT"
        await _closed(server, "timeout")


async def test_outputs_before_an_error_are_delivered() -> None:
    async with served() as server:
        seen: list[Any] = []

        async def read() -> None:
            async with warmwire.stream_async(APP, {"n": 5, "fail_at": 2}, url=server.url) as ev:
                async for out in ev:
                    seen.append(out)

        with anyio.fail_after(20), pytest.raises(warmwire.StreamError):
            await read()
        assert seen == [{"step": 0}, {"step": 1}]


async def test_the_raw_events_on_the_wire() -> None:
    """What fal's clients parse: ``data:`` lines of JSON, the error under ``event: error``."""
    async with served() as server, httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{server.http_url}/{APP}/stream", json={"n": 2})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.text == 'data: {"step":0}\n\ndata: {"step":1}\n\n'
        response = await client.post(f"{server.http_url}/{APP}/stream", content=b"not json")
        assert response.text.startswith('event: error\ndata: {"type":"x-fal-error"')
        assert '"error":"INVALID_INPUT"' in response.text


async def test_refusals_are_http_statuses_with_a_reason() -> None:
    async with served() as server:
        with pytest.raises(warmwire.HandshakeError) as unknown:
            await collect("test/nope", {}, url=server.url)
        assert unknown.value.status_code == 404
        assert b"/test/steps/stream" in unknown.value.body  # where streams are
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{server.http_url}/{APP}/stream")
        assert response.status_code == 405
        assert "POST" in response.json()["reason"]


async def test_blocking_client() -> None:
    async with served() as server:

        def blocking() -> list[Any]:
            with warmwire.stream(APP, {"n": 3}, url=server.url) as events:
                return list(events)

        with anyio.fail_after(20):
            assert await anyio.to_thread.run_sync(blocking) == [{"step": i} for i in range(3)]

        def blocking_error() -> str:
            try:
                list(warmwire.stream(APP, {"fail": True}, url=server.url, path="/unary"))
            except warmwire.StreamError as exc:
                return exc.error
            raise AssertionError("no StreamError")

        with anyio.fail_after(20):
            assert await anyio.to_thread.run_sync(blocking_error) == "INTERNAL_ERROR"


async def test_options_that_do_not_apply_are_refused_before_any_io() -> None:
    with pytest.raises(warmwire.ConfigurationError, match="codec= does not apply"):
        warmwire.stream_async(APP, {}, url="ws://127.0.0.1:9", codec="cbor")
    with pytest.raises(warmwire.ConfigurationError, match="JSON-serialisable"):
        warmwire.stream(APP, {"image": b"\x89PNG"}, url="ws://127.0.0.1:9")


# -- credentials: the realtime ones ---------------------------------------------------------


def _auth() -> tuple[RunnerAuth, TokenIssuer]:
    signing_key = load_signing_key(generate_signing_key())
    auth = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s3cret")]), signing_key=signing_key)
    return auth, TokenIssuer(signing_key)


async def test_credentials_key_token_and_provider() -> None:
    auth, issuer = _auth()
    async with served(auth=auth) as server:
        url = server.url
        expected = [{"step": 0}]
        # A key minted into a token at the runner's token service, and the key itself.
        assert await collect(APP, {"n": 1}, url=url, key=KEY) == expected
        assert await collect(APP, {"n": 1}, url=url, key=KEY, use_jwt=False) == expected
        seen: list[str] = []

        def provider(endpoint: str) -> str:
            seen.append(endpoint)
            return issuer.mint("dev", ["test/steps"], 60)

        assert await collect(APP, {"n": 1}, url=url, token_provider=provider) == expected
        assert seen == ["test/steps/stream"]  # what @fal-ai/client's tokenProvider gets too
        # A token naming that path is valid for it (and owner/alias for any path).
        for allowed in ("test/steps/stream", "test/steps"):
            token = issuer.mint("dev", [allowed], 60)
            assert await collect(APP, {"n": 1}, url=url, token=token) == expected
        token = issuer.mint("dev", ["test/steps/async/stream"], 60)
        assert await collect(APP, {"n": 1}, url=url, path="/async", token=token) == expected
        with pytest.raises(warmwire.UnauthorizedError):  # another path of the app
            await collect(APP, {"n": 1}, url=url, token=token)


async def test_wrong_credentials_are_refused_with_401_and_the_reason() -> None:
    auth, issuer = _auth()
    async with served(auth=auth) as server:
        url = server.url
        other_app = issuer.mint("dev", ["other-app"], 60)
        with pytest.raises(warmwire.UnauthorizedError) as wrong_app:
            await collect(APP, {"n": 1}, url=url, token=other_app)
        assert "steps" in wrong_app.value.reason
        with pytest.raises(warmwire.UnauthorizedError):
            await collect(APP, {"n": 1}, url=url, token=issuer.mint("dev", ["test/steps"], -60))
        with pytest.raises(warmwire.UnauthorizedError):
            await collect(APP, {"n": 1}, url=url, key="dev:wrong", use_jwt=False)
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{server.http_url}/{APP}/stream", json={})
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"
        assert app_of(server).produced == {}  # the handler never ran
        metrics = server.runner.metrics.render().decode()
        assert 'warmwire_refused_connections_total{reason="unauthorized"} 4.0' in metrics


async def test_a_draining_runner_refuses_new_streams_and_finishes_those_under_way() -> None:
    async with served() as server:
        with anyio.fail_after(20):
            async with warmwire.stream_async(
                APP, {"n": 1, "hang_after": 1, "tag": "drain"}, url=server.url, path="/async"
            ) as events:
                assert await events.__anext__() == {"step": 0}
                server.runner.draining = True  # what drain() sets first
                with pytest.raises(warmwire.HandshakeError) as refused:
                    await collect(APP, {"n": 1}, url=server.url)
                assert refused.value.status_code == 503
                server.runner.draining = False


async def _closed(server: RunningServer, tag: str) -> None:
    from helpers.polling import wait_until

    await wait_until(lambda: tag in app_of(server).closed, f"generator {tag!r} closed")


async def test_a_stream_cut_short_raises_connection_closed() -> None:
    """A runner that stops past its drain timeout cuts the streams still under way: the
    client reads a response without its end, not a clean one."""
    with anyio.fail_after(20):
        async with runner.serve(Steps(), insecure_no_auth=True, drain_timeout=0.1) as server:
            events = warmwire.stream_async(
                APP, {"hang_after": 1, "tag": "cut"}, url=server.url, path="/async"
            )
            assert await events.__anext__() == {"step": 0}
        try:
            with pytest.raises(warmwire.StreamError) as cut:
                await events.__anext__()
        finally:
            await events.aclose()
    assert cut.value.error == "CONNECTION_CLOSED"
