"""warmwire's own server: listen, and hand each connection to a :class:`Runner`.

:func:`serve` binds a listener (TCP, TLS, a Unix socket, or any anyio
listener) and runs the accept loop inside the caller's asyncio or trio
program; each connection goes to :meth:`Runner.handle
<warmwire.runner.host.Runner.handle>`.  Leaving ``serve()`` drains: refuse
new sessions, finish the inputs already accepted, close every session with 1001.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.stapled import MultiListener
from anyio.streams.tls import TLSListener

from warmwire.runner.app import App
from warmwire.runner.config import RunnerConfig, check_auth_configured
from warmwire.runner.host import Runner, instantiate_apps
from warmwire.runner.worker_group import WorkerGroup
from warmwire.transports import asyncio_socket, eventloop

log = logging.getLogger("warmwire.runner")


@attrs.frozen(slots=True)
class RunningServer:
    """A runner accepting connections; ``url`` is what clients dial."""

    runner: Runner
    url: str
    port: int | None

    @property
    def cold_start(self) -> float | None:
        return self.runner.cold_start

    @property
    def http_url(self) -> str:
        """The base URL of the plain HTTP routes (``/health``, ``/ready``, ``/metrics``)."""
        return self.url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)


def _sole(exc: Exception) -> Exception:
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], Exception):
        return _sole(inner[0])
    return exc


class _QuietTLSListener(TLSListener):
    """A TLS listener that logs a failed client handshake as one line, not a traceback.

    Scanners and clients that do not trust the certificate fail the handshake
    all day long; that is the client's problem, not the runner's.
    """

    @staticmethod
    async def handle_handshake_error(exc: BaseException, stream: anyio.abc.AnyByteStream) -> None:
        await anyio.aclose_forcefully(stream)
        if isinstance(exc, Exception):
            log.info("TLS handshake failed: %s", exc)
        else:
            raise exc


async def _listen(
    host: str, port: int, uds: str | None, ssl_context: ssl.SSLContext | None, reuse_port: bool
) -> tuple[anyio.abc.Listener[Any], str, int | None]:
    native = eventloop.on_asyncio()
    if uds is not None:
        return await _listen_unix(uds), f"ws+unix://{uds}", None
    shown = f"[{host}]" if ":" in host else host
    scheme = "ws" if ssl_context is None else "wss"
    if native and _is_ip(host):
        # asyncio's own listener, TLS included: every connection gets asyncio's driver.
        native_tcp = await asyncio_socket.create_tcp_listener(
            host, port, ssl_context=ssl_context, reuse_port=reuse_port
        )
        bound = native_tcp.extra(anyio.abc.SocketAttribute.local_port)
        return native_tcp, f"{scheme}://{shown}:{bound}", bound
    # Trio, and host names that may resolve to several addresses: anyio's listener
    # (one port for all of them when port is 0).
    tcp = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=reuse_port)
    bound = tcp.extra(anyio.abc.SocketAttribute.local_port)
    if ssl_context is not None:
        tls = _QuietTLSListener(tcp, ssl_context, standard_compatible=False)
        return tls, f"{scheme}://{shown}:{bound}", bound
    return tcp, f"{scheme}://{shown}:{bound}", bound


async def _listen_unix(path: str) -> anyio.abc.Listener[Any]:
    if eventloop.on_asyncio():
        return await asyncio_socket.create_unix_listener(path)
    return await anyio.create_unix_listener(path)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@asynccontextmanager
async def serve(
    *apps: App | type[App],
    host: str = "127.0.0.1",
    port: int = 0,
    uds: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    listener: anyio.abc.Listener[Any] | None = None,
    config: RunnerConfig | None = None,
    reuse_port: bool = False,
    worker_group: WorkerGroup | None = None,
    **options: Any,
) -> AsyncIterator[RunningServer]:
    """Run ``apps`` on a listener for the ``async with`` block (asyncio or trio)::

        async with runner.serve(Echo, port=8080, auth=auth) as server:
            print(server.url)

    ``setup()`` completes before the first connection is accepted.  Leaving
    the block normally drains (new sessions and ``/ready`` get 503, accepted
    inputs are finished, sessions close with 1001 within ``drain_timeout``);
    leaving it with an exception cuts the sessions.  ``teardown()`` runs last
    either way.  ``port=0`` picks a free port (see ``server.port``); ``uds``
    serves a Unix socket; ``ssl_context`` serves ``wss://``; ``listener``
    serves any anyio listener (the in-memory one in tests).  ``reuse_port``
    lets other processes serve the same port (``SO_REUSEPORT``): the kernel
    spreads connections over them; ``worker_group`` makes this runner one of
    them, answering ``/metrics`` for all (``warmwire serve --workers``, see
    :mod:`warmwire.runner.worker_group`).  Other keyword arguments are
    :class:`RunnerConfig` fields.
    """
    config = attrs.evolve(config or RunnerConfig(), **options)
    check_auth_configured(config, "localhost" if uds or listener else host)
    runner = Runner(instantiate_apps(apps), config, worker_group=worker_group)
    await runner.startup()
    try:
        if listener is None:
            listener, url, bound_port = await _listen(host, port, uds, ssl_context, reuse_port)
        else:
            # Not a network address, but it parses: clients dial it with the listener's
            # own transport (e.g. MemoryTransport(listener)).
            url, bound_port = "memory://runner", None
        if worker_group is not None:
            # Where the other workers ask this one for its own figures.
            listener = MultiListener([listener, await _listen_unix(worker_group.own_socket)])
        try:
            async with listener, anyio.create_task_group() as tg:
                accepting = anyio.CancelScope()

                async def accept() -> None:
                    with accepting:
                        await listener.serve(runner.handle, tg)

                tg.start_soon(accept)
                log.info("listening on %s", url)
                yield RunningServer(runner, url, bound_port)
                # While draining, connections are still answered: /ready says 503
                # and upgrades are refused with 503 ("runner draining"), so load
                # balancers and clients go elsewhere instead of hanging in the
                # listen backlog.
                await runner.drain()
                accepting.cancel()
                tg.cancel_scope.cancel()
        except Exception as exc:
            # An error in the caller's block comes back wrapped in the task group's
            # exception group; give the caller its own exception back.
            raise _sole(exc) from None
    finally:
        await runner.shutdown()
