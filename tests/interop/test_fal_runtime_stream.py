"""warmwire's stream clients against a streaming endpoint built with the fal runtime itself.

The endpoint is the benchmark's (``bench/servers/fal_stream.py``): an ``fal.App`` whose
``@fal.endpoint("/stream")`` returns a ``StreamingResponse`` of ``data:`` events, the way
fal's documentation writes one, under uvicorn in fal's own venv (``tests/interop/.venv-fal``,
built by ``make interop-setup``).  ``warmwire.stream_async`` (asyncio and trio) and
``warmwire.stream`` read its steps, configured only by the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from bench.procs import ServerProcess

import warmwire
from helpers.tools import require

from .harness import FAL_VENV_PYTHON, SETUP

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
APP = "bench/steps"
START_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def fal_stream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require(FAL_VENV_PYTHON.exists(), f"the fal runtime's venv ({FAL_VENV_PYTHON})", SETUP)
    logs = tmp_path_factory.mktemp("fal-stream")
    server = ServerProcess(
        "fal-stream", [str(FAL_VENV_PYTHON), str(ROOT / "bench/servers/fal_stream.py")], logs
    )
    server.start(timeout=START_TIMEOUT)
    try:
        yield server.url
    finally:
        server.stop()


def _steps(n: int) -> list[dict[str, object]]:
    return [{"step": i, "of": n, "pad": "x" * 8} for i in range(n)]


@pytest.mark.anyio
async def test_async_client_reads_the_fal_runtime_stream(fal_stream_url: str) -> None:
    with anyio.fail_after(30):
        async with warmwire.stream_async(APP, {"n": 3}, url=fal_stream_url) as events:
            assert [out async for out in events] == _steps(3)


def test_blocking_client_reads_the_fal_runtime_stream(fal_stream_url: str) -> None:
    with warmwire.stream(APP, {"n": 2}, url=fal_stream_url) as events:
        assert list(events) == _steps(2)


def test_validation_refusal_of_the_fal_runtime(fal_stream_url: str) -> None:
    """fal answers an input its model refuses with 422 before the stream: a HandshakeError
    with the status and fal's body."""
    with pytest.raises(warmwire.HandshakeError) as refused:
        list(warmwire.stream(APP, {"n": "many"}, url=fal_stream_url))
    assert refused.value.status_code == 422
    assert b"detail" in refused.value.body
