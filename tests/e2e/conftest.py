"""Fixtures for the end-to-end tests: a real runner on real loopback sockets, no mocks.

Every async test here is ``@pytest.mark.anyio`` and runs under asyncio and trio
(``anyio_backend`` comes from ``tests/conftest.py``).  The blocking client is
driven from a worker thread (``anyio.to_thread.run_sync``) against the runner
running in the test's own event loop; it bounds itself with ``open_timeout``
and ``recv(timeout=...)`` because a thread cannot be cancelled.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from warmwire import runner
from warmwire.examples.echo import Echo
from warmwire.runner import RunningServer


@pytest.fixture
async def echo_server() -> AsyncIterator[RunningServer]:
    """``warmwire/echo`` on ``ws://127.0.0.1:<free port>``, stopped after the test."""
    async with runner.serve(Echo, insecure_no_auth=True) as server:
        yield server


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """A throwaway certificate authority, trusted only by the contexts built from it."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def client_ssl_context(tls_ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    tls_ca.configure_trust(ctx)
    return ctx


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any socket connection attempt fail loudly: proves an error came before I/O."""

    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"unexpected network I/O: connect({address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's ``$WARMWIRE_KEY`` would make clients fetch tokens from these runners."""
    monkeypatch.delenv("WARMWIRE_KEY", raising=False)
    monkeypatch.delenv("WARMWIRE_KEYS", raising=False)
