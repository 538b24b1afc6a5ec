"""The connection once open (warmwire.core.connection): frames, messages, limits, closing.

A ClientProtocol and a ServerProtocol opened by bytes alone exchange messages;
hand-built frames cover what a well-behaved peer would never send, and
properties feed every message sequence through every chunking.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.wire import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    TARGET,
    close_code_of,
    close_payload,
    feed,
    frame,
    open_pair,
    parse_frames,
    upgrade,
)
from warmwire.core import frames as frame_format
from warmwire.core import masking
from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import State
from warmwire.core.errors import ProtocolError
from warmwire.core.events import (
    Closed,
    Event,
    Initiator,
    Message,
    Opened,
    Pong,
    UpgradeRequest,
)
from warmwire.core.server_handshake import ServerProtocol

# -- messages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff",
        b"x" * 125,
        b"x" * 126,
        b"y" * 65536,
        "",
        "h\u00e9llo \U0001f600",
        "z" * 70000,
    ],
    ids=lambda d: f"{type(d).__name__}-{len(d)}",
)
def test_messages_both_ways(data: bytes | str) -> None:
    client, server = open_pair()
    client.send_message(data)
    wire = client.data_to_send()
    ((opcode, fin, _),) = parse_frames(wire)
    assert opcode == (OP_TEXT if isinstance(data, str) else OP_BINARY)
    assert fin
    assert feed(server, wire) == [Message(data)]
    server.send_message(data)
    assert feed(client, server.data_to_send()) == [Message(data)]


def test_bytes_like_messages_are_binary() -> None:
    client, server = open_pair()
    client.send_message(bytearray(b"ba"))
    client.send_message(memoryview(b"mv"))
    events = feed(server, client.data_to_send())
    assert events == [Message(b"ba"), Message(b"mv")]
    assert all(type(e.data) is bytes for e in events)  # type: ignore[union-attr]


def test_many_messages_in_one_chunk_keep_their_order() -> None:
    client, server = open_pair()
    sent: list[bytes | str] = [b"a", "b", b"", "", b"c" * 300, "d"]
    for message in sent:
        server.send_message(message)
    assert feed(client, server.data_to_send()) == [Message(m) for m in sent]


def test_client_frames_are_masked_and_server_frames_are_not() -> None:
    client, server = open_pair()
    client.send_message(b"abc")
    server.send_message(b"abc")
    assert client.data_to_send()[1] & 0x80
    assert not server.data_to_send()[1] & 0x80


def test_fragmented_binary_message() -> None:
    _, server = open_pair()
    wire = (
        frame(OP_BINARY, b"one ", fin=False)
        + frame(OP_CONT, b"two ", fin=False)
        + frame(OP_CONT, b"", fin=False)
        + frame(OP_CONT, b"three")
    )
    assert feed(server, wire) == [Message(b"one two three")]


def test_fragmented_text_message_splitting_a_character() -> None:
    _, server = open_pair()
    encoded = "caf\u00e9 \U0001f600!".encode()
    wire = b"".join(
        frame(OP_TEXT if i == 0 else OP_CONT, encoded[i : i + 1], fin=i == len(encoded) - 1)
        for i in range(len(encoded))
    )
    assert feed(server, wire) == [Message("caf\u00e9 \U0001f600!")]


def test_fragments_fed_one_at_a_time() -> None:
    _, server = open_pair()
    assert feed(server, frame(OP_BINARY, b"a" * 1000, fin=False)) == []
    assert feed(server, frame(OP_CONT, b"b" * 1000, fin=False)) == []
    assert feed(server, frame(OP_CONT, b"c")) == [Message(b"a" * 1000 + b"b" * 1000 + b"c")]


def test_ping_between_fragments() -> None:
    _, server = open_pair()
    wire = frame(OP_TEXT, b"hel", fin=False) + frame(OP_PING, b"keepalive") + frame(OP_CONT, b"lo")
    assert feed(server, wire) == [Message("hello")]
    assert parse_frames(server.data_to_send()) == [(OP_PONG, True, b"keepalive")]


def test_server_to_client_fragments() -> None:
    client, _ = open_pair()
    wire = frame(OP_BINARY, b"ab", fin=False, mask=None) + frame(OP_CONT, b"cd", mask=None)
    assert feed(client, wire) == [Message(b"abcd")]


# -- size limit ---------------------------------------------------------------------


def test_message_over_the_limit_closes_with_1009() -> None:
    client, server = open_pair(server_max=1000)
    client.send_message(b"x" * 1001)
    (closed,) = feed(server, client.data_to_send())
    assert isinstance(closed, Closed)
    assert closed.code == CloseCode.MESSAGE_TOO_BIG
    assert closed.initiator is Initiator.LOCAL
    assert "1000-byte limit" in closed.reason
    assert "max_message_size" in closed.reason
    assert server.state is State.CLOSED
    assert server.close_transport
    wire = server.data_to_send()
    assert close_code_of(wire) == 1009
    # The client learns why.
    (remote,) = feed(client, wire)
    assert isinstance(remote, Closed)
    assert (remote.code, remote.initiator) == (1009, Initiator.REMOTE)
    with pytest.raises(ProtocolError, match="closed"):
        server.send_message(b"after")


def test_message_at_the_limit_passes() -> None:
    client, server = open_pair(server_max=1000)
    client.send_message(b"x" * 1000)
    client.send_message("y" * 1000)
    assert feed(server, client.data_to_send()) == [Message(b"x" * 1000), Message("y" * 1000)]


def test_fragments_adding_up_over_the_limit() -> None:
    _, server = open_pair(server_max=1000)
    wire = frame(OP_BINARY, b"a" * 600, fin=False) + frame(OP_CONT, b"b" * 600)
    (closed,) = feed(server, wire)
    assert isinstance(closed, Closed)
    assert closed.code == 1009


def test_limit_counts_fresh_for_each_message() -> None:
    client, server = open_pair(server_max=1000)
    for _ in range(5):
        client.send_message(b"z" * 900)
    assert feed(server, client.data_to_send()) == [Message(b"z" * 900)] * 5


def test_limit_counts_utf8_bytes_of_text() -> None:
    client, server = open_pair(server_max=1500)
    client.send_message("\u00e9" * 1000)  # 1000 characters, 2000 bytes
    (closed,) = feed(server, client.data_to_send())
    assert isinstance(closed, Closed)
    assert closed.code == 1009


def test_client_side_limit() -> None:
    client, server = open_pair(client_max=10)
    server.send_message(b"x" * 11)
    (closed,) = feed(client, server.data_to_send())
    assert isinstance(closed, Closed)
    assert closed.code == 1009
    assert close_code_of(client.data_to_send()) == 1009


def test_no_limit() -> None:
    client, server = open_pair(server_max=None)
    client.send_message(b"q" * 200_000)
    assert feed(server, client.data_to_send()) == [Message(b"q" * 200_000)]


def test_frames_after_failure_are_ignored() -> None:
    client, server = open_pair(server_max=10)
    client.send_message(b"x" * 11)
    client.send_message(b"ok")
    events = feed(server, client.data_to_send())
    assert [type(e) for e in events] == [Closed]
    assert feed(server, frame(OP_BINARY, b"late"), None) == []


# -- malformed frames ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (frame(OP_BINARY, b"x", rsv=0b100), 1002),  # RSV1 without an extension
        (frame(OP_BINARY, b"x", rsv=0b010), 1002),
        (frame(OP_BINARY, b"x", rsv=0b001), 1002),
        (frame(OP_BINARY, b"unmasked", mask=None), 1002),
        (frame(0x3, b"reserved opcode"), 1002),
        (frame(0xB, b"reserved control opcode"), 1002),
        (frame(OP_CONT, b"continuation first"), 1002),
        (frame(OP_BINARY, b"a", fin=False) + frame(OP_TEXT, b"b"), 1002),  # new msg mid-msg
        (frame(OP_PING, b"p", fin=False), 1002),  # fragmented control frame
        (frame(OP_PING, b"p" * 126), 1002),  # control payload over 125 bytes
        (frame(OP_CLOSE, b"\x03"), 1002),  # one-byte close payload
        (frame(OP_CLOSE, close_payload(999)), 1002),  # close code out of range
        (frame(OP_CLOSE, close_payload(1005)), 1002),  # code that must not be sent
        (frame(OP_TEXT, b"\xff\xfe"), 1007),  # invalid UTF-8 text
        (frame(OP_TEXT, b"\xed\xa0\x80"), 1007),  # an encoded surrogate
        (frame(OP_TEXT, b"ok\xc3", fin=False) + frame(OP_CONT, b"("), 1007),
        (frame(OP_CLOSE, close_payload(1000) + b"\xff"), 1007),  # bad UTF-8 reason
    ],
    ids=[
        "rsv1",
        "rsv2",
        "rsv3",
        "unmasked-client-frame",
        "reserved-opcode",
        "reserved-control-opcode",
        "orphan-continuation",
        "interleaved-message",
        "fragmented-ping",
        "long-ping",
        "short-close",
        "close-code-999",
        "close-code-1005",
        "invalid-utf8",
        "utf8-surrogate",
        "invalid-utf8-across-fragments",
        "close-reason-invalid-utf8",
    ],
)
def test_malformed_frames_fail_the_connection(wire: bytes, code: int) -> None:
    _, server = open_pair()
    events = feed(server, wire)
    assert len(events) == 1
    closed = events[0]
    assert isinstance(closed, Closed)
    assert closed.code == code
    assert closed.initiator is Initiator.LOCAL
    assert server.state is State.CLOSED
    assert server.close_transport
    assert close_code_of(server.data_to_send()) == code
    with pytest.raises(ProtocolError):
        server.send_message("after")


def test_masked_frame_to_client_fails_the_connection() -> None:
    client, _ = open_pair()
    (closed,) = feed(client, frame(OP_BINARY, b"masked by the server"))
    assert isinstance(closed, Closed)
    assert closed.code == 1002
    assert client.close_transport


def test_malformed_frame_split_from_good_ones() -> None:
    _, server = open_pair()
    events = feed(server, frame(OP_TEXT, b"good") + frame(OP_TEXT, b"\xff") + frame(OP_TEXT, b"x"))
    assert [type(e) for e in events] == [Message, Closed]
    assert events[0] == Message("good")


# -- ping / pong --------------------------------------------------------------------


def test_ping_is_answered_with_pong() -> None:
    client, server = open_pair()
    client.send_ping(b"are you there")
    assert feed(server, client.data_to_send()) == []  # no event: answered for you
    reply = server.data_to_send()
    assert parse_frames(reply) == [(OP_PONG, True, b"are you there")]
    assert feed(client, reply) == [Pong(b"are you there")]


def test_server_ping_and_client_pong() -> None:
    client, server = open_pair()
    server.send_ping()
    assert feed(client, server.data_to_send()) == []
    assert feed(server, client.data_to_send()) == [Pong(b"")]


def test_unsolicited_pong_is_reported() -> None:
    _, server = open_pair()
    assert feed(server, frame(OP_PONG, b"beat")) == [Pong(b"beat")]


def test_ping_is_not_answered_once_closing() -> None:
    _, server = open_pair()
    server.close()
    server.data_to_send()
    assert feed(server, frame(OP_PING, b"late")) == []
    assert server.data_to_send() == b""


# -- closing handshake --------------------------------------------------------------


def test_client_initiated_close() -> None:
    client, server = open_pair()
    client.close(1000, "bye")
    assert client.state is State.CLOSING
    assert not client.close_transport
    wire = client.data_to_send()
    assert close_code_of(wire) == 1000

    assert feed(server, wire) == [Closed(1000, "bye", Initiator.REMOTE)]
    assert server.state is State.CLOSED
    assert server.close_transport
    echo = server.data_to_send()
    assert close_code_of(echo) == 1000

    assert feed(client, echo) == [Closed(1000, "bye", Initiator.LOCAL)]
    assert client.state is State.CLOSED
    assert client.close_transport


def test_server_initiated_close_going_away() -> None:
    client, server = open_pair()
    server.close(CloseCode.GOING_AWAY, "draining")
    assert server.state is State.CLOSING
    assert feed(client, server.data_to_send()) == [Closed(1001, "draining", Initiator.REMOTE)]
    echo = client.data_to_send()
    assert close_code_of(echo) == 1001
    assert feed(server, echo) == [Closed(1001, "draining", Initiator.LOCAL)]
    assert server.close_transport


def test_close_is_idempotent() -> None:
    client, _ = open_pair()
    client.close(1000)
    first = client.data_to_send()
    client.close(1011, "again")
    assert client.data_to_send() == b""
    assert close_code_of(first) == 1000
    with pytest.raises(ProtocolError, match="closing"):
        client.send_message("after close")


def test_messages_received_while_closing_are_delivered() -> None:
    client, server = open_pair()
    server.send_message(b"in flight")
    in_flight = server.data_to_send()
    client.close()
    to_server = client.data_to_send()
    assert feed(client, in_flight) == [Message(b"in flight")]
    assert feed(server, to_server) == [Closed(1000, "", Initiator.REMOTE)]
    assert feed(client, server.data_to_send()) == [Closed(1000, "", Initiator.LOCAL)]


def test_close_frame_without_status() -> None:
    _, server = open_pair()
    (closed,) = feed(server, frame(OP_CLOSE, b""))
    assert closed == Closed(CloseCode.NO_STATUS, "", Initiator.REMOTE)
    assert parse_frames(server.data_to_send()) == [(OP_CLOSE, True, b"")]


def test_long_close_reason_is_truncated_to_fit_the_frame() -> None:
    client, server = open_pair()
    client.close(1000, "\u00e9" * 100)  # 200 bytes of UTF-8
    wire = client.data_to_send()
    ((opcode, _, payload),) = parse_frames(wire)
    assert opcode == OP_CLOSE
    assert len(payload) <= 125
    reason = payload[2:].decode()  # still valid UTF-8
    assert reason.endswith("...")
    (closed,) = feed(server, wire)
    assert isinstance(closed, Closed)
    assert closed.reason == reason


def test_eof_without_close_frame() -> None:
    client, server = open_pair()
    assert feed(server, None) == [
        Closed(CloseCode.ABNORMAL, "connection lost without a close frame", Initiator.NETWORK)
    ]
    assert server.state is State.CLOSED
    assert server.close_transport
    assert server.data_to_send() == b""
    (closed,) = feed(client, None)
    assert isinstance(closed, Closed)
    assert (closed.code, closed.initiator) == (1006, Initiator.NETWORK)


def test_eof_after_local_close() -> None:
    client, _ = open_pair()
    client.close(1000, "done")
    assert feed(client, None) == [Closed(1000, "done", Initiator.LOCAL)]


def test_data_after_close_is_ignored() -> None:
    client, server = open_pair()
    client.close()
    feed(server, client.data_to_send())
    server.data_to_send()
    assert feed(server, frame(OP_BINARY, b"zombie")) == []
    assert feed(server, None) == []
    assert server.data_to_send() == b""


# -- properties: any message sequence survives any chunking ------------------------

SIZES = st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 65537, 70000]) | st.integers(0, 70000)


@st.composite
def messages(draw: st.DrawFn) -> bytes | str:
    size = draw(SIZES)
    if draw(st.booleans()):
        return random.Random(draw(st.integers(0, 2**32))).randbytes(size)
    base = draw(st.text(min_size=1, max_size=6))
    return (base * (size // len(base) + 1))[:size]


def split(draw: Callable[..., Any], data: bytes, boundaries: Sequence[int] = ()) -> list[bytes]:
    """Cut ``data`` anywhere, with extra cuts near interesting offsets, empty chunks allowed."""
    if len(data) <= 2048 and draw(st.booleans()):
        size = draw(st.integers(1, 3))
        return [data[i : i + size] for i in range(0, len(data), size)]
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=20))
    offsets = [0, *boundaries]
    near = draw(st.lists(st.tuples(st.sampled_from(offsets), st.integers(-2, 14)), max_size=12))
    cuts += [min(max(base + delta, 0), len(data)) for base, delta in near]
    cuts.sort()
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@given(st.lists(messages(), max_size=6), st.booleans(), st.data())
@PROPERTY_SETTINGS
def test_client_to_server_any_chunking(
    sent: list[bytes | str], accept_late: bool, data: st.DataObject
) -> None:
    client = ClientProtocol(host="runner.test", target=TARGET, subprotocols=["msgpack"])
    server = ServerProtocol()
    request = client.data_to_send()

    # The frames: from a twin client that is already open (masking is per client,
    # the server cannot tell), so that they can ride right behind the request.
    twin, _ = open_pair()
    boundaries = [len(request)]
    frames = b""
    for message in sent:
        twin.send_message(message)
        frames += twin.data_to_send()
        boundaries.append(len(request) + len(frames))
    stream = request + frames

    events: list[Event] = []
    for chunk in split(data.draw, stream, boundaries):
        server.receive_data(chunk)
        new = server.events()
        events += new
        if not accept_late and any(isinstance(e, UpgradeRequest) for e in new):
            server.accept("msgpack")
    if accept_late:
        server.accept("msgpack")
    events += server.events()

    assert isinstance(events[0], UpgradeRequest)
    assert events[0].subprotocols == ("msgpack",)
    assert events[1:] == [Message(m) for m in sent]
    assert server.state is State.OPEN

    # The client, fed the 101 in arbitrary pieces, opens.
    opened: list[Event] = []
    for chunk in split(data.draw, server.data_to_send()):
        opened += feed(client, chunk)
    assert opened == [Opened("msgpack", ())]


@given(st.lists(messages(), max_size=6), st.data())
@PROPERTY_SETTINGS
def test_server_to_client_any_chunking(sent: list[bytes | str], data: st.DataObject) -> None:
    client, server, _ = upgrade(subprotocols=["cbor", "json"])
    server.accept("cbor")
    stream = server.data_to_send()
    boundaries = [len(stream)]
    for message in sent:
        server.send_message(message)
        stream += server.data_to_send()
        boundaries.append(len(stream))
    server.close(1000, "done")
    stream += server.data_to_send()

    events: list[Event] = []
    for chunk in split(data.draw, stream, boundaries):
        events += feed(client, chunk)
    assert events == [
        Opened("cbor", ()),
        *[Message(m) for m in sent],
        Closed(1000, "done", Initiator.REMOTE),
    ]


@st.composite
def fragmented(draw: st.DrawFn) -> tuple[bytes | str, bytes, int]:
    """A message, its frames (cut anywhere, even mid-character) and the pings among them."""
    message = draw(messages())
    payload = message.encode() if isinstance(message, str) else message
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=5)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    wire = b""
    pings = 0
    for i, piece in enumerate(pieces):
        opcode = OP_CONT if i else (OP_TEXT if isinstance(message, str) else OP_BINARY)
        mask = draw(st.binary(min_size=4, max_size=4))
        wire += frame(opcode, piece, fin=i == len(pieces) - 1, mask=mask)
        if i < len(pieces) - 1 and draw(st.booleans()):
            wire += frame(OP_PING, b"%d" % pings)
            pings += 1
    return message, wire, pings


@given(st.lists(fragmented(), max_size=5), st.data())
@PROPERTY_SETTINGS
def test_fragmented_messages_any_chunking(
    sent: list[tuple[bytes | str, bytes, int]], data: st.DataObject
) -> None:
    _, server = open_pair()
    stream = b"".join(wire for _, wire, _ in sent)
    events: list[Event] = []
    for chunk in split(data.draw, stream):
        events += feed(server, chunk)
    assert events == [Message(message) for message, _, _ in sent]
    pongs = parse_frames(server.data_to_send())
    assert [payload for _, _, payload in pongs] == [
        b"%d" % i for _, _, count in sent for i in range(count)
    ]
    assert all(opcode == OP_PONG for opcode, _, _ in pongs)


# -- large messages: one chunk or two on the way out, any reads on the way in -------


@pytest.mark.parametrize("role", ["client", "server"])
def test_large_frames_leave_as_header_and_payload(role: str) -> None:
    client, server = open_pair()
    sender = client if role == "client" else server
    for size, chunks in ((frame_format.SPLIT_AT - 1, 1), (frame_format.SPLIT_AT, 2)):
        payload = random.Random(size).randbytes(size)
        sender.send_message(payload)
        out = sender.chunks_to_send()
        assert len(out) == chunks
        assert len(out[-1]) >= size
        assert parse_frames(b"".join(out)) == [(OP_BINARY, True, payload)]
        receiver = server if sender is client else client
        assert feed(receiver, *(bytes(c) for c in out)) == [Message(payload)]


def test_a_payload_read_whole_is_delivered_without_a_copy() -> None:
    client, _ = open_pair()
    payload = random.Random(1).randbytes(100_000)
    wire = frame(OP_BINARY, payload, mask=None)
    header, body = wire[: len(wire) - len(payload)], wire[len(wire) - len(payload) :]
    events = feed(client, header, body)
    assert events == [Message(payload)]
    assert isinstance(events[0], Message)
    assert events[0].data is body  # the read itself: not copied, not a view


MASKING_PATHS = {
    "c": {},
    "numpy": {"_apply_mask": None},
    "pure": {"_apply_mask": None, "HAVE_NUMPY": False},
}
LARGE = st.sampled_from([65536, 100_000, frame_format.SPLIT_AT]) | st.integers(0, 300_000)


@st.composite
def large_messages(draw: st.DrawFn) -> bytes | str:
    size = draw(LARGE)
    if draw(st.booleans()):
        return random.Random(draw(st.integers(0, 2**32))).randbytes(size)
    return ("aé€" * (size // 6 + 1))[: size // 2]


@pytest.mark.parametrize("path", sorted(MASKING_PATHS))
@given(st.lists(large_messages(), min_size=1, max_size=3), st.data())
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_large_messages_any_reads_every_masking_path(
    path: str, sent: list[bytes | str], data: st.DataObject
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in MASKING_PATHS[path].items():
            patch.setattr(masking, name, value)
        client, server = open_pair()
        for sender, receiver in ((client, server), (server, client)):
            boundaries = []
            stream = b""
            for message in sent:
                sender.send_message(message)
                stream += b"".join(sender.chunks_to_send())
                boundaries.append(len(stream))
            events: list[Event] = []
            for chunk in split(data.draw, stream, boundaries):
                events += feed(receiver, chunk)
            assert events == [Message(m) for m in sent]
            # Views of reads are joined or copied before delivery: never handed out.
            assert [type(e.data) for e in events if isinstance(e, Message)] == [
                type(m) for m in sent
            ]
