"""The opening handshake's headers as RFC 6455 §4 defines them, shared by both roles.

The client checks the runner's 101 with these rules and the runner checks the
client's upgrade request with them.  ``Sec-WebSocket-Protocol`` lists the codec
names a client offers; the runner picks the first it knows.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence

from warmwire.core.events import Headers

MAX_HEADER_BYTES = 16 * 1024
"""The longest request or response head either role reads (h11 answers 431 beyond it)."""
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def accept_token(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def asks_for_websocket(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request's headers ask for a WebSocket (``Upgrade: websocket``, any case)."""
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in headers)


def header_values(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Each header's values by name (h11 gives names lowercased)."""
    values: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value)
    return values


def connection_upgrade(values: dict[bytes, list[bytes]]) -> bool:
    """Whether a ``Connection`` header lists the ``upgrade`` token (any case, any position)."""
    return any(
        token.strip().lower() == b"upgrade"
        for value in values.get(b"connection", ())
        for token in value.split(b",")
    )


def decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """Headers as the events carry them: names lowercased, both as latin-1 text."""
    return tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)


def parse_subprotocols(header_values: Sequence[str]) -> list[str]:
    """Split ``Sec-WebSocket-Protocol`` header values into the offered names, in order."""
    return [name.strip() for value in header_values for name in value.split(",") if name.strip()]


def choose_subprotocol(offered: Sequence[str], known: Sequence[str]) -> str | None:
    """The first offered name the runner knows, as RFC 6455 asks, or ``None``."""
    for name in offered:
        if name in known:
            return name
    return None
