"""The token service over real HTTP on the runner's port (httpx, no mocks).

``POST /tokens/`` answers the token as a JSON string, ``POST /tokens/realtime``
answers ``{"token": ...}``; both need ``Authorization: Key``.  Tokens are
checked with PyJWT and the public key alone, then used against the runner.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warmwire.auth.mint_budget import MintBudget, retry_after
from warmwire.auth.strategies import StaticToken
from warmwire.auth.tokens import TokenVerifier, key_id_of, keys_from_jwks
from warmwire.core.endpoint import parse_app_id

pytestmark = pytest.mark.anyio

KEY_ID = "dev"
SECRET = "s3cret"
AUTH = {"authorization": f"Key {KEY_ID}:{SECRET}"}
TIMEOUT = 10.0


@pytest.fixture
async def http(auth_runner: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=auth_runner.http_url, timeout=TIMEOUT) as client:
        yield client


def _error(response: httpx.Response, status: int) -> str:
    """The ``reason`` of a JSON error answer with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) == {"error", "reason"}
    assert isinstance(body["reason"], str)
    return body["reason"]


async def test_mint_returns_a_json_string_that_verifies(auth_runner: Any, http: Any) -> None:
    response = await http.post(
        "/tokens/", headers=AUTH, json={"allowed_apps": ["echo"], "token_expiration": 60}
    )
    assert response.status_code == 200, response.text
    token = response.json()
    assert isinstance(token, str)

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key_id_of(auth_runner.public_key)
    claims = auth_runner.decode(token)  # PyJWT, public key only
    assert claims["sub"] == KEY_ID
    # The key may open any app: the bare alias stands for that alias under every owner.
    assert claims["allowed_apps"] == ["*/echo"]
    assert claims["exp"] - claims["iat"] == 60
    assert isinstance(claims["jti"], str)
    assert claims["jti"]

    await auth_runner.round_trip(StaticToken(token))


async def test_each_mint_is_a_distinct_token(http: Any) -> None:
    body = {"allowed_apps": ["echo"], "token_expiration": 60}
    first = (await http.post("/tokens/", headers=AUTH, json=body)).json()
    second = (await http.post("/tokens/", headers=AUTH, json=body)).json()
    assert first != second
    jti = [jwt.decode(t, options={"verify_signature": False})["jti"] for t in (first, second)]
    assert jti[0] != jti[1]


async def test_mint_without_trailing_slash_and_default_expiration(
    auth_runner: Any, http: Any
) -> None:
    response = await http.post("/tokens", headers=AUTH, json={"allowed_apps": ["warmwire/echo"]})
    assert response.status_code == 200, response.text
    claims = auth_runner.decode(response.json())
    assert claims["exp"] - claims["iat"] == 120
    assert claims["allowed_apps"] == ["warmwire/echo"]


async def test_realtime_route_wraps_the_token(auth_runner: Any, http: Any) -> None:
    response = await http.post(
        "/tokens/realtime",
        headers=AUTH,
        json={"allowed_apps": ["warmwire/echo/realtime", "other"], "duration": 60},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"token"}
    claims = auth_runner.decode(body["token"])
    assert claims["sub"] == KEY_ID
    assert claims["allowed_apps"] == ["warmwire/echo/realtime", "*/other"]
    assert claims["exp"] - claims["iat"] == 60
    assert claims["jti"]
    await auth_runner.round_trip(StaticToken(body["token"]))


async def test_token_for_another_app_is_refused_at_the_handshake(
    auth_runner: Any, http: Any
) -> None:
    response = await http.post(
        "/tokens/", headers=AUTH, json={"allowed_apps": ["other"], "token_expiration": 60}
    )
    first, _ = await auth_runner.raw_refusal(StaticToken(response.json()))
    assert "not valid for app" in first


