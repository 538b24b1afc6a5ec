"""The connection builder: one immutable object that says where and how to connect.

Endpoint (runner URL, app id, path), codec, transport and token strategy are
combined here, validated before any I/O, and used to open async or blocking
connections::

    builder = ConnectionBuilder(url="ws://127.0.0.1:8080", app="acme/stylize")
    async with builder.with_codec("cbor").connect_async() as conn:
        ...
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs

from warmwire.auth.strategies import TokenStrategy, strategy_from_options
from warmwire.codecs.base import Codec
from warmwire.codecs.callables import CallableCodec, codec_from_callables
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE
from warmwire.core.endpoint import DEFAULT_PATH, parse_app_id, parse_runner_url
from warmwire.core.errors import ConfigurationError
from warmwire.core.request_target import check_max_buffering, check_raw_path
from warmwire.core.spec import ConnectionSpec
from warmwire.plugins import get_codec
from warmwire.transports import ConnectOptions, SyncTransport, Transport, transport_for

URL_ENV = "WARMWIRE_URL"


@attrs.frozen(slots=True)
class Resolved:
    """A builder's parts, resolved to live objects."""

    spec: ConnectionSpec
    codec: Codec
    transport: Transport
    auth: TokenStrategy
    options: ConnectOptions


@attrs.frozen
class ConnectionBuilder:
    """Immutable connection recipe; ``with_*`` methods return modified copies."""

    app: str
    url: str | None = None
    """The runner's base URL; ``$WARMWIRE_URL`` when ``None``."""
    path: str = DEFAULT_PATH
    codec: str | Codec = "msgpack"
    encode_message: Callable[[Any], bytes | str] | None = None
    decode_message: Callable[[bytes | str], Any] | None = None
    max_buffering: int | None = None
    auth: TokenStrategy | None = None
    transport: Transport | None = None
    ssl_context: ssl.SSLContext | None = None
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    open_timeout: float | None = 10.0
    close_timeout: float = 10.0
    raw_path: str | None = None
    """A request target (``/path?query``) sent as is in place of the app's
    endpoint path, for servers that are not fal runners (an echo server, a
    conformance suite); the runner URL's prefix and credentials still apply."""

    def with_url(self, url: str) -> ConnectionBuilder:
        return attrs.evolve(self, url=url)

    def with_path(self, path: str) -> ConnectionBuilder:
        return attrs.evolve(self, path=path)

    def with_codec(
        self,
        codec: str | Codec,
        *,
        encode_message: Callable[[Any], bytes | str] | None = None,
        decode_message: Callable[[bytes | str], Any] | None = None,
    ) -> ConnectionBuilder:
        return attrs.evolve(
            self, codec=codec, encode_message=encode_message, decode_message=decode_message
        )

    def with_auth(self, auth: TokenStrategy) -> ConnectionBuilder:
        return attrs.evolve(self, auth=auth)

    def with_transport(self, transport: Transport) -> ConnectionBuilder:
        return attrs.evolve(self, transport=transport)

    def with_options(self, **changes: Any) -> ConnectionBuilder:
        """Any other field: ``max_buffering``, ``ssl_context``, timeouts, size limit."""
        return attrs.evolve(self, **changes)

    def resolve(self) -> Resolved:
        """Validate everything and resolve plugins; raises :class:`ConfigurationError`."""
        raw_url = self.url if self.url is not None else os.environ.get(URL_ENV)
        if not raw_url:
            raise ConfigurationError(f"no runner URL: pass url='ws://host:port' or set ${URL_ENV}.")
        runner_url = parse_runner_url(raw_url)
        endpoint = parse_app_id(self.app, self.path)
        max_buffering = (
            None if self.max_buffering is None else check_max_buffering(self.max_buffering)
        )
        raw_path = None if self.raw_path is None else check_raw_path(self.raw_path)
        codec = get_codec(self.codec)
        if self.encode_message is not None or self.decode_message is not None:
            codec = codec_from_callables(self.encode_message, self.decode_message, codec)
        # Offer the codec by name so the runner answers in kind; a codec made of
        # bare callables has no name the runner could know.
        offer = () if isinstance(codec, CallableCodec) else (codec.name,)
        spec = ConnectionSpec(
            url=runner_url,
            endpoint=endpoint,
            max_buffering=max_buffering,
            subprotocols=offer,
            max_message_size=self.max_message_size,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            raw_path=raw_path,
        )
        transport = self.transport or transport_for(runner_url)
        return Resolved(
            spec=spec,
            codec=codec,
            transport=transport,
            auth=self.auth or strategy_from_options(),
            options=ConnectOptions(ssl_context=self.ssl_context, timeout=self.open_timeout),
        )

    @asynccontextmanager
    async def connect_async(self) -> AsyncIterator[AsyncRealtimeConnection]:
        """Open an async connection (asyncio or trio) for the ``async with`` block."""
        resolved = self.resolve()
        conn = await AsyncRealtimeConnection.open(resolved)
        try:
            yield conn
        finally:
            await conn.aclose()

    @contextmanager
    def connect(self) -> Iterator[RealtimeConnection]:
        """Open a blocking connection for the ``with`` block."""
        resolved = self.resolve()
        if not isinstance(resolved.transport, SyncTransport):
            raise ConfigurationError(
                f"transport {type(resolved.transport).__name__} has no blocking mode "
                "(connect_sync); use realtime_async() with it."
            )
        conn = RealtimeConnection.open(resolved)
        try:
            yield conn
        finally:
            conn.close()


def builder_for(
    app: str,
    *,
    url: str | None,
    path: str,
    codec: str | Codec,
    encode_message: Callable[[Any], bytes | str] | None,
    decode_message: Callable[[bytes | str], Any] | None,
    max_buffering: int | None,
    auth: TokenStrategy | None,
    key: str | None,
    use_jwt: bool,
    token: str | None,
    token_provider: Callable[[str], str | Awaitable[str]] | None,
    token_expiration: float | None,
    token_url: str | None,
    proxy_url: str | None,
    options: dict[str, Any],
) -> ConnectionBuilder:
    """The builder for ``realtime()``/``realtime_async()``'s keyword arguments, validated."""
    if auth is None:
        auth = strategy_from_options(
            key=key,
            use_jwt=use_jwt,
            token=token,
            token_provider=token_provider,
            token_expiration=token_expiration,
            token_url=token_url,
            proxy_url=proxy_url,
        )
    builder = ConnectionBuilder(
        app=app,
        url=url,
        path=path,
        codec=codec,
        encode_message=encode_message,
        decode_message=decode_message,
        max_buffering=max_buffering,
        auth=auth,
        **options,
    )
    builder.resolve()  # fail fast, before the caller enters the block
    return builder


from warmwire.client.async_connection import AsyncRealtimeConnection  # noqa: E402
from warmwire.client.sync_connection import RealtimeConnection  # noqa: E402
