"""The handshake security matrix: every bad credential is refused on the wire, every good one works.

Each refusal is checked twice against a real runner on a loopback socket:

- raw: the first frame is the JSON *text* message
  ``{"status": "error", "error": "Unauthorized", "reason": ...}`` and then the
  runner closes with 1008;
- through the public client: ``recv()`` raises ``UnauthorizedError`` and the
  next ``recv()`` raises ``ConnectionClosedError`` with ``code == 1008``.

The reason sent must never contain the token or the API secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import attrs
import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import warmwire
from warmwire.auth.keys import parse_key
from warmwire.auth.strategies import (
    Credentials,
    KeyHeader,
    MintedToken,
    NoAuth,
    StaticToken,
    TokenStrategy,
)
from warmwire.auth.tokens import public_pem
from warmwire.core.close_codes import CloseCode
from warmwire.core.endpoint import Endpoint, RunnerUrl
from warmwire.core.events import Closed

pytestmark = pytest.mark.anyio

SECRET = "s3cret"
KEY = f"dev:{SECRET}"
TIMEOUT = 10.0


@attrs.frozen
class TokenAndHeader:
    """A client presenting a (valid) token *and* an Authorization header at once."""

    token: str
    authorization: str

    def _creds(self) -> Credentials:
        return Credentials(token=self.token, headers=(("authorization", self.authorization),))

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return self._creds()

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return self._creds()


def _now() -> int:
    return int(time.time())


def _hs256_with_public_pem(r: Any) -> str:
    """Algorithm confusion: HMAC-SHA256 keyed with the runner's public key PEM."""
    header = {"alg": "HS256", "typ": "JWT"}
    unsigned = r.hand_made(header).rsplit(".", 1)[0]
    mac = hmac.new(public_pem(r.public_key), unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _spliced(r: Any) -> str:
    """A valid token's signature on another token's claims (``allowed_apps`` widened)."""
    narrow = r.mint(allowed_apps=["other"])
    wide = r.mint(allowed_apps=["echo"])
    return ".".join([*wide.split(".")[:2], narrow.split(".")[2]])


Factory = Callable[[Any, Ed25519PrivateKey], TokenStrategy]


def token(make: Callable[[Any, Ed25519PrivateKey], str]) -> Factory:
    return lambda r, other: StaticToken(make(r, other))


REFUSED: list[Any] = [
    pytest.param(lambda r, o: NoAuth(), "missing token", id="no-token"),
    pytest.param(token(lambda r, o: ""), "missing token", id="empty-token"),
    pytest.param(token(lambda r, o: "garbage"), "malformed token", id="garbage"),
    pytest.param(token(lambda r, o: "a.b.c"), "malformed token", id="garbage-three-parts"),
    pytest.param(
        token(lambda r, o: r.mint(iat=_now() - 120, nbf=_now() - 120, exp=_now() - 60)),
        "expired",
        id="expired",
    ),
    pytest.param(token(lambda r, o: r.mint(nbf=_now() + 60)), "not yet valid", id="nbf-in-future"),
    pytest.param(
        token(lambda r, o: r.mint(iat=_now() + 60, nbf=None)),
        "not yet valid",
        id="iat-in-future",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["other"])), "not valid for app", id="other-app"
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["evil/echo"])),
        "not valid for app",
        id="same-alias-other-owner",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["warmwire/echo/async"])),
        "not valid for app",
        id="same-app-other-endpoint",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=[])), "not valid for app", id="no-allowed-apps"
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps="echo")),
        "must be a list",
        id="allowed-apps-is-a-string",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=[1, "echo"])),
        "must be a list",
        id="allowed-apps-not-strings",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=None)),
        "lacks the 'allowed_apps' claim",
        id="allowed-apps-missing",
    ),
    pytest.param(token(lambda r, o: r.mint(exp=None)), "lacks the 'exp' claim", id="exp-missing"),
    pytest.param(token(lambda r, o: r.mint(sub=None)), "lacks the 'sub' claim", id="sub-missing"),
    pytest.param(
        token(lambda r, o: r.mint(key=o)), "signature is not valid", id="signed-by-another-key"
    ),
    pytest.param(
        token(lambda r, o: r.hand_made({"alg": "none", "typ": "JWT"})),
        "algorithm not allowed",
        id="alg-none",
    ),
    pytest.param(
        token(lambda r, o: r.hand_made({"alg": "EdDSA", "typ": "JWT"})),
        None,
        id="eddsa-without-signature",
    ),
    pytest.param(
        token(lambda r, o: _hs256_with_public_pem(r)),
        "algorithm not allowed",
        id="hs256-keyed-with-public-pem",
    ),
    pytest.param(token(lambda r, o: r.mint()[:-10]), None, id="truncated-signature"),
    pytest.param(token(lambda r, o: _spliced(r)), "signature is not valid", id="signature-spliced"),
    pytest.param(lambda r, o: KeyHeader("nobody:x"), "invalid API key", id="unknown-api-key"),
    pytest.param(lambda r, o: KeyHeader("dev:wrong"), "invalid API key", id="wrong-secret"),
    pytest.param(
        lambda r, o: KeyHeader(f"dev:{SECRET}x"), "invalid API key", id="secret-with-suffix"
    ),
    pytest.param(
        lambda r, o: TokenAndHeader(r.mint(), "Key dev:wrong"),
        "invalid API key",
        id="valid-token-does-not-rescue-bad-key",
    ),
    pytest.param(
        lambda r, o: TokenAndHeader(r.mint(), f"Bearer {KEY}"),
        "invalid API key",
        id="bearer-scheme",
    ),
]


