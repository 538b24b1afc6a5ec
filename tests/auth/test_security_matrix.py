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
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import attrs
import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import warmwire
from helpers.asgi_servers import uvicorn_server
from warmwire import asgi, runner
from warmwire.auth.keys import KeyStore, parse_key, parse_key_line
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.strategies import (
    Credentials,
    KeyHeader,
    MintedToken,
    NoAuth,
    StaticToken,
    TokenStrategy,
)
from warmwire.auth.tokens import public_pem
from warmwire.client.builder import ConnectionBuilder
from warmwire.core.close_codes import CloseCode
from warmwire.core.endpoint import Endpoint, RunnerUrl
from warmwire.core.events import Closed
from warmwire.transports.drivers import open_client

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
    narrow = r.mint(allowed_apps=["warmwire/other"])
    wide = r.mint(allowed_apps=["warmwire/echo"])
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
        token(lambda r, o: r.mint(allowed_apps=["echo"])),
        "without its owner",
        id="fresh-bare-alias",
    ),
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["evil/*"])),
        "not valid for app",
        id="other-owner-glob",
    ),
    pytest.param(
        token(lambda r, o: r.mint(exp=_now() + 7200)),
        "lifetime",
        id="over-long-lifetime",
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
    pytest.param(
        token(lambda r, o: r.mint(allowed_apps=["echo"], iat=_now() - 30, nbf=_now() - 30)),
        id="legacy-bare-alias-minted-before-the-runner-started",
    ),
    pytest.param(token(lambda r, o: r.mint(allowed_apps=["*/echo"])), id="any-owner-alias"),
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
    pytest.param(token(lambda r, o: r.mint(exp=_now() + 3600)), id="longest-lifetime"),
    pytest.param(
        token(lambda r, o: r.mint(iat=_now() - 62, nbf=_now() - 62, exp=_now() - 2)),
        id="expired-within-leeway",
    ),
    pytest.param(
        token(lambda r, o: r.mint(nbf=_now() + 2, iat=_now() + 2)), id="future-within-leeway"
    ),
    pytest.param(token(lambda r, o: r.issue(["warmwire/echo"])), id="warmwire-issuer"),
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


# --- cross-owner cases, on both front doors ------------------------------------------------
#
# One runner serves two owners' apps with the same alias (``acme/echo``, ``other/echo``);
# the backend key ``acme`` is scoped to ``acme/*`` with tokens of at most 300 s.  Every case
# runs against warmwire's own server and the ASGI adapter (under uvicorn), each under both
# event loops of the client (``anyio_backend``).

ACME_SECRET = "acme-s3cret"
ACME_KEY = f"acme:{ACME_SECRET}"
ACME_LINE = f"{ACME_KEY} apps=acme/* max_expiration=300"
DOORS = ["warmwire", "asgi"]


class AcmeEcho(runner.App, app_id="acme/echo"):
    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


class OtherEcho(runner.App, app_id="other/echo"):
    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


@attrs.frozen
class TwoOwners:
    """The runner behind one door, its signing key, and its base URLs."""

    url: str
    signing_key: Ed25519PrivateKey

    @property
    def http_url(self) -> str:
        return "http://" + self.url.removeprefix("ws://")

    def builder(self, app: str, auth: TokenStrategy) -> ConnectionBuilder:
        return ConnectionBuilder(app=app, url=self.url, auth=auth)

    def forge(self, apps: list[str], *, iat: int | None = None, lifetime: int = 60) -> str:
        """A token signed with the runner's own key (as a token service would sign)."""
        issued = _now() if iat is None else iat
        claims = {"sub": "acme", "allowed_apps": apps, "iat": issued, "exp": issued + lifetime}
        return jwt.encode(claims, self.signing_key, algorithm="EdDSA")

    async def mint(self, apps: list[str], expiration: int = 60) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.http_url, timeout=TIMEOUT) as http:
            return await http.post(
                "/tokens/",
                headers={"authorization": f"Key {ACME_KEY}"},
                json={"allowed_apps": apps, "token_expiration": expiration},
            )


@pytest.fixture(params=DOORS)
async def two_owners(
    request: pytest.FixtureRequest, signing_key: Ed25519PrivateKey
) -> AsyncIterator[TwoOwners]:
    auth = RunnerAuth.create(
        keys=KeyStore([parse_key_line(ACME_LINE), parse_key(KEY)]), signing_key=signing_key
    )
    if request.param == "warmwire":
        async with runner.serve(AcmeEcho, OtherEcho, auth=auth) as server:
            yield TwoOwners(server.url, signing_key)
        return
    with uvicorn_server(asgi.app(AcmeEcho, OtherEcho, auth=auth)) as base:
        yield TwoOwners(base.replace("http://", "ws://"), signing_key)


