"""Autobahn TestSuite behaviours, pinned at the sans-IO core (``make conformance`` runs the suite).

``make conformance`` plays the Autobahn cases (sections 1-10) against warmwire
in both roles with kosoku; every case passes.  These tests pin, without a
socket or kosoku, the behaviours those cases check that the rest of
``tests/core`` does not already cover, so that a change in the protocol core
that would fail a case fails here first.  Case numbers are
Autobahn's.
"""

from __future__ import annotations

import pytest

from helpers.wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    close_code_of,
    close_payload,
    feed,
    frame,
    open_pair,
    parse_frames,
)
from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE, State
from warmwire.core.events import Closed, Initiator, Message
from warmwire.core.server_handshake import ServerProtocol

UTF8_TEXT = "Hello-µ@ßöäüàá-UTF-8!!"
INVALID_UTF8 = b"\xf4\x90\x80\x80"  # a code point above U+10FFFF (6.3.x, 6.4.x)


def assert_failed(proto: ClientProtocol | ServerProtocol, events: list[object], code: int) -> None:
    """The connection was failed by us with ``code``, and the close frame is queued."""
    assert [type(e) for e in events] == [Closed]
    closed = events[0]
    assert isinstance(closed, Closed)
    assert (closed.code, closed.initiator) == (code, Initiator.LOCAL)
    assert proto.state is State.CLOSED
    assert proto.close_transport
    assert close_code_of(proto.data_to_send()) == code


# -- 6.4: invalid UTF-8 fails the connection as soon as it is seen --------------------------


def test_invalid_utf8_in_a_middle_fragment_fails_before_the_message_ends() -> None:
    """6.4.1/6.4.2: the final fragment never comes; the connection must fail without it."""
    _, server = open_pair()
    events = feed(
        server,
        frame(OP_TEXT, "κόσμε".encode(), fin=False),
        frame(OP_CONT, INVALID_UTF8, fin=False),
    )
    assert_failed(server, events, CloseCode.INVALID_PAYLOAD)


def test_invalid_utf8_fails_inside_a_frame_not_yet_complete() -> None:
    """6.4.3/6.4.4: a frame's payload arrives in parts; fail at the bad bytes, not its end."""
    _, server = open_pair()
    payload = "κόσμε".encode() + INVALID_UTF8 + b"edited" * 100
    wire = frame(OP_TEXT, payload)
    head = len(wire) - len(payload)
    first = wire[: head + len("κόσμε".encode()) + len(INVALID_UTF8)]
    assert_failed(server, feed(server, first), CloseCode.INVALID_PAYLOAD)


def test_text_split_into_one_byte_fragments() -> None:
    """6.2.4: a valid message whose every byte, mid-character too, is its own fragment."""
    _, server = open_pair()
    data = UTF8_TEXT.encode()
    wire = frame(OP_TEXT, data[:1], fin=False)
    wire += b"".join(frame(OP_CONT, data[i : i + 1], fin=False) for i in range(1, len(data) - 1))
    wire += frame(OP_CONT, data[-1:])
    assert feed(server, wire) == [Message(UTF8_TEXT)]


def test_empty_fragments_make_an_empty_message() -> None:
    """5.x/6.1.2: zero-length text fragments are a valid (empty) message."""
    _, server = open_pair()
    wire = frame(OP_TEXT, b"", fin=False) + frame(OP_CONT, b"", fin=False) + frame(OP_CONT, b"")
    assert feed(server, wire) == [Message("")]


# -- 7.7 / 7.9: close codes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
)
def test_a_valid_peer_close_code_is_echoed(code: int) -> None:
    """7.7.x: the closing handshake answers with the peer's own code."""
    _, server = open_pair()
    (closed,) = feed(server, frame(OP_CLOSE, close_payload(code, "bye")))
    assert closed == Closed(code, "bye", Initiator.REMOTE)
    assert close_code_of(server.data_to_send()) == code
    assert server.close_transport


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999])
def test_an_invalid_peer_close_code_fails_with_1002(code: int) -> None:
    """7.9.x: reserved, unassigned and never-sent codes (1005, 1006, 1015) are a protocol error."""
    _, server = open_pair()
    assert_failed(server, feed(server, frame(OP_CLOSE, close_payload(code))), 1002)


