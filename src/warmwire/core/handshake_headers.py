"""The opening handshake's headers as RFC 6455 §4 defines them, shared by both roles.

``Sec-WebSocket-Protocol`` lists the codec names a client offers; the runner
picks the first it knows.
"""

from __future__ import annotations

from collections.abc import Sequence


def parse_subprotocols(header_values: Sequence[str]) -> list[str]:
    """Split ``Sec-WebSocket-Protocol`` header values into the offered names, in order."""
    return [name.strip() for value in header_values for name in value.split(",") if name.strip()]


def choose_subprotocol(offered: Sequence[str], known: Sequence[str]) -> str | None:
    """The first offered name the runner knows, as RFC 6455 asks, or ``None``."""
    for name in offered:
        if name in known:
            return name
    return None
