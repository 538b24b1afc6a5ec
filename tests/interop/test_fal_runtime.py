"""warmwire's clients against an endpoint built with the fal runtime itself.

``fal_runtime_app.py`` declares ``@fal.realtime`` endpoints on an ``fal.App`` (fal 1.83.0,
pinned in ``setup.sh``) and mounts the WebSocket endpoints fal generates as FastAPI routes
under uvicorn on loopback.  It runs in its own venv (``tests/interop/.venv-fal``): fal
requires ``pathspec<1`` and the project's mypy requires ``pathspec>=1``, so the two cannot
share one environment.  If that venv is missing or the fal package cannot be imported
there, the tests fail with the import error and the make target that builds the venv
(``make interop-setup``); nothing skips.

warmwire's async client (asyncio and trio) and blocking client send to it and read its
results, its ``x-fal-error`` messages (``TIMEOUT``, ``INTERNAL_ERROR``) and its timings.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import msgpack
import orjson
import pytest

import warmwire
from helpers.tools import require
from warmwire.core.envelope import FalMessage, classify
from warmwire.transports.drivers import open_client

from .harness import FAL_VENV_PYTHON, HERE, SETUP

pytestmark = pytest.mark.interop

FAL_APP = "interop/fal"
START_TIMEOUT = 60.0
TIMEOUT = 20.0
READY = "INTEROP-READY "
IMPORT_ERROR = "INTEROP-IMPORT-ERROR "


@pytest.fixture(scope="module")
def fal_url() -> Iterator[str]:
    """Start the fal runtime app; yield the ``ws://127.0.0.1:PORT`` warmwire dials."""
    require(FAL_VENV_PYTHON.exists(), f"the fal runtime's venv ({FAL_VENV_PYTHON})", SETUP)
    process = subprocess.Popen(
        [str(FAL_VENV_PYTHON), str(HERE / "fal_runtime_app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    status: list[str] = []
    announced = threading.Event()

    def read() -> None:
        # Drains the output to the end so the server never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith((READY, IMPORT_ERROR)) and not status:
                status.append(line.strip())
                announced.set()
        announced.set()

    reader = threading.Thread(target=read, name="fal-runtime-output", daemon=True)
    reader.start()
    try:
        announced.wait(START_TIMEOUT)
        log = "".join(line for line in output if "Python packages installed" not in line)
        if status and status[0].startswith(IMPORT_ERROR):
            # tests/interop/setup.sh builds the fal venv: without it the interop is unproven.
            pytest.fail(status[0].removeprefix(IMPORT_ERROR) + f"; run 'make {SETUP}'")
        assert status, f"the fal runtime app did not start within {START_TIMEOUT}s:\n{log}"
        yield f"ws://127.0.0.1:{status[0].removeprefix(READY)}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        reader.join(timeout=15)


# -- async client (asyncio and trio) --------------------------------------------------------


@pytest.mark.anyio
async def test_async_results(fal_url: str) -> None:
    sent = [{"n": n, "request_id": f"r-{n}", "image": bytes([n]) * 8} for n in range(3)]
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(FAL_APP, url=fal_url) as conn:
            for inp in sent:
                await conn.send(inp)
                # fal ran setup() once before serving (its own lifespan).
                assert await conn.recv() == {**inp, "served_by": "fal", "setups": 1}


@pytest.mark.anyio
async def test_async_blocking_handler(fal_url: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(FAL_APP, url=fal_url, path="/blocking") as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1, "served_by": "fal-blocking"}


@pytest.mark.anyio
async def test_async_timings_are_skipped(fal_url: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(FAL_APP, url=fal_url, path="/timed") as conn:
            for n in range(3):
                await conn.send({"n": n})
                # A timings message follows each result; the client consumes it silently.
                assert await conn.recv() == {"n": n, "served_by": "fal-timed"}


@pytest.mark.anyio
async def test_timings_on_the_wire(fal_url: str) -> None:
    """What the client skips above: fal's timings message, read from the raw connection."""
    resolved = warmwire.ConnectionBuilder(app=FAL_APP, url=fal_url, path="/timed").resolve()
    spec = resolved.spec
    credentials = await resolved.auth.credentials(spec.endpoint, spec.url)
    with anyio.fail_after(TIMEOUT):
        stream = await resolved.transport.connect(spec.url, resolved.options)
        ws = await open_client(stream, spec.client_protocol(credentials.token, credentials.headers))
        try:
            await ws.send(msgpack.packb({"n": 7}))
            result = await ws.recv()
            timings = await ws.recv()
        finally:
            await ws.aclose_transport()
    assert isinstance(result, bytes)
    assert msgpack.unpackb(result) == {"n": 7, "served_by": "fal-timed"}
    assert isinstance(timings, str)
    message: dict[str, Any] = orjson.loads(timings)
    assert message["type"] == "x-fal-message"
    assert message["action"] == "timings"
    assert isinstance(message["timing"], float)
    assert message["timing"] >= 0
    assert isinstance(classify(message), FalMessage)


@pytest.mark.anyio
async def test_async_timeout_then_normal_close(fal_url: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(FAL_APP, url=fal_url, path="/short") as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1, "served_by": "fal-short"}
            with pytest.raises(warmwire.RealtimeError) as timeout:
                await conn.recv()
            assert timeout.value.error == "TIMEOUT"
            assert timeout.value.reason == "no inputs, reconnect when needed!"
            assert await conn.recv() is None


@pytest.mark.anyio
async def test_async_internal_error(fal_url: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(FAL_APP, url=fal_url) as conn:
            await conn.send({"fail": "boom"})
            with pytest.raises(warmwire.RealtimeError) as failed:
                await conn.recv()
            assert failed.value.error == "INTERNAL_ERROR"
            assert failed.value.reason == "asked to fail: boom"
            # The fal runtime ends the session after an app error, with a normal close.
            assert await conn.recv() is None


# -- blocking client ------------------------------------------------------------------------


def test_sync_results_and_timings(fal_url: str) -> None:
    with warmwire.realtime(FAL_APP, url=fal_url) as conn:
        conn.send({"n": 1, "request_id": "r-1"})
        assert conn.recv(timeout=TIMEOUT) == {
            "n": 1,
            "request_id": "r-1",
            "served_by": "fal",
            "setups": 1,
        }
    with warmwire.realtime(FAL_APP, url=fal_url, path="/timed") as conn:
        for n in range(2):
            conn.send({"n": n})
            assert conn.recv(timeout=TIMEOUT) == {"n": n, "served_by": "fal-timed"}


def test_sync_timeout_and_internal_error(fal_url: str) -> None:
    with warmwire.realtime(FAL_APP, url=fal_url, path="/short") as conn:
        with pytest.raises(warmwire.RealtimeError) as timeout:
            conn.recv(timeout=TIMEOUT)
        assert timeout.value.error == "TIMEOUT"
        assert conn.recv(timeout=TIMEOUT) is None
    with warmwire.realtime(FAL_APP, url=fal_url) as conn:
        conn.send({"fail": "sync"})
        with pytest.raises(warmwire.RealtimeError) as failed:
            conn.recv(timeout=TIMEOUT)
        assert failed.value.error == "INTERNAL_ERROR"
        assert conn.recv(timeout=TIMEOUT) is None