@pytest.mark.parametrize("seconds", [10, 3600])
async def test_expiration_bounds_are_inclusive(auth_runner: Any, http: Any, seconds: int) -> None:
    response = await http.post(
        "/tokens/", headers=AUTH, json={"allowed_apps": ["echo"], "token_expiration": seconds}
    )
    assert response.status_code == 200, response.text
    claims = auth_runner.decode(response.json())
    assert claims["exp"] - claims["iat"] == seconds


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        pytest.param("/tokens/", "token_expiration", 5, id="tokens-too-short"),
        pytest.param("/tokens/", "token_expiration", 7200, id="tokens-too-long"),
        pytest.param("/tokens/", "token_expiration", 9.5, id="tokens-fraction-below-min"),
        pytest.param("/tokens/", "token_expiration", -60, id="tokens-negative"),
        pytest.param("/tokens/", "token_expiration", "60", id="tokens-string"),
        pytest.param("/tokens/", "token_expiration", True, id="tokens-bool"),
        pytest.param("/tokens/", "token_expiration", None, id="tokens-null"),
        pytest.param("/tokens/realtime", "duration", 5, id="realtime-too-short"),
        pytest.param("/tokens/realtime", "duration", 7200, id="realtime-too-long"),
        pytest.param("/tokens/realtime", "duration", [60], id="realtime-list"),
    ],
)
async def test_bad_expiration_is_400_naming_the_field(
    http: Any, path: str, field: str, value: Any
) -> None:
    response = await http.post(path, headers=AUTH, json={"allowed_apps": ["echo"], field: value})
    reason = _error(response, 400)
    assert repr(field) in reason


@pytest.mark.parametrize(
    "apps",
    [
        pytest.param("echo", id="string"),
        pytest.param([], id="empty"),
        pytest.param([1], id="number"),
        pytest.param(["echo", None], id="null-entry"),
        pytest.param({"echo": True}, id="object"),
        pytest.param(None, id="null"),
    ],
)
async def test_bad_allowed_apps_is_400_naming_the_field(http: Any, apps: Any) -> None:
    response = await http.post(
        "/tokens/", headers=AUTH, json={"allowed_apps": apps, "token_expiration": 60}
    )
    assert "'allowed_apps'" in _error(response, 400)


