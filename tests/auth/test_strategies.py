"""Client token strategies end to end: real runner, real token service, real JWTs.

The async client runs under asyncio and trio; the blocking client runs in a
worker thread (``anyio.to_thread.run_sync``) against the runner on the test's
loop.  Token caching is driven by a fake monotonic clock handed to the
strategy (``clock=``) while the tokens themselves are real and checked by the
runner with real time.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import warmwire
from warmwire.auth.keys import ApiKey, KeyStore, parse_key
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.strategies import (
    Credentials,
    KeyHeader,
    MintedToken,
    NoAuth,
    ProviderToken,
    ProxyToken,
    StaticToken,
    TokenFetchError,
    UrlToken,
    strategy_from_options,
)
from warmwire.auth.tokens import TokenVerifier
from warmwire.core.endpoint import parse_app_id, parse_runner_url

pytestmark = pytest.mark.anyio

APP = "warmwire/echo"
ENDPOINT_PATH = "warmwire/echo/realtime"
KEY = "dev:s3cret"
TIMEOUT = 10.0


async def echo(url: str, **kwargs: Any) -> None:
    """One round trip with ``realtime_async(APP, url=url, **kwargs)``."""
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(APP, url=url, **kwargs) as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1}


def echo_blocking(url: str, **kwargs: Any) -> None:
    """One round trip with the blocking client (call it in a worker thread)."""
    with warmwire.realtime(APP, url=url, open_timeout=TIMEOUT, **kwargs) as conn:
        conn.send({"n": b"1"})
        assert conn.recv(timeout=TIMEOUT) == {"n": b"1"}


async def in_thread(fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    with anyio.fail_after(TIMEOUT * 2):
        await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def refusal(url: str, **kwargs: Any) -> str:
    """The ``Unauthorized`` reason the runner answers ``realtime_async(**kwargs)`` with."""
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(APP, url=url, **kwargs) as conn:
            with pytest.raises(warmwire.UnauthorizedError) as refused:
                await conn.recv()
            with pytest.raises(warmwire.ConnectionClosedError) as closed:
                await conn.recv()
    assert closed.value.code == 1008
    return refused.value.reason


def minted_count(caplog: pytest.LogCaptureFixture) -> int:
    """How many tokens the runner's token service minted (its audit line, without the token)."""
    return sum(
        1
        for r in caplog.records
        if r.name == "warmwire.auth.audit" and r.getMessage().startswith("minted ")
    )


# --- key → token → connect --------------------------------------------------------------


async def test_key_mints_a_token_and_connects(auth_runner: Any) -> None:
    await echo(auth_runner.url, key=KEY)
    await in_thread(echo_blocking, auth_runner.url, key=KEY)


async def test_key_without_jwt_sends_the_key_header(auth_runner: Any) -> None:
    await echo(auth_runner.url, key=KEY, use_jwt=False)
    await in_thread(echo_blocking, auth_runner.url, key=KEY, use_jwt=False)


