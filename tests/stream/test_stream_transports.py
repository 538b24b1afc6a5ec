"""The stream clients over the runner URLs ``realtime()`` takes: ``wss://`` (TLS, a private
certificate authority through ``ssl_context=``) and ``ws+unix://`` (a Unix socket)."""

from __future__ import annotations

import ssl
from pathlib import Path

import anyio
import anyio.to_thread
import pytest
import trustme

import warmwire
from warmwire import runner

from .apps import APP, Steps

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


async def test_over_tls(tls_ca: trustme.CA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    tls_ca.configure_trust(client_context)
    async with runner.serve(Steps(), insecure_no_auth=True, ssl_context=server_context) as server:
        assert server.url.startswith("wss://")
        with anyio.fail_after(20):
            async with warmwire.stream_async(
                APP, {"n": 2}, url=server.url, ssl_context=client_context
            ) as events:
                assert [out async for out in events] == [{"step": 0}, {"step": 1}]
            # Without the private CA, the certificate is refused.
            with pytest.raises(warmwire.HandshakeError, match="cannot reach the runner"):
                async with warmwire.stream_async(APP, {"n": 1}, url=server.url) as events:
                    await events.__anext__()


async def test_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "runner.sock"
    async with runner.serve(Steps(), insecure_no_auth=True, uds=str(path)) as server:
        assert server.url == f"ws+unix://{path}"

        def blocking() -> list[object]:
            with warmwire.stream(APP, {"n": 2}, url=server.url) as events:
                return list(events)

        with anyio.fail_after(20):
            async with warmwire.stream_async(APP, {"n": 2}, url=server.url) as events:
                assert [out async for out in events] == [{"step": 0}, {"step": 1}]
            assert await anyio.to_thread.run_sync(blocking) == [{"step": 0}, {"step": 1}]
