"""The upgrade fast path (warmwire.core.upgrade_fast_path): its states, and inside ServerProtocol.

The fast path must be invisible: whatever the bytes and however they are cut
into reads, a ServerProtocol on it reports the same events and writes the same
bytes as one where h11 reads every request, as before the fast path existed.
"""

from __future__ import annotations

import base64
import hashlib

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.upgrade_requests import BASE_HEADERS, KEY, upgrade
from warmwire.core.connection import State
from warmwire.core.events import BadRequest, Closed, HttpRequest, Message, UpgradeRequest
from warmwire.core.handshake_headers import MAX_HEADER_BYTES
from warmwire.core.server_handshake import ServerProtocol
from warmwire.core.upgrade_fast_path import FastPathState, UpgradeFastPath

REQUEST = upgrade()
TARGET = b"/warmwire/echo/realtime?fal_jwt_token=a.b.c"


# -- the states, one transition at a time ---------------------------------------------


def test_a_head_is_read_until_it_ends_without_h11() -> None:
    fast_path = UpgradeFastPath()
    assert fast_path.state is FastPathState.READING_HEAD
    assert fast_path.receive_data(REQUEST[:20]) is None
    assert fast_path.state is FastPathState.READING_HEAD
    assert not fast_path.upgrade_waiting
    head = fast_path.receive_data(REQUEST[20:])
    assert head is not None
    assert (head.target, head.size) == (TARGET, len(REQUEST))
    assert fast_path.state is FastPathState.FAST_UPGRADE
    assert fast_path.upgrade_waiting
    assert fast_path._h11 is None  # the point of the fast path: h11 is never made


def test_a_blank_line_split_across_reads_still_ends_the_head() -> None:
    fast_path = UpgradeFastPath()
    assert fast_path.receive_data(REQUEST[:-1]) is None
    assert fast_path.receive_data(REQUEST[-1:]) is not None
    assert fast_path.state is FastPathState.FAST_UPGRADE


def test_bytes_after_the_head_wait_for_the_switch() -> None:
    fast_path = UpgradeFastPath()
    assert fast_path.receive_data(REQUEST + b"one") is not None
    assert fast_path.receive_data(b"two") is None
    assert fast_path.switch() == (b"onetwo", False)
    assert fast_path.state is FastPathState.SWITCHED
    assert not fast_path.upgrade_waiting


def test_eof_while_waiting_for_accept_is_kept_and_later_bytes_dropped() -> None:
    fast_path = UpgradeFastPath()
    fast_path.receive_data(REQUEST + b"last")
    assert fast_path.receive_data(None) is None
    assert fast_path.receive_data(b"after the end") is None
    assert fast_path.state is FastPathState.FAST_UPGRADE
    assert fast_path.switch() == (b"last", True)


@pytest.mark.parametrize(
    "data",
    [
        b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n",  # a plain GET: no Upgrade header
        upgrade(line=b"GET /x HTTP/1.0"),
        upgrade().replace(b"\r\n", b"\n"),
        upgrade(headers=[*BASE_HEADERS, (b"Content-Length", b"0")]),
    ],
    ids=["post", "plain-get", "http-1.0", "lf-lines", "body-header"],
)
def test_a_head_that_is_not_a_plain_upgrade_goes_to_h11_whole(data: bytes) -> None:
    fast_path = UpgradeFastPath()
    assert fast_path.receive_data(data[:7]) is None
    assert fast_path.receive_data(data[7:]) is None
    assert fast_path.state is FastPathState.H11_REQUEST
    request = fast_path.h11_connection.next_event()
    assert isinstance(request, h11.Request)  # h11 saw it from the first byte
    assert h11_request(data) == (request.method, request.target, list(request.headers))


