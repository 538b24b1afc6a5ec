"""A small strict parser for the one request head a runner sees most: a WebSocket upgrade.

h11 is a complete HTTP/1.1 implementation, and parsing an upgrade request with
it costs a runner about 60 µs, a large share of refusing a bad token when a
flood of them arrives.  This parser takes only the plainest form of that
request (``GET``, ``HTTP/1.1``, CRLF lines, no folded lines, no body headers,
exactly one ``Host``) and answers ``None`` for everything else, which then goes
to h11 unchanged: any request this parser accepts, h11 accepts with the same
method, target and headers (a property test holds it to that), and every
malformed request is still judged, and answered with its 400, by h11.

Sans-IO: bytes in, a parsed head out.
"""

from __future__ import annotations

import re

import attrs

# The grammar is h11's (``h11._abnf``), so both parsers agree on what they accept.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_FIELD_VCHAR = rb"[^\x00\s]"
_FIELD_CONTENT = _FIELD_VCHAR + rb"+(?:[ \t]+" + _FIELD_VCHAR + rb"+)*"
_HEADER = re.compile(rb"(" + _TOKEN + rb"):[ \t]*((?:" + _FIELD_CONTENT + rb")?)[ \t]*")
_REQUEST_LINE = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1")
_HEAD_END = re.compile(rb"\n\r?\n")
"""Where h11 ends a head: a blank line, with or without its CR."""
_GET = b"GET /"
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


@attrs.frozen(slots=True)
class RequestHead:
    """A parsed upgrade-shaped request head."""

    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    """``(name, value)`` pairs in order; names lowercased, values without surrounding blanks."""
    size: int
    """Bytes of the head, blank line included: the rest of the buffer follows the request."""


def may_be_fast(data: bytes | bytearray) -> bool:
    """Whether ``data`` can still become a head :func:`parse_head` takes (else: h11 at once).

    h11 refuses some garbage before its head is complete (a TLS hello sent to
    a plain port); sending anything that does not start like ``GET /`` to h11
    straight away keeps that early refusal.
    """
    return data[: len(_GET)] == _GET[: len(data)]


def head_end(data: bytes | bytearray, start: int = 0) -> int:
    """The size of the head in ``data`` (blank line included), or -1 while it is incomplete.

    ``start`` skips bytes already searched (keep the last two: a blank line may straddle).
    """
    match = _HEAD_END.search(data, max(0, start))
    return -1 if match is None else match.end()


def parse_head(data: bytes | bytearray, size: int) -> RequestHead | None:
    """The head ``data[:size]`` if it is a plain upgrade-shaped request, else ``None`` (use h11).

    ``None`` is not a verdict: the request may be valid HTTP in a form this
    parser leaves to h11 (HTTP/1.0, a body, bare LF lines), or malformed.
    """
    head = bytes(data[:size])
    if not head.endswith(b"\r\n\r\n"):
        return None
    lines = head[:-4].split(b"\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    headers = []
    hosts = 0
    for line in lines[1:]:
        field = _HEADER.fullmatch(line)
        if field is None:
            return None  # folded, bare CR or LF, bad name or value: h11 judges it
        name = field.group(1).lower()
        if name in _BODY_HEADERS:
            return None
        hosts += name == b"host"
        headers.append((name, field.group(2)))
    if hosts != 1:
        return None
    return RequestHead(request_line.group(1), tuple(headers), size)