async def test_missing_allowed_apps_is_400(http: Any) -> None:
    response = await http.post("/tokens/", headers=AUTH, json={"token_expiration": 60})
    assert "'allowed_apps'" in _error(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="broken"),
        pytest.param(b'{"allowed_apps": ["echo"],}', id="trailing-comma"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b'["echo"]', id="array"),
        pytest.param(b'"echo"', id="string"),
        pytest.param(b"null", id="null"),
    ],
)
async def test_malformed_body_is_400(http: Any, body: bytes) -> None:
    response = await http.post(
        "/tokens/", headers={**AUTH, "content-type": "application/json"}, content=body
    )
    assert "body" in _error(response, 400)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param(f"Key {KEY_ID}:wrong", id="wrong-secret"),
        pytest.param("Key nobody:x", id="unknown-id"),
        pytest.param(f"Bearer {KEY_ID}:{SECRET}", id="bearer-scheme"),
        pytest.param("Key", id="scheme-only"),
        pytest.param(f"Key {KEY_ID}{SECRET}", id="no-colon"),
    ],
)
@pytest.mark.parametrize("path", ["/tokens/", "/tokens/realtime"])
async def test_wrong_or_missing_key_is_401(http: Any, path: str, authorization: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    body = {"allowed_apps": ["echo"], "token_expiration": 60, "duration": 60}
    response = await http.post(path, headers=headers, json=body)
    assert response.json()["error"] == "Unauthorized"
    reason = _error(response, 401)
    assert SECRET not in reason
    assert SECRET not in response.text


async def test_key_is_checked_before_the_body(http: Any) -> None:
    """Without a valid key, nothing about the request is validated (or revealed)."""
    response = await http.post(
        "/tokens/",
        headers={"authorization": "Key nobody:x", "content-type": "application/json"},
        content=b"{not json",
    )
    _error(response, 401)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/tokens/", "/tokens/realtime"])
async def test_other_methods_are_405(http: Any, method: str, path: str) -> None:
    response = await http.request(method, path, headers=AUTH)
    _error(response, 405)


async def test_jwks_verifies_minted_tokens(
    auth_runner: Any, http: Any, other_key: Ed25519PrivateKey
) -> None:
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    document = response.json()
    (entry,) = document["keys"]
    assert entry["kty"] == "OKP"
    assert entry["crv"] == "Ed25519"
    assert entry["alg"] == "EdDSA"
    assert "d" not in entry, "the JWKS must not publish the private key"
    (public,) = keys_from_jwks(document)
    assert entry["kid"] == key_id_of(public) == key_id_of(auth_runner.public_key)

    minted = await http.post(
        "/tokens/", headers=AUTH, json={"allowed_apps": ["echo"], "token_expiration": 60}
    )
    token = minted.json()
    claims = jwt.decode(token, public, algorithms=["EdDSA"])
    assert claims["sub"] == KEY_ID
    endpoint = parse_app_id("warmwire/echo")
    assert TokenVerifier((public,)).verify(token, endpoint)["sub"] == KEY_ID

    # ...and does not verify a token from a key it does not hold.
    foreign = auth_runner.mint(key=other_key)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(foreign, public, algorithms=["EdDSA"])


async def test_verify_only_runner_has_no_token_service(auth_runner: Any) -> None:
    """A runner with only the public key verifies tokens but mints none."""
    from warmwire import runner
    from warmwire.auth.runner_auth import RunnerAuth
    from warmwire.examples.echo import Echo

    auth = RunnerAuth.create(verify_keys=[auth_runner.public_key])
    assert auth.service is None
    async with runner.serve(Echo, config=runner.RunnerConfig(auth=auth)) as server:
        base = "http://" + server.url.removeprefix("ws://")
        with anyio.fail_after(TIMEOUT):
            async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
                response = await client.post(
                    "/tokens/", headers=AUTH, json={"allowed_apps": ["echo"]}
                )
                assert response.status_code == 404
                assert (await client.get("/.well-known/jwks.json")).status_code == 404


# --- scoped keys, the mint budget, the audit line -------------------------------------------

SCOPED = {
    "acme": "acme:acme-s3cret apps=acme/* max_expiration=300",
    "two": "two:two-s3cret apps=acme/*,other/*",
    "slow": "slow:slow-s3cret mint_rate=3",
}


@pytest.fixture
async def scoped(signing_key: Ed25519PrivateKey) -> AsyncIterator[httpx.AsyncClient]:
    """A runner's token service with the keys of :data:`SCOPED` (and its default budget)."""
    from warmwire import runner
    from warmwire.auth.keys import KeyStore, parse_key_line
    from warmwire.auth.runner_auth import RunnerAuth
    from warmwire.examples.echo import Echo

    keys = KeyStore(parse_key_line(line) for line in SCOPED.values())
    auth = RunnerAuth.create(keys=keys, signing_key=signing_key, mint_rate=1000)
    async with runner.serve(Echo, auth=auth) as server:
        base = "http://" + server.url.removeprefix("ws://")
        async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as client:
            yield client


def _key(name: str) -> dict[str, str]:
    return {"authorization": f"Key {SCOPED[name].split()[0]}"}


async def _mint(http: httpx.AsyncClient, key: str, apps: list[str], **body: Any) -> httpx.Response:
    return await http.post("/tokens/", headers=_key(key), json={"allowed_apps": apps, **body})


def _apps(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    apps: list[str] = jwt.decode(response.json(), options={"verify_signature": False})[
        "allowed_apps"
    ]
    return apps


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        pytest.param(["stylize"], ["acme/stylize"], id="alias-resolves-to-the-owner"),
        pytest.param(["acme/stylize"], ["acme/stylize"], id="owner-alias"),
        pytest.param(["acme/stylize/realtime"], ["acme/stylize/realtime"], id="endpoint-path"),
        pytest.param(["stylize", "acme/stylize"], ["acme/stylize"], id="deduplicated"),
    ],
)
async def test_scoped_key_mints_within_its_scope(
    scoped: httpx.AsyncClient, asked: list[str], granted: list[str]
) -> None:
    assert _apps(await _mint(scoped, "acme", asked)) == granted


