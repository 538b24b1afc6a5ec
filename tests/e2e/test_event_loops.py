"""The runner and the async client on uvloop too: asyncio programs often run on it.

Under asyncio, TCP and Unix sockets use warmwire's own stream over the loop's
Protocol API (transports/asyncio_socket.py); uvloop's transports are not
``asyncio.Transport`` subclasses, and that must not matter.  Both ends run in
this process over real loopback and Unix sockets, with 1 MB payloads so that
flow control (paused reading and writing) is exercised.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import pytest

import warmwire
from warmwire import runner
from warmwire.examples.echo import Echo

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0


@pytest.fixture(params=[pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"), "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


async def _round_trips(url: str) -> None:
    big = os.urandom(1024 * 1024)
    async with warmwire.realtime_async("warmwire/echo", url=url, path="/async") as conn:
        for i in range(5):
            await conn.send({"i": i, "blob": big})
        for i in range(5):
            assert await conn.recv() == {"i": i, "blob": big}


async def test_tcp_round_trips(anyio_backend: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(Echo, insecure_no_auth=True) as server:
            await _round_trips(server.url)


async def test_unix_socket_round_trips(anyio_backend: Any, tmp_path: Path) -> None:
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(Echo, uds=str(tmp_path / "ww.sock"), insecure_no_auth=True) as s:
            await _round_trips(s.url)


# -- a program's own asyncio.run ---------------------------------------------------------------


async def _serve_and_use(tmp_path: Path) -> None:
    """Serve over TCP and a Unix socket; a sync (worker-thread) and an async handler each."""
    async with runner.serve(Echo, insecure_no_auth=True) as server:
        await _round_trips(server.url)
        async with warmwire.realtime_async("warmwire/echo", url=server.url) as conn:
            await conn.send({"sync": True})
            assert await conn.recv() == {"sync": True}
    async with runner.serve(Echo, uds=str(tmp_path / "ww.sock"), insecure_no_auth=True) as s:
        await _round_trips(s.url)


@pytest.mark.parametrize("uvloop", [False, True], ids=["asyncio", "uvloop"])
def test_runner_and_client_under_a_plain_asyncio_run(uvloop: bool, tmp_path: Path) -> None:
    """Not anyio.run: a program embedding the runner starts its loop its own way.

    Connections are accepted in a protocol callback, outside any task, where anyio
    cannot tell the loop apart unless anyio.run started it: every connection was
    dropped with "no event loop" and the client's open timed out.
    """
    import asyncio

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            await _serve_and_use(tmp_path)

    if uvloop:
        import uvloop as uv

        uv.run(main())
    else:
        asyncio.run(main())
