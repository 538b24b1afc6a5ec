"""The server role: one HTTP request (plain or upgrade, RFC 6455 §4.2), then the connection.

:class:`ServerProtocol` is the runner's front door: it reads one request with
h11 (or, for the plainest upgrade, with :mod:`warmwire.core.http_request`),
answers it with :meth:`~ServerProtocol.accept` or
:meth:`~ServerProtocol.respond`, and after an accepted upgrade is a
:class:`~warmwire.core.connection.Connection`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import h11
import orjson

from warmwire.core import http_request
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from warmwire.core.errors import ProtocolError
from warmwire.core.events import BadRequest, Headers, HttpRequest, UpgradeRequest
from warmwire.core.handshake_headers import (
    MAX_HEADER_BYTES,
    accept_token,
    asks_for_websocket,
    connection_upgrade,
    decode_headers,
    header_values,
    parse_subprotocols,
)

MAX_REQUEST_BODY = 64 * 1024
"""The largest plain HTTP request body the front door reads (413 beyond it)."""


class ServerProtocol(Connection):
    """The server role: one HTTP request (plain or upgrade), then messages.

    Plain requests end with ``respond()`` and ``Connection: close``: the HTTP
    routes (health, metrics, tokens) are rare next to the realtime traffic, so
    keep-alive would buy nothing here but state.
    """

    def __init__(
        self,
        *,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_request_body: int = MAX_REQUEST_BODY,
    ) -> None:
        super().__init__(max_message_size)
        self.max_request_body = max_request_body
        self._h11_connection: h11.Connection | None = None
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._upgrade_key: bytes | None = None
        """The client's Sec-WebSocket-Key while an upgrade waits for accept() or respond()."""
        self._offered: tuple[str, ...] = ()
        self._responded = False
        # The upgrade fast path (see warmwire.core.http_request): the request's
        # bytes while they may still be a plain upgrade; once parsed, the head
        # h11 has not seen (shown to it only to write a response other than
        # the 101) and the bytes that followed it.
        self._head: bytearray | None = bytearray()
        self._fast_head: bytes | None = None
        self._held: bytearray | None = None
        self._held_eof = False

    @property
    def _h11(self) -> h11.Connection:
        # Made on first use: an upgrade on the fast path that is accepted never needs it.
        if self._h11_connection is None:
            self._h11_connection = h11.Connection(
                h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES
            )
        return self._h11_connection

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes read from the transport; ``None`` means end of stream."""
        if self.state is not State.CONNECTING:
            self._receive_frames(data)
            return
        if data is not None and not data:
            return  # an empty read is not the end of the stream (h11 would take b"" as EOF)
        if self._upgrade_key is not None:
            self._hold(data)
            return
        if self._head is not None:
            if data is not None and self._gather(data):
                return
            # Not a plain upgrade (or the peer left): h11 reads it all from the first byte.
            pending, self._head = bytes(self._head), None
            self._feed_h11(pending, eof=data is None)
            return
        self._feed_h11(b"" if data is None else data, eof=data is None)

    def _hold(self, data: bytes | None) -> None:
        """Keep bytes (and EOF) that arrive while the upgrade waits; accept() replays them."""
        if self._held is not None:
            if not self._held_eof:
                if data is None:
                    self._held_eof = True
                else:
                    self._held += data
        elif not self._h11.trailing_data[1]:
            self._h11.receive_data(b"" if data is None else data)

    def _gather(self, data: bytes) -> bool:
        """Collect the head of a plain upgrade request; ``False`` hands the bytes to h11."""
        head = self._head
        assert head is not None
        searched = len(head)
        head += data
        if not http_request.may_be_fast(head):
            return False
        end = http_request.head_end(head, searched - 2)
        if end < 0:
            return len(head) <= MAX_HEADER_BYTES  # beyond: h11 answers 431
        parsed = http_request.parse_head(head, end)
        if parsed is None or not asks_for_websocket(parsed.headers):
            return False
        self._head = None
        self._fast_head = bytes(head[:end])
        self._held = head[end:]
        self._start_upgrade(b"GET", parsed.target, parsed.headers)
        return True

    def _feed_h11(self, data: bytes, *, eof: bool) -> None:
        try:
            if data:
                self._h11.receive_data(data)
            if eof:
                self._h11.receive_data(b"")
            self._read_request()
        except h11.RemoteProtocolError as exc:
            self._bad_request(exc.error_status_hint, f"malformed HTTP request: {exc}")

    def _show_h11_the_request(self) -> None:
        """Let h11 read a request the fast path parsed, before it writes an HTTP response."""
        if self._fast_head is None:
            return
        head, self._fast_head = self._fast_head, None
        self._h11.receive_data(head)
        request = self._h11.next_event()
        # parse_head takes only heads h11 takes (tests/core/test_http_request.py).
        assert isinstance(request, h11.Request), request
        self._request = request

    def _read_request(self) -> None:
        while True:
            event = self._h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.ConnectionClosed):
                self.state = State.CLOSED
                self.close_transport = True
                return
            if isinstance(event, h11.Request):
                self._request = event
                if asks_for_websocket(event.headers):
                    self._start_upgrade(event.method, event.target, event.headers)
                    return
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self.max_request_body:
                    self._bad_request(413, f"request body over {self.max_request_body} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                assert self._request is not None
                self._events.append(
                    HttpRequest(
                        self._request.method.decode("ascii", "replace"),
                        self._request.target.decode("ascii", "replace"),
                        decode_headers(self._request.headers),
                        bytes(self._body),
                    )
                )
                return

    def _start_upgrade(
        self, method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]]
    ) -> None:
        # RFC 6455 §4.2.1, checked on the request h11 has already parsed (a
        # handshake library would parse it again): on a busy runner, or one
        # flooded with bad tokens, the opening handshake is the costliest part
        # of a connection.
        values = header_values(headers)
        problem = None
        if method != b"GET":
            problem = "the method must be GET"
        elif not connection_upgrade(values):
            problem = "missing header 'Connection: Upgrade'"
        elif values.get(b"sec-websocket-version") != [b"13"]:
            problem = "missing header 'Sec-WebSocket-Version: 13'"
        elif len(values.get(b"sec-websocket-key", ())) != 1:
            problem = "missing header 'Sec-WebSocket-Key'"
        elif b"host" not in values:
            problem = "missing header 'Host'"
        if problem is not None:
            self._bad_request(400, f"invalid WebSocket upgrade: {problem}")
            return
        self._upgrade_key = values[b"sec-websocket-key"][0]
        self._offered = tuple(
            parse_subprotocols(
                [v.decode("latin-1") for v in values.get(b"sec-websocket-protocol", ())]
            )
        )
        self._events.append(
            UpgradeRequest(
                target.decode("ascii", "replace"),
                decode_headers(headers),
                self._offered,
            )
        )

    def accept(self, subprotocol: str | None = None, headers: Headers = ()) -> None:
        """Accept the pending upgrade request (optionally choosing a subprotocol)."""
        if self._upgrade_key is None or self.state is not State.CONNECTING:
            raise ProtocolError("accept() needs a pending WebSocket upgrade request")
        if subprotocol is not None and subprotocol not in self._offered:
            raise ProtocolError(
                f"cannot accept the upgrade: subprotocol {subprotocol!r} was not offered"
            )
        response = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept_token(self._upgrade_key)),
        ]
        if subprotocol is not None:
            response.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
        if self._fast_head is not None and not headers:
            # Every value is ours or an offered name taken from a validated header:
            # the 101 needs none of h11's checks (the bytes are the ones h11 writes).
            self._out.append(_switching_protocols(response))
        else:
            self._show_h11_the_request()
            response += [(k.encode(), v.encode()) for k, v in headers]
            try:
                self._out.append(
                    self._h11.send(
                        h11.InformationalResponse(
                            status_code=101, headers=response, reason=b"Switching Protocols"
                        )
                    )
                )
            except h11.LocalProtocolError as exc:
                raise ProtocolError(f"cannot accept the upgrade: {exc}") from None
        self._upgrade_key = None
        self.state = State.OPEN
        if self._held is not None:
            trailing, closed = bytes(self._held), self._held_eof
            self._held = None
        else:
            trailing, closed = self._h11.trailing_data
        self._receive_frames(trailing)
        if closed:
            self._receive_frames(None)

    def respond(self, status: int, body: bytes = b"", headers: Headers = ()) -> None:
        """Answer the request (plain, or an upgrade being refused) and close the connection."""
        if self.state is not State.CONNECTING or self._responded:
            raise ProtocolError("respond() needs a pending HTTP request")
        self._responded = True
        self._show_h11_the_request()
        names = {k.lower() for k, _ in headers}
        all_headers = [(k.encode(), v.encode()) for k, v in headers]
        if "content-type" not in names:
            all_headers.append((b"content-type", b"application/json"))
        all_headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        try:
            self._out.append(self._h11.send(h11.Response(status_code=status, headers=all_headers)))
            if self._request is None or self._request.method != b"HEAD":
                self._out.append(self._h11.send(h11.Data(data=body)))
            self._out.append(self._h11.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise ProtocolError(f"cannot send the HTTP response: {exc}") from None
        self.state = State.CLOSED
        self.close_transport = True

    def _bad_request(self, status: int, reason: str) -> None:
        self._events.append(BadRequest(status, reason))
        if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = orjson.dumps({"error": "Bad Request", "reason": reason})
            try:
                self.respond(status, body)
            except ProtocolError:
                pass
        self.state = State.CLOSED
        self.close_transport = True


def _switching_protocols(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The 101 response, byte for byte as h11 writes it."""
    lines = [b"HTTP/1.1 101 Switching Protocols"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"
