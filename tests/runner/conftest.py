"""Shared helpers for the runner's end-to-end tests: real runners on real loopback sockets.

Helpers are fixtures (several directories hold a ``conftest.py``, so
``from conftest import ...`` would be ambiguous).  Async tests run under
asyncio and trio (``anyio_backend`` comes from ``tests/conftest.py``).

- ``http_get(server, path)``: a plain HTTP GET against the runner (httpx).
- ``wait_until(predicate)``: wait for a condition the runner exposes no event
  for (session counts, counters), bounded; it polls, it does not guess a delay.
- ``raw_ws(server, path, subprotocols=())``: a WebSocket at the frame level
  (warmwire's ``ClientProtocol`` over a TCP stream): the test sees every text
  and binary frame, control messages included.
- ``metric(text, name, **labels)``: one sample of a Prometheus exposition.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import polling
from warmwire.core.client_handshake import ClientProtocol
from warmwire.runner import RunningServer, Session
from warmwire.runner.worker_loops import HostedSession
from warmwire.transports.drivers import open_client
from warmwire.transports.websocket import AsyncWebSocket

TIMEOUT = 10.0


async def _http_get(server: RunningServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=TIMEOUT) as client:
        return await client.get(path)


@asynccontextmanager
async def _raw_ws(
    server: RunningServer,
    path: str,
    subprotocols: tuple[str, ...] = (),
    max_message_size: int | None = None,
) -> AsyncIterator[AsyncWebSocket]:
    assert server.port is not None
    stream = await anyio.connect_tcp("127.0.0.1", server.port)
    protocol = ClientProtocol(
        host=f"127.0.0.1:{server.port}",
        target=path,
        subprotocols=subprotocols,
        max_message_size=max_message_size,
    )
    ws = await open_client(stream, protocol, close_timeout=5)
    try:
        yield ws
    finally:
        if ws.closed is None:
            await ws.aclose()
        else:
            await ws.aclose_transport()


def _metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels or ''} in the metrics:\n{text}")


async def _only_session(server: RunningServer) -> Session:
    # The client's handshake completes before the runner registers the session.
    await polling.wait_until(lambda: len(server.runner.sessions) == 1, what="one open session")
    sessions = list(server.runner.sessions)
    assert len(sessions) == 1, f"expected one open session, found {len(sessions)}"
    return await _session_of(sessions[0])


async def _session_of(entry: Session | HostedSession) -> Session:
    """The session itself: for one on a worker loop, once it has begun there."""
    if isinstance(entry, Session):
        return entry
    await polling.wait_until(lambda: entry.session is not None, what="the hosted session begun")
    assert entry.session is not None
    return entry.session


@pytest.fixture
def http_get() -> Callable[[RunningServer, str], Awaitable[httpx.Response]]:
    return _http_get


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    return polling.wait_until


@pytest.fixture
def raw_ws() -> Callable[..., AbstractAsyncContextManager[AsyncWebSocket]]:
    return _raw_ws


@pytest.fixture
def metric() -> Callable[..., float]:
    return _metric


@pytest.fixture
def only_session() -> Callable[[RunningServer], Awaitable[Session]]:
    return _only_session


@pytest.fixture
def session_of() -> Callable[[Session | HostedSession], Awaitable[Session]]:
    """The session behind one of ``runner.sessions`` (one on a worker loop: once begun)."""
    return _session_of


@pytest.fixture
async def metrics_text(
    http_get: Callable[[RunningServer, str], Awaitable[httpx.Response]],
) -> Callable[[RunningServer], Awaitable[str]]:
    async def get(server: RunningServer) -> str:
        response = await http_get(server, "/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.text

    return get
