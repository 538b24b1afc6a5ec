"""The client role's opening handshake (warmwire.core.client_handshake), driven by bytes alone.

The client's upgrade request, the runner's 101 or its HTTP refusal, and the
error a refusal becomes; the server half of each exchange is a ServerProtocol.
"""

from __future__ import annotations

import pytest

from helpers.wire import (
    TARGET,
    feed,
    parse_response,
    upgrade,
)
from warmwire.core.client_handshake import MAX_REJECT_BODY, ClientProtocol, rejection_error
from warmwire.core.connection import State
from warmwire.core.errors import HandshakeError, ProtocolError
from warmwire.core.events import (
    Event,
    Message,
    Opened,
    Rejected,
    UpgradeRequest,
)
from warmwire.core.server_handshake import ServerProtocol

# -- opening handshake ------------------------------------------------------------


def test_client_sends_a_websocket_upgrade_request() -> None:
    client = ClientProtocol(host="runner.test", target=TARGET, subprotocols=["msgpack", "json"])
    request = client.data_to_send()
    head = request.decode("latin-1").lower()
    assert request.startswith(f"GET {TARGET} HTTP/1.1\r\n".encode())
    assert request.endswith(b"\r\n\r\n")
    assert "host: runner.test\r\n" in head
    assert "upgrade: websocket\r\n" in head
    assert "sec-websocket-version: 13\r\n" in head
    assert "sec-websocket-protocol: msgpack, json\r\n" in head
    assert client.state is State.CONNECTING
    assert client.data_to_send() == b""  # data_to_send() forgets what it returned


def test_handshake_with_subprotocols() -> None:
    client, server, request = upgrade(subprotocols=["msgpack", "json"])
    assert request.target == TARGET
    assert request.subprotocols == ("msgpack", "json")
    assert request.header("Host") == "runner.test"
    assert request.header("SEC-WEBSOCKET-PROTOCOL") == "msgpack, json"
    assert request.header("x-missing") is None
    assert server.state is State.CONNECTING

    server.accept("json")
    response = server.data_to_send()
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"sec-websocket-protocol: json\r\n" in response.lower()
    events = feed(client, response)
    assert events == [Opened("json", ())]
    assert client.state is State.OPEN
    assert server.state is State.OPEN
    assert not client.close_transport
    assert not server.close_transport


def test_handshake_without_subprotocol() -> None:
    client, server, request = upgrade()
    assert request.subprotocols == ()
    server.accept()
    assert feed(client, server.data_to_send()) == [Opened(None, ())]


def test_handshake_extra_headers_both_ways() -> None:
    client, server, request = upgrade(headers=[("Authorization", "Key id:secret")])
    assert request.header("authorization") == "Key id:secret"
    server.accept(None, headers=(("X-Runner-Id", "r-1"),))
    (opened,) = feed(client, server.data_to_send())
    assert isinstance(opened, Opened)
    assert ("x-runner-id", "r-1") in opened.headers


def test_handshake_split_byte_by_byte() -> None:
    client = ClientProtocol(host="runner.test", target=TARGET, subprotocols=["cbor"])
    server = ServerProtocol()
    events: list[Event] = []
    for byte in client.data_to_send():
        events += feed(server, bytes([byte]))
    assert [type(e) for e in events] == [UpgradeRequest]
    server.accept("cbor")
    events = []
    for byte in server.data_to_send():
        events += feed(client, bytes([byte]))
    assert events == [Opened("cbor", ())]


def test_empty_chunks_are_not_end_of_stream() -> None:
    client = ClientProtocol(host="runner.test", target=TARGET)
    server = ServerProtocol()
    request = client.data_to_send()
    assert feed(server, b"", request[:10], b"", request[10:], b"")[0].target == TARGET  # type: ignore[union-attr]
    server.accept()
    response = server.data_to_send()
    assert feed(client, b"", response[:5], b"", response[5:]) == [Opened(None, ())]
    client.send_message("hi")
    assert feed(server, b"", client.data_to_send(), b"") == [Message("hi")]


def test_frames_in_the_same_chunk_as_the_101_response() -> None:
    client, server, _ = upgrade()
    server.accept()
    server.send_message(b"first")
    server.send_message("second")
    events = feed(client, server.data_to_send())
    assert events == [Opened(None, ()), Message(b"first"), Message("second")]


# -- refused upgrades ---------------------------------------------------------------


def test_upgrade_refused_with_404() -> None:
    client, server, _ = upgrade()
    body = b'{"detail": "no app acme/stylize"}'
    server.respond(404, body)
    assert server.state is State.CLOSED
    assert server.close_transport
    response = server.data_to_send()
    status, headers, parsed_body = parse_response(response)
    assert (status, parsed_body) == (404, body)
    assert headers["connection"] == "close"

    (rejected,) = feed(client, response)
    assert isinstance(rejected, Rejected)
    assert rejected.status_code == 404
    assert rejected.body == body
    assert ("content-type", "application/json") in rejected.headers
    assert client.state is State.CLOSED
    assert client.close_transport
    error = rejection_error(rejected)
    assert error.status_code == 404
    assert "no app acme/stylize" in str(error)