async def test_key_from_environment(auth_runner: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMWIRE_KEY", KEY)
    await echo(auth_runner.url)
    monkeypatch.setenv("WARMWIRE_KEY", "dev:wrong")
    assert "invalid API key" in await refusal(auth_runner.url, use_jwt=False)


async def test_the_jwt_path_really_presents_a_jwt(
    auth_runner: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A second runner that only holds the issuer's public key (and no API keys):
    a key-minted token is accepted there, the key itself is not."""
    from warmwire import runner
    from warmwire.examples.echo import Echo

    caplog.set_level(logging.INFO, logger="warmwire")
    verify_only = RunnerAuth.create(verify_keys=[auth_runner.public_key])
    async with runner.serve(Echo, config=runner.RunnerConfig(auth=verify_only)) as server:
        strategy = MintedToken(parse_key(KEY), 60, token_service=auth_runner.http_url)
        await echo(server.url, auth=strategy)
        assert minted_count(caplog) == 1
        assert "invalid API key" in await refusal(server.url, key=KEY, use_jwt=False)


async def test_keys_only_runner_takes_the_key_header_only() -> None:
    """A runner without signing or verify keys: ``use_jwt=False`` works, tokens cannot."""
    from warmwire import runner
    from warmwire.examples.echo import Echo

    keys_only = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s3cret")]))
    assert keys_only.verifier is None
    async with runner.serve(Echo, config=runner.RunnerConfig(auth=keys_only)) as server:
        await echo(server.url, key=KEY, use_jwt=False)
        reason = await refusal(server.url, token="anything")
        assert "only 'Authorization: Key'" in reason
        # No token service there: minting fails with the HTTP status, before connecting.
        with pytest.raises(TokenFetchError, match="HTTP 404"):
            await echo(server.url, key=KEY)


async def test_minting_refused_by_the_service_raises_before_connecting(auth_runner: Any) -> None:
    with pytest.raises(TokenFetchError, match="HTTP 401"):
        await echo(auth_runner.url, key="dev:wrong")
    with pytest.raises(TokenFetchError, match="HTTP 400"):
        await echo(auth_runner.url, key=KEY, token_expiration=5)  # below the service minimum
    with pytest.raises(warmwire.ConfigurationError):
        await echo(auth_runner.url, key="no-colon")


# --- static token -----------------------------------------------------------------------


async def test_static_token(auth_runner: Any) -> None:
    token = auth_runner.issue(["warmwire/echo"])
    await echo(auth_runner.url, token=token)
    await in_thread(echo_blocking, auth_runner.url, token=token)


async def test_no_credentials_is_refused(auth_runner: Any) -> None:
    assert "missing token" in await refusal(auth_runner.url)
    assert isinstance(strategy_from_options(env={}), NoAuth)


def test_one_credential_source_only() -> None:
    with pytest.raises(warmwire.ConfigurationError, match="key and token"):
        strategy_from_options(key=KEY, token="t")
    with pytest.raises(warmwire.ConfigurationError, match="token_provider and token_url"):
        strategy_from_options(token_provider=lambda p: "t", token_url="http://x/")
    with pytest.raises(warmwire.ConfigurationError):
        warmwire.realtime_async(APP, url="ws://127.0.0.1:1", key=KEY, token="t")
    assert isinstance(strategy_from_options(key=KEY, use_jwt=False), KeyHeader)
    assert isinstance(strategy_from_options(key=KEY), MintedToken)
    assert isinstance(strategy_from_options(env={"WARMWIRE_KEY": KEY}), MintedToken)
    assert isinstance(strategy_from_options(token="t"), StaticToken)
    assert isinstance(strategy_from_options(token_url="http://x/"), UrlToken)


# --- token_provider ---------------------------------------------------------------------


async def test_sync_token_provider_gets_the_endpoint_path(auth_runner: Any) -> None:
    calls: list[str] = []

    def provider(path: str) -> str:
        calls.append(path)
        return str(auth_runner.issue([path]))

    await echo(auth_runner.url, token_provider=provider)
    await in_thread(echo_blocking, auth_runner.url, token_provider=provider)
    await echo(auth_runner.url, token_provider=provider, path="/async")
    assert calls == [ENDPOINT_PATH, ENDPOINT_PATH, "warmwire/echo/async"]


async def test_async_token_provider_gets_the_endpoint_path(auth_runner: Any) -> None:
    calls: list[str] = []

    async def provider(path: str) -> str:
        await anyio.lowlevel.checkpoint()
        calls.append(path)
        return str(auth_runner.issue([path]))

    await echo(auth_runner.url, token_provider=provider)
    # The blocking client runs the coroutine on a private loop in its own thread.
    await in_thread(echo_blocking, auth_runner.url, token_provider=provider)
    assert calls == [ENDPOINT_PATH, ENDPOINT_PATH]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(None, id="none"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param("", id="empty"),
    ],
)
async def test_provider_returning_no_token_fails_before_connecting(
    auth_runner: Any, bad: Any
) -> None:
    with pytest.raises(TokenFetchError, match="not a token"):
        await echo(auth_runner.url, token_provider=lambda path: bad)


async def test_provider_returning_bytes_fails_clearly(auth_runner: Any) -> None:
    """A bytes token (PyJWT 1.x style) is not stringified into ``"b'ey...'"`` and sent."""
    token = auth_runner.issue(["warmwire/echo"]).encode()

    async def provider(path: str) -> Any:
        return token

    with pytest.raises(TokenFetchError, match="bytes"):
        await echo(auth_runner.url, token_provider=provider)

    def blocking() -> None:
        with pytest.raises(TokenFetchError, match="bytes"):
            echo_blocking(auth_runner.url, token_provider=lambda path: token)

    await in_thread(blocking)


async def test_provider_error_without_a_cached_token_raises(auth_runner: Any) -> None:
    def provider(path: str) -> str:
        raise RuntimeError("backend down")

    with pytest.raises(warmwire.ConfigurationError, match="backend down") as info:
        await echo(auth_runner.url, token_provider=provider, token_expiration=60)
    assert isinstance(info.value, TokenFetchError)


# --- caching and refresh ----------------------------------------------------------------


class CountingProvider:
    """A token provider minting real tokens (1 h real lifetime), counting calls."""

    def __init__(self, runner: Any, *, asynchronous: bool = False) -> None:
        self.runner = runner
        self.calls: list[str] = []
        self.tokens: list[str] = []
        self.failing = False
        self.asynchronous = asynchronous

    def _mint(self, path: str) -> str:
        self.calls.append(path)
        if self.failing:
            raise ConnectionError("token backend unreachable")
        token: str = self.runner.issue([path], expires_in=3600)
        self.tokens.append(token)
        return token

    def __call__(self, path: str) -> str | Awaitable[str]:
        if not self.asynchronous:
            return self._mint(path)

        async def fetch() -> str:
            await anyio.lowlevel.checkpoint()
            return self._mint(path)

        return fetch()


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-provider", "async-provider"])
async def test_provider_token_is_reused_within_90_percent(
    auth_runner: Any, clock: Any, asynchronous: bool
) -> None:
    provider = CountingProvider(auth_runner, asynchronous=asynchronous)
    strategy = ProviderToken(provider, expiration=100, clock=clock)

    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 1
    clock.at(50)
    await echo(auth_runner.url, auth=strategy)
    clock.at(89.9)
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 1, "a token within 90% of its lifetime must be reused"

    clock.at(90.1)
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 2, "past 90% of its lifetime the token must be refreshed"
    assert provider.tokens[0] != provider.tokens[1]
    clock.at(150)
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 2, "the fresh token's lifetime counts from its fetch"
    clock.at(181)
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 3
    assert provider.calls == [ENDPOINT_PATH] * 3


async def test_provider_without_expiration_is_called_every_time(auth_runner: Any) -> None:
    provider = CountingProvider(auth_runner)
    strategy = ProviderToken(provider)
    await echo(auth_runner.url, auth=strategy)
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 2


async def test_blocking_client_shares_the_cache(auth_runner: Any, clock: Any) -> None:
    provider = CountingProvider(auth_runner)
    strategy = ProviderToken(provider, expiration=100, clock=clock)
    await in_thread(echo_blocking, auth_runner.url, auth=strategy)
    clock.at(80)
    await echo(auth_runner.url, auth=strategy)
    await in_thread(echo_blocking, auth_runner.url, auth=strategy)
    assert len(provider.calls) == 1
    clock.at(95)
    await in_thread(echo_blocking, auth_runner.url, auth=strategy)
    assert len(provider.calls) == 2


async def test_minted_token_is_reused_within_90_percent(
    auth_runner: Any, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Key → token at the runner's service; the service's own log counts the mints."""
    caplog.set_level(logging.INFO, logger="warmwire")
    strategy = MintedToken(parse_key(KEY), expiration=60, clock=clock)

    await echo(auth_runner.url, auth=strategy)
    assert minted_count(caplog) == 1
    clock.at(30)
    await echo(auth_runner.url, auth=strategy)
    await in_thread(echo_blocking, auth_runner.url, auth=strategy)
    clock.at(53.9)
    await echo(auth_runner.url, auth=strategy)
    assert minted_count(caplog) == 1

    clock.at(54.1)
    await echo(auth_runner.url, auth=strategy)
    assert minted_count(caplog) == 2
    clock.at(110)
    await in_thread(echo_blocking, auth_runner.url, auth=strategy)
    assert minted_count(caplog) == 3


async def test_failed_refresh_keeps_the_valid_token_and_retries_after_5_percent(
    auth_runner: Any, clock: Any
) -> None:
    provider = CountingProvider(auth_runner)
    strategy = ProviderToken(provider, expiration=100, clock=clock)
    await echo(auth_runner.url, auth=strategy)
    first = provider.tokens[0]

    provider.failing = True
    clock.at(91)  # refresh due; it fails; the token has 9% of its life left
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 2
    clock.at(95.9)  # before the retry (91 + 5): no call, cached token
    await echo(auth_runner.url, auth=strategy)
    await in_thread(echo_blocking, auth_runner.url, auth=strategy)
    assert len(provider.calls) == 2

    clock.at(96)  # retry due: called again, fails again, token still valid
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 3

    provider.failing = False
    clock.at(99)  # next retry at 101, token still valid: no call
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 3
    clock.at(100)  # the token's lifetime is over: fetch, whatever the retry schedule
    await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 4
    assert provider.tokens[-1] != first


async def test_expired_cached_token_is_never_used(auth_runner: Any, clock: Any) -> None:
    provider = CountingProvider(auth_runner)
    strategy = ProviderToken(provider, expiration=100, clock=clock)
    await echo(auth_runner.url, auth=strategy)

    provider.failing = True
    clock.at(97)  # refresh fails; kept; next retry would be at 102 - past the lifetime
    await echo(auth_runner.url, auth=strategy)
    clock.at(100.5)
    with pytest.raises(TokenFetchError, match="token backend unreachable"):
        await echo(auth_runner.url, auth=strategy)
    assert len(provider.calls) == 3

    def blocking() -> None:
        with pytest.raises(TokenFetchError):
            echo_blocking(auth_runner.url, auth=strategy)

    await in_thread(blocking)
    assert len(provider.calls) == 4


async def test_real_expiry_open_connection_survives_and_reconnect_refreshes(
    strict_runner: Any, clock: Any
) -> None:
    """Tokens that really expire after about 2 s at a runner with ``leeway=0``.

    The handshake is the only check: a connection opened with a token outlives
    it.  The strategy's (fake) clock decides when it refetches; the runner's
    (real) clock decides validity.
    """
    minted: list[str] = []

    def provider(path: str) -> str:
        now = int(time.time())
        token = strict_runner.mint(allowed_apps=[path], iat=now, nbf=now, exp=now + 2)
        minted.append(token)
        return str(token)

    strategy = ProviderToken(provider, expiration=2, clock=clock)
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(APP, url=strict_runner.url, auth=strategy) as conn:
            await conn.send({"n": 1})
            assert await conn.recv() == {"n": 1}
            clock.at(1.0)  # 50% of the lifetime: reused
            await echo(strict_runner.url, auth=strategy)
            assert len(minted) == 1

            # Wait (at most ~2 s) until the first token has really expired.
            exp = strict_runner.decode(minted[0])["exp"]
            await anyio.sleep(max(0.0, exp - time.time()) + 0.05)
            assert time.time() >= exp
            reason = await refusal(strict_runner.url, token=minted[0])
            assert "expired" in reason

            # The open connection was authorised at its handshake and keeps working.
            await conn.send({"n": 2})
            assert await conn.recv() == {"n": 2}

            clock.at(1.85)  # past 90%: the reconnect fetches a fresh token
            await echo(strict_runner.url, auth=strategy)
            assert len(minted) == 2
            assert minted[1] != minted[0]
            await conn.send({"n": 3})
            assert await conn.recv() == {"n": 3}


# --- token_url --------------------------------------------------------------------------


async def test_token_url_asks_the_backend_for_the_endpoint_path(
    auth_runner: Any, token_backend: Any
) -> None:
    await echo(auth_runner.url, token_url=token_backend.url)
    await in_thread(echo_blocking, auth_runner.url, token_url=token_backend.url)
    await echo(auth_runner.url, token_url=token_backend.url, path="/async")
    assert token_backend.apps == [ENDPOINT_PATH, ENDPOINT_PATH, "warmwire/echo/async"]
    verifier = TokenVerifier((auth_runner.public_key,))
    claims = verifier.verify(token_backend.issued[0], parse_app_id(APP))
    assert claims["allowed_apps"] == [ENDPOINT_PATH]


async def test_token_url_error_names_the_url(auth_runner: Any, token_backend: Any) -> None:
    token_backend.status[0] = 503
    with pytest.raises(TokenFetchError, match="HTTP 503") as info:
        await echo(auth_runner.url, token_url=token_backend.url)
    assert token_backend.url in str(info.value)
    assert token_backend.apps == [ENDPOINT_PATH]


async def test_token_url_caches_with_an_expiration(auth_runner: Any, token_backend: Any) -> None:
    strategy = UrlToken(token_backend.url, expiration=3600)
    await echo(auth_runner.url, auth=strategy)
    await echo(auth_runner.url, auth=strategy)
    assert len(token_backend.apps) == 1


# --- rotation ---------------------------------------------------------------------------


async def test_runner_accepts_tokens_of_every_verify_key(
    signing_key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    """Key rotation: a runner holding an old and a new public key accepts both."""
    from warmwire import runner
    from warmwire.examples.echo import Echo

    auth = RunnerAuth.create(signing_key=signing_key, verify_keys=[other_key.public_key()])
    now = int(time.time())
    claims = {"sub": "x", "allowed_apps": ["warmwire/echo"], "iat": now, "exp": now + 60}
    async with runner.serve(Echo, config=runner.RunnerConfig(auth=auth)) as server:
        for key in (signing_key, other_key):
            await echo(server.url, token=jwt.encode(claims, key, algorithm="EdDSA"))
        stranger = Ed25519PrivateKey.generate()
        reason = await refusal(server.url, token=jwt.encode(claims, stranger, algorithm="EdDSA"))
        assert "signature is not valid" in reason


# --- one flow, two drivers ----------------------------------------------------------------
#
# Each strategy writes how it gets a token once; the async client and the blocking
# client drive that one flow.  Both sides must get an equally good token and fail
# with the same words.


async def both_sides(strategy_for_side: Callable[[], Any], url: str) -> tuple[Any, Any]:
    """``(async outcome, blocking outcome)`` of fetching credentials with a fresh strategy
    for each side: the credentials, or the exception raised."""
    endpoint, runner_url = parse_app_id(APP), parse_runner_url(url)

    async def on_the_loop() -> Any:
        try:
            return await strategy_for_side().credentials(endpoint, runner_url)
        except Exception as exc:
            return exc

    def in_a_thread() -> Any:
        try:
            return strategy_for_side().credentials_sync(endpoint, runner_url)
        except Exception as exc:
            return exc

    with anyio.fail_after(TIMEOUT * 2):
        return await on_the_loop(), await anyio.to_thread.run_sync(in_a_thread)


def async_provider(runner: Any) -> Callable[[str], Awaitable[str]]:
    async def provider(path: str) -> str:
        await anyio.lowlevel.checkpoint()
        return str(runner.issue([path]))

    return provider


@pytest.mark.parametrize(
    "kind", ["minted", "minted-elsewhere", "token-url", "sync-provider", "async-provider"]
)
async def test_each_flow_gets_the_same_token_from_both_sides(
    auth_runner: Any, token_backend: Any, kind: str
) -> None:
    strategies: dict[str, Callable[[], Any]] = {
        "minted": lambda: MintedToken(parse_key(KEY), 60),
        "minted-elsewhere": lambda: MintedToken(
            parse_key(KEY), 60, token_service=auth_runner.http_url
        ),
        "token-url": lambda: UrlToken(token_backend.url),
        "sync-provider": lambda: ProviderToken(lambda path: str(auth_runner.issue([path]))),
        "async-provider": lambda: ProviderToken(async_provider(auth_runner)),
    }
    on_loop, in_thread_ = await both_sides(strategies[kind], auth_runner.url)
    assert isinstance(on_loop, Credentials), on_loop
    assert isinstance(in_thread_, Credentials), in_thread_
    claims = [auth_runner.decode(creds.token) for creds in (on_loop, in_thread_)]
    assert [c["allowed_apps"] for c in claims] == [claims[0]["allowed_apps"]] * 2
    assert [c["sub"] for c in claims] == [claims[0]["sub"]] * 2
    for creds in (on_loop, in_thread_):
        await echo(auth_runner.url, token=creds.token)


async def test_minting_over_the_runners_unix_socket_from_both_sides(
    signing_key: Ed25519PrivateKey, tmp_path: Any
) -> None:
    """A ``ws+unix://`` runner's token service is reached over that socket, both sides."""
    from warmwire import runner
    from warmwire.examples.echo import Echo

    auth = RunnerAuth.create(keys=KeyStore([ApiKey("dev", "s3cret")]), signing_key=signing_key)
    sock = tmp_path / "ww.sock"
    async with runner.serve(Echo, uds=str(sock), config=runner.RunnerConfig(auth=auth)) as server:
        on_loop, in_thread_ = await both_sides(lambda: MintedToken(parse_key(KEY), 60), server.url)
        for creds in (on_loop, in_thread_):
            assert isinstance(creds, Credentials), creds
            await echo(server.url, token=creds.token)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        pytest.param("refused-key", "the token service answered HTTP 401", id="minted-401"),
        pytest.param("no-service", "HTTP 404", id="minted-no-such-service"),
        pytest.param("backend-503", "answered HTTP 503", id="token-url-503"),
        pytest.param("proxy-without-key", "answered HTTP 401", id="proxy-401"),
        pytest.param("provider-raises", "backend down", id="provider-raises"),
        pytest.param("provider-bytes", "returned bytes, not a token", id="provider-bytes"),
        pytest.param("provider-none", "returned NoneType, not a token", id="provider-none"),
        pytest.param("unreachable", "could not obtain a token: ConnectError", id="unreachable"),
    ],
)
async def test_each_flow_fails_with_the_same_words_from_both_sides(
    auth_runner: Any, token_backend: Any, kind: str, words: str
) -> None:
    def raises(path: str) -> str:
        raise RuntimeError("backend down")

    token_backend.status[0] = 503
    strategies: dict[str, Callable[[], Any]] = {
        "refused-key": lambda: MintedToken(parse_key("dev:wrong"), 60),
        "no-service": lambda: MintedToken(
            parse_key(KEY), 60, token_service=f"{auth_runner.http_url}/nowhere"
        ),
        "backend-503": lambda: UrlToken(token_backend.url),
        # The runner's own service stands in for a proxy that forgot to add the key.
        "proxy-without-key": lambda: ProxyToken(f"{auth_runner.http_url}/tokens/"),
        "provider-raises": lambda: ProviderToken(raises),
        "provider-bytes": lambda: ProviderToken(lambda path: b"token"),
        "provider-none": lambda: ProviderToken(lambda path: None),
        "unreachable": lambda: UrlToken(f"http://127.0.0.1:{closed_port()}/token"),
    }
    on_loop, in_thread_ = await both_sides(strategies[kind], auth_runner.url)
    assert isinstance(on_loop, TokenFetchError), on_loop
    assert isinstance(in_thread_, TokenFetchError), in_thread_
    assert words in str(on_loop)
    assert words in str(in_thread_)
    if kind != "unreachable":  # there the cause's own text is httpx's, sync or async
        assert str(on_loop) == str(in_thread_)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_cached_token_is_shared_by_both_sides(auth_runner: Any, clock: Any) -> None:
    """One cache, whichever side asks: a token fetched on the loop serves the thread."""
    provider = CountingProvider(auth_runner, asynchronous=True)
    strategy = ProviderToken(provider, expiration=100, clock=clock)
    on_loop, in_thread_ = await both_sides(lambda: strategy, auth_runner.url)
    assert on_loop == in_thread_
    assert len(provider.calls) == 1
