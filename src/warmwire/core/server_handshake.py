"""The server role: one HTTP request (plain or upgrade, RFC 6455 §4.2), then the connection.

:class:`ServerProtocol` is the runner's front door: it reads one request with
h11 (or, for the plainest upgrade, on :mod:`warmwire.core.upgrade_fast_path`),
answers it with :meth:`~ServerProtocol.accept` or
:meth:`~ServerProtocol.respond`, and after an accepted upgrade is a
:class:`~warmwire.core.connection.Connection`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import h11
import orjson

from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from warmwire.core.errors import ProtocolError
from warmwire.core.events import BadRequest, Headers, HttpRequest, UpgradeRequest
from warmwire.core.handshake_headers import (
    accept_token,
    asks_for_websocket,
    connection_upgrade,
    decode_headers,
    header_values,
    parse_subprotocols,
)
from warmwire.core.upgrade_fast_path import FastPathState, UpgradeFastPath

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
        body_limit: Callable[[str], int] | None = None,
    ) -> None:
        super().__init__(max_message_size)
        self.max_request_body = max_request_body
        self._body_limit_for = body_limit
        """The largest body for a request to a given target, where it is not
        ``max_request_body`` (a stream's input may be as large as a message)."""
        self._body_limit = max_request_body
        self._fast_path = UpgradeFastPath()
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._key = b""
        """The client's Sec-WebSocket-Key, once its upgrade request is valid."""
        self._offered: tuple[str, ...] = ()
        self._responded = False
        self._request_read = False
        """A plain request has been read whole (what :meth:`start_response` answers)."""
        self._streaming = False
        """A streamed response is under way: input is only watched for the client's end."""

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes read from the transport; ``None`` means end of stream."""
        if self.state is not State.CONNECTING:
            self._receive_frames(data)
            return
        if self._streaming:
            # The request was read whole; what else the client sends is discarded (not
            # kept for h11, which would buffer it without bound). Its end ends the response.
            if data is None:
                self.state = State.CLOSED
                self.close_transport = True
            return
        if data is not None and not data:
            return  # an empty read is not the end of the stream (h11 would take b"" as EOF)
        fast_path = self._fast_path
        head = fast_path.receive_data(data)
        if head is not None:
            self._start_upgrade(b"GET", head.target, head.headers)
        elif fast_path.state is FastPathState.H11_REQUEST:
            try:
                self._read_request()
            except h11.RemoteProtocolError as exc:
                self._bad_request(exc.error_status_hint, f"malformed HTTP request: {exc}")

    def _show_h11_the_request(self) -> None:
        """Let h11 read a request the fast path parsed, before it writes an HTTP response."""
        if self._fast_path.state is FastPathState.FAST_UPGRADE:
            self._request = self._fast_path.hand_to_h11()

    def _read_request(self) -> None:
        connection = self._fast_path.h11_connection
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.ConnectionClosed):
                self.state = State.CLOSED
                self.close_transport = True
                return
            if isinstance(event, h11.Request):
                self._request = event
                if self._body_limit_for is not None:
                    self._body_limit = self._body_limit_for(event.target.decode("ascii", "replace"))
                if asks_for_websocket(event.headers):
                    self._fast_path.upgrade_read_by_h11()
                    self._start_upgrade(event.method, event.target, event.headers)
                    return
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._body_limit:
                    self._bad_request(413, f"request body over {self._body_limit} bytes")
                    return
            elif isinstance(event, h11.EndOfMessage):
                assert self._request is not None
                self._request_read = True
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
        self._key = values[b"sec-websocket-key"][0]
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
        fast_path = self._fast_path
        if not fast_path.upgrade_waiting or self.state is not State.CONNECTING:
            raise ProtocolError("accept() needs a pending WebSocket upgrade request")
        if subprotocol is not None and subprotocol not in self._offered:
            raise ProtocolError(
                f"cannot accept the upgrade: subprotocol {subprotocol!r} was not offered"
            )
        response = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", accept_token(self._key)),
        ]
        if subprotocol is not None:
            response.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
        if fast_path.state is FastPathState.FAST_UPGRADE and not headers:
            # Every value is ours or an offered name taken from a validated header:
            # the 101 needs none of h11's checks (the bytes are the ones h11 writes).
            self._out.append(_switching_protocols(response))
        else:
            self._show_h11_the_request()
            response += [(k.encode(), v.encode()) for k, v in headers]
            try:
                self._out.append(
                    fast_path.h11_connection.send(
                        h11.InformationalResponse(
                            status_code=101, headers=response, reason=b"Switching Protocols"
                        )
                    )
                )
            except h11.LocalProtocolError as exc:
                raise ProtocolError(f"cannot accept the upgrade: {exc}") from None
        self.state = State.OPEN
        trailing, closed = fast_path.switch()
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
        connection = self._fast_path.h11_connection
        try:
            self._out.append(connection.send(h11.Response(status_code=status, headers=all_headers)))
            if self._request is None or self._request.method != b"HEAD":
                self._out.append(connection.send(h11.Data(data=body)))
            self._out.append(connection.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise ProtocolError(f"cannot send the HTTP response: {exc}") from None
        self.state = State.CLOSED
        self.close_transport = True

    def start_response(self, status: int, headers: Headers = ()) -> None:
        """Answer the plain request with a body to come in parts (:meth:`send_body`), chunked.

        For responses that last, such as a Server-Sent Events stream; the client's end of
        the connection then closes it (``close_transport``), a response in parts or not.
        """
        if self.state is not State.CONNECTING or self._responded or not self._request_read:
            raise ProtocolError("start_response() needs a pending plain HTTP request")
        self._responded = True
        self._streaming = True
        all_headers = [(k.encode(), v.encode()) for k, v in headers]
        all_headers.append((b"connection", b"close"))
        try:
            self._out.append(
                self._fast_path.h11_connection.send(
                    h11.Response(status_code=status, headers=all_headers)
                )
            )
        except h11.LocalProtocolError as exc:
            raise ProtocolError(f"cannot send the HTTP response: {exc}") from None

    def send_body(self, data: bytes) -> None:
        """Send one part of the body of a response begun with :meth:`start_response`."""
        if not self._streaming or self.state is not State.CONNECTING:
            raise ProtocolError("send_body() needs a response begun with start_response()")
        if data:
            self._out.append(self._fast_path.h11_connection.send(h11.Data(data=data)))

    def end_response(self) -> None:
        """End a response begun with :meth:`start_response`; then close the connection."""
        if not self._streaming or self.state is not State.CONNECTING:
            raise ProtocolError("end_response() needs a response begun with start_response()")
        self._out.append(self._fast_path.h11_connection.send(h11.EndOfMessage()))
        self.state = State.CLOSED
        self.close_transport = True

    def _bad_request(self, status: int, reason: str) -> None:
        self._events.append(BadRequest(status, reason))
        if self._fast_path.h11_connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
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