def test_upgrade_refused_without_body() -> None:
    client, server, _ = upgrade()
    server.respond(503)
    assert feed(client, server.data_to_send()) == [
        Rejected(
            503,
            (
                ("content-type", "application/json"),
                ("content-length", "0"),
                ("connection", "close"),
            ),
            b"",
        )
    ]


def test_rejection_split_into_chunks() -> None:
    client, server, _ = upgrade()
    server.respond(401, b"x" * 5000)
    response = server.data_to_send()
    events: list[Event] = []
    for i in range(0, len(response), 7):
        events += feed(client, response[i : i + 7])
    assert len(events) == 1
    assert isinstance(events[0], Rejected)
    assert events[0].body == b"x" * 5000


def test_rejection_body_is_capped() -> None:
    client, server, _ = upgrade()
    server.respond(500, b"y" * (MAX_REJECT_BODY + 1000))
    (rejected,) = feed(client, server.data_to_send())
    assert isinstance(rejected, Rejected)
    assert rejected.body == b"y" * MAX_REJECT_BODY


def test_eof_after_rejection_is_harmless() -> None:
    client, server, _ = upgrade()
    server.respond(404, b"{}")
    feed(client, server.data_to_send())
    assert feed(client, None) == []
    assert feed(client, b"more") == []
    assert feed(server, None) == []
    assert feed(server, b"more") == []


def test_rejection_body_delimited_by_eof() -> None:
    # An HTTP/1.0-style refusal (no Content-Length) ends when the server hangs up.
    client = ClientProtocol(host="runner.test", target=TARGET)
    client.data_to_send()
    assert feed(client, b"HTTP/1.1 502 Bad Gateway\r\nServer: proxy\r\n\r\nupstream down") == []
    assert feed(client, None) == [Rejected(502, (("server", "proxy"),), b"upstream down")]
    assert client.close_transport


def test_eof_during_client_handshake() -> None:
    client = ClientProtocol(host="runner.test", target=TARGET)
    client.data_to_send()
    client.receive_data(b"HTTP/1.1 101 Switching")
    with pytest.raises(HandshakeError, match="closed the connection during the opening handshake"):
        client.receive_data(None)
    assert client.state is State.CLOSED
    assert client.close_transport
    assert feed(client, None) == []  # further reads after the failure are ignored


@pytest.mark.parametrize(
    "response",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n",
    ],
    ids=["not-http", "wrong-accept-key"],
)
def test_invalid_handshake_response(response: bytes) -> None:
    client = ClientProtocol(host="runner.test", target=TARGET)
    client.data_to_send()
    with pytest.raises(HandshakeError, match="invalid handshake response"):
        client.receive_data(response)
    assert client.state is State.CLOSED
    assert client.close_transport


def test_unrequested_subprotocol_in_response() -> None:
    client, server, _ = upgrade(subprotocols=["json"])
    server.accept("json")
    response = server.data_to_send().replace(b": json\r\n", b": cbor\r\n")
    with pytest.raises(HandshakeError):
        client.receive_data(response)


def test_send_before_open_is_refused() -> None:
    client = ClientProtocol(host="runner.test", target=TARGET)
    with pytest.raises(ProtocolError, match="connecting"):
        client.send_message("too early")
    with pytest.raises(ProtocolError):
        client.send_ping()
    client.close()  # a no-op before the connection is open
    assert client.state is State.CONNECTING


# -- rejection_error ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (404, "check the app id, the path and the runner URL"),
        (401, "check your credentials"),
        (403, "check your credentials"),
        (503, "retry shortly or use another runner"),
        (500, "check the runner's logs"),
        (400, "check the runner's logs"),
    ],
)
def test_rejection_error_messages(status: int, hint: str) -> None:
    body = b'{"detail": "nope"}'
    error = rejection_error(Rejected(status, (("content-type", "application/json"),), body))
    assert isinstance(error, HandshakeError)
    assert error.status_code == status
    assert error.body == body
    message = str(error)
    assert f"HTTP {status}" in message
    assert '{"detail": "nope"}' in message
    assert message.endswith(hint)


def test_rejection_error_with_undecodable_body() -> None:
    error = rejection_error(Rejected(502, (), b"\xff\xfebad"))
    assert "HTTP 502" in str(error)
    assert "bad" in str(error)
    assert error.body == b"\xff\xfebad"


def test_handshake_error_defaults() -> None:
    error = HandshakeError("boom")
    assert (error.status_code, error.body) == (0, b"")
