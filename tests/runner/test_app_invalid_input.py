"""A handler refusing an input: ``raise runner.InvalidInput(reason)`` is ``INVALID_INPUT``.

Only the app can tell that bytes are not an image; saying so must reach the
client as the input's fault (``INVALID_INPUT``, the app's reason), not as an
app failure (``INTERNAL_ERROR``), in every handler mode, and the session goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import warmwire
from warmwire import runner
from warmwire.runner import RunningServer

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


def _check(inp: dict[str, Any]) -> None:
    if inp.get("bad"):
        raise runner.InvalidInput(f"input n={inp['n']} is not an image; send JPEG bytes")


class Refusing(runner.App, app_id="test/refusing"):
    @runner.realtime("/sync")
    def run_sync(self, inp: dict[str, Any]) -> dict[str, Any]:
        _check(inp)
        return {"n": inp["n"]}

    @runner.realtime("/async")
    async def run_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        _check(inp)
        return {"n": inp["n"]}

    @runner.realtime("/stream")
    def stream(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        _check(inp)
        yield {"n": inp["n"]}

    @runner.realtime("/bidi")
    async def bidi(self, inputs: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        async for inp in inputs:
            _check(inp)
            yield {"n": inp["n"]}


@pytest.fixture
async def refusing_server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Refusing, insecure_no_auth=True) as server:
        yield server


@pytest.mark.parametrize("path", ["/sync", "/async", "/stream", "/bidi"])
async def test_handler_invalid_input_is_invalid_input_and_the_session_goes_on(
    refusing_server: RunningServer, path: str
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "test/refusing", url=refusing_server.url, path=path
        ) as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1}
            await conn.send({"n": 2, "bad": True})
            with pytest.raises(warmwire.RealtimeError) as caught:
                await conn.recv()
            await conn.send({"n": 3})
            assert await conn.recv() == {"n": 3}
    error = caught.value
    assert not isinstance(error, warmwire.ConnectionClosedError)
    assert error.error == "INVALID_INPUT"
    # The app's own words, without the exception's type name an app failure carries.
    assert error.reason == "input n=2 is not an image; send JPEG bytes"


def test_invalid_input_is_public() -> None:
    from warmwire.runner.session import InvalidInput

    assert runner.InvalidInput is InvalidInput
    assert issubclass(runner.InvalidInput, Exception)
