"""Events the sans-IO protocol produces from received bytes.

Each is an immutable value; the I/O layer reads them with
``protocol.events()`` after ``protocol.receive_data(data)``.
"""

from __future__ import annotations

import enum

import attrs

Headers = tuple[tuple[str, str], ...]


class Initiator(enum.Enum):
    """Who ended the connection."""

    LOCAL = "local"
    REMOTE = "remote"
    NETWORK = "network"


@attrs.frozen(slots=True)
class Opened:
    """Client role: the runner accepted the upgrade."""

    subprotocol: str | None
    headers: Headers = ()


@attrs.frozen(slots=True)
class Rejected:
    """Client role: the runner answered the upgrade with an HTTP response."""

    status_code: int
    headers: Headers
    body: bytes


@attrs.frozen(slots=True)
class UpgradeRequest:
    """Server role: a valid WebSocket upgrade request; answer with ``accept()`` or ``respond()``."""

    target: str
    headers: Headers
    subprotocols: tuple[str, ...]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        return _header(self.headers, name)


@attrs.frozen(slots=True)
class HttpRequest:
    """Server role: a complete plain HTTP request; answer with ``respond()``."""

    method: str
    target: str
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``None``."""
        return _header(self.headers, name)


@attrs.frozen(slots=True)
class BadRequest:
    """Server role: the request was malformed; a 4xx answer is already queued."""

    status_code: int
    reason: str


@attrs.frozen(slots=True)
class Message:
    """One complete WebSocket message: ``bytes`` from a binary frame, ``str`` from text."""

    data: bytes | str


@attrs.frozen(slots=True)
class Pong:
    """The peer answered a ping (keepalive)."""

    payload: bytes


@attrs.frozen(slots=True)
class Closed:
    """The connection is over; after flushing ``data_to_send()`` close the transport."""

    code: int
    reason: str
    initiator: Initiator


Event = Opened | Rejected | UpgradeRequest | HttpRequest | BadRequest | Message | Pong | Closed


def _header(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key == wanted:
            return value
    return None
