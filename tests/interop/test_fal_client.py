"""fal-client (PyPI, pinned in pyproject's dev extra) against a warmwire runner.

Both ``fal_client.realtime`` and ``fal_client.realtime_async`` run unchanged.  The client
builds its URLs from module constants (``REALTIME_URL_FORMAT``, derived from
``FAL_RUN_HOST``, and ``REST_URL`` for the token service); the tests point those at the
runner and set ``FAL_KEY``.  That is configuration only: nothing of its logic is patched.

- default JWT flow: it mints a token at ``POST /tokens/`` with ``{"allowed_apps": [alias],
  "token_expiration": …}`` and connects with ``?fal_jwt_token=``;
- ``use_jwt=False``: it sends ``Authorization: Key``;
- its default msgpack, custom ``encode_message``/``decode_message``, ``path=``, and its
  handling of ``x-fal-error`` (``RealtimeError``) and of the runner's ``Unauthorized``;
- over ``wss://`` with a throwaway CA, in a subprocess where ``FAL_RUN_HOST`` is set before
  the import, as a deployment would.

fal-client's async API runs on asyncio only (``websockets.asyncio``), so its async tests
override ``anyio_backend``; the runner runs on its own loop in a thread either way.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import fal_client
import fal_client.client
import pytest
import trustme

from .harness import APP, HERE, KEY, KEY_ID, InteropRunner, runner_in_thread

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(60),  # fal-client's recv() has no timeout of its own
]

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x01\xff"


@pytest.fixture
def anyio_backend() -> str:
    """fal-client's async client is asyncio-only (websockets.asyncio, asyncio locks)."""
    return "asyncio"


@pytest.fixture(scope="module")
def interop_runner() -> Iterator[InteropRunner]:
    with runner_in_thread() as running:
        yield running


