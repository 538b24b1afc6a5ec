"""The async client: ``realtime_async()`` and :class:`AsyncRealtimeConnection` (asyncio or trio)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import anyio

from warmwire.client._connect import unreachable
from warmwire.client._messages import interpret, is_skip, unread_error
from warmwire.codecs.base import Codec
from warmwire.core.close_codes import CloseCode
from warmwire.transports.websocket import AsyncWebSocket

if TYPE_CHECKING:
    from warmwire.auth.strategies import TokenStrategy
    from warmwire.client.builder import Resolved


class AsyncRealtimeConnection:
    """A realtime connection to one app endpoint.

    ``send()`` may be called from any task; ``recv()`` (or ``async for``) from one.
    """

    def __init__(self, ws: AsyncWebSocket, codec: Codec) -> None:
        self._ws = ws
        self._codec = codec

    @classmethod
    async def open(cls, resolved: Resolved) -> AsyncRealtimeConnection:
        spec = resolved.spec
        creds = await resolved.auth.credentials(spec.endpoint, spec.url)
        protocol = spec.client_protocol(creds.token, creds.headers)
        with anyio.fail_after(spec.open_timeout):
            try:
                stream = await resolved.transport.connect(spec.url, resolved.options)
            except OSError as exc:
                raise unreachable(spec.url, exc) from exc
            ws = await AsyncWebSocket.open_client(
                stream, protocol, close_timeout=spec.close_timeout
            )
        return cls(ws, resolved.codec)

    @property
    def subprotocol(self) -> str | None:
        """The codec name the runner chose, if it chose one."""
        return self._ws.subprotocol

    @property
    def closed(self) -> bool:
        """True once the connection is over (closed by either side, or lost)."""
        return self._ws.closed is not None

    async def send(self, obj: Any) -> None:
        """Encode ``obj`` with the session codec and send it.

        On a connection the runner has closed after reporting an error (such
        as :class:`UnauthorizedError` for refused credentials), raises that
        error; on any other closed connection, :class:`ProtocolError`.
        """
        if self._ws.closed is not None and (error := unread_error(self._ws.unread(), self._codec)):
            raise error
        await self._ws.send(self._codec.encode(obj))

    async def recv(self) -> Any:
        """The next result; ``None`` once the runner closed normally.

        Raises :class:`RealtimeError` for an ``x-fal-error`` (the connection
        stays usable unless the runner closes it) and
        :class:`ConnectionClosedError` for an abnormal close.
        """
        while True:
            value = interpret(await self._ws.recv(), self._codec)
            if not is_skip(value):
                return value

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while (result := await self.recv()) is not None:
            yield result

    async def aclose(self) -> None:
        """Close normally (1000); idempotent."""
        if self._ws.closed is None:
            await self._ws.aclose(CloseCode.NORMAL)
        else:
            await self._ws.aclose_transport()


def realtime_async(
    app: str,
    *,
    url: str | None = None,
    path: str = "/realtime",
    codec: str | Codec = "msgpack",
    encode_message: Callable[[Any], bytes | str] | None = None,
    decode_message: Callable[[bytes | str], Any] | None = None,
    max_buffering: int | None = None,
    auth: TokenStrategy | None = None,
    key: str | None = None,
    use_jwt: bool = True,
    token: str | None = None,
    token_provider: Callable[[str], str | Awaitable[str]] | None = None,
    token_expiration: float | None = None,
    token_url: str | None = None,
    proxy_url: str | None = None,
    **options: Any,
) -> AbstractAsyncContextManager[AsyncRealtimeConnection]:
    """Connect to ``app`` on the runner at ``url`` (or ``$WARMWIRE_URL``)::

        async with warmwire.realtime_async("acme/stylize", url="ws://127.0.0.1:8080") as conn:
            await conn.send({"image": jpeg_bytes})
            result = await conn.recv()

    Credentials, at most one source: ``key`` (or ``$WARMWIRE_KEY``; minted into a
    short-lived token at the runner's token service, or sent as
    ``Authorization: Key`` with ``use_jwt=False``), ``token``,
    ``token_provider`` (sync or async, called with the endpoint path, cached
    for 90% of ``token_expiration``), ``token_url`` (your backend answers
    ``{"token": …}``) or ``proxy_url`` (see :mod:`warmwire.proxy`).

    Bad arguments raise :class:`ConfigurationError` before any I/O.  Other
    keyword arguments go to :class:`ConnectionBuilder` (``ssl_context``,
    ``transport``, ``max_message_size``, timeouts).
    """
    from warmwire.client.builder import builder_for

    return builder_for(
        app,
        url=url,
        path=path,
        codec=codec,
        encode_message=encode_message,
        decode_message=decode_message,
        max_buffering=max_buffering,
        auth=auth,
        key=key,
        use_jwt=use_jwt,
        token=token,
        token_provider=token_provider,
        token_expiration=token_expiration,
        token_url=token_url,
        proxy_url=proxy_url,
        options=options,
    ).connect_async()