def _presented(strategy: TokenStrategy) -> str:
    """The credential text the strategy presents (to prove it is not echoed back)."""
    if isinstance(strategy, StaticToken | TokenAndHeader):
        return strategy.token
    if isinstance(strategy, KeyHeader):
        return strategy.key
    return ""


@pytest.mark.parametrize(("make", "reason_part"), REFUSED)
async def test_refused_on_the_wire(
    auth_runner: Any, other_key: Ed25519PrivateKey, make: Factory, reason_part: str | None
) -> None:
    strategy = make(auth_runner, other_key)
    presented = _presented(strategy)

    first, second = await auth_runner.raw_refusal(strategy)
    assert isinstance(first, str), "the refusal must be a text frame a browser can read"
    message = orjson.loads(first)
    assert set(message) == {"status", "error", "reason"}
    assert message["status"] == "error"
    assert message["error"] == "Unauthorized"
    reason = message["reason"]
    assert isinstance(reason, str)
    assert reason
    if reason_part is not None:
        assert reason_part in reason
    if len(presented) > 8:
        assert presented not in reason
        for part in presented.split("."):
            if len(part) > 8:
                assert part not in reason
    assert SECRET not in reason
    assert isinstance(second, Closed)
    assert second.code == CloseCode.POLICY_VIOLATION == 1008

    # The same through the public client API.
    with anyio.fail_after(TIMEOUT):
        async with auth_runner.builder(strategy).connect_async() as conn:
            with pytest.raises(warmwire.UnauthorizedError) as refused:
                await conn.recv()
            assert refused.value.error == "Unauthorized"
            assert refused.value.reason == reason
            with pytest.raises(warmwire.ConnectionClosedError) as closed:
                await conn.recv()
            assert closed.value.code == 1008


