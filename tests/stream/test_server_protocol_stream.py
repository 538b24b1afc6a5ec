"""The sans-IO side of a stream on warmwire's own server (``ServerProtocol``): a plain request
answered in parts (chunked), the client's end noticed, what the client sends meanwhile
dropped, and a body limit per target.  No sockets: bytes in, bytes out, read back by h11's
client role as any HTTP client would."""

from __future__ import annotations

import h11
import pytest

from warmwire.core.errors import ProtocolError
from warmwire.core.events import BadRequest, HttpRequest
from warmwire.core.server_handshake import ServerProtocol

BODY = b'{"n": 2}'
POST = (
    b"POST /acme/app/stream HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


def _read_as_client(data: bytes) -> tuple[h11.Response, bytes, bool]:
    """What an HTTP client makes of ``data``: the response, its body, whether it ended."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="POST", target="/", headers=[("host", "t")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    response = None
    body = b""
    ended = False
    while (event := client.next_event()) is not h11.NEED_DATA:
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            ended = True
            break
    assert response is not None
    return response, body, ended


def _requested(server: ServerProtocol) -> HttpRequest:
    server.receive_data(POST)
    (request,) = server.events()
    assert isinstance(request, HttpRequest)
    return request


def test_a_response_in_parts_is_chunked_and_ends_cleanly() -> None:
    server = ServerProtocol()
    assert _requested(server).body == BODY
    server.start_response(200, (("content-type", "text/event-stream"),))
    head = server.data_to_send()
    server.send_body(b"data: 1\n\n")
    first = server.data_to_send()
    response, body, ended = _read_as_client(head + first)
    assert response.status_code == 200
    assert (b"transfer-encoding", b"chunked") in response.headers
    assert (body, ended) == (b"data: 1\n\n", False)  # the first part is readable at once
    server.send_body(b"data: 2\n\n")
    server.end_response()
    assert server.close_transport
    _, body, ended = _read_as_client(head + first + server.data_to_send())
    assert (body, ended) == (b"data: 1\n\ndata: 2\n\n", True)
    with pytest.raises(ProtocolError):
        server.send_body(b"late")


def test_the_clients_end_closes_and_what_it_sends_meanwhile_is_dropped() -> None:
    server = ServerProtocol()
    _requested(server)
    server.start_response(200)
    server.data_to_send()
    server.receive_data(b"GET /pipelined HTTP/1.1\r\nhost: t\r\n\r\n" * 1000)
    assert server.events() == []
    assert not server.close_transport
    server.receive_data(None)
    assert server.close_transport
    with pytest.raises(ProtocolError):
        server.send_body(b"data: gone\n\n")


def test_only_a_pending_plain_request_can_be_answered_in_parts() -> None:
    server = ServerProtocol()
    with pytest.raises(ProtocolError):
        server.start_response(200)  # no request yet
    with pytest.raises(ProtocolError):
        server.send_body(b"x")  # no response begun
    upgrade = ServerProtocol()
    upgrade.receive_data(
        b"GET /acme/app/realtime HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\n"
        b"connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"sec-websocket-version: 13\r\n\r\n"
    )
    upgrade.events()
    with pytest.raises(ProtocolError):
        upgrade.start_response(200)


def test_the_body_limit_may_depend_on_the_target() -> None:
    big = b"x" * 1000
    post = b"POST /acme/app/stream HTTP/1.1\r\nhost: t\r\ncontent-length: 1000\r\n\r\n" + big
    limits = {"/acme/app/stream": 2000}
    server = ServerProtocol(max_request_body=100, body_limit=lambda t: limits.get(t, 100))
    server.receive_data(post)
    (request,) = server.events()
    assert isinstance(request, HttpRequest)
    assert request.body == big
    other = ServerProtocol(max_request_body=100, body_limit=lambda t: limits.get(t, 100))
    other.receive_data(post.replace(b"/acme/app/stream", b"/tokens/"))
    (refused,) = other.events()
    assert isinstance(refused, BadRequest)
    assert refused.status_code == 413