@pytest.fixture
def fal_at_runner(
    interop_runner: InteropRunner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> InteropRunner:
    """fal-client configured for the runner: its URL constants and ``FAL_KEY``."""
    monkeypatch.setenv("FAL_KEY", KEY)
    monkeypatch.setattr(fal_client.client, "REALTIME_URL_FORMAT", f"ws://{interop_runner.host}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", interop_runner.http_url)
    caplog.set_level(logging.INFO, logger="warmwire.auth")
    return interop_runner


def minted(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The token service's audit lines (key id, apps granted, expiration; not the caller)."""
    return [
        r.getMessage().rsplit(" caller=", 1)[0]
        for r in caplog.records
        if r.name == "warmwire.auth.audit"
    ]


def inputs_for(runner: InteropRunner, path: str, scenario: str) -> list[dict[str, Any]]:
    return runner.app.inputs(path, scenario)


class JsonCodec:
    """A custom codec as a fal-client user writes one: JSON bytes both ways, calls counted."""

    def __init__(self) -> None:
        self.encoded = 0
        self.decoded = 0

    def encode(self, message: Any) -> bytes:
        self.encoded += 1
        return json.dumps(message).encode()

    def decode(self, data: bytes) -> Any:
        self.decoded += 1
        return json.loads(data)


# -- fal_client.realtime (blocking) ---------------------------------------------------------


def test_sync_jwt_flow_msgpack(
    fal_at_runner: InteropRunner, caplog: pytest.LogCaptureFixture
) -> None:
    first = {"scenario": "sync-jwt", "n": 1, "image": PNG_HEADER, "request_id": "r-1"}
    second = {"scenario": "sync-jwt", "n": 2, "values": [1, 2.5, None, True, "é"]}
    with fal_client.realtime(APP) as conn:
        conn.send(first)
        # msgpack both ways: bytes stay bytes; the timings after each result are skipped.
        assert conn.recv() == {**first, "served_by": "warmwire"}
        conn.send(second)
        assert conn.recv() == {**second, "served_by": "warmwire"}
    assert minted(caplog) == [f"minted key={KEY_ID} apps=interop/echo expires_in=120"]
    assert inputs_for(fal_at_runner, "/realtime", "sync-jwt") == [first, second]


def test_sync_token_expiration_is_requested(
    fal_at_runner: InteropRunner, caplog: pytest.LogCaptureFixture
) -> None:
    with fal_client.realtime(APP, token_expiration=45) as conn:
        conn.send({"scenario": "sync-expiration", "n": 1})
        assert conn.recv()["n"] == 1
    assert minted(caplog) == [f"minted key={KEY_ID} apps=interop/echo expires_in=45"]


def test_sync_authorization_key(
    fal_at_runner: InteropRunner, caplog: pytest.LogCaptureFixture
) -> None:
    with fal_client.realtime(APP, use_jwt=False) as conn:
        conn.send({"scenario": "sync-key", "n": 1})
        assert conn.recv() == {"scenario": "sync-key", "n": 1, "served_by": "warmwire"}
    assert minted(caplog) == []  # the key went in the Authorization header, no token


def test_sync_custom_codec_and_path(fal_at_runner: InteropRunner) -> None:
    codec = JsonCodec()
    with fal_client.realtime(
        APP, path="/v2/json", encode_message=codec.encode, decode_message=codec.decode
    ) as conn:
        conn.send({"scenario": "sync-json", "n": 1, "text": "ünïcode"})
        assert conn.recv() == {
            "scenario": "sync-json",
            "n": 1,
            "text": "ünïcode",
            "served_by": "warmwire",
            "codec": "json",
        }
    assert (codec.encoded, codec.decoded) == (1, 1)
    assert inputs_for(fal_at_runner, "/v2/json", "sync-json") == [
        {"scenario": "sync-json", "n": 1, "text": "ünïcode"}
    ]


def test_sync_x_fal_errors(fal_at_runner: InteropRunner) -> None:
    with fal_client.realtime(APP) as conn:
        conn.send({"scenario": "sync-errors", "fail": "boom"})
        with pytest.raises(fal_client.client.RealtimeError) as internal:
            conn.recv()
        assert internal.value.error == "INTERNAL_ERROR"
        assert internal.value.reason == "RuntimeError: asked to fail: boom"
        assert internal.value.payload["type"] == "x-fal-error"
        conn.send([1, 2, 3])  # type: ignore[arg-type]  # not a map of fields
        with pytest.raises(fal_client.client.RealtimeError) as invalid:
            conn.recv()
        assert invalid.value.error == "INVALID_INPUT"
        # Neither error closed the connection.
        conn.send({"scenario": "sync-errors", "n": 1})
        assert conn.recv()["n"] == 1


def test_sync_timeout_then_normal_close(fal_at_runner: InteropRunner) -> None:
    with fal_client.realtime(APP, path="/short") as conn:
        conn.send({"scenario": "sync-timeout", "n": 1})
        assert conn.recv()["n"] == 1
        with pytest.raises(fal_client.client.RealtimeError) as timeout:
            conn.recv()
        assert timeout.value.error == "TIMEOUT"
        assert conn.recv() is None  # the runner closed with 1000


def test_sync_unauthorized(fal_at_runner: InteropRunner) -> None:
    wrong = fal_client.SyncClient(key=f"{KEY_ID}:not-the-secret")
    # The JWT flow fails at the token service, before any WebSocket.
    with pytest.raises(fal_client.client.FalClientHTTPError) as refused:
        with wrong.realtime(APP):
            pass
    assert refused.value.status_code == 401
    assert "missing or wrong API key" in str(refused.value)
    # With the key in the header, the runner accepts the upgrade and answers with the
    # Unauthorized message; fal-client hands it over as a payload, then sees the 1008 close.
    with wrong.realtime(APP, use_jwt=False) as conn:
        assert conn.recv() == {
            "status": "error",
            "error": "Unauthorized",
            "reason": "invalid API key in the Authorization header",
        }
        with pytest.raises(fal_client.client.RealtimeError) as closed:
            conn.recv()
        assert closed.value.error == "CONNECTION_CLOSED"
        assert "1008" in closed.value.reason


# -- fal_client.realtime_async --------------------------------------------------------------


@pytest.mark.anyio
async def test_async_jwt_flow_msgpack(
    fal_at_runner: InteropRunner, caplog: pytest.LogCaptureFixture
) -> None:
    first = {"scenario": "async-jwt", "n": 1, "image": PNG_HEADER, "request_id": "r-1"}
    with anyio.fail_after(20):
        async with fal_client.realtime_async(APP, max_buffering=4) as conn:
            await conn.send(first)
            assert await conn.recv() == {**first, "served_by": "warmwire"}
            await conn.send({"scenario": "async-jwt", "n": 2})
            assert (await conn.recv())["n"] == 2
    assert minted(caplog) == [f"minted key={KEY_ID} apps=interop/echo expires_in=120"]


@pytest.mark.anyio
async def test_async_authorization_key(
    fal_at_runner: InteropRunner, caplog: pytest.LogCaptureFixture
) -> None:
    with anyio.fail_after(20):
        async with fal_client.realtime_async(APP, use_jwt=False) as conn:
            await conn.send({"scenario": "async-key", "n": 1})
            assert await conn.recv() == {"scenario": "async-key", "n": 1, "served_by": "warmwire"}
    assert minted(caplog) == []


@pytest.mark.anyio
async def test_async_custom_codec_and_path(fal_at_runner: InteropRunner) -> None:
    codec = JsonCodec()
    with anyio.fail_after(20):
        async with fal_client.realtime_async(
            APP, path="/v2/json", encode_message=codec.encode, decode_message=codec.decode
        ) as conn:
            await conn.send({"scenario": "async-json", "n": 1})
            assert await conn.recv() == {
                "scenario": "async-json",
                "n": 1,
                "served_by": "warmwire",
                "codec": "json",
            }
    assert (codec.encoded, codec.decoded) == (1, 1)


@pytest.mark.anyio
async def test_async_x_fal_errors_and_timeout(fal_at_runner: InteropRunner) -> None:
    with anyio.fail_after(20):
        async with fal_client.realtime_async(APP) as conn:
            await conn.send({"scenario": "async-errors", "fail": "boom"})
            with pytest.raises(fal_client.client.RealtimeError) as internal:
                await conn.recv()
            assert internal.value.error == "INTERNAL_ERROR"
            await conn.send({"scenario": "async-errors", "n": 1})
            assert (await conn.recv())["n"] == 1
        async with fal_client.realtime_async(APP, path="/short") as conn:
            await conn.send({"scenario": "async-timeout", "n": 1})
            assert (await conn.recv())["n"] == 1
            with pytest.raises(fal_client.client.RealtimeError) as timeout:
                await conn.recv()
            assert timeout.value.error == "TIMEOUT"
            assert await conn.recv() is None


# -- over wss://, configured as a deployment is ---------------------------------------------


@pytest.fixture(scope="module")
def tls_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InteropRunner, Path]]:
    """The runner on ``wss://localhost:PORT`` with a certificate from a throwaway CA."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with runner_in_thread(ssl_context=context) as running:
        yield running, ca_file


def test_wss_with_fal_run_host(tls_runner: tuple[InteropRunner, Path]) -> None:
    runner, ca_file = tls_runner
    assert runner.url.startswith("wss://localhost:")
    env = {
        **os.environ,
        "FAL_RUN_HOST": runner.host,  # read by fal_client at import: wss://{FAL_RUN_HOST}/
        "FAL_KEY": KEY,
        "SSL_CERT_FILE": str(ca_file),  # trusted by both websockets and httpx
    }
    done = subprocess.run(
        [sys.executable, str(HERE / "fal_client_wss.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    reports = {r["client"]: r for r in map(json.loads, done.stdout.splitlines())}
    for client in ("realtime", "realtime_async"):
        report = reports[client]
        assert report["realtime_url_format"] == f"wss://{runner.host}/"
        assert report["result"] == {"scenario": f"wss-{client}", "n": 1, "served_by": "warmwire"}
        assert report["error"] == ["INTERNAL_ERROR", "RuntimeError: asked to fail: wss"]
    assert runner.app.inputs("/realtime", "wss-realtime") == [
        {"scenario": "wss-realtime", "n": 1},
        {"scenario": "wss-realtime", "fail": "wss"},
    ]
