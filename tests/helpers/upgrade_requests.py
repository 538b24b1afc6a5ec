"""A WebSocket upgrade request as raw bytes, for the tests of the head parsers.

``tests/core/test_http_request.py`` (the fast head parser against h11) and
``tests/core/test_upgrade_fast_path.py`` (the fast path inside ServerProtocol) build
the same requests, valid or bent one header at a time.
"""

from __future__ import annotations

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
"""RFC 6455's sample ``Sec-WebSocket-Key``."""

BASE_HEADERS = [
    (b"Host", b"runner:8080"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", KEY),
    (b"Sec-WebSocket-Version", b"13"),
]
"""The headers of a valid upgrade, in the order browsers send them."""


def upgrade(
    target: bytes = b"/warmwire/echo/realtime?fal_jwt_token=a.b.c",
    headers: list[tuple[bytes, bytes]] | None = None,
    line: bytes | None = None,
) -> bytes:
    """The request's head: ``line`` (default ``GET target HTTP/1.1``), then ``headers``."""
    lines = [line if line is not None else b"GET " + target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in (headers or BASE_HEADERS)]
    return b"\r\n".join(lines) + b"\r\n\r\n"
