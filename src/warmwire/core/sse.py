"""Server-Sent Events, sans-IO: encoding an event, and parsing a stream of them.

The runner writes events with :func:`encode_event`; warmwire's stream clients
feed what they read to an :class:`EventParser` and take complete events out.
The parser follows the WHATWG ``text/event-stream`` rules the clients need:
lines end with CRLF, LF or CR; ``data`` lines join with ``\\n``; ``event`` names
the event (default ``message``); lines starting with ``:`` are comments
(keepalives); one space after the colon is dropped; an event is dispatched at a
blank line, and only if it had data.  ``id`` and ``retry`` are read and ignored:
a stream of one request is not resumed.
"""

from __future__ import annotations

import codecs

import attrs

DEFAULT_EVENT = "message"


@attrs.frozen(slots=True)
class ServerSentEvent:
    """One dispatched event."""

    data: str
    event: str = DEFAULT_EVENT


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One event carrying ``data`` (which must hold no line break: compact JSON does not)."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


class EventParser:
    """Bytes in (:meth:`feed`, in chunks of any size), complete events out."""

    def __init__(self) -> None:
        self._buffer = ""
        self._pending_cr = False
        """The last chunk ended with CR: an LF starting the next one belongs to it."""
        self._data: list[str] = []
        self._event = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take ``chunk``; the events it completed, in order."""
        text = self._decoder.decode(chunk)
        if not text:
            return []  # nothing yet (an empty read, or half a character)
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = False
        self._buffer += text
        events: list[ServerSentEvent] = []
        while True:
            end, size = _line_end(self._buffer)
            if end < 0:
                break
            if end + size == len(self._buffer) and self._buffer[end] == "\r":
                self._pending_cr = True  # CRLF may be split across chunks
            line, self._buffer = self._buffer[:end], self._buffer[end + size :]
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent("\n".join(data), event or DEFAULT_EVENT)


def _line_end(buffer: str) -> tuple[int, int]:
    """Where the first line of ``buffer`` ends and the size of its terminator, or ``(-1, 0)``."""
    lf = buffer.find("\n")
    cr = buffer.find("\r")
    if cr < 0 and lf < 0:
        return -1, 0
    if cr < 0 or (0 <= lf < cr):
        return lf, 1
    if cr + 1 < len(buffer) and buffer[cr + 1] == "\n":
        return cr, 2
    return cr, 1
