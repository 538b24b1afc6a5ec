"""The server role's front door (warmwire.core.server_handshake), driven by bytes alone.

One HTTP request, an upgrade answered with accept() or a plain request (or a
refused upgrade) answered with respond(); malformed requests answered for the
application.  The upgrade fast path has its own tests (test_upgrade_fast_path.py).
"""

from __future__ import annotations

import orjson
import pytest

from helpers.wire import (
    OP_BINARY,
    OP_TEXT,
    TARGET,
    feed,
    frame,
    http_request,
    parse_response,
    upgrade,
)
from warmwire.core.client_handshake import ClientProtocol
from warmwire.core.close_codes import CloseCode
from warmwire.core.connection import State
from warmwire.core.errors import ProtocolError
from warmwire.core.events import (
    BadRequest,
    Closed,
    Event,
    HttpRequest,
    Initiator,
    Message,
    UpgradeRequest,
)
from warmwire.core.server_handshake import ServerProtocol

# -- opening handshake ------------------------------------------------------------


def test_accept_an_unoffered_subprotocol_is_refused() -> None:
    _, server, _ = upgrade(subprotocols=["msgpack"])
    with pytest.raises(ProtocolError, match="cannot accept"):
        server.accept("cbor")


def test_accept_needs_a_pending_upgrade() -> None:
    server = ServerProtocol()
    with pytest.raises(ProtocolError, match="pending WebSocket upgrade"):
        server.accept()
    _, server, _ = upgrade()
    server.accept()
    with pytest.raises(ProtocolError, match="pending WebSocket upgrade"):
        server.accept()


def test_accept_on_a_plain_request_is_refused() -> None:
    server, _ = http_request(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ProtocolError):
        server.accept()


def test_frames_in_the_same_chunk_as_the_upgrade_request() -> None:
    # An eager client (or a proxy coalescing writes) may send frames right behind
    # the request; they must surface once the upgrade is accepted.
    client = ClientProtocol(host="runner.test", target=TARGET)
    server = ServerProtocol()
    data = client.data_to_send() + frame(OP_BINARY, b"early") + frame(OP_TEXT, b"bird")
    (request,) = feed(server, data)
    assert isinstance(request, UpgradeRequest)
    server.accept()
    assert server.events() == [Message(b"early"), Message("bird")]


def test_frames_arriving_while_the_upgrade_is_pending() -> None:
    # The application may take a while (auth) before accept(): bytes read meanwhile
    # must not be lost.
    _, server, _ = upgrade()
    assert feed(server, frame(OP_BINARY, b"one"), frame(OP_TEXT, b"two")) == []
    server.accept()
    assert server.events() == [Message(b"one"), Message("two")]


def test_eof_while_the_upgrade_is_pending() -> None:
    _, server, _ = upgrade()
    assert feed(server, frame(OP_BINARY, b"last words"), None) == []
    server.accept()
    assert server.events() == [
        Message(b"last words"),
        Closed(CloseCode.ABNORMAL, "connection lost without a close frame", Initiator.NETWORK),
    ]
    assert server.close_transport


# -- plain HTTP on the server's front door ------------------------------------------


def test_plain_http_request() -> None:
    server, events = http_request(b"GET /health?verbose=1 HTTP/1.1\r\nHost: runner\r\n\r\n")
    assert events == [HttpRequest("GET", "/health?verbose=1", (("host", "runner"),), b"")]
    assert events[0].header("HOST") == "runner"  # type: ignore[union-attr]
    assert server.state is State.CONNECTING
    server.respond(200, b'{"status":"ok"}')
    assert server.state is State.CLOSED
    assert server.close_transport
    status, headers, body = parse_response(server.data_to_send())
    assert status == 200
    assert body == b'{"status":"ok"}'
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    assert headers["connection"] == "close"


