"""Sans-IO WebSocket protocol state machines for both roles, on h11.

Bytes in (:meth:`receive_data`), events out (:meth:`events`), bytes to write
(:meth:`data_to_send`).  Nothing here touches a socket, an event loop, a thread
or a clock, so asyncio, trio and blocking sockets all drive the same code and
every edge case is a unit test.

Both opening handshakes (on h11) and the frames (see
:mod:`warmwire.core.frames`) are this module's own: whole messages (fragments
assembled under a size limit, closing with 1009 beyond it), automatic pongs,
the closing handshake answered for you, and for the server role a single h11 front door that serves
plain HTTP (health, tokens) and WebSocket upgrades alike.
"""

from __future__ import annotations

import base64
import codecs
import collections
import enum
import hashlib
import os
from collections.abc import Iterable, Sequence

import h11
import orjson

from warmwire.core import frames, http_request, masking
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
from warmwire.core.handshake_headers import parse_subprotocols

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_REQUEST_BODY = 64 * 1024
MAX_REJECT_BODY = 64 * 1024
_MAX_HEADER_BYTES = 16 * 1024
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class _Protocol:
    """The message layer shared by both roles, once the handshake is done.

    Frames are read and written here: the hot path is one header parse, one
    unmask and one append per message, on memoryviews of a single receive
    buffer.
    """

    _client = False

    def __init__(self, max_message_size: int | None) -> None:
        self.max_message_size = max_message_size
        self.state = State.CONNECTING
        self._out: list[bytes | bytearray] = []  # chunks: a 1 MB frame is not copied
        self._events: collections.deque[Event] = collections.deque()
        self._buf = bytearray()
        # A message's payload so far: bytes, or views of reads that are bytes (immutable).
        self._parts: list[bytes | bytearray | memoryview] = []
        self._text: codecs.IncrementalDecoder | None = None
        self._text_parts: list[str] = []
        self._message_opcode = 0  # TEXT or BINARY while a message is being received
        # A data frame whose payload is still arriving: bytes left, mask key, FIN, offset.
        self._frame_left = 0
        self._frame_key: bytes | None = None
        self._frame_fin = False
        self._frame_offset = 0
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
        out, self._out = self._out, []
        if len(out) == 1 and isinstance(out[0], bytes):
            return out[0]
        return b"".join(out)

    def chunks_to_send(self) -> list[bytes | bytearray]:
        """The same bytes as :meth:`data_to_send`, as chunks to write in order.

        A large message's payload is its own chunk: writing it apart from its
        header saves copying it.
        """
        out, self._out = self._out, []
        return out

    # -- writing ----------------------------------------------------------
    def send_message(self, data: bytes | bytearray | memoryview | str) -> None:
        """Queue one message: ``str`` as a text frame, bytes as a binary frame."""
        self._require_open()
        if isinstance(data, str):
            self._frame(frames.Opcode.TEXT, data.encode("utf-8"))
        else:
            self._frame(frames.Opcode.BINARY, bytes(data))

    def send_ping(self, payload: bytes = b"") -> None:
        """Queue a ping; the peer's :class:`~warmwire.core.events.Pong` proves it is alive."""
        self._require_open()
        self._frame(frames.Opcode.PING, payload)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake (no-op once closing or closed)."""
        if self.state is not State.OPEN:
            return
        reason = _truncate_reason(reason)
        self._frame(frames.Opcode.CLOSE, frames.close_payload(code, reason))
        self._close_sent = (code, reason)
        self.state = State.CLOSING

    def _require_open(self) -> None:
        if self.state is not State.OPEN:
            raise ProtocolError(
                f"cannot send on a connection that is {self.state.value}; open a new connection."
            )

    def _frame(self, opcode: int, payload: bytes) -> None:
        # RFC 6455 §5.3: a client masks every frame with a fresh, unpredictable key.
        self._out += frames.build(opcode, payload, os.urandom(4) if self._client else None)

    # -- frames -----------------------------------------------------------
    def _receive_frames(self, data: bytes | None) -> None:
        if self.state is State.CLOSED:
            return  # Bytes after a failure or the close are ignored, as RFC 6455 allows.
        if data is None:
            if self._close_sent is not None:
                # The peer hung up after our close frame: our intent stands.
                self._finish(*self._close_sent, Initiator.LOCAL)
            else:
                self._finish(
                    CloseCode.ABNORMAL, "connection lost without a close frame", Initiator.NETWORK
                )
            return
        if not data:
            return
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            src = data  # the common case: parse the read itself, no copy into the buffer
        try:
            with memoryview(src) as view:
                used = self._parse(view)
        except frames.FrameError as exc:
            self._fail(exc.code, exc.reason)
            return
        if src is buf:
            del buf[:used]  # O(1) at the front of a bytearray
        elif used < len(data):
            buf += data[used:]

    def _parse(self, view: memoryview) -> int:
        """Handle every frame (or part of a data frame) in ``view``; return the bytes used."""
        pos = 0
        end = len(view)
        expect_masked = not self._client
        limit = self.max_message_size
        while pos < end and self.state is not State.CLOSED:
            if self._frame_left:
                # Inside a data frame whose payload spans reads: take what is here,
                # so invalid UTF-8 fails at once and no payload waits in the buffer.
                take = min(self._frame_left, end - pos)
                chunk = view[pos : pos + take]
                pos += take
                key = self._frame_key
                data: bytes | bytearray | memoryview
                if key is not None:
                    turn = self._frame_offset % 4
                    data = masking.mask(chunk, key[turn:] + key[:turn])
                elif isinstance(read := view.obj, bytes):
                    # An immutable read is kept, not copied: whole, or a view of its payload.
                    data = read if take == end else chunk
                else:
                    data = bytes(chunk)  # the receive buffer, which changes: copied
                self._frame_offset += take
                self._frame_left -= take
                self._on_data(data, self._frame_fin and not self._frame_left)
                continue
            if end - pos < 2:
                break
            second = view[pos + 1]
            opcode, fin = frames.check_header(view[pos], second, expect_masked=expect_masked)
            short = second & 0x7F
            header = 2 + frames.length_field_size(short) + (4 if expect_masked else 0)
            if end - pos < header:
                break
            length, _ = frames.read_length(view, pos + 2, short)
            start = pos + header
            key = bytes(view[start - 4 : start]) if expect_masked else None
            if opcode in frames.DATA_OPCODES:
                self._start_data_frame(opcode)
                if limit is not None and self._size + length > limit:
                    # Judged on the header: an oversized message is refused before
                    # its payload is read.
                    self._too_big(limit)
                    break
                if end - start < length:
                    self._frame_left, self._frame_key = length, key
                    self._frame_fin, self._frame_offset = fin, 0
                    pos = start
                    continue
            elif end - start < length:
                break  # a control frame (at most 125 bytes) is handled whole
            payload = view[start : start + length]
            pos = start + length
            data = masking.mask(payload, key) if key is not None else bytes(payload)
            if opcode in frames.DATA_OPCODES:
                self._on_data(data, fin)
            else:
                self._on_control(opcode, bytes(data))
        return pos

    def _start_data_frame(self, opcode: int) -> None:
        if opcode == frames.Opcode.CONTINUATION:
            if not self._message_opcode:
                raise frames.FrameError(1002, "continuation frame without a message to continue")
        elif self._message_opcode:
            raise frames.FrameError(1002, "new message before the previous one was finished")
        else:
            self._message_opcode = opcode

    def _on_data(self, data: bytes | bytearray | memoryview, fin: bool) -> None:
        self._size += len(data)
        if self._message_opcode == frames.Opcode.TEXT:
            if fin and self._text is None:
                self._deliver_text(data)
                return
            if self._text is None:
                self._text = codecs.getincrementaldecoder("utf-8")("strict")
            try:
                # Incremental: invalid UTF-8 fails the connection as soon as it
                # arrives, not when the last fragment does.
                self._text_parts.append(self._text.decode(data, final=fin))
            except UnicodeDecodeError:
                raise frames.FrameError(1007, "text message is not valid UTF-8") from None
            if fin:
                text, self._text, self._text_parts = "".join(self._text_parts), None, []
                self._end_message(text)
            return
        if fin and not self._parts:
            self._end_message(data if isinstance(data, bytes) else bytes(data))
            return
        self._parts.append(data)
        if fin:
            parts, self._parts = self._parts, []
            self._end_message(b"".join(parts))

    def _deliver_text(self, data: bytes | bytearray | memoryview) -> None:
        try:
            text = str(data, "utf-8")
        except UnicodeDecodeError:
            raise frames.FrameError(1007, "text message is not valid UTF-8") from None
        self._end_message(text)

    def _end_message(self, message: bytes | str) -> None:
        self._message_opcode = 0
        self._size = 0
        self._events.append(Message(message))

    def _too_big(self, limit: int) -> None:
        self._parts.clear()
        self._text_parts.clear()
        self._fail(
            CloseCode.MESSAGE_TOO_BIG,
            f"message over the {limit}-byte limit; send smaller messages or raise max_message_size",
        )

    def _on_control(self, opcode: int, payload: bytes) -> None:
        if opcode == frames.Opcode.PING:
            if self.state is State.OPEN:
                self._frame(frames.Opcode.PONG, payload)
        elif opcode == frames.Opcode.PONG:
            self._events.append(Pong(payload))
        else:
            code, reason = frames.parse_close(payload)
            if self.state is State.OPEN:
                # The peer started the closing handshake: echo its code and finish.
                self._frame(frames.Opcode.CLOSE, frames.close_payload(code, reason))
                self._finish(code, reason, Initiator.REMOTE)
            else:
                # The peer answered our close: our intent stands.
                assert self._close_sent is not None
                self._finish(*self._close_sent, Initiator.LOCAL)

    def _fail(self, code: int, reason: str) -> None:
        reason = _truncate_reason(reason)
        if self.state is State.OPEN:
            self._frame(frames.Opcode.CLOSE, frames.close_payload(code, reason))
        self._finish(code, reason, Initiator.LOCAL)

    def _finish(self, code: int, reason: str, initiator: Initiator) -> None:
        self.state = State.CLOSED
        self.close_transport = True
        self._events.append(Closed(code, reason, initiator))


class ClientProtocol(_Protocol):
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
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
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
            self._reject = Rejected(event.status_code, _decode_headers(event.headers), b"")
        elif isinstance(event, h11.Data):
            if len(self._reject_body) < MAX_REJECT_BODY:
                self._reject_body += event.data[: MAX_REJECT_BODY - len(self._reject_body)]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            self._rejected()  # the refusal's body is complete

    def _switched(self, response: h11.InformationalResponse) -> None:
        """The 101: check it answers our request (RFC 6455 §4.1), then the connection is open."""
        values = _header_values(response.headers)
        if not _connection_upgrade(values):
            raise HandshakeError("missing header 'Connection: Upgrade'")
        if [v.lower() for v in values.get(b"upgrade", ())] != [b"websocket"]:
            raise HandshakeError("missing header 'Upgrade: websocket'")
        if values.get(b"sec-websocket-accept") != [_accept_token(self._key)]:
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
        self._events.append(Opened(subprotocol, _decode_headers(headers)))
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
                h11.SERVER, max_incomplete_event_size=_MAX_HEADER_BYTES
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
            return len(head) <= _MAX_HEADER_BYTES  # beyond: h11 answers 431
        parsed = http_request.parse_head(head, end)
        if parsed is None or not _is_upgrade(parsed.headers):
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
                if _is_upgrade(event.headers):
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
                        _decode_headers(self._request.headers),
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
        values = _header_values(headers)
        problem = None
        if method != b"GET":
            problem = "the method must be GET"
        elif not _connection_upgrade(values):
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
                _decode_headers(headers),
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
            (b"sec-websocket-accept", _accept_token(self._upgrade_key)),
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


def _is_upgrade(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in headers)


def _switching_protocols(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The 101 response, byte for byte as h11 writes it."""
    lines = [b"HTTP/1.1 101 Switching Protocols"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _header_values(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    """Each header's values by name (h11 gives names lowercased)."""
    values: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        values.setdefault(name, []).append(value)
    return values


def _connection_upgrade(values: dict[bytes, list[bytes]]) -> bool:
    """Whether a ``Connection`` header lists the ``upgrade`` token (any case, any position)."""
    return any(
        token.strip().lower() == b"upgrade"
        for value in values.get(b"connection", ())
        for token in value.split(b",")
    )


def _accept_token(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + _ACCEPT_GUID).digest())


def _decode_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    return tuple((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers)


def _truncate_reason(reason: str) -> str:
    # A close frame's payload is at most 125 bytes: 2 for the code, 123 for the reason.
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode("utf-8", "ignore") + "..."
