"""``realtime()`` and ``realtime_async()``: a builder from the keywords, opened for a block.

They live apart from the connection classes so that the builder, which opens
those, needs nothing from here, and nothing imports in a circle.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING

from warmwire.client.async_connection import AsyncRealtimeConnection
from warmwire.client.builder import ConnectionBuilder
from warmwire.client.options import ClientOptions
from warmwire.client.sync_connection import RealtimeConnection

if TYPE_CHECKING:
    # Typing only: PEP 692's Unpack is in typing from 3.11, and warmwire supports 3.10.
    from typing_extensions import Unpack


def realtime_async(
    app: str, **options: Unpack[ClientOptions]
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

    Every option is described in :class:`~warmwire.client.options.ClientOptions`
    (codec, ``max_buffering``, ``ssl_context``, ``transport``, size limit,
    timeouts).  Bad arguments raise :class:`ConfigurationError` before any I/O;
    so do fal's queue parameters (``start_timeout``, ``priority``, ...), with
    what to use instead.
    """
    return _checked(app, options).connect_async()


def realtime(
    app: str, **options: Unpack[ClientOptions]
) -> AbstractContextManager[RealtimeConnection]:
    """Blocking counterpart of :func:`warmwire.realtime_async`, with the same options::

    with warmwire.realtime("acme/stylize", url="ws://127.0.0.1:8080") as conn:
        conn.send({"image": jpeg_bytes})
        result = conn.recv()
    """
    return _checked(app, options).connect()


def _checked(app: str, options: ClientOptions) -> ConnectionBuilder:
    builder = ConnectionBuilder(app, **options)
    builder.resolve()  # fail fast, before the caller enters the block
    return builder
