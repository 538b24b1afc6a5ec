"""The blocking client's connection: :class:`RealtimeConnection`, opened by ``realtime()``.

Built directly on a blocking socket and the sans-IO core: no event loop and no
helper thread sit on the send/recv path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from warmwire.client._connect import unreachable
from warmwire.client._messages import interpret, is_skip, unread_error
from warmwire.client.resolved import Resolved
from warmwire.codecs.base import Codec
from warmwire.core.close_codes import CloseCode
from warmwire.transports.base import SyncTransport
from warmwire.transports.blocking import SyncWebSocket


class RealtimeConnection:
    """A blocking realtime connection to one app endpoint."""

    def __init__(self, ws: SyncWebSocket, codec: Codec) -> None:
        self._ws = ws
        self._codec = codec

    @classmethod
    def open(cls, resolved: Resolved) -> RealtimeConnection:
        spec = resolved.spec
        transport = resolved.transport
        assert isinstance(transport, SyncTransport)
        creds = resolved.auth.credentials_sync(spec.endpoint, spec.url)
        protocol = spec.client_protocol(creds.token, creds.headers)
        try:
            sock = transport.connect_sync(spec.url, resolved.options)
        except OSError as exc:
            raise unreachable(spec.url, exc) from exc
        ws = SyncWebSocket.open_client(
            sock, protocol, open_timeout=spec.open_timeout, close_timeout=spec.close_timeout
        )
        return cls(ws, resolved.codec)

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    def send(self, obj: Any) -> None:
        """Encode ``obj`` with the session codec and send it.

        On a connection the runner has closed after reporting an error (such
        as :class:`UnauthorizedError` for refused credentials), raises that
        error; on any other closed connection, :class:`ProtocolError`.
        """
        if self._ws.closed is not None and (error := unread_error(self._ws.unread(), self._codec)):
            raise error
        self._ws.send(self._codec.encode(obj))

    def recv(self, timeout: float | None = None) -> Any:
        """The next result; ``None`` once the runner closed normally.

        Raises :class:`RealtimeError` for an ``x-fal-error``,
        :class:`ConnectionClosedError` for an abnormal close and
        :class:`TimeoutError` when nothing arrives within ``timeout`` seconds.
        """
        while True:
            value = interpret(self._ws.recv(timeout), self._codec)
            if not is_skip(value):
                return value

    def __iter__(self) -> Iterator[Any]:
        while (result := self.recv()) is not None:
            yield result

    def close(self) -> None:
        """Close normally (1000); idempotent."""
        if self._ws.closed is None:
            self._ws.close(CloseCode.NORMAL)
        else:
            self._ws.close_transport()
