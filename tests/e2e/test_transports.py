"""Every built-in transport end to end: ``ws+unix://``, ``wss://`` (private CA), in-memory."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import warmwire
from warmwire import runner
from warmwire.examples.echo import Echo
from warmwire.runner import RunningServer
from warmwire.transports.memory import MemoryListener, MemoryTransport

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0


async def _async_round_trip(url: str, **options: Any) -> tuple[str | None, Any]:
    inp = {"image": b"\x89PNG" + bytes(range(256)) * 64, "request_id": "t-1"}
    async with warmwire.realtime_async("warmwire/echo", url=url, **options) as conn:
        await conn.send(inp)
        out = await conn.recv()
        assert out == inp
        await conn.send({"second": True})
        assert await conn.recv() == {"second": True}
        return conn.subprotocol, out


def _sync_round_trip(url: str, **options: Any) -> Any:
    with warmwire.realtime("warmwire/echo", url=url, open_timeout=TIMEOUT, **options) as conn:
        conn.send({"sync": True, "b": b"\x00\x01"})
        first = conn.recv(timeout=TIMEOUT)
        conn.send({"sync": 2})
        return first, conn.recv(timeout=TIMEOUT)


# -- ws+unix:// ------------------------------------------------------------------------


@pytest.fixture
async def unix_server(tmp_path: Path) -> Any:
    sock = tmp_path / "ww.sock"
    assert len(os.fsencode(sock)) < 100, "socket path too long for AF_UNIX"
    async with runner.serve(Echo, uds=str(sock), insecure_no_auth=True) as server:
        yield server


async def test_unix_socket_async(unix_server: RunningServer, tmp_path: Path) -> None:
    assert unix_server.url == f"ws+unix://{tmp_path / 'ww.sock'}"
    assert (tmp_path / "ww.sock").is_socket()
    with anyio.fail_after(TIMEOUT):
        subprotocol, _ = await _async_round_trip(unix_server.url, codec="cbor")
    assert subprotocol == "cbor"


async def test_unix_socket_sync(unix_server: RunningServer) -> None:
    first, second = await anyio.to_thread.run_sync(_sync_round_trip, unix_server.url)
    assert first == {"sync": True, "b": b"\x00\x01"}
    assert second == {"sync": 2}


async def test_unix_socket_missing_is_a_clear_error(tmp_path: Path) -> None:
    url = f"ws+unix://{tmp_path / 'absent.sock'}"
    with anyio.fail_after(TIMEOUT), pytest.raises(warmwire.HandshakeError) as info:
        async with warmwire.realtime_async("warmwire/echo", url=url):
            pytest.fail("connected to a socket that does not exist")
    assert "absent.sock" in str(info.value)

    def sync() -> warmwire.HandshakeError:
        with pytest.raises(warmwire.HandshakeError) as sync_info:
            with warmwire.realtime("warmwire/echo", url=url, open_timeout=TIMEOUT):
                pytest.fail("connected to a socket that does not exist")
        return sync_info.value

    assert "absent.sock" in str(await anyio.to_thread.run_sync(sync))


# -- wss:// ----------------------------------------------------------------------------


@pytest.fixture
async def tls_server(server_ssl_context: ssl.SSLContext) -> Any:
    async with runner.serve(Echo, ssl_context=server_ssl_context, insecure_no_auth=True) as server:
        yield server


async def test_wss_async(tls_server: RunningServer, client_ssl_context: ssl.SSLContext) -> None:
    assert tls_server.url.startswith("wss://127.0.0.1:")
    with anyio.fail_after(TIMEOUT):
        subprotocol, _ = await _async_round_trip(tls_server.url, ssl_context=client_ssl_context)
    assert subprotocol == "msgpack"


async def test_wss_async_one_megabyte(
    tls_server: RunningServer, client_ssl_context: ssl.SSLContext
) -> None:
    inp = {"image": bytes(range(256)) * 4096}
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=tls_server.url, ssl_context=client_ssl_context
        ) as conn:
            await conn.send(inp)
            assert await conn.recv() == inp


async def test_wss_sync(tls_server: RunningServer, client_ssl_context: ssl.SSLContext) -> None:
    first, second = await anyio.to_thread.run_sync(
        lambda: _sync_round_trip(tls_server.url, ssl_context=client_ssl_context, codec="cbor")
    )
    assert first == {"sync": True, "b": b"\x00\x01"}
    assert second == {"sync": 2}


async def test_wss_message_over_limit_reports_1009(
    server_ssl_context: ssl.SSLContext, client_ssl_context: ssl.SSLContext
) -> None:
    """TLS cannot half-close: the runner must still get its 1009 to a client mid-send."""
    async with runner.serve(
        Echo, ssl_context=server_ssl_context, insecure_no_auth=True, max_message_size=64 * 1024
    ) as server:
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async(
                "warmwire/echo", url=server.url, ssl_context=client_ssl_context
            ) as conn:
                await conn.send({"blob": b"x" * 4_000_000})
                with pytest.raises(warmwire.ConnectionClosedError) as info:
                    await conn.recv()
                assert info.value.code == 1009


def _assert_untrusted(exc: warmwire.HandshakeError) -> None:
    message = str(exc)
    assert "certificate verify failed" in message
    # The error tells the user what to do, rather than suggesting the runner is down.
    assert "ssl_context" in message
    assert "is it running" not in message
    assert isinstance(exc.__cause__, ssl.SSLCertVerificationError)


async def test_wss_default_trust_store_rejects_private_ca(
    tls_server: RunningServer, client_ssl_context: ssl.SSLContext
) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(warmwire.HandshakeError) as info:
        async with warmwire.realtime_async("warmwire/echo", url=tls_server.url):
            pytest.fail("the default trust store accepted a throwaway CA")
    _assert_untrusted(info.value)

    def sync() -> warmwire.HandshakeError:
        with pytest.raises(warmwire.HandshakeError) as sync_info:
            with warmwire.realtime("warmwire/echo", url=tls_server.url, open_timeout=TIMEOUT):
                pytest.fail("the default trust store accepted a throwaway CA")
        return sync_info.value

    _assert_untrusted(await anyio.to_thread.run_sync(sync))

    # The runner shrugs off the failed handshakes and keeps serving.
    with anyio.fail_after(TIMEOUT):
        await _async_round_trip(tls_server.url, ssl_context=client_ssl_context)


async def test_plain_ws_client_against_tls_runner_fails_cleanly(
    tls_server: RunningServer, client_ssl_context: ssl.SSLContext
) -> None:
    plain = tls_server.url.replace("wss://", "ws://")
    with anyio.fail_after(TIMEOUT), pytest.raises(warmwire.HandshakeError):
        async with warmwire.realtime_async("warmwire/echo", url=plain):
            pytest.fail("a plain-text client completed a handshake with a TLS runner")
    with anyio.fail_after(TIMEOUT):
        await _async_round_trip(tls_server.url, ssl_context=client_ssl_context)


# -- in-memory -------------------------------------------------------------------------


async def test_memory_transport_round_trip() -> None:
    listener = MemoryListener()
    transport = MemoryTransport(listener)
    with anyio.fail_after(TIMEOUT):
        async with runner.serve(Echo, listener=listener, insecure_no_auth=True) as server:
            # The URL's host is irrelevant to the memory transport; the endpoint path is not.
            async with warmwire.realtime_async(
                "warmwire/echo", url="ws://in-memory", transport=transport, codec="cbor"
            ) as conn:
                assert conn.subprotocol == "cbor"
                for i in range(3):
                    await conn.send({"i": i, "b": bytes([i]) * 10})
                    assert await conn.recv() == {"i": i, "b": bytes([i]) * 10}
            with pytest.raises(warmwire.HandshakeError) as info:
                async with warmwire.realtime_async(
                    "warmwire/nope", url="ws://in-memory", transport=transport
                ):
                    pytest.fail("the runner accepted an unknown app")
            assert info.value.status_code == 404
            assert server.url.startswith("memory://")


async def test_memory_runner_url_is_dialable() -> None:
    """``RunningServer.url`` is documented as "what clients dial": it must parse."""
    listener = MemoryListener()
    with anyio.fail_after(TIMEOUT):
        async with (
            runner.serve(Echo, listener=listener, insecure_no_auth=True) as server,
            warmwire.realtime_async(
                "warmwire/echo", url=server.url, transport=MemoryTransport(listener)
            ) as conn,
        ):
            await conn.send({"via": "server.url"})
            assert await conn.recv() == {"via": "server.url"}
