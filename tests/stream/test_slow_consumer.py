"""Backpressure and the slow consumer: the runner asks the handler for its next output only
once the previous event is written, so a client that stops reading stops the generator;
after ``send_timeout`` with nothing taken, the connection is dropped (by warmwire's own
server; under an ASGI server the response is left incomplete, and the server closes the
connection) and the generator closed (its ``finally`` runs).  What the client has then is a
response cut short: no final chunk, so an HTTP client reports an incomplete body rather
than a clean end."""

from __future__ import annotations

import logging

import anyio
import orjson
import pytest

from helpers.polling import wait_until
from warmwire import runner

from .apps import APP, Steps
from .doors import host_port_prefix, served

pytestmark = pytest.mark.anyio

PAD = 64 * 1024
"""Bytes per event: socket buffers fill after a few dozen of them."""

MAX_PRODUCED = 1000
"""Well above what the socket buffers of loopback can hold at ``PAD`` bytes an event (a few
MB each way, so ~100-200 events), and far below a generator that runs unchecked."""


@pytest.mark.parametrize("door", ["warmwire", "uvicorn", "hypercorn"])
async def test_a_client_that_stops_reading_is_cut_and_the_generator_closed(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="warmwire.runner")
    app = Steps()
    async with served(door, app, insecure_no_auth=True, send_timeout=0.5) as url:
        host, port, prefix = host_port_prefix(url)
        body = orjson.dumps({"n": -1, "pad": PAD, "tag": "stalled"})
        head = (
            f"POST {prefix}/{APP}/stream HTTP/1.1\r\nhost: test\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        with anyio.fail_after(30):
            async with await anyio.connect_tcp(host, port) as client:
                await client.send(head.encode() + body)
                # Read nothing: the runner's writes wait on full socket buffers.  (Under an
                # ASGI server, setup() may still be running when the first look comes.)
                await wait_until(
                    lambda: "stalled" in getattr(app, "closed", ()), "generator closed", within=20
                )
                produced = app.produced["stalled"]
                assert produced < MAX_PRODUCED
                received = bytearray()
                try:
                    while chunk := await client.receive(1 << 20):
                        received += chunk
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
        assert received.startswith(b"HTTP/1.1 200 ")
        assert not received.endswith(b"0\r\n\r\n")  # cut, not ended
        assert received.count(b"data: ") < produced + 1
    assert any("the client stopped reading; disconnected" in m for m in caplog.messages)


async def test_a_reader_gets_every_event_and_the_generator_stays_close_ahead() -> None:
    """Flow control: every event arrives, and the generator is never more than the socket
    buffers (and the one event in hand) ahead of what the reader has taken."""
    app = Steps()
    async with runner.serve(app, insecure_no_auth=True) as server:
        assert server.port is not None
        n = 200
        body = orjson.dumps({"n": n, "pad": PAD, "tag": "slow"})
        head = f"POST /{APP}/stream HTTP/1.1\r\nhost: test\r\ncontent-length: {len(body)}\r\n\r\n"
        with anyio.fail_after(60):
            async with await anyio.connect_tcp("127.0.0.1", server.port) as client:
                await client.send(head.encode() + body)
                received = bytearray()
                events = 0
                ahead = []
                try:
                    while chunk := await client.receive(PAD):
                        start = len(received)
                        received += chunk
                        # "data: " may straddle two reads: look 5 bytes back.
                        events += received[max(0, start - 5) :].count(b"data: ")
                        # How far the generator is ahead of what this reader has taken.
                        ahead.append(app.produced.get("slow", 0) - events)
                except anyio.EndOfStream:
                    pass
        assert events == received.count(b"data: ") == n
        assert received.endswith(b"0\r\n\r\n")
        assert max(ahead) < MAX_PRODUCED
