"""Client-side token strategies: what credentials a connection presents.

A strategy gives :class:`Credentials` for one endpoint: a JWT for the
``fal_jwt_token`` query parameter, or headers (``Authorization: Key …`` server
to server).  Strategies are pluggable through the ``warmwire.auth`` entry-point
group.

A strategy that fetches its token (minted from a key, asked of your backend or
proxy, returned by your provider) writes how once, as a flow that the blocking
client and the async client both drive: see :func:`drive_sync` and
:func:`drive_async`.
"""

from __future__ import annotations

import functools
import inspect
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    TypeAlias,
    TypedDict,
    TypeVar,
    runtime_checkable,
)

import anyio
import attrs
import httpx

from warmwire.auth.keys import KEY_ENV, ApiKey, parse_key
from warmwire.core.endpoint import Endpoint, RunnerUrl
from warmwire.core.errors import ConfigurationError
from warmwire.core.events import Headers

if TYPE_CHECKING:
    # Typing only: PEP 692's Unpack is in typing from 3.11, and warmwire supports 3.10.
    from typing_extensions import Unpack


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


_HTTP_TIMEOUT = 10.0
"""Seconds for each token request: a token service that hangs must not hang the connect."""


def runner_http_base(url: RunnerUrl) -> str:
    """The runner's plain-HTTP base URL (token service, health) for a WebSocket URL."""
    scheme = "https" if url.secure else "http"
    return f"{scheme}://{url.host_header}{url.prefix}"


class TokenFetchError(ConfigurationError):
    """A token could not be obtained; the message says from where and why."""


# --- token flows: each written once, driven by blocking code and by async code ----------
#
# As httpx's ``Auth.auth_flow``: a flow is a generator that yields what it needs done
# (an HTTP request, a call of the user's provider) and receives the answer; it returns
# the token.  ``drive_sync`` answers with blocking I/O, ``drive_async`` with async I/O
# (asyncio or trio), so the steps, their order and their errors exist once.


@attrs.frozen(slots=True)
class HttpCall:
    """An HTTP request a flow needs made; the driver sends back the :class:`httpx.Response`."""

    method: str
    url: str
    headers: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None
    json: Any = None
    uds: str | None = None
    """Send over this Unix socket: the runner's own token service on a ``ws+unix`` URL."""


@attrs.frozen(slots=True)
class ProviderCall:
    """A call of the user's ``token_provider``; the driver sends back what it returned."""

    provider: Callable[[str], str | Awaitable[str]]
    endpoint_path: str


Step: TypeAlias = HttpCall | ProviderCall
_T = TypeVar("_T")
Flow: TypeAlias = Generator[Step, Any, _T]
"""Yields steps, receives each step's answer, returns its result (a token, credentials)."""


def drive_sync(flow: Flow[_T]) -> _T:
    """Run ``flow`` to its end in this thread, answering each step with blocking I/O."""
    try:
        step = next(flow)
        while True:
            try:
                answer = _answer_sync(step)
            except Exception as exc:
                step = flow.throw(exc)  # the flow decides: handle it, or let it out
            else:
                step = flow.send(answer)
    except StopIteration as done:
        result: _T = done.value
        return result
    finally:
        flow.close()


async def drive_async(flow: Flow[_T]) -> _T:
    """Run ``flow`` to its end in this task (asyncio or trio), answering each step."""
    try:
        step = next(flow)
        while True:
            try:
                answer = await _answer_async(step)
            except Exception as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(answer)
    except StopIteration as done:
        result: _T = done.value
        return result
    finally:
        flow.close()


def _answer_sync(step: Step) -> Any:
    if isinstance(step, HttpCall):
        transport = None if step.uds is None else httpx.HTTPTransport(uds=step.uds)
        with httpx.Client(timeout=_HTTP_TIMEOUT, verify=_tls(), transport=transport) as http:
            return http.request(
                step.method, step.url, headers=step.headers, params=step.params, json=step.json
            )
    if inspect.iscoroutinefunction(step.provider):
        # The blocking client has no loop; run the coroutine on a private one.
        return anyio.run(_answer_async, step)
    result = step.provider(step.endpoint_path)
    if inspect.isawaitable(result):
        raise TokenFetchError("token_provider returned an awaitable; make it async def")
    return result


async def _answer_async(step: Step) -> Any:
    if isinstance(step, HttpCall):
        transport = None if step.uds is None else httpx.AsyncHTTPTransport(uds=step.uds)
        async with httpx.AsyncClient(
            timeout=_HTTP_TIMEOUT, verify=_tls(), transport=transport
        ) as http:
            return await http.request(
                step.method, step.url, headers=step.headers, params=step.params, json=step.json
            )
    result = step.provider(step.endpoint_path)
    if inspect.isawaitable(result):
        result = await result
    return result


