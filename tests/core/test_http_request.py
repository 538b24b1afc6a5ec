"""The upgrade fast path's head parser (warmwire.core.http_request) against h11.

The fast parser may decline any request (h11 then reads it); what it must
never do is accept a request h11 would parse differently or refuse.  So every
property here compares it with h11 on the same bytes.  The fast path inside
ServerProtocol is test_upgrade_fast_path.py's.
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from helpers.upgrade_requests import BASE_HEADERS, upgrade
from warmwire.core.http_request import head_end, may_be_fast, parse_head


def h11_request(data: bytes) -> h11.Request | None:
    """What h11 makes of ``data``: the request, or ``None`` if it refuses or wants more."""
    conn = h11.Connection(h11.SERVER)
    try:
        conn.receive_data(data)
        event = conn.next_event()
    except h11.RemoteProtocolError:
        return None
    return event if isinstance(event, h11.Request) else None


def fast(data: bytes) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]] | None:
    end = head_end(data)
    if end < 0 or not may_be_fast(data):
        return None
    head = parse_head(data, end)
    return None if head is None else (head.target, head.headers)


def agrees_with_h11(data: bytes) -> None:
    parsed = fast(data)
    if parsed is None:
        return
    request = h11_request(data)
    assert request is not None, "the fast parser took a request h11 refuses"
    assert request.method == b"GET"
    assert request.http_version == b"1.1"
    assert (request.target, tuple(request.headers)) == parsed


# -- the parser ----------------------------------------------------------------------


def test_a_plain_upgrade_takes_the_fast_path() -> None:
    data = upgrade() + b"\x81\x00"
    end = head_end(data)
    assert end == len(data) - 2
    head = parse_head(data, end)
    assert head is not None
    assert head.target == b"/warmwire/echo/realtime?fal_jwt_token=a.b.c"
    assert head.headers[0] == (b"host", b"runner:8080")
    assert head.size == end
    agrees_with_h11(data)


@pytest.mark.parametrize(
    "data",
    [
        upgrade(line=b"GET /x HTTP/1.0"),  # h11's, with its own rules
        upgrade(line=b"POST /x HTTP/1.1"),
        upgrade(line=b"GET  /x HTTP/1.1"),
        upgrade(line=b"GET x HTTP/1.1"),
        upgrade(headers=[*BASE_HEADERS, (b"Content-Length", b"0")]),
        upgrade(headers=[*BASE_HEADERS, (b"Transfer-Encoding", b"chunked")]),
        upgrade(headers=BASE_HEADERS[1:]),  # no Host
        upgrade(headers=[*BASE_HEADERS, (b"Host", b"again")]),
        upgrade(headers=[*BASE_HEADERS, (b"Bad Name", b"x")]),
        upgrade(headers=[*BASE_HEADERS, (b"X", b"a\x00b")]),
        upgrade().replace(b"\r\n", b"\n"),  # bare LF lines: h11 takes them, not us
        upgrade().replace(b"Upgrade: websocket\r\n", b"Upgrade:\r\n websocket\r\n"),  # folded
        upgrade().replace(b"runner:8080", b"runner\r8080"),
    ],
)
def test_anything_else_is_left_to_h11(data: bytes) -> None:
    assert fast(data) is None


def test_the_head_ends_where_h11_ends_it() -> None:
    assert head_end(b"GET / HTTP/1.1\r\nHost: a\r\n") == -1
    crlf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert head_end(crlf + b"rest") == len(crlf)
    lf = b"GET / HTTP/1.1\nHost: a\n\n"
    assert head_end(lf + b"rest") == len(lf)
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert head_end(data, len(data) - 3) == len(data)


def test_only_get_shaped_bytes_wait_for_more() -> None:
    assert may_be_fast(b"")
    assert may_be_fast(b"G")
    assert may_be_fast(b"GET /x")
    assert not may_be_fast(b"\x16\x03\x01")  # a TLS hello: h11 refuses it at once
    assert not may_be_fast(b"POST")
    assert not may_be_fast(b"GET x")


_header_name = st.sampled_from(
    [b"Host", b"X-Extra", b"Sec-WebSocket-Protocol", b"content-length", b"Upgrade", b"bad name"]
)
_header_value = st.binary(max_size=20) | st.sampled_from([b"", b" padded \t", b"a, b", b"\xff"])
_raw_headers = st.lists(st.tuples(_header_name, _header_value), max_size=6)


@given(
    target=st.binary(max_size=30).map(lambda b: b"/" + b),
    extra=_raw_headers,
    eol=st.sampled_from([b"\r\n", b"\n", b"\r"]),
)
@example(target=b"/", extra=[(b"X-Extra", b" padded \t")], eol=b"\r\n")
def test_whatever_the_fast_parser_takes_h11_reads_the_same(
    target: bytes, extra: list[tuple[bytes, bytes]], eol: bytes
) -> None:
    lines = [b"GET " + target + b" HTTP/1.1", *(n + b": " + v for n, v in BASE_HEADERS)]
    lines += [name + b":" + value for name, value in extra]
    agrees_with_h11(eol.join(lines) + eol + eol)


@given(st.binary(max_size=200))
def test_random_bytes_after_get_agree_with_h11(tail: bytes) -> None:
    agrees_with_h11(b"GET /" + tail)
    agrees_with_h11(b"GET /" + tail + b"\r\n\r\n")