def test_close_reason_of_the_maximum_length() -> None:
    """7.3.4: 123 bytes of reason (a 125-byte payload) is allowed and echoed."""
    _, server = open_pair()
    reason = "*" * 123
    (closed,) = feed(server, frame(OP_CLOSE, close_payload(1000, reason)))
    assert closed == Closed(1000, reason, Initiator.REMOTE)


def test_close_reason_over_the_maximum_length() -> None:
    """7.3.5: a 124-byte reason makes the close frame a control frame over 125 bytes."""
    _, server = open_pair()
    wire = frame(OP_CLOSE, close_payload(1000, "*" * 124))
    assert_failed(server, feed(server, wire), 1002)


# -- 2.x: pings ----------------------------------------------------------------------------


def test_ping_with_the_largest_binary_payload_is_answered_in_kind() -> None:
    """2.3/2.4: a 125-byte binary ping payload comes back unchanged in the pong."""
    _, server = open_pair()
    payload = bytes(range(125))
    assert feed(server, frame(OP_PING, payload)) == []
    assert parse_frames(server.data_to_send()) == [(OP_PONG, True, payload)]


def test_pings_inside_a_fragmented_message_are_answered_in_order() -> None:
    """5.6-5.9, 5.19: each ping gets its pong at once, before the message is complete."""
    _, server = open_pair()
    events = feed(
        server,
        frame(OP_TEXT, b"frag", fin=False),
        frame(OP_PING, b"one"),
        frame(OP_CONT, b"ment", fin=False),
        frame(OP_PING, b"two"),
    )
    assert events == []
    assert parse_frames(server.data_to_send()) == [(OP_PONG, True, b"one"), (OP_PONG, True, b"two")]
    assert feed(server, frame(OP_CONT, b"ed")) == [Message("fragmented")]


# -- 9.x: the largest messages -------------------------------------------------------------


def test_default_limit_admits_the_suites_largest_message() -> None:
    """9.1.6/9.2.6: 16 MiB messages pass the default max_message_size, both ways."""
    client, server = open_pair(
        client_max=DEFAULT_MAX_MESSAGE_SIZE, server_max=DEFAULT_MAX_MESSAGE_SIZE
    )
    data = b"\xfe" * (16 * 1024 * 1024)
    client.send_message(data)
    assert feed(server, client.data_to_send()) == [Message(data)]
    server.send_message(data)
    assert feed(client, server.data_to_send()) == [Message(data)]


# -- the client role (kosoku's fuzzing server sends these to warmwire's client) -------------


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (frame(OP_TEXT, INVALID_UTF8, mask=None), 1007),
        (frame(OP_TEXT, b"ok", fin=False, mask=None) + frame(OP_CONT, b"\xc3(", mask=None), 1007),
        (frame(OP_BINARY, b"x", rsv=0b100, mask=None), 1002),
        (frame(0x3, b"reserved opcode", mask=None), 1002),
        (frame(OP_CONT, b"orphan", mask=None), 1002),
        (frame(OP_PING, b"p", fin=False, mask=None), 1002),
        (frame(OP_PING, b"p" * 126, mask=None), 1002),
        (frame(OP_CLOSE, close_payload(1005), mask=None), 1002),
        (frame(OP_CLOSE, close_payload(1000) + b"\xff", mask=None), 1007),
    ],
    ids=[
        "invalid-utf8",
        "invalid-utf8-across-fragments",
        "rsv1",
        "reserved-opcode",
        "orphan-continuation",
        "fragmented-ping",
        "long-ping",
        "close-code-1005",
        "close-reason-invalid-utf8",
    ],
)
def test_client_fails_a_malformed_server_frame(wire: bytes, code: int) -> None:
    client, _ = open_pair()
    assert_failed(client, feed(client, wire), code)
