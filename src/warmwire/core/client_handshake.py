"""The client role: the opening handshake (RFC 6455 §4.1) on h11, then the connection.

:class:`ClientProtocol` writes the upgrade request, reads the runner's answer
(a 101, or an HTTP refusal it reports as :class:`~warmwire.core.events.Rejected`)
and from then on is a :class:`~warmwire.core.connection.Connection`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence

import h11

from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from warmwire.core.errors import HandshakeError, ProtocolError
from warmwire.core.events import Opened, Rejected
from warmwire.core.handshake_headers import (
    MAX_HEADER_BYTES,
    accept_token,
    connection_upgrade,
    decode_headers,
    header_values,
)

MAX_REJECT_BODY = 64 * 1024
"""The most of a refusal's body a client keeps (the rest is read and dropped)."""


class ClientProtocol(Connection):
    """The client role: sends the upgrade request, then exchanges messages."""

    _client = True

    def __init__(
        self,
        *,
        host: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        subprotocols: Sequence[str] = (),
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        super().__init__(max_message_size)
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._key = base64.b64encode(os.urandom(16))
        self._subprotocols = tuple(subprotocols)
        self._reject: Rejected | None = None
        self._reject_body = bytearray()
        request = [
            (b"host", host.encode("idna")),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-key", self._key),
            (b"sec-websocket-version", b"13"),
        ]
        if subprotocols:
            request.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode("ascii")))
        request += [(k.encode(), v.encode()) for k, v in headers]
        try:
            self._out.append(
                self._h11.send(h11.Request(method=b"GET", target=target.encode(), headers=request))
            )
            self._out.append(self._h11.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise ProtocolError(f"cannot build the upgrade request: {exc}") from None

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes read from the transport; ``None`` means end of stream."""
        if self.state is not State.CONNECTING:
            self._receive_frames(data)
            return
        if data is not None and not data:
            return  # an empty read is not the end of the stream (h11 would take b"" as EOF)
        if data is None and self._reject is not None:
            # A refusal whose body runs until the connection closes: EOF ends the body.
            self._feed_handshake(b"")
            if self.close_transport:
                return
        if data is None:
            self.state = State.CLOSED
            self.close_transport = True
            raise HandshakeError(
                "the runner closed the connection during the opening handshake; "
                "check the URL points at a warmwire or fal runner"
            )
        self._feed_handshake(data)

    def _feed_handshake(self, data: bytes) -> None:
        try:
            self._h11.receive_data(data)
            while self.state is State.CONNECTING and not self.close_transport:
                event = self._h11.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                self._on_handshake_event(event)
        except (h11.RemoteProtocolError, HandshakeError) as exc:
            self.state = State.CLOSED
            self.close_transport = True
            raise HandshakeError(f"invalid handshake response from the runner: {exc}") from None

    def _on_handshake_event(self, event: object) -> None:
        if isinstance(event, h11.InformationalResponse):
            if event.status_code == 101:
                self._switched(event)
        elif isinstance(event, h11.Response):
            self._reject = Rejected(event.status_code, decode_headers(event.headers), b"")
        elif isinstance(event, h11.Data):
            if len(self._reject_body) < MAX_REJECT_BODY:
                self._reject_body += event.data[: MAX_REJECT_BODY - len(self._reject_body)]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            self._rejected()  # the refusal's body is complete

    def _switched(self, response: h11.InformationalResponse) -> None:
        """The 101: check it answers our request (RFC 6455 §4.1), then the connection is open."""
        values = header_values(response.headers)
        if not connection_upgrade(values):
            raise HandshakeError("missing header 'Connection: Upgrade'")
        if [v.lower() for v in values.get(b"upgrade", ())] != [b"websocket"]:
            raise HandshakeError("missing header 'Upgrade: websocket'")
        if values.get(b"sec-websocket-accept") != [accept_token(self._key)]:
            raise HandshakeError("bad Sec-WebSocket-Accept")
        if b"sec-websocket-extensions" in values:
            raise HandshakeError("the runner chose an extension the client did not offer")
        chosen = values.get(b"sec-websocket-protocol")
        subprotocol = chosen[0].decode("latin-1") if chosen else None
        if subprotocol is not None and subprotocol not in self._subprotocols:
            raise HandshakeError(f"the runner chose subprotocol {subprotocol!r}, not offered")
        self.state = State.OPEN
        consumed = {
            b"connection",
            b"upgrade",
            b"sec-websocket-accept",
            b"sec-websocket-protocol",
            b"sec-websocket-extensions",
        }
        headers = [(k, v) for k, v in response.headers if k not in consumed]
        self._events.append(Opened(subprotocol, decode_headers(headers)))
        self._receive_frames(bytes(self._h11.trailing_data[0]))  # frames that came with the 101

    def _rejected(self) -> None:
        if self._reject is None:
            raise HandshakeError("the runner ended its answer before a status line")
        self.state = State.CLOSED
        self.close_transport = True
        self._events.append(
            Rejected(self._reject.status_code, self._reject.headers, bytes(self._reject_body))
        )


def rejection_error(rejected: Rejected) -> HandshakeError:
    """The error a client raises when the runner answers the upgrade with HTTP."""
    body = rejected.body.decode("utf-8", "replace")
    hints = {
        404: "check the app id, the path and the runner URL",
        401: "check your credentials",
        403: "check your credentials",
        503: "the runner is at capacity or draining; retry shortly or use another runner",
    }
    hint = hints.get(rejected.status_code, "check the runner's logs")
    return HandshakeError(
        f"the runner refused the WebSocket upgrade with HTTP {rejected.status_code}: {body}; "
        f"{hint}",
        status_code=rejected.status_code,
        body=rejected.body,
    )