@pytest.mark.parametrize(
    ("key", "asked", "status", "parts"),
    [
        pytest.param("acme", ["other/stylize"], 403, ["'other/stylize'", "acme/*"], id="owner"),
        pytest.param("acme", ["acme/a", "other/b"], 403, ["'other/b'"], id="one-of-several"),
        pytest.param("two", ["stylize"], 403, ["ambiguous", "acme/stylize", "other/stylize"]),
        pytest.param("acme", ["acme/*"], 400, ["not a pattern"], id="pattern"),
        pytest.param("acme", ["acme/bad name"], 400, ["Invalid app id"], id="bad-id"),
    ],
)
async def test_scoped_key_refused_outside_its_scope(
    scoped: httpx.AsyncClient, key: str, asked: list[str], status: int, parts: list[str]
) -> None:
    reason = _error(await _mint(scoped, key, asked), status)
    for part in parts:
        assert part in reason
    assert "s3cret" not in reason


async def test_key_max_expiration(scoped: httpx.AsyncClient) -> None:
    assert _apps(await _mint(scoped, "acme", ["stylize"], token_expiration=300))
    reason = _error(await _mint(scoped, "acme", ["stylize"], token_expiration=301), 403)
    assert "max_expiration=300" in reason
    assert "301" in reason
    realtime = await scoped.post(
        "/tokens/realtime", headers=_key("acme"), json={"allowed_apps": ["x"], "duration": 900}
    )
    assert "'duration'" in _error(realtime, 403)


async def test_mint_rate_limit(scoped: httpx.AsyncClient) -> None:
    """``mint_rate=3``: three tokens, then 429 with ``Retry-After``; other keys unaffected."""
    for _ in range(3):
        assert (await _mint(scoped, "slow", ["x/y"])).status_code == 200
    over = await _mint(scoped, "slow", ["x/y"])
    reason = _error(over, 429)
    assert "mint_rate" in reason
    assert int(over.headers["retry-after"]) >= 1
    assert (await _mint(scoped, "acme", ["stylize"])).status_code == 200
    # Refused requests (scope, bad body) spend nothing: only mints are counted.
    assert _error(await _mint(scoped, "acme", ["other/x"]), 403)


async def test_one_audit_line_per_mint(
    scoped: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="warmwire.auth.audit")
    token = (await _mint(scoped, "acme", ["stylize"], token_expiration=60)).json()
    _error(await _mint(scoped, "acme", ["other/x"]), 403)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "warmwire.auth.audit"]
    assert line.startswith("minted key=acme apps=acme/stylize expires_in=60 caller=127.0.0.1:")
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
    assert "acme-s3cret" not in caplog.text


def test_mint_budget_refills_with_time() -> None:
    """The bucket: ``rate`` at once, then one every ``60/rate`` seconds (a hand-moved clock)."""
    now = [0.0]
    budget = MintBudget(default_rate=60, clock=lambda: now[0])
    assert all(budget.take("k") == 0.0 for _ in range(60))
    assert budget.take("k") == pytest.approx(1.0)
    assert budget.take("other") == 0.0
    now[0] = 0.5
    assert budget.take("k") == pytest.approx(0.5)
    now[0] = 1.0
    assert budget.take("k") == 0.0
    assert budget.take("k", rate=6) > 0  # a key's own rate
    assert retry_after(0.01) == "1"
    assert retry_after(1.2) == "2"
