"""An opening that outlasts ``open_timeout`` says it may be a cold start, and what to do.

The runner's side is a real loopback listener that completes the TCP handshake
(the kernel's backlog does) and never answers the upgrade: what a client sees
while a proxy holds its upgrade for a runner still starting (Ray Serve's proxy
does so during a scale-up from zero).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest

import warmwire

OPEN_TIMEOUT = 0.3


@pytest.fixture
def silent_runner() -> Iterator[str]:
    """The URL of a listener that accepts connections and never answers them."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"


def check(error: warmwire.OpenTimeoutError, url: str) -> None:
    message = str(error)
    assert url in message
    assert "cold start" in message
    assert f"open_timeout={OPEN_TIMEOUT:g}s" in message
    assert "raise open_timeout=" in message
    assert error.timeout == OPEN_TIMEOUT
    assert isinstance(error, TimeoutError), "except TimeoutError still catches it"


@pytest.mark.anyio
async def test_async_client_says_it_may_be_a_cold_start(silent_runner: str) -> None:
    with anyio.fail_after(10), pytest.raises(warmwire.OpenTimeoutError) as caught:
        async with warmwire.realtime_async(
            "test/app", url=silent_runner, open_timeout=OPEN_TIMEOUT
        ):
            pass
    check(caught.value, silent_runner)


def test_blocking_client_says_it_may_be_a_cold_start(silent_runner: str) -> None:
    with pytest.raises(warmwire.OpenTimeoutError) as caught:
        with warmwire.realtime("test/app", url=silent_runner, open_timeout=OPEN_TIMEOUT):
            pass
    check(caught.value, silent_runner)
