"""The connection builder's immutable, validated spec: everything but the live objects."""

from __future__ import annotations

import attrs

from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE
from warmwire.core.endpoint import Endpoint, RunnerUrl
from warmwire.core.events import Headers
from warmwire.core.request_target import build_target


@attrs.frozen(slots=True)
class ConnectionSpec:
    """Where and how to connect; produced by ``ConnectionBuilder`` before any I/O."""

    url: RunnerUrl
    endpoint: Endpoint
    max_buffering: int | None = None
    subprotocols: tuple[str, ...] = ()
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    open_timeout: float | None = 10.0
    close_timeout: float = 10.0
    raw_path: str | None = None
    """A request target (path and query) sent as is, after the mount prefix, in
    place of the app's endpoint path: for servers that are not fal runners."""

    def target(self, token: str | None = None) -> str:
        """The request target, with the mount prefix, token and buffering."""
        path = f"{self.url.prefix}{self.raw_path or self.endpoint.url_path}"
        return build_target(path, token=token, max_buffering=self.max_buffering)

    def client_protocol(self, token: str | None = None, headers: Headers = ()) -> ClientProtocol:
        """A fresh client state machine for one connection attempt."""
        return ClientProtocol(
            host=self.url.host_header,
            target=self.target(token),
            headers=headers,
            subprotocols=self.subprotocols,
            max_message_size=self.max_message_size,
        )
