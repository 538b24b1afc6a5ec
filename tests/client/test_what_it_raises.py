"""What each public ``send()``, ``recv()`` and callback raises, as their docstrings list it.

Against a real runner over loopback: the async client under asyncio and trio,
the blocking client, and the callback client (whose ``on_error`` receives what
the others raise).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

import warmwire
from helpers.callbacks import CallbackEvents
from helpers.ports import free_port
from warmwire import runner
from warmwire.runner.server import RunningServer

LIMIT = 64 * 1024


class Moody(runner.App, app_id="test/moody"):
    @runner.realtime("/realtime", buffering=60)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise ValueError("asked to fail")
        return inp

    @runner.realtime("/brief", buffering=60, session_timeout=0.5)
    async def brief(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


def _fails_to_decode(data: bytes | str) -> Any:
    raise ValueError("this client cannot read results")


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with runner.serve(Moody, insecure_no_auth=True, max_message_size=LIMIT) as running:
        yield running


# -- the async client ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_send(server: RunningServer) -> None:
    with anyio.fail_after(10):
        async with warmwire.realtime_async("test/moody", url=server.url) as conn:
            with pytest.raises(warmwire.CodecError):
                await conn.send({"not encodable": object()})
            await conn.send({"n": 1})  # still open
            assert await conn.recv() == {"n": 1}
        with pytest.raises(warmwire.ConnectionClosedError) as closed:
            await conn.send({"n": 2})
        assert closed.value.code == 1000

        # An error the runner reported before closing (Unauthorized) is what send()
        # raises instead: tests/client/test_send_after_refusal.py.


@pytest.mark.anyio
async def test_async_recv(server: RunningServer) -> None:
    with anyio.fail_after(10):
        async with warmwire.realtime_async("test/moody", url=server.url) as conn:
            await conn.send({"fail": True})
            with pytest.raises(warmwire.RealtimeError) as failed:
                await conn.recv()
            assert failed.value.error == "INTERNAL_ERROR"
            assert "asked to fail" in failed.value.reason
            await conn.send({"n": 1})  # the connection stays usable
            assert await conn.recv() == {"n": 1}
            await conn.send({"blob": b"x" * (LIMIT * 2)})
            with pytest.raises(warmwire.ConnectionClosedError) as too_big:
                await conn.recv()
            assert too_big.value.code == 1009

        async with warmwire.realtime_async(
            "test/moody", url=server.url, codec="json", decode_message=_fails_to_decode
        ) as conn:
            await conn.send({"n": 1})
            with pytest.raises(warmwire.CodecError, match="cannot read results"):
                await conn.recv()

        async with warmwire.realtime_async("test/moody", url=server.url, path="/brief") as conn:
            with pytest.raises(warmwire.RealtimeError) as idle:
                await conn.recv()
            assert idle.value.error == "TIMEOUT"
            assert await conn.recv() is None  # then the normal close


# -- the blocking client ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_blocking_send_and_recv(server: RunningServer) -> None:
    def client() -> None:
        with warmwire.realtime("test/moody", url=server.url) as conn:
            with pytest.raises(warmwire.CodecError):
                conn.send({"not encodable": object()})
            with pytest.raises(TimeoutError):
                conn.recv(timeout=0.05)
            conn.send({"fail": True})
            with pytest.raises(warmwire.RealtimeError) as failed:
                conn.recv(timeout=10)
            assert failed.value.error == "INTERNAL_ERROR"
            conn.send({"blob": b"x" * (LIMIT * 2)})
            with pytest.raises(warmwire.ConnectionClosedError) as too_big:
                conn.recv(timeout=10)
            assert too_big.value.code == 1009
            with pytest.raises(warmwire.ConnectionClosedError):
                conn.send({"n": 1})

    with anyio.fail_after(30):
        await anyio.to_thread.run_sync(client)


# -- the callback client ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_callback_errors_each_reach_on_error_once(server: RunningServer) -> None:
    got = CallbackEvents()
    async with warmwire.connect_async(
        "test/moody",
        url=server.url,
        on_result=got.on_result,
        on_error=got.on_error,
        throttle_interval=0,
    ) as conn:
        conn.send({"not encodable": object()})
        await got.await_(errors=1)
        conn.send({"fail": True})
        await got.await_(errors=2)
        conn.send({"blob": b"x" * (LIMIT * 2)})
        await got.await_(errors=3)
        conn.send({"n": 1})  # reconnects after the 1009
        await got.await_(results=1)
        assert conn.connections == 2
    codes = [e.error for e in got.errors]
    assert codes == ["INVALID_INPUT", "INTERNAL_ERROR", "CONNECTION_CLOSED"]
    assert isinstance(got.errors[2], warmwire.ConnectionClosedError)
    assert got.errors[2].code == 1009
    assert got.results == [{"n": 1}]


@pytest.mark.anyio
async def test_callback_decode_failure_and_a_raising_callback(server: RunningServer) -> None:
    got = CallbackEvents()
    calls = 0

    def on_error(error: warmwire.RealtimeError) -> None:
        nonlocal calls
        calls += 1
        got.on_error(error)
        raise RuntimeError("a callback with a bug")  # logged; the connection goes on

    async with warmwire.connect_async(
        "test/moody",
        url=server.url,
        codec="json",
        decode_message=_fails_to_decode,
        on_result=got.on_result,
        on_error=on_error,
        throttle_interval=0,
    ) as conn:
        conn.send({"n": 1})
        await got.await_(errors=1)
        conn.send({"n": 2})
        await got.await_(errors=2)
    assert [e.error for e in got.errors] == ["INVALID_OUTPUT", "INVALID_OUTPUT"]
    assert calls == 2


@pytest.mark.anyio
async def test_callback_connection_failure_and_send_after_close() -> None:
    got = CallbackEvents()
    async with warmwire.connect_async(
        "test/moody",
        url=f"ws://127.0.0.1:{free_port()}",
        on_result=got.on_result,
        on_error=got.on_error,
        throttle_interval=0,
    ) as conn:
        conn.send({"n": 1})
        await got.await_(errors=1)
        conn.close()
        with pytest.raises(warmwire.RealtimeError) as closed:
            conn.send({"n": 2})
        assert closed.value.error == "CLOSED"
    assert [e.error for e in got.errors] == ["CONNECTION_FAILED"]
    assert "127.0.0.1" in got.errors[0].reason


def test_blocking_callback_send_after_close() -> None:
    got = CallbackEvents()
    with warmwire.connect(
        "test/moody", url="ws://127.0.0.1:9", on_result=got.on_result, on_error=got.on_error
    ) as conn:
        pass
    with pytest.raises(warmwire.RealtimeError) as closed:
        conn.send({"n": 1})
    assert closed.value.error == "CLOSED"
