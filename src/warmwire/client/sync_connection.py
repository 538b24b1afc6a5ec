"""The blocking client's connection: :class:`RealtimeConnection`, opened by ``realtime()``.

Built directly on a blocking socket and the sans-IO core: no event loop and no
helper thread sit on the send/recv path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from warmwire.client._connect import open_timed_out, unreachable
from warmwire.client._messages import closed_error, interpret, is_skip
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
        try:
            ws = SyncWebSocket.open_client(
                sock, protocol, open_timeout=spec.open_timeout, close_timeout=spec.close_timeout
            )
        except TimeoutError:
            assert spec.open_timeout is not None  # only its deadline raises it here
            raise open_timed_out(spec.url, spec.open_timeout) from None
        return cls(ws, resolved.codec)

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    def send(self, obj: Any) -> None:
        """Encode ``obj`` with the session codec and send it.

        Raises:
            CodecError: ``obj`` cannot be encoded; nothing was sent and the
                connection stays open.
            UnauthorizedError: the runner refused the credentials and closed the
                connection, and ``recv()`` has not returned that refusal yet (it
                still will).  Likewise :class:`RealtimeError` for another error
                the runner reported before closing (``TIMEOUT``).
            ConnectionClosedError: the connection is over (``.code`` says how:
                1000 normal, 1001 runner draining, 1006 lost...); open a new one.
            ProtocolError: ``close()`` has begun closing it (the caller's own close).
        """
        if (closed := self._ws.closed) is not None:
            raise closed_error(closed, self._ws.unread(), self._codec)
        self._ws.send(self._codec.encode(obj))

    def recv(self, timeout: float | None = None) -> Any:
        """The next result; ``None`` once the runner closed normally (1000).

        Raises:
            RealtimeError: the runner reported an ``x-fal-error`` (``.error`` is
                ``INTERNAL_ERROR``, ``INVALID_INPUT`` or ``TIMEOUT``, ``.reason``
                says why).  The connection stays usable unless the runner closes
                it, as it does after ``TIMEOUT``.
            UnauthorizedError: the runner refused the credentials; it then closes
                the connection with 1008.  Get a fresh token and reconnect.
            ConnectionClosedError: the connection ended abnormally; ``.code`` is
                the close code (1001 runner draining: reconnect; 1006 lost; 1008
                policy; 1009 message too big; 1011 runner error).
            CodecError: a result the session codec cannot decode; the connection
                stays usable.
            TimeoutError: nothing arrived within ``timeout`` seconds; the
                connection stays usable.
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