def h11_request(data: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    event = connection.next_event()
    assert isinstance(event, h11.Request)
    return event.method, event.target, list(event.headers)


def test_bytes_that_cannot_start_a_get_go_to_h11_at_once() -> None:
    fast_path = UpgradeFastPath()
    assert fast_path.receive_data(b"\x16\x03\x01") is None  # a TLS hello
    assert fast_path.state is FastPathState.H11_REQUEST
    with pytest.raises(h11.RemoteProtocolError):
        fast_path.h11_connection.next_event()


def test_an_over_long_head_goes_to_h11_which_answers_431() -> None:
    fast_path = UpgradeFastPath()
    fast_path.receive_data(b"GET /" + b"x" * (MAX_HEADER_BYTES - 5))
    assert fast_path.state is FastPathState.READING_HEAD  # at the limit: still waiting
    fast_path.receive_data(b"x")
    assert fast_path.state is FastPathState.H11_REQUEST
    with pytest.raises(h11.RemoteProtocolError) as caught:
        fast_path.h11_connection.next_event()
    assert caught.value.error_status_hint == 431


def test_eof_mid_head_hands_what_came_to_h11() -> None:
    fast_path = UpgradeFastPath()
    fast_path.receive_data(REQUEST[:30])
    assert fast_path.receive_data(None) is None
    assert fast_path.state is FastPathState.H11_REQUEST
    assert fast_path.h11_connection.trailing_data == (REQUEST[:30], True)


def test_eof_before_any_byte_is_h11s_connection_closed() -> None:
    fast_path = UpgradeFastPath()
    fast_path.receive_data(None)
    assert fast_path.state is FastPathState.H11_REQUEST
    assert isinstance(fast_path.h11_connection.next_event(), h11.ConnectionClosed)


def test_an_upgrade_h11_read_keeps_the_bytes_after_it_in_h11() -> None:
    fast_path = UpgradeFastPath()
    data = upgrade().replace(b"\r\n", b"\n")
    fast_path.receive_data(data + b"one")
    assert isinstance(fast_path.h11_connection.next_event(), h11.Request)
    fast_path.upgrade_read_by_h11()
    assert fast_path.state is FastPathState.H11_UPGRADE
    assert fast_path.upgrade_waiting
    fast_path.receive_data(b"two")
    fast_path.receive_data(None)
    fast_path.receive_data(b"after the end")  # h11 would raise; it is not given these
    assert fast_path.switch() == (b"onetwo", True)
    assert fast_path.state is FastPathState.SWITCHED


def test_handing_a_fast_head_to_h11_moves_every_byte_and_the_eof() -> None:
    fast_path = UpgradeFastPath()
    fast_path.receive_data(REQUEST + b"one")
    fast_path.receive_data(b"two")
    fast_path.receive_data(None)
    request = fast_path.hand_to_h11()
    assert (request.method, request.target, list(request.headers)) == h11_request(REQUEST)
    assert fast_path.state is FastPathState.H11_UPGRADE
    assert fast_path.switch() == (b"onetwo", True)


@pytest.mark.parametrize(
    ("setup", "call"),
    [
        (lambda p: None, lambda p: p.switch()),
        (lambda p: None, lambda p: p.hand_to_h11()),
        (lambda p: None, lambda p: p.upgrade_read_by_h11()),
        (lambda p: p.receive_data(REQUEST), lambda p: p.upgrade_read_by_h11()),
        (lambda p: p.receive_data(b"POST"), lambda p: p.hand_to_h11()),
        (lambda p: p.receive_data(b"POST"), lambda p: p.switch()),
        (lambda p: (p.receive_data(REQUEST), p.switch()), lambda p: p.receive_data(b"x")),
        (lambda p: (p.receive_data(REQUEST), p.switch()), lambda p: p.switch()),
    ],
)
def test_a_transition_from_the_wrong_state_is_refused(setup: object, call: object) -> None:
    fast_path = UpgradeFastPath()
    setup(fast_path)  # type: ignore[operator]
    before = fast_path.state
    with pytest.raises(RuntimeError, match="upgrade"):
        call(fast_path)  # type: ignore[operator]
    assert fast_path.state is before


# -- inside ServerProtocol -----------------------------------------------------------


def h11_101(data: bytes, subprotocol: bytes | None) -> bytes:
    """The 101 that h11 writes for the same request, the way it did before the fast path."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    assert isinstance(conn.next_event(), h11.Request)
    accept = base64.b64encode(hashlib.sha1(KEY + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    headers = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")]
    headers.append((b"sec-websocket-accept", accept))
    if subprotocol is not None:
        headers.append((b"sec-websocket-protocol", subprotocol))
    return conn.send(
        h11.InformationalResponse(status_code=101, headers=headers, reason=b"Switching Protocols")
    )


@pytest.mark.parametrize("subprotocol", [None, "b"])
def test_the_101_is_byte_for_byte_h11s(subprotocol: str | None) -> None:
    data = upgrade(headers=[*BASE_HEADERS, (b"Sec-WebSocket-Protocol", b"a, b")])
    server = ServerProtocol()
    server.receive_data(data)
    (request,) = server.events()
    assert isinstance(request, UpgradeRequest)
    assert request.subprotocols == ("a", "b")
    server.accept(subprotocol)
    sub = None if subprotocol is None else subprotocol.encode()
    assert server.data_to_send() == h11_101(data, sub)


def masked_text(text: str) -> bytes:
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body  # FIN + text, masked


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_any_split_of_the_request_gives_the_same_upgrade(cuts: list[int]) -> None:
    """Split anywhere, the head is found once, and frames sent with it are replayed."""
    data = upgrade() + masked_text("early")
    server = ServerProtocol()
    at = 0
    for cut in cuts:
        server.receive_data(data[at : at + cut])
        at += cut
    server.receive_data(data[at:])
    events = server.events()
    assert [type(e) for e in events] == [UpgradeRequest]
    server.accept()
    assert server.events() == [Message("early")]


def test_frames_and_eof_that_arrive_while_the_upgrade_waits_are_replayed() -> None:
    server = ServerProtocol()
    server.receive_data(upgrade())
    server.receive_data(masked_text("one"))
    server.receive_data(None)
    server.receive_data(masked_text("ignored after EOF"))
    assert [type(e) for e in server.events()] == [UpgradeRequest]
    server.accept()
    events = server.events()
    assert events[0] == Message("one")
    assert isinstance(events[-1], Closed)


def test_refusing_a_fast_path_upgrade_with_http_still_works() -> None:
    """respond() after the fast path: h11 reads the head then, and writes the answer."""
    server = ServerProtocol()
    server.receive_data(upgrade())
    server.events()
    server.respond(503, b'{"error":"busy"}')
    out = server.data_to_send()
    assert out.startswith(b"HTTP/1.1 503 ")
    assert out.endswith(b'\r\n\r\n{"error":"busy"}')
    assert server.close_transport


def test_accept_with_extra_headers_goes_through_h11() -> None:
    server = ServerProtocol()
    server.receive_data(upgrade() + masked_text("x"))
    server.events()
    server.accept(headers=(("x-runner", "r1"),))
    assert b"x-runner: r1\r\n" in server.data_to_send()
    assert server.events() == [Message("x")]


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (upgrade(headers=BASE_HEADERS[:4]), 400, "Sec-WebSocket-Version: 13"),
        (upgrade(headers=BASE_HEADERS[1:]), 400, "Host"),
        (upgrade(headers=[*BASE_HEADERS, (b"Host", b"b")]), 400, "multiple Host"),
        (upgrade(headers=[*BASE_HEADERS, (b"Bad Name", b"x")]), 400, "malformed HTTP request"),
        (b"\x16\x03\x01\x02\x00", 400, "illegal request line"),
        (b"GET /" + b"x" * 17_000, 431, "malformed HTTP request"),
    ],
)
def test_malformed_requests_are_still_answered_with_their_status(
    data: bytes, status: int, reason: str
) -> None:
    server = ServerProtocol()
    server.receive_data(data)
    (event,) = server.events()
    assert isinstance(event, BadRequest)
    assert event.status_code == status
    assert reason in event.reason
    assert server.data_to_send().startswith(b"HTTP/1.1 %d " % status)
    assert server.close_transport


def test_lf_only_upgrade_is_still_served_by_h11() -> None:
    server = ServerProtocol()
    server.receive_data(upgrade().replace(b"\r\n", b"\n"))
    (event,) = server.events()
    assert isinstance(event, UpgradeRequest)
    server.accept()
    assert server.data_to_send().startswith(b"HTTP/1.1 101 ")


def test_eof_before_the_head_ends_closes_quietly() -> None:
    server = ServerProtocol()
    server.receive_data(b"GET /x HTT")
    server.receive_data(None)
    events = server.events()
    assert all(isinstance(e, BadRequest) for e in events)
    assert server.close_transport
    empty = ServerProtocol()
    empty.receive_data(None)
    assert empty.events() == []
    assert empty.close_transport


# -- the fast path is invisible: the same events and bytes as h11 alone ----------------


def h11_only_server() -> ServerProtocol:
    """A ServerProtocol whose every request h11 reads, as before the fast path existed."""
    server = ServerProtocol()
    server._fast_path.state = FastPathState.H11_REQUEST
    return server


_extra_headers = st.lists(
    st.sampled_from(
        [
            (b"Sec-WebSocket-Protocol", b"msgpack, json"),
            (b"Sec-WebSocket-Protocol", b"cbor"),
            (b"X-Extra", b" padded \t"),
            (b"Origin", b"https://app.example"),
            (b"Content-Length", b"0"),
            (b"Host", b"again"),
            (b"Connection", b"keep-alive, Upgrade"),
            (b"Bad Name", b"x"),
        ]
    ),
    max_size=3,
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """Request heads around the plain upgrade: valid, refused, malformed, or plain HTTP."""
    line = draw(
        st.sampled_from(
            [
                b"GET " + TARGET + b" HTTP/1.1",
                b"GET /health HTTP/1.1",
                b"GET " + TARGET + b" HTTP/1.0",
                b"POST " + TARGET + b" HTTP/1.1",
                b"GET  /x HTTP/1.1",
            ]
        )
    )
    every = st.just(BASE_HEADERS)  # half the time: all an upgrade needs
    base = draw(every | st.lists(st.sampled_from(BASE_HEADERS), unique=True, max_size=5))
    headers = draw(st.permutations([*base, *draw(_extra_headers)]))
    eol = draw(st.sampled_from([b"\r\n", b"\r\n", b"\n"]))
    lines = [line, *(name + b": " + value for name, value in headers)]
    return eol.join(lines) + eol + eol


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    at = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *at], [*at, len(data)], strict=True) if data[a:b]]


def run(server: ServerProtocol, chunks: list[bytes], eof: bool) -> list[object]:
    """Feed the reads, answer as a runner would, and return everything observable."""
    seen: list[object] = []
    for chunk in chunks:
        server.receive_data(chunk)
        seen += server.events()
    if eof:
        server.receive_data(None)
    seen += server.events()
    seen.append(server.data_to_send())
    requests = [e for e in seen if isinstance(e, UpgradeRequest | HttpRequest)]
    if server.state is State.CONNECTING and requests:  # not if the peer left first
        request = requests[0]
        if isinstance(request, UpgradeRequest):
            server.accept(request.subprotocols[0] if request.subprotocols else None)
        else:
            server.respond(200, b'{"ok": true}')
    seen += server.events()
    seen += [server.data_to_send(), server.state, server.close_transport]
    return seen


@given(
    request=requests(),
    frames=st.lists(st.sampled_from(["early", "", "bird"]), max_size=3),
    eof=st.booleans(),
    cuts=st.lists(st.integers(1, 400), max_size=8),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_request_in_any_reads_gives_what_h11_alone_gives(
    request: bytes, frames: list[str], eof: bool, cuts: list[int]
) -> None:
    """The same reads to both: the same events, the same bytes written, the same end.

    (The same reads, because h11 alone does not give the same answer to every
    split: bytes after a whole HTTP/1.0 request are refused with 400 if they
    come in a later read and never looked at if they come in the same one.)
    """
    data = request + b"".join(masked_text(text) for text in frames)
    chunks = cut(data, cuts)
    assert run(ServerProtocol(), chunks, eof) == run(h11_only_server(), chunks, eof)


@given(
    subprotocols=st.sampled_from([b"", b"msgpack, json", b"cbor"]),
    lf_only=st.booleans(),
    frames=st.lists(st.sampled_from(["early", "", "bird"]), max_size=3),
    eof=st.booleans(),
    fast_cuts=st.lists(st.integers(1, 400), max_size=8),
    h11_cuts=st.lists(st.integers(1, 400), max_size=8),
)
@settings(max_examples=200, deadline=None)
def test_an_upgrade_cut_anywhere_gives_what_h11_alone_gives_cut_elsewhere(
    subprotocols: bytes,
    lf_only: bool,
    frames: list[str],
    eof: bool,
    fast_cuts: list[int],
    h11_cuts: list[int],
) -> None:
    headers = [*BASE_HEADERS, (b"Sec-WebSocket-Protocol", subprotocols)] if subprotocols else None
    request = upgrade(headers=headers)
    if lf_only:
        request = request.replace(b"\r\n", b"\n")  # h11's on both sides
    data = request + b"".join(masked_text(text) for text in frames)
    on_fast_path = run(ServerProtocol(), cut(data, fast_cuts), eof)
    assert isinstance(on_fast_path[0], UpgradeRequest)
    assert on_fast_path == run(h11_only_server(), cut(data, h11_cuts), eof)
