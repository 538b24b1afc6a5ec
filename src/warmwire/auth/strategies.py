"""Client-side token strategies: what credentials a connection presents.

A strategy gives :class:`Credentials` for one endpoint: a JWT for the
``fal_jwt_token`` query parameter, or headers (``Authorization: Key …`` server
to server).  Strategies are pluggable through the ``warmwire.auth`` entry-point
group.
"""

from __future__ import annotations

import functools
import inspect
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import anyio
import attrs
import httpx

from warmwire.auth.keys import KEY_ENV, ApiKey, parse_key
from warmwire.core.endpoint import Endpoint, RunnerUrl
from warmwire.core.errors import ConfigurationError
from warmwire.core.events import Headers


@attrs.frozen(slots=True)
class Credentials:
    """What to present at the handshake."""

    token: str | None = None
    headers: Headers = ()


@runtime_checkable
class TokenStrategy(Protocol):
    """Produces credentials for a connection, async and blocking."""

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials: ...

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials: ...


class NoAuth:
    """Present nothing (a runner started with ``--insecure-no-auth``)."""

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials()

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials()


@attrs.frozen(slots=True)
class StaticToken:
    """A token obtained elsewhere, sent as ``fal_jwt_token``."""

    token: str = attrs.field(repr=False)

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials(token=self.token)

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials(token=self.token)


@attrs.frozen(slots=True)
class KeyHeader:
    """Server to server: send the API key as ``Authorization: Key id:secret``."""

    key: str = attrs.field(repr=False)

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return self.credentials_sync(endpoint, url)

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials(headers=(("authorization", f"Key {self.key}"),))


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every token fetch: loading the CA bundle costs tens of
    milliseconds, which a fresh context per connection would add to every connect."""
    return httpx.create_ssl_context()


def runner_http_base(url: RunnerUrl) -> str:
    """The runner's plain-HTTP base URL (token service, health) for a WebSocket URL."""
    scheme = "https" if url.secure else "http"
    return f"{scheme}://{url.host_header}{url.prefix}"


def _http_transport_kwargs(url: RunnerUrl) -> dict[str, Any]:
    if url.unix_path is not None:
        return {"transport": httpx.HTTPTransport(uds=url.unix_path)}
    return {}


def _async_http_transport_kwargs(url: RunnerUrl) -> dict[str, Any]:
    if url.unix_path is not None:
        return {"transport": httpx.AsyncHTTPTransport(uds=url.unix_path)}
    return {}


class TokenFetchError(ConfigurationError):
    """A token could not be obtained; the message says from where and why."""


class CachedToken:
    """Caches a token for 90% of its lifetime; a failed refresh keeps a still-valid token
    and is retried after 5% of the lifetime.  Without a lifetime, fetches every time.

    ``fetch``/``afetch`` do the real work; subclasses supply them.
    """

    def __init__(self, expiration: float | None, clock: Callable[[], float] = time.monotonic):
        self.expiration = expiration
        self._clock = clock
        self._token: str | None = None
        self._fetched_at = 0.0
        self._retry_at = 0.0

    def _cached(self) -> str | None:
        if self._token is None or self.expiration is None:
            return None
        now = self._clock()
        age = now - self._fetched_at
        if age < 0.9 * self.expiration:
            return self._token
        # After a failed refresh, keep the token until the retry is due, but never past
        # its lifetime: an expired token would only be refused at the handshake.
        if now < self._retry_at and age < self.expiration:
            return self._token
        return None

    def invalidate(self) -> None:
        """Forget the cached token (the runner refused it): the next connection fetches anew."""
        self._token = None
        self._retry_at = 0.0

    def _store(self, token: str) -> str:
        if not isinstance(token, str) or not token:
            raise TokenFetchError(f"the token source returned {type(token).__name__}, not a token")
        self._token, self._fetched_at = token, self._clock()
        return token

    def _failed(self, exc: Exception) -> str:
        still_valid = (
            self._token is not None
            and self.expiration is not None
            and self._clock() - self._fetched_at < self.expiration
        )
        if still_valid and self.expiration is not None and self._token is not None:
            self._retry_at = self._clock() + 0.05 * self.expiration
            return self._token
        if isinstance(exc, TokenFetchError):
            raise exc
        raise TokenFetchError(f"could not obtain a token: {exc!r}") from exc

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        token = self._cached()
        if token is None:
            try:
                token = self._store(await self.afetch(endpoint, url))
            except Exception as exc:
                token = self._failed(exc)
        return Credentials(token=token)

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        token = self._cached()
        if token is None:
            try:
                token = self._store(self.fetch(endpoint, url))
            except Exception as exc:
                token = self._failed(exc)
        return Credentials(token=token)

    async def afetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        raise NotImplementedError

    def fetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        raise NotImplementedError


