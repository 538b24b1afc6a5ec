"""atheris harness: warmwire's parsers fed arbitrary bytes (``make fuzz``).

Targets (the first input byte picks one):

- the server handshake parser: ``ServerProtocol.receive_data``, in chunks;
- the frame path after a completed handshake, both roles (``ServerProtocol``
  reading client frames, ``ClientProtocol`` reading server frames);
- every built-in codec's ``decode`` (msgpack, json, cbor, identity), bytes and str;
- ``parse_app_id`` and ``parse_runner_url``;
- ``TokenVerifier.verify``: arbitrary strings, and tokens properly signed over
  arbitrary claims.

Only the documented error types may escape (``ProtocolError``, ``CodecError``,
``ConfigurationError``, ``TokenError``); any other exception is a finding and
stops the run with a crash file.  Run with ``-max_total_time=<seconds>``.
"""

from __future__ import annotations

import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from warmwire.auth.tokens import TokenError, TokenVerifier
    from warmwire.codecs.cbor import CborCodec
    from warmwire.codecs.identity import IdentityCodec
    from warmwire.codecs.json import JsonCodec
    from warmwire.codecs.msgpack import MsgpackCodec
    from warmwire.core.client_handshake import ClientProtocol
    from warmwire.core.endpoint import parse_app_id, parse_runner_url
    from warmwire.core.errors import CodecError, ConfigurationError, ProtocolError
    from warmwire.core.events import HttpRequest, UpgradeRequest
    from warmwire.core.server_handshake import ServerProtocol

CODECS = (MsgpackCodec(), JsonCodec(), CborCodec(), IdentityCodec())
SIGNING = Ed25519PrivateKey.generate()
VERIFIER = TokenVerifier((SIGNING.public_key(),))
ENDPOINT = parse_app_id("warmwire/echo", "/realtime")
SMALL_LIMIT = 4096


def chunks(fdp: atheris.FuzzedDataProvider) -> list[bytes]:
    """The rest of the input, cut where the input says (reads arrive in pieces)."""
    parts: list[bytes] = []
    for _ in range(64):
        if fdp.remaining_bytes() == 0:
            break
        size = fdp.ConsumeIntInRange(1, 512)
        parts.append(fdp.ConsumeBytes(size))
    return parts


def server_handshake(fdp: atheris.FuzzedDataProvider) -> None:
    server = ServerProtocol(max_message_size=SMALL_LIMIT, max_request_body=SMALL_LIMIT)
    for part in [*chunks(fdp), None]:
        try:
            server.receive_data(part)
            for event in server.events():
                if isinstance(event, UpgradeRequest):
                    server.accept()
                elif isinstance(event, HttpRequest):
                    server.respond(200, b"ok")
            server.data_to_send()
        except ProtocolError:
            return


def opened_pair() -> tuple[ClientProtocol, ServerProtocol]:
    client = ClientProtocol(host="127.0.0.1", target="/warmwire/echo/realtime")
    server = ServerProtocol(max_message_size=SMALL_LIMIT)
    server.receive_data(client.data_to_send())
    assert any(isinstance(e, UpgradeRequest) for e in server.events())
    server.accept()
    client.receive_data(server.data_to_send())
    client.events()
    return client, server


def frames(fdp: atheris.FuzzedDataProvider) -> None:
    client, server = opened_pair()
    # One role reads the input as its peer's frames; a well-formed message first,
    # so the fuzzed bytes also land mid-stream.
    role = client if fdp.ConsumeBool() else server
    peer = server if role is client else client
    peer.send_message(b"warm")
    role.receive_data(peer.data_to_send())
    for part in [*chunks(fdp), None]:
        try:
            role.receive_data(part)
            role.events()
            role.data_to_send()
        except ProtocolError:
            return
        if role.close_transport:
            return


def codecs(fdp: atheris.FuzzedDataProvider) -> None:
    codec = CODECS[fdp.ConsumeIntInRange(0, len(CODECS) - 1)]
    as_text = fdp.ConsumeBool()
    data: bytes | str = (
        fdp.ConsumeUnicode(fdp.remaining_bytes()) if as_text else fdp.ConsumeBytes(1 << 16)
    )
    try:
        codec.decode(data)
    except CodecError:
        pass


def endpoints(fdp: atheris.FuzzedDataProvider) -> None:
    first = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 256))
    second = fdp.ConsumeUnicode(fdp.remaining_bytes())
    try:
        parse_app_id(first, second or "/realtime")
    except ConfigurationError:
        pass
    try:
        parse_runner_url(first)
    except ConfigurationError:
        pass


def claim_value(fdp: atheris.FuzzedDataProvider) -> Any:
    kind = fdp.ConsumeIntInRange(0, 5)
    if kind == 0:
        return fdp.ConsumeInt(8)
    if kind == 1:
        return fdp.ConsumeUnicode(32)
    if kind == 2:
        return [fdp.ConsumeUnicode(32) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if kind == 3:
        return fdp.ConsumeFloat()
    if kind == 4:
        return None
    return {"nested": fdp.ConsumeUnicode(8)}


def tokens(fdp: atheris.FuzzedDataProvider) -> None:
    if fdp.ConsumeBool():
        token = fdp.ConsumeUnicode(fdp.remaining_bytes())
    else:
        names = ("exp", "iat", "nbf", "sub", "allowed_apps", "aud")
        claims = {name: claim_value(fdp) for name in names if fdp.ConsumeBool()}
        try:
            token = jwt.encode(claims, SIGNING, algorithm="EdDSA")
        except (TypeError, ValueError, OverflowError):
            return  # not encodable as a JWT (e.g. a NaN): nothing for the verifier to see
    try:
        VERIFIER.verify(token, ENDPOINT)
    except TokenError:
        pass


TARGETS = (server_handshake, frames, codecs, endpoints, tokens)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)](fdp)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