def test_plain_http_request_with_body_in_chunks() -> None:
    body = orjson.dumps({"allowed_apps": ["acme/stylize"], "token_expiration": 120})
    request = (
        b"POST /tokens/ HTTP/1.1\r\nHost: runner\r\nAuthorization: Key a:b\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    server = ServerProtocol()
    events: list[Event] = []
    for i in range(0, len(request), 5):
        events += feed(server, request[i : i + 5])
    (req,) = events
    assert isinstance(req, HttpRequest)
    assert (req.method, req.target, req.body) == ("POST", "/tokens/", body)
    assert req.header("authorization") == "Key a:b"


def test_plain_http_request_chunked_body() -> None:
    request = (
        b"POST /tokens/realtime HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    _, events = http_request(request)
    assert [e.body for e in events if isinstance(e, HttpRequest)] == [b"hello world"]


def test_respond_keeps_a_given_content_type() -> None:
    server, _ = http_request(b"GET /metrics HTTP/1.1\r\nHost: r\r\n\r\n")
    server.respond(200, b"up 1\n", headers=(("Content-Type", "text/plain"),))
    _, headers, body = parse_response(server.data_to_send())
    assert headers["content-type"] == "text/plain"
    assert body == b"up 1\n"
    assert list(headers).count("content-type") == 1


def test_head_request_response_has_no_body() -> None:
    server, events = http_request(b"HEAD /health HTTP/1.1\r\nHost: r\r\n\r\n")
    assert [e.method for e in events if isinstance(e, HttpRequest)] == ["HEAD"]
    server.respond(200, b'{"status":"ok"}')
    data = server.data_to_send()
    assert data.endswith(b"\r\n\r\n")
    status, headers, body = parse_response(data, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == "15"


def test_respond_twice_is_refused() -> None:
    server, _ = http_request(b"GET / HTTP/1.1\r\nHost: r\r\n\r\n")
    server.respond(204)
    with pytest.raises(ProtocolError, match="pending HTTP request"):
        server.respond(200)


def test_eof_after_respond_is_harmless() -> None:
    server, _ = http_request(b"GET / HTTP/1.1\r\nHost: r\r\n\r\n")
    server.respond(200, b"{}")
    assert feed(server, None) == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 requires Host
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS to a plain port
    ],
)
def test_garbage_http_request(request_bytes: bytes) -> None:
    server, events = http_request(request_bytes)
    assert len(events) == 1
    bad = events[0]
    assert isinstance(bad, BadRequest)
    assert bad.status_code == 400
    assert server.state is State.CLOSED
    assert server.close_transport
    status, headers, body = parse_response(server.data_to_send())
    assert status == 400
    assert headers["connection"] == "close"
    assert orjson.loads(body)["error"] == "Bad Request"
    assert feed(server, b"GET / HTTP/1.1\r\n\r\n") == []  # nothing more is read


def test_request_body_over_the_limit() -> None:
    request = b"POST /tokens/ HTTP/1.1\r\nHost: r\r\nContent-Length: 2000\r\n\r\n" + b"a" * 2000
    server, events = http_request(request, max_request_body=1000)
    assert len(events) == 1
    assert isinstance(events[0], BadRequest)
    assert events[0].status_code == 413
    assert "1000" in events[0].reason
    status, _, body = parse_response(server.data_to_send())
    assert status == 413
    assert "1000" in orjson.loads(body)["reason"]
    assert server.close_transport


def test_request_body_at_the_limit() -> None:
    request = b"POST /tokens/ HTTP/1.1\r\nHost: r\r\nContent-Length: 1000\r\n\r\n" + b"a" * 1000
    _, events = http_request(request, max_request_body=1000)
    assert [type(e) for e in events] == [HttpRequest]


def test_oversized_headers() -> None:
    # h11 bounds what it buffers of an incomplete head: a client that keeps sending
    # header bytes gets a 431 instead of growing the buffer without end.
    server, events = http_request(b"GET / HTTP/1.1\r\nHost: r\r\nX-Big: ")
    assert events == []
    events = feed(server, b"a" * 20000)
    assert len(events) == 1
    assert isinstance(events[0], BadRequest)
    assert events[0].status_code == 431
    assert parse_response(server.data_to_send())[0] == 431


def test_invalid_websocket_upgrade() -> None:
    request = (
        b"GET /acme/stylize/realtime HTTP/1.1\r\nHost: r\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"  # no Sec-WebSocket-Key
    )
    server, events = http_request(request)
    assert len(events) == 1
    assert isinstance(events[0], BadRequest)
    assert events[0].status_code == 400
    assert "WebSocket upgrade" in events[0].reason
    assert parse_response(server.data_to_send())[0] == 400


def test_eof_before_any_request() -> None:
    server, events = http_request(b"")
    assert events == []
    assert feed(server, None) == []
    assert server.state is State.CLOSED
    assert server.close_transport
    assert server.data_to_send() == b""


def test_eof_in_the_middle_of_a_request() -> None:
    server, events = http_request(b"GET /health HTTP/1.1\r\nHo")
    assert events == []
    (bad,) = feed(server, None)
    assert isinstance(bad, BadRequest)
    assert server.close_transport
