"""A runner that refuses the token in the same packet as its 101: the first send says why.

A scripted peer on a real loopback socket writes the 101 response, the
``Unauthorized`` message and the 1008 close frame in one write, so the client
has read all three by the time ``open`` returns; ``send()`` must then raise
:class:`UnauthorizedError`, and ``recv()`` must still return the message.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from collections.abc import Iterator

import anyio
import anyio.abc
import pytest

import warmwire
from warmwire.core.envelope import unauthorized_message
from warmwire.core.frames import Opcode, build, close_payload

pytestmark = pytest.mark.anyio

REASON = "token expired; mint a new one"


def refusal(request: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    message = b"".join(build(Opcode.TEXT, unauthorized_message(REASON).encode()))
    close = b"".join(build(Opcode.CLOSE, close_payload(1008, "Unauthorized")))
    return response + message + close


@pytest.fixture
def refusing_peer() -> Iterator[str]:
    """A one-connection-at-a-time peer that refuses every session as described above."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # closing a socket does not wake a thread blocked in accept()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                if request:
                    conn.sendall(refusal(request))
                    while conn.recv(4096):  # until the client closes
                        pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=10)


async def test_async_send_raises_the_refusal(refusing_peer: str) -> None:
    with anyio.fail_after(10):
        async with warmwire.realtime_async("test/app", url=refusing_peer, token="t") as conn:
            with pytest.raises(warmwire.UnauthorizedError, match="token expired"):
                await conn.send({"x": 1})
            with pytest.raises(warmwire.UnauthorizedError, match="token expired"):
                await conn.recv()


def test_sync_send_raises_the_refusal(refusing_peer: str) -> None:
    with warmwire.realtime("test/app", url=refusing_peer, token="t") as conn:
        with pytest.raises(warmwire.UnauthorizedError, match="token expired"):
            conn.send({"x": 1})
        with pytest.raises(warmwire.UnauthorizedError, match="token expired"):
            conn.recv(timeout=10)
