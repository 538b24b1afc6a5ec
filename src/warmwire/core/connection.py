"""The WebSocket connection once opened: frames, messages and closing, for both roles.

Sans-IO: bytes in (:meth:`Connection.receive_data`), events out
(:meth:`Connection.events`), bytes to write (:meth:`Connection.data_to_send`).
Nothing here touches a socket, an event loop, a thread or a clock, so asyncio,
trio and blocking sockets all drive the same code and every edge case is a
unit test.  The frames' wire format is :mod:`warmwire.core.frames`; the opening
handshakes are :mod:`warmwire.core.client_handshake` and
:mod:`warmwire.core.server_handshake`.
"""

from __future__ import annotations

import codecs
import enum
import os

from warmwire.core import frames, masking
from warmwire.core.close_codes import CloseCode
from warmwire.core.errors import ProtocolError
from warmwire.core.events import Closed, Event, Initiator, Message, Pong

DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class State(enum.Enum):
    """Where a connection is: opening handshake, messages, closing handshake, over."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Connection:
    """A WebSocket connection's frame and message layer, shared by both roles.

    :class:`~warmwire.core.client_handshake.ClientProtocol` and
    :class:`~warmwire.core.server_handshake.ServerProtocol` add an opening
    handshake on top; the I/O drivers (:mod:`warmwire.transports`) hold either
    as a ``Connection`` once it is open, because from then on both roles are
    the same: whole messages in (fragments assembled under a size limit,
    closing with 1009 beyond it), messages out, automatic pongs, and the
    closing handshake answered for you.

    Frames are read and written here: the hot path is one header parse, one
    unmask and one append per message, on memoryviews of a single receive
    buffer.
    """

    _client = False

    def __init__(self, max_message_size: int | None) -> None:
        self.max_message_size = max_message_size
        self.state = State.CONNECTING
        self._out: list[bytes | bytearray] = []  # chunks: a 1 MB frame is not copied
        self._events: list[Event] = []
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
        """Feed bytes read from the transport; ``None`` means end of stream.

        Each role reads its opening handshake first, then hands the bytes to
        the frame layer.
        """
        raise NotImplementedError

    # -- reading ----------------------------------------------------------
    def events(self) -> list[Event]:
        """Return and forget the events produced so far."""
        events, self._events = self._events, []
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
        if self.state is not State.OPEN:  # _require_open(), inline: once per message
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
                    data = masking.masker(chunk, key[turn:] + key[:turn])
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
                if opcode == frames.Opcode.CONTINUATION or self._message_opcode:
                    self._start_data_frame(opcode)  # judges the fragment
                else:
                    self._message_opcode = opcode  # a new message: the common case
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
            data = masking.masker(payload, key) if key is not None else bytes(payload)
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


def _truncate_reason(reason: str) -> str:
    # A close frame's payload is at most 125 bytes: 2 for the code, 123 for the reason.
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode("utf-8", "ignore") + "..."
