"""A runner verifying through a JWKS fetches it again on an unknown ``kid`` (at most once per
interval) and when its copy is old; the JWKS is served by a real token service over HTTP,
the clock that decides when is moved by hand."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from warmwire import runner
from warmwire.auth.jwks_source import JwksSource, fetch_jwks
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer, jwks, key_id_of
from warmwire.core.endpoint import parse_app_id

pytestmark = pytest.mark.anyio

ECHO = parse_app_id("warmwire/echo")


@pytest.fixture
async def jwks_url(signing_key: Ed25519PrivateKey) -> AsyncIterator[str]:
    """A token service (no apps) whose JWKS lists ``signing_key`` and a next key."""
    auth = RunnerAuth.create(
        keys=KeyStore([ApiKey("dev", "s3cret")]),
        signing_key=signing_key,
        rotation_keys=[Ed25519PrivateKey.generate().public_key()],
    )
    async with runner.serve(auth=auth) as server:
        yield "http://" + server.url.removeprefix("ws://") + "/.well-known/jwks.json"


def _fetches(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.getMessage().startswith("JWKS refreshed"))


async def test_unknown_kid_fetches_again_at_most_once_per_interval(
    jwks_url: str, signing_key: Ed25519PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="warmwire.auth")
    now = [0.0]
    keys = await anyio.to_thread.run_sync(fetch_jwks, jwks_url)
    assert len(keys) == 2  # the current and the next signing key
    source = JwksSource(jwks_url, 0.0, min_interval=10, max_age=100, clock=lambda: now[0])
    auth = RunnerAuth.create(verify_keys=keys, jwks=source)

    good = TokenIssuer(signing_key).mint("dev", ["warmwire/echo"], 60)
    assert await auth.check_async(ECHO, good, None) is None
    assert _fetches(caplog) == 0  # a known kid needs no fetch

    stranger = TokenIssuer(Ed25519PrivateKey.generate()).mint("dev", ["warmwire/echo"], 60)
    reason = await auth.check_async(ECHO, stranger, None)
    assert reason is not None
    assert "unknown kid" in reason
    assert _fetches(caplog) == 0  # the copy held was fetched less than an interval ago
    now[0] = 10.0
    assert await auth.check_async(ECHO, stranger, None) == reason
    assert _fetches(caplog) == 1
    for _ in range(5):  # a flood of unknown kids: no more fetches within the interval
        assert await auth.check_async(ECHO, stranger, None) == reason
    assert _fetches(caplog) == 1
    now[0] = 20.0
    assert await auth.check_async(ECHO, stranger, None) == reason
    assert _fetches(caplog) == 2

    # An old copy is fetched again on the next handshake, whatever the token.
    now[0] = 120.0
    assert await auth.check_async(ECHO, good, None) is None
    assert _fetches(caplog) == 3
    assert await auth.check_async(ECHO, good, None) is None
    assert _fetches(caplog) == 3


async def test_failed_fetch_keeps_the_keys(
    signing_key: Ed25519PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    """The JWKS server gone: the keys held still verify; the failure is logged."""
    from helpers.ports import free_port

    now = [0.0]
    url = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    source = JwksSource(url, 0.0, min_interval=0, max_age=1, clock=lambda: now[0])
    auth = RunnerAuth.create(verify_keys=[signing_key.public_key()], jwks=source)
    now[0] = 5.0
    good = TokenIssuer(signing_key).mint("dev", ["warmwire/echo"], 60)
    assert await auth.check_async(ECHO, good, None) is None
    assert any("refresh from" in r.getMessage() for r in caplog.records)


def test_jwks_lists_each_key_with_its_kid() -> None:
    keys = [Ed25519PrivateKey.generate().public_key() for _ in range(2)]
    document: dict[str, Any] = jwks(*keys)
    assert [entry["kid"] for entry in document["keys"]] == [key_id_of(k) for k in keys]
