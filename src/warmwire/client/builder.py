"""The connection builder: one immutable object that says where and how to connect.

It takes the client options (:class:`~warmwire.client.options.ClientOptions`),
the same keywords as ``realtime()``, validates them before any I/O, and opens
async or blocking connections::

    builder = ConnectionBuilder(url="ws://127.0.0.1:8080", app="acme/stylize")
    async with builder.with_codec("cbor").connect_async() as conn:
        ...
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING

import attrs

from warmwire.auth.strategies import TokenStrategy, strategy_for
from warmwire.client.async_connection import AsyncRealtimeConnection
from warmwire.client.options import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_CODEC,
    DEFAULT_OPEN_TIMEOUT,
    ClientOptions,
    MessageDecoder,
    MessageEncoder,
    check_option_names,
)
from warmwire.client.resolved import Resolved
from warmwire.client.sync_connection import RealtimeConnection
from warmwire.codecs.base import Codec
from warmwire.codecs.callables import CallableCodec, codec_from_callables
from warmwire.core.connection import DEFAULT_MAX_MESSAGE_SIZE
from warmwire.core.endpoint import DEFAULT_PATH, parse_app_id, parse_runner_url
from warmwire.core.errors import ConfigurationError
from warmwire.core.request_target import check_max_buffering, check_raw_path
from warmwire.core.spec import ConnectionSpec
from warmwire.plugins import get_codec
from warmwire.transports import ConnectOptions, SyncTransport, Transport, transport_for

if TYPE_CHECKING:
    # Typing only: PEP 692's Unpack is in typing from 3.11, and warmwire supports 3.10.
    from typing_extensions import Unpack

URL_ENV = "WARMWIRE_URL"

_SECRETS = frozenset({"key", "token"})


def _options_repr(options: ClientOptions) -> str:
    """The options as given, with credentials hidden: a builder's repr ends up in logs."""
    shown = {name: "***" if name in _SECRETS else value for name, value in options.items()}
    return repr(shown)


@attrs.frozen(init=False)
class ConnectionBuilder:
    """Immutable connection recipe; ``with_*`` methods return modified copies."""

    app: str
    """The app id: ``owner/alias``, optionally followed by the endpoint path."""
    options: ClientOptions = attrs.field(repr=_options_repr)
    """The client options as given; :meth:`resolve` applies the defaults."""

    def __init__(self, app: str, **options: Unpack[ClientOptions]) -> None:
        check_option_names(options)
        self.__attrs_init__(app, options)

    def with_options(self, **changes: Unpack[ClientOptions]) -> ConnectionBuilder:
        """A copy with these options replaced."""
        merged: ClientOptions = {**self.options, **changes}
        return ConnectionBuilder(self.app, **merged)

    def with_url(self, url: str) -> ConnectionBuilder:
        return self.with_options(url=url)

    def with_path(self, path: str) -> ConnectionBuilder:
        return self.with_options(path=path)

    def with_codec(
        self,
        codec: str | Codec,
        *,
        encode_message: MessageEncoder | None = None,
        decode_message: MessageDecoder | None = None,
    ) -> ConnectionBuilder:
        return self.with_options(
            codec=codec, encode_message=encode_message, decode_message=decode_message
        )

    def with_auth(self, auth: TokenStrategy) -> ConnectionBuilder:
        return self.with_options(auth=auth)

    def with_transport(self, transport: Transport) -> ConnectionBuilder:
        return self.with_options(transport=transport)

    def resolve(self) -> Resolved:
        """Validate everything and resolve plugins; raises :class:`ConfigurationError`."""
        options = self.options
        url = options.get("url")
        raw_url = url if url is not None else os.environ.get(URL_ENV)
        if not raw_url:
            raise ConfigurationError(f"no runner URL: pass url='ws://host:port' or set ${URL_ENV}.")
        runner_url = parse_runner_url(raw_url)
        endpoint = parse_app_id(self.app, options.get("path", DEFAULT_PATH))
        max_buffering = options.get("max_buffering")
        if max_buffering is not None:
            max_buffering = check_max_buffering(max_buffering)
        raw_path = options.get("raw_path")
        if raw_path is not None:
            raw_path = check_raw_path(raw_path)
        codec = get_codec(options.get("codec", DEFAULT_CODEC))
        encode, decode = options.get("encode_message"), options.get("decode_message")
        if encode is not None or decode is not None:
            codec = codec_from_callables(encode, decode, codec)
        # Offer the codec by name so the runner answers in kind; a codec made of
        # bare callables has no name the runner could know.
        offer = () if isinstance(codec, CallableCodec) else (codec.name,)
        open_timeout = options.get("open_timeout", DEFAULT_OPEN_TIMEOUT)
        spec = ConnectionSpec(
            url=runner_url,
            endpoint=endpoint,
            max_buffering=max_buffering,
            subprotocols=offer,
            max_message_size=options.get("max_message_size", DEFAULT_MAX_MESSAGE_SIZE),
            open_timeout=open_timeout,
            close_timeout=options.get("close_timeout", DEFAULT_CLOSE_TIMEOUT),
            raw_path=raw_path,
        )
        return Resolved(
            spec=spec,
            codec=codec,
            transport=options.get("transport") or transport_for(runner_url),
            auth=options.get("auth") or strategy_for(options),
            options=ConnectOptions(ssl_context=options.get("ssl_context"), timeout=open_timeout),
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