class ProviderToken(CachedToken):
    """``token_provider``: your callable (sync or async) returns a token for an endpoint path."""

    def __init__(
        self,
        provider: Callable[[str], str | Awaitable[str]],
        expiration: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(expiration, clock)
        self.provider = provider

    async def afetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        result = self.provider(endpoint.endpoint_path)
        if inspect.isawaitable(result):
            result = await result
        # Not str(): a provider returning bytes or None must fail in _store, clearly,
        # not send "b'...'" or "None" to the runner as a token.
        return result

    def fetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        if inspect.iscoroutinefunction(self.provider):
            # The blocking client has no loop; run the coroutine on a private one.
            return anyio.run(self.afetch, endpoint, url)
        result = self.provider(endpoint.endpoint_path)
        if inspect.isawaitable(result):
            raise TokenFetchError("token_provider returned an awaitable; make it async def")
        return result


def _mint_request(endpoint: Endpoint, expiration: float) -> dict[str, Any]:
    return {"allowed_apps": [endpoint.alias], "token_expiration": int(expiration)}


def _token_from_response(response: httpx.Response, source: str) -> str:
    if response.status_code != 200:
        raise TokenFetchError(
            f"{source} answered HTTP {response.status_code}: {response.text[:300]}"
        )
    try:
        body = response.json()
    except ValueError:
        raise TokenFetchError(f"{source} did not answer JSON") from None
    token = body.get("token") if isinstance(body, dict) else body
    if not isinstance(token, str):
        raise TokenFetchError(f"{source} answered {type(body).__name__} without a token")
    return token


class MintedToken(CachedToken):
    """``key=``: mint a token from the runner's token service (``POST /tokens/``), like fal-client.

    ``token_service`` overrides where to mint (a separate token server).
    """

    def __init__(
        self,
        key: ApiKey,
        expiration: float = 120,
        token_service: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(expiration, clock)
        self.key = key
        self.token_service = token_service

    def _url(self, url: RunnerUrl) -> str:
        return f"{(self.token_service or runner_http_base(url)).rstrip('/')}/tokens/"

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Key {self.key}"}

    async def afetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        assert self.expiration is not None
        kwargs = {} if self.token_service else _async_http_transport_kwargs(url)
        async with httpx.AsyncClient(timeout=10, verify=_tls(), **kwargs) as http:
            response = await http.post(
                self._url(url),
                json=_mint_request(endpoint, self.expiration),
                headers=self._headers(),
            )
        return _token_from_response(response, "the token service")

    def fetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        assert self.expiration is not None
        kwargs = {} if self.token_service else _http_transport_kwargs(url)
        with httpx.Client(timeout=10, verify=_tls(), **kwargs) as http:
            response = http.post(
                self._url(url),
                json=_mint_request(endpoint, self.expiration),
                headers=self._headers(),
            )
        return _token_from_response(response, "the token service")


class UrlToken(CachedToken):
    """``token_url=``: ``GET token_url?app=<endpoint path>`` on your backend → ``{"token": …}``."""

    def __init__(self, token_url: str, expiration: float | None = None) -> None:
        super().__init__(expiration)
        self.token_url = token_url

    async def afetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        async with httpx.AsyncClient(timeout=10, verify=_tls()) as http:
            response = await http.get(self.token_url, params={"app": endpoint.endpoint_path})
        return _token_from_response(response, f"token_url {self.token_url}")

    def fetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        with httpx.Client(timeout=10, verify=_tls()) as http:
            response = http.get(self.token_url, params={"app": endpoint.endpoint_path})
        return _token_from_response(response, f"token_url {self.token_url}")


class ProxyToken(CachedToken):
    """``proxy_url=``: ask your backend's proxy, naming the real token endpoint in
    ``x-fal-target-url``; the proxy adds the API key (see :mod:`warmwire.proxy`)."""

    def __init__(self, proxy_url: str, expiration: float = 120) -> None:
        super().__init__(expiration)
        self.proxy_url = proxy_url

    def _request(self, endpoint: Endpoint, url: RunnerUrl) -> dict[str, Any]:
        assert self.expiration is not None
        return {
            "headers": {"x-fal-target-url": f"{runner_http_base(url)}/tokens/"},
            "json": _mint_request(endpoint, self.expiration),
        }

    async def afetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        async with httpx.AsyncClient(timeout=10, verify=_tls()) as http:
            response = await http.post(self.proxy_url, **self._request(endpoint, url))
        return _token_from_response(response, f"proxy {self.proxy_url}")

    def fetch(self, endpoint: Endpoint, url: RunnerUrl) -> str:
        with httpx.Client(timeout=10, verify=_tls()) as http:
            response = http.post(self.proxy_url, **self._request(endpoint, url))
        return _token_from_response(response, f"proxy {self.proxy_url}")


def strategy_from_options(
    *,
    key: str | None = None,
    use_jwt: bool = True,
    token: str | None = None,
    token_provider: Callable[[str], str | Awaitable[str]] | None = None,
    token_expiration: float | None = None,
    token_url: str | None = None,
    proxy_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> TokenStrategy:
    """The strategy the client keyword arguments ask for (at most one source)."""
    given = [
        name
        for name, value in (
            ("key", key),
            ("token", token),
            ("token_provider", token_provider),
            ("token_url", token_url),
            ("proxy_url", proxy_url),
        )
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigurationError(f"give one credential source, not {' and '.join(given)}")
    if token is not None:
        return StaticToken(token)
    if token_provider is not None:
        return ProviderToken(token_provider, token_expiration)
    if token_url is not None:
        return UrlToken(token_url, token_expiration)
    if proxy_url is not None:
        return ProxyToken(proxy_url, token_expiration or 120)
    env = os.environ if env is None else env
    key = key if key is not None else env.get(KEY_ENV)
    if key:
        api_key = parse_key(key)
        return MintedToken(api_key, token_expiration or 120) if use_jwt else KeyHeader(str(api_key))
    return NoAuth()
