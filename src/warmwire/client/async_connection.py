"""The async client's connection: :class:`AsyncRealtimeConnection` (asyncio or trio).

``realtime_async()`` (in :mod:`warmwire.client.api`) opens one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

from warmwire.client._connect import open_timed_out, unreachable
from warmwire.client._messages import closed_error, interpret, is_skip
from warmwire.client.resolved import Resolved
from warmwire.codecs.base import Codec
from warmwire.core.close_codes import CloseCode
from warmwire.transports.drivers import open_client
from warmwire.transports.websocket import AsyncWebSocket


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
        try:
            with anyio.fail_after(spec.open_timeout):
                try:
                    stream = await resolved.transport.connect(spec.url, resolved.options)
                except OSError as exc:
                    raise unreachable(spec.url, exc) from exc
                ws = await open_client(stream, protocol, close_timeout=spec.close_timeout)
        except TimeoutError:
            assert spec.open_timeout is not None  # only fail_after raises it here
            raise open_timed_out(spec.url, spec.open_timeout) from None
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

        Raises:
            CodecError: ``obj`` cannot be encoded; nothing was sent and the
                connection stays open.
            UnauthorizedError: the runner refused the credentials and closed the
                connection, and ``recv()`` has not returned that refusal yet (it
                still will).  Likewise :class:`RealtimeError` for another error
                the runner reported before closing (``TIMEOUT``).
            ConnectionClosedError: the connection is over (``.code`` says how:
                1000 normal, 1001 runner draining, 1006 lost...); open a new one.
            ProtocolError: ``aclose()`` has begun closing it (the caller's own close).
        """
        if (closed := self._ws.closed) is not None:
            raise closed_error(closed, self._ws.unread(), self._codec)
        await self._ws.send(self._codec.encode(obj))

    async def recv(self) -> Any:
        """The next result; ``None`` once the runner closed normally (1000).

        Raises:
            RealtimeError: the runner reported an ``x-fal-error`` (``.error`` is
                ``INTERNAL_ERROR``, ``INVALID_INPUT`` or ``TIMEOUT``, ``.reason``
                says why).  The connection stays usable unless the runner closes
                it, as it does after ``TIMEOUT``.
            UnauthorizedError: the runner refused the credentials; it then closes
                the connection with 1008.  Get a fresh token and reconnect.
            ConnectionClosedError: the connection ended abnormally; ``.code`` is
                the close code (1001 runner draining: reconnect; 1006 lost; 1008
                policy; 1009 message too big; 1011 runner error).
            CodecError: a result the session codec cannot decode; the connection
                stays usable.
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