class CachedToken:
    """Caches a token for 90% of its lifetime; a failed refresh keeps a still-valid token
    and is retried after 5% of the lifetime.  Without a lifetime, fetches every time.

    Subclasses supply :meth:`token_flow`, how to get one token; the blocking and the
    async client both run it.
    """

    def __init__(self, expiration: float | None, clock: Callable[[], float] = time.monotonic):
        self.expiration = expiration
        self._clock = clock
        self._token: str | None = None
        self._fetched_at = 0.0
        self._retry_at = 0.0

    def token_flow(self, endpoint: Endpoint, url: RunnerUrl) -> Flow[str]:
        """Get one token for ``endpoint``: yield the steps, return the token."""
        raise NotImplementedError

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

    def _credentials_flow(self, endpoint: Endpoint, url: RunnerUrl) -> Flow[Credentials]:
        token = self._cached()
        if token is None:
            try:
                token = self._store((yield from self.token_flow(endpoint, url)))
            except Exception as exc:
                token = self._failed(exc)
        return Credentials(token=token)

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return await drive_async(self._credentials_flow(endpoint, url))

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return drive_sync(self._credentials_flow(endpoint, url))


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

    def token_flow(self, endpoint: Endpoint, url: RunnerUrl) -> Flow[str]:
        # Not str(): a provider returning bytes or None must fail in _store, clearly,
        # not send "b'...'" or "None" to the runner as a token.
        token: str = yield ProviderCall(self.provider, endpoint.endpoint_path)
        return token


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

    def token_flow(self, endpoint: Endpoint, url: RunnerUrl) -> Flow[str]:
        assert self.expiration is not None
        response: httpx.Response = yield HttpCall(
            "POST",
            f"{(self.token_service or runner_http_base(url)).rstrip('/')}/tokens/",
            headers={"authorization": f"Key {self.key}"},
            json=_mint_request(endpoint, self.expiration),
            # The runner's own service listens where the runner does, Unix socket included.
            uds=None if self.token_service else url.unix_path,
        )
        return _token_from_response(response, "the token service")


class UrlToken(CachedToken):
    """``token_url=``: ``GET token_url?app=<endpoint path>`` on your backend → ``{"token": …}``."""

    def __init__(self, token_url: str, expiration: float | None = None) -> None:
        super().__init__(expiration)
        self.token_url = token_url

    def token_flow(self, endpoint: Endpoint, url: RunnerUrl) -> Flow[str]:
        response: httpx.Response = yield HttpCall(
            "GET", self.token_url, params={"app": endpoint.endpoint_path}
        )
        return _token_from_response(response, f"token_url {self.token_url}")


class ProxyToken(CachedToken):
    """``proxy_url=``: ask your backend's proxy, naming the real token endpoint in
    ``x-fal-target-url``; the proxy adds the API key (see :mod:`warmwire.proxy`)."""

    def __init__(self, proxy_url: str, expiration: float = 120) -> None:
        super().__init__(expiration)
        self.proxy_url = proxy_url

    def token_flow(self, endpoint: Endpoint, url: RunnerUrl) -> Flow[str]:
        assert self.expiration is not None
        response: httpx.Response = yield HttpCall(
            "POST",
            self.proxy_url,
            headers={"x-fal-target-url": f"{runner_http_base(url)}/tokens/"},
            json=_mint_request(endpoint, self.expiration),
        )
        return _token_from_response(response, f"proxy {self.proxy_url}")


class CredentialOptions(TypedDict, total=False):
    """The client keywords that choose a connection's credentials: at most one source.

    The client's full option set (:class:`warmwire.client.options.ClientOptions`)
    extends this one; :func:`strategy_for` turns it into a strategy.
    """

    key: str | None
    """An API key ``id:secret`` (default: ``$WARMWIRE_KEY``), minted into a short-lived
    token at the runner's token service, or sent as ``Authorization: Key`` with
    ``use_jwt=False``."""
    use_jwt: bool
    """With a key: mint a token to present (default ``True``), or present the key
    itself (``False``, server to server)."""
    token: str | None
    """A token obtained elsewhere, presented as is."""
    token_provider: Callable[[str], str | Awaitable[str]] | None
    """Your function (sync or async): given the endpoint path
    (``owner/alias/realtime``), returns a token."""
    token_expiration: float | None
    """Token lifetime in seconds: what ``key`` and ``proxy_url`` ask for (default 120),
    and how long a ``token_provider`` or ``token_url`` token is reused (90% of it;
    default: fetched for every connection)."""
    token_url: str | None
    """Your backend's token route: ``GET token_url?app=<endpoint path>`` answers
    ``{"token": …}``."""
    proxy_url: str | None
    """Your backend's :class:`warmwire.proxy.TokenProxy`, which adds the API key."""


_SOURCES: tuple[Literal["key", "token", "token_provider", "token_url", "proxy_url"], ...] = (
    "key",
    "token",
    "token_provider",
    "token_url",
    "proxy_url",
)


def strategy_from_options(
    *, env: Mapping[str, str] | None = None, **options: Unpack[CredentialOptions]
) -> TokenStrategy:
    """The strategy the client keyword arguments ask for (at most one source)."""
    return strategy_for(options, env)


def strategy_for(options: CredentialOptions, env: Mapping[str, str] | None = None) -> TokenStrategy:
    """The strategy ``options`` ask for; with none, ``$WARMWIRE_KEY`` (read from ``env``)."""
    given = [name for name in _SOURCES if options.get(name) is not None]
    if len(given) > 1:
        raise ConfigurationError(f"give one credential source, not {' and '.join(given)}")
    expiration = options.get("token_expiration")
    if (token := options.get("token")) is not None:
        return StaticToken(token)
    if (provider := options.get("token_provider")) is not None:
        return ProviderToken(provider, expiration)
    if (token_url := options.get("token_url")) is not None:
        return UrlToken(token_url, expiration)
    if (proxy_url := options.get("proxy_url")) is not None:
        return ProxyToken(proxy_url, expiration or 120)
    env = os.environ if env is None else env
    key = options.get("key")
    key = key if key is not None else env.get(KEY_ENV)
    if key:
        api_key = parse_key(key)
        if options.get("use_jwt", True):
            return MintedToken(api_key, expiration or 120)
        return KeyHeader(str(api_key))
    return NoAuth()
