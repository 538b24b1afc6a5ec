"""Sans-IO WebSocket protocol state machines for both roles, on wsproto and h11.

Bytes in (:meth:`receive_data`), events out (:meth:`events`), bytes to write
(:meth:`data_to_send`).  Nothing here touches a socket, an event loop, a thread
or a clock, so asyncio, trio and blocking sockets all drive the same code and
every edge case is a unit test.

What this layer adds on top of wsproto: whole messages (fragments assembled
under a size limit, closing with 1009 beyond it), automatic pongs, the closing
handshake answered for you, and for the server role a single h11 front door
that serves plain HTTP (health, tokens) and WebSocket upgrades alike.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable, Sequence

import h11
import orjson
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.events import Pong as WsPong
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from warmwire.core import masking
from warmwire.core.close_codes import CloseCode
from warmwire.core.errors import HandshakeError, ProtocolError
from warmwire.core.events import (
    BadRequest,
    Closed,
    Event,
    Headers,
    HttpRequest,
    Initiator,
    Message,
    Opened,
    Pong,
    Rejected,
    UpgradeRequest,
)

masking.install()

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_REQUEST_BODY = 64 * 1024
MAX_REJECT_BODY = 64 * 1024
_MAX_HEADER_BYTES = 16 * 1024


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Protocol:
    """The message layer shared by both roles, once the handshake is done."""

    def __init__(self, max_message_size: int | None) -> None:
        self.max_message_size = max_message_size
        self.state = State.CONNECTING
        self._conn: Connection | None = None
        self._out = bytearray()
        self._events: collections.deque[Event] = collections.deque()
        self._parts: list[bytes | str] = []
        self._size = 0
        self._close_sent: tuple[int, str] | None = None
        self.close_transport = False
        """True once the transport should be closed, after flushing :meth:`data_to_send`."""

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes read from the transport; ``None`` means end of stream."""
        raise NotImplementedError

    # -- reading ----------------------------------------------------------
    def events(self) -> list[Event]:
        """Return and forget the events produced so far."""
        events = list(self._events)
        self._events.clear()
        return events

    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return anything (cheap; for the hot path)."""
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Return and forget the bytes waiting to be written to the transport."""
        data = bytes(self._out)
        self._out.clear()
        return data

    # -- writing ----------------------------------------------------------
    def send_message(self, data: bytes | bytearray | memoryview | str) -> None:
        """Queue one message: ``str`` as a text frame, bytes as a binary frame."""
        conn = self._require_open()
        if isinstance(data, str):
            self._out += conn.send(TextMessage(data=data))
        else:
            self._out += conn.send(BytesMessage(data=bytes(data)))

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping; the peer's :class:`~warmwire.core.events.Pong` proves it is alive."""
        self._out += self._require_open().send(Ping(payload=payload))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake (no-op once closing or closed)."""
        if self.state is not State.OPEN or self._conn is None:
            return
        reason = _truncate_reason(reason)
        self._out += self._conn.send(CloseConnection(code=code, reason=reason))
        self._close_sent = (code, reason)
        self.state = State.CLOSING

    def _require_open(self) -> Connection:
        if self.state is not State.OPEN or self._conn is None:
            raise ProtocolError(
                f"cannot send on a connection that is {self.state.value}; open a new connection."
            )
        return self._conn

    # -- frames -----------------------------------------------------------
    def _receive_frames(self, data: bytes | None) -> None:
        if self.state is State.CLOSED:
            return  # Bytes after a failure or the close are ignored, as RFC 6455 allows.
        assert self._conn is not None
        if data is None:
            self._conn.receive_data(None)
        elif data:
            self._conn.receive_data(data)
        self._process_frames()

    def _process_frames(self) -> None:
        assert self._conn is not None
        for event in self._conn.events():
            if self.state is State.CLOSED:
                return
            if isinstance(event, BytesMessage | TextMessage):
                self._assemble(event.data, event.message_finished)
            elif isinstance(event, Ping):
                if self._conn.state is ConnectionState.OPEN:
                    self._out += self._conn.send(event.response())
            elif isinstance(event, WsPong):
                self._events.append(Pong(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self._on_close(event)

    def _assemble(self, data: bytes | bytearray | str, finished: bool) -> None:
        self._size += len(data) if not isinstance(data, str) else _utf8_len(data)
        limit = self.max_message_size
        if limit is not None and self._size > limit:
            self._parts.clear()
            self._fail(
                CloseCode.MESSAGE_TOO_BIG,
                f"message over the {limit}-byte limit; send smaller messages or raise "
                "max_message_size",
            )
            return
        self._parts.append(data if isinstance(data, str) else bytes(data))
        if finished:
            parts, self._parts, self._size = self._parts, [], 0
            if len(parts) == 1:
                self._events.append(Message(parts[0]))
            elif isinstance(parts[0], str):
                self._events.append(Message("".join(p for p in parts if isinstance(p, str))))
            else:
                self._events.append(Message(b"".join(p for p in parts if isinstance(p, bytes))))

    def _on_close(self, event: CloseConnection) -> None:
        assert self._conn is not None
        wsstate = self._conn.state
        if wsstate is ConnectionState.REMOTE_CLOSING:
            # The peer started the closing handshake: echo its code and finish.
            self._out += self._conn.send(event.response())
            self._finish(event.code, event.reason or "", Initiator.REMOTE)
        elif wsstate is ConnectionState.CLOSED:
            if self._close_sent is not None:
                # The peer answered our close, or just hung up: our intent stands.
                self._finish(*self._close_sent, Initiator.LOCAL)
            else:
                self._finish(
                    CloseCode.ABNORMAL, "connection lost without a close frame", Initiator.NETWORK
                )
        else:
            # wsproto reports a frame it could not parse as a close event while
            # the connection is still open: we must fail the connection.
            self._fail(event.code, event.reason or "protocol error")

    def _fail(self, code: int, reason: str) -> None:
        assert self._conn is not None
        reason = _truncate_reason(reason)
        if self._conn.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._out += self._conn.send(CloseConnection(code=code, reason=reason))
        self._finish(code, reason, Initiator.LOCAL)

    def _finish(self, code: int, reason: str, initiator: Initiator) -> None:
        self.state = State.CLOSED
        self.close_transport = True
        self._events.append(Closed(code, reason, initiator))


class ClientProtocol(_Protocol):
    """The client role: sends the upgrade request, then exchanges messages."""

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
        self._handshake = H11Handshake(ConnectionType.CLIENT)
        self._reject: Rejected | None = None
        self._reject_body = bytearray()
        request = Request(
            host=host,
            target=target,
            extra_headers=[(k.encode(), v.encode()) for k, v in headers],
            subprotocols=list(subprotocols),
        )
        self._out += self._handshake.send(request)

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
            self._handshake.receive_data(data)
            for event in self._handshake.events():
                self._on_handshake_event(event)
        except RemoteProtocolError as exc:
            self.state = State.CLOSED
            self.close_transport = True
            raise HandshakeError(f"invalid handshake response from the runner: {exc}") from None

    def _on_handshake_event(self, event: object) -> None:
        if isinstance(event, AcceptConnection):
            self._conn = self._handshake.connection
            self.state = State.OPEN
            headers = _decode_headers(event.extra_headers)
            self._events.append(Opened(event.subprotocol, headers))
            self._process_frames()  # frames that arrived with the 101 response
        elif isinstance(event, RejectConnection):
            self._reject = Rejected(event.status_code, _decode_headers(event.headers), b"")
            if not event.has_body:
                self._rejected()
        elif isinstance(event, RejectData):
            if len(self._reject_body) < MAX_REJECT_BODY:
                self._reject_body += event.data[: MAX_REJECT_BODY - len(self._reject_body)]
            if event.body_finished:
                self._rejected()

    def _rejected(self) -> None:
        assert self._reject is not None
        self.state = State.CLOSED
        self.close_transport = True
        self._events.append(
            Rejected(self._reject.status_code, self._reject.headers, bytes(self._reject_body))
        )


class ServerProtocol(_Protocol):
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
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES)
        self._request: h11.Request | None = None
        self._body = bytearray()
        self._handshake: H11Handshake | None = None
        self._responded = False

    def receive_data(self, data: bytes | None) -> None:
        """Feed bytes read from the transport; ``None`` means end of stream."""
        if self.state is not State.CONNECTING:
            self._receive_frames(data)
            return
        if data is not None and not data:
            return  # an empty read is not the end of the stream (h11 would take b"" as EOF)
        if self._handshake is not None:
            # Waiting on the application's answer: keep the bytes (and EOF) in h11's
            # buffer; accept() replays them as frames.
            if not self._h11.trailing_data[1]:
                self._h11.receive_data(b"" if data is None else data)
            return
        try:
            self._h11.receive_data(b"" if data is None else data)
            self._read_request()
        except h11.RemoteProtocolError as exc:
            self._bad_request(exc.error_status_hint, f"malformed HTTP request: {exc}")

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
                if _is_upgrade(event):
                    self._start_upgrade(event)
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
                        _decode_headers(self._request.headers),
                        bytes(self._body),
                    )
                )
                return

    def _start_upgrade(self, request: h11.Request) -> None:
        handshake = H11Handshake(ConnectionType.SERVER)
        try:
            handshake.initiate_upgrade_connection(list(request.headers), request.target)
            ws_request = next(e for e in handshake.events() if isinstance(e, Request))
        except RemoteProtocolError as exc:
            self._bad_request(400, f"invalid WebSocket upgrade: {exc}")
            return
        self._handshake = handshake
        self._events.append(
            UpgradeRequest(
                request.target.decode("ascii", "replace"),
                _decode_headers(request.headers),
                tuple(ws_request.subprotocols),
            )
        )

    def accept(self, subprotocol: str | None = None, headers: Headers = ()) -> None:
        """Accept the pending upgrade request (optionally choosing a subprotocol)."""
        if self._handshake is None or self.state is not State.CONNECTING:
            raise ProtocolError("accept() needs a pending WebSocket upgrade request")
        extra = [(k.encode(), v.encode()) for k, v in headers]
        try:
            self._out += self._handshake.send(
                AcceptConnection(subprotocol=subprotocol, extra_headers=extra)
            )
        except LocalProtocolError as exc:
            raise ProtocolError(f"cannot accept the upgrade: {exc}") from None
        self._conn = self._handshake.connection
        assert self._conn is not None
        self.state = State.OPEN
        trailing, closed = self._h11.trailing_data
        self._receive_frames(trailing)
        if closed:
            self._receive_frames(None)

    def respond(self, status: int, body: bytes = b"", headers: Headers = ()) -> None:
        """Answer the request (plain, or an upgrade being refused) and close the connection."""
        if self.state is not State.CONNECTING or self._responded:
            raise ProtocolError("respond() needs a pending HTTP request")
        self._responded = True
        names = {k.lower() for k, _ in headers}
        all_headers = [(k.encode(), v.encode()) for k, v in headers]
        if "content-type" not in names:
            all_headers.append((b"content-type", b"application/json"))
        all_headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        try:
            self._out += self._h11.send(h11.Response(status_code=status, headers=all_headers))
            if self._request is None or self._request.method != b"HEAD":
                self._out += self._h11.send(h11.Data(data=body))
            self._out += self._h11.send(h11.EndOfMessage())
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


def _is_upgrade(request: h11.Request) -> bool:
    for name, value in request.headers:
        if name == b"upgrade" and value.lower() == b"websocket":
            return True
    return False


def _decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    return tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)


def _utf8_len(text: str) -> int:
    # The limit is in bytes; str.isascii() is O(1) in CPython, so ASCII text costs nothing.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _truncate_reason(reason: str) -> str:
    # A close frame's payload is at most 125 bytes: 2 for the code, 123 for the reason.
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode("utf-8", "ignore") + "..."