async def _refused(owners: TwoOwners, app: str, auth: TokenStrategy) -> str:
    """Open ``app`` with ``auth``: the ``Unauthorized`` text frame then 1008, raw and through
    the public client; the reason."""
    resolved = owners.builder(app, auth).resolve()
    spec = resolved.spec
    creds = await resolved.auth.credentials(spec.endpoint, spec.url)
    with anyio.fail_after(TIMEOUT):
        stream = await resolved.transport.connect(spec.url, resolved.options)
        ws = await open_client(stream, spec.client_protocol(creds.token, creds.headers))
        try:
            first = await ws.recv()
            second = await ws.recv()
        finally:
            await ws.aclose_transport()
    assert isinstance(first, str), "the refusal must be a text frame a browser can read"
    message = orjson.loads(first)
    assert message["status"] == "error"
    assert message["error"] == "Unauthorized"
    assert isinstance(second, Closed)
    assert second.code == 1008
    reason: str = message["reason"]
    assert ACME_SECRET not in reason
    if creds.token:
        assert creds.token.split(".")[-1] not in reason
    with anyio.fail_after(TIMEOUT):
        async with owners.builder(app, auth).connect_async() as conn:
            with pytest.raises(warmwire.UnauthorizedError) as refused:
                await conn.recv()
            assert refused.value.reason == reason
            with pytest.raises(warmwire.ConnectionClosedError) as closed:
                await conn.recv()
            assert closed.value.code == 1008
    return reason


async def _accepted(owners: TwoOwners, app: str, auth: TokenStrategy) -> None:
    with anyio.fail_after(TIMEOUT):
        async with owners.builder(app, auth).connect_async() as conn:
            await conn.send({"app": app})
            assert await conn.recv() == {"app": app}


async def test_alias_token_does_not_open_another_owners_app(two_owners: TwoOwners) -> None:
    """fal's default flow (a bare alias) with a key scoped to one owner: bound to that owner."""
    minted = await two_owners.mint(["echo"])
    assert minted.status_code == 200, minted.text
    token = minted.json()
    assert jwt.decode(token, options={"verify_signature": False})["allowed_apps"] == ["acme/echo"]
    await _accepted(two_owners, "acme/echo", StaticToken(token))
    reason = await _refused(two_owners, "other/echo", StaticToken(token))
    assert "not valid for app 'other/echo'" in reason
    # The client minting for itself with the key (alias only, as fal-client does) too.
    minting = MintedToken(parse_key(ACME_KEY), 60)
    await _accepted(two_owners, "acme/echo", minting)
    await _refused(two_owners, "other/echo", MintedToken(parse_key(ACME_KEY), 60))


async def test_fresh_bare_alias_token_opens_no_owners_app(two_owners: TwoOwners) -> None:
    """A bare alias says no owner: honoured only in tokens from before the runner started."""
    fresh = two_owners.forge(["echo"])
    for app in ("acme/echo", "other/echo"):
        assert "without its owner" in await _refused(two_owners, app, StaticToken(fresh))
    legacy = two_owners.forge(["echo"], iat=_now() - 30)
    await _accepted(two_owners, "other/echo", StaticToken(legacy))


async def test_scoped_key_minting_outside_its_scope(two_owners: TwoOwners) -> None:
    refused = await two_owners.mint(["other/echo"])
    assert refused.status_code == 403
    assert "'other/echo'" in refused.json()["reason"]
    assert "acme/*" in refused.json()["reason"]
    # Nothing else widens it: a token minted in scope is refused outside it on the wire.
    inside = (await two_owners.mint(["acme/echo"])).json()
    assert "not valid for app" in await _refused(two_owners, "other/echo", StaticToken(inside))


async def test_over_long_expiry(two_owners: TwoOwners) -> None:
    refused = await two_owners.mint(["acme/echo"], expiration=301)
    assert refused.status_code == 403
    assert "max_expiration=300" in refused.json()["reason"]
    assert (await two_owners.mint(["acme/echo"], expiration=300)).status_code == 200
    # A token living longer than any token service mints is refused on the wire.
    long_lived = two_owners.forge(["acme/echo"], lifetime=7200)
    reason = await _refused(two_owners, "acme/echo", StaticToken(long_lived))
    assert "lifetime" in reason


async def test_key_header_outside_its_scope(two_owners: TwoOwners) -> None:
    await _accepted(two_owners, "acme/echo", KeyHeader(ACME_KEY))
    reason = await _refused(two_owners, "other/echo", KeyHeader(ACME_KEY))
    assert "may not open app 'other/echo'" in reason
    # The unscoped key opens either, as before.
    await _accepted(two_owners, "other/echo", KeyHeader(KEY))