ACCEPTED: list[Any] = [
    pytest.param(token(lambda r, o: r.mint(allowed_apps=["echo"])), id="alias"),
    pytest.param(token(lambda r, o: r.mint(allowed_apps=["warmwire/echo"])), id="owner-alias"),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["warmwire/echo/realtime"])), id="endpoint-path"
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["/warmwire/echo/realtime/"])),
        id="endpoint-path-with-slashes",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["other", "warmwire/echo"])), id="one-of-several"
    ),
    pytest.param(
        token(lambda r, o: r.mint(iat=_now() - 62, nbf=_now() - 62, exp=_now() - 2)),
        id="expired-within-leeway",
    ),
    pytest.param(
        token(lambda r, o: r.mint(nbf=_now() + 2, iat=_now() + 2)), id="future-within-leeway"
    ),
    pytest.param(token(lambda r, o: r.issue(["echo"])), id="warmwire-issuer"),
    pytest.param(lambda r, o: KeyHeader(KEY), id="api-key-header"),
    pytest.param(lambda r, o: MintedToken(parse_key(KEY), 60), id="api-key-minted-jwt"),
    pytest.param(
        lambda r, o: TokenAndHeader("garbage", f"Key {KEY}"), id="valid-key-with-junk-token"
    ),
]


@pytest.mark.parametrize("make", ACCEPTED)
async def test_accepted(auth_runner: Any, other_key: Ed25519PrivateKey, make: Factory) -> None:
    await auth_runner.round_trip(make(auth_runner, other_key))


async def test_refused_blocking_client(auth_runner: Any) -> None:
    """The blocking client sees the same refusal (message, then 1008)."""
    token = auth_runner.mint(allowed_apps=["other"])

    def run() -> tuple[str, int]:
        with warmwire.realtime("warmwire/echo", url=auth_runner.url, token=token) as conn:
            with pytest.raises(warmwire.UnauthorizedError) as refused:
                conn.recv(timeout=TIMEOUT)
            with pytest.raises(warmwire.ConnectionClosedError) as closed:
                conn.recv(timeout=TIMEOUT)
            return refused.value.reason, closed.value.code

    reason, code = await anyio.to_thread.run_sync(run)
    assert "not valid for app" in reason
    assert code == 1008


async def test_logs_hold_no_tokens_or_secrets(
    auth_runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Successful, refused, minted and failed-key paths: no token or secret in any log record."""
    caplog.set_level(logging.DEBUG)  # every logger, warmwire's and the libraries'
    caplog.set_level(logging.DEBUG, logger="warmwire")
    tokens: list[str] = []

    # A token minted over HTTP, then used.
    async with httpx.AsyncClient(base_url=auth_runner.http_url, timeout=TIMEOUT) as http:
        minted = await http.post(
            "/tokens/",
            headers={"authorization": f"Key {KEY}"},
            json={"allowed_apps": ["echo"], "token_expiration": 60},
        )
        assert minted.status_code == 200
        tokens.append(minted.json())
        failed = await http.post(
            "/tokens/realtime",
            headers={"authorization": "Key dev:not-the-s3cret"},
            json={"allowed_apps": ["echo"], "duration": 60},
        )
        assert failed.status_code == 401
    await auth_runner.round_trip(StaticToken(tokens[0]))

    # The client minting for itself (key → token), and the key sent as a header.
    minting = MintedToken(parse_key(KEY), 60)
    await auth_runner.round_trip(minting)
    spec = auth_runner.builder(minting).resolve().spec
    own = (await minting.credentials(spec.endpoint, spec.url)).token
    assert own is not None
    tokens.append(own)
    await auth_runner.round_trip(KeyHeader(KEY))

    # Refusals: a forged token, an expired one, a wrong secret.
    forged = auth_runner.mint(allowed_apps=["other"])
    expired = auth_runner.mint(exp=_now() - 60, iat=_now() - 120, nbf=_now() - 120)
    tokens += [forged, expired]
    for strategy in (StaticToken(forged), StaticToken(expired), KeyHeader("dev:wrong-s3cret")):
        await auth_runner.raw_refusal(strategy)

    assert any("minted" in r.getMessage() for r in caplog.records), "the mint was not logged"
    assert any("refused" in r.getMessage() for r in caplog.records), "refusals were not logged"
    secrets = [SECRET, *tokens, *(t.split(".")[2] for t in tokens)]
    for record in caplog.records:
        texts = [record.getMessage(), repr(record.args), str(record.msg)]
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"{record.name}: a secret is in {text[:120]!r}"
    for secret in secrets:
        assert secret not in caplog.text
