"""Transports (TCP, TLS, Unix, in-memory) and the I/O drivers of the sans-IO protocol."""

from __future__ import annotations

from warmwire.core.endpoint import RunnerUrl
from warmwire.plugins import transports as _registry
from warmwire.transports.base import ConnectOptions, SyncTransport, Transport


def transport_for(url: RunnerUrl) -> Transport:
    """The transport registered for ``url``'s scheme: ``ws``, ``wss``, ``ws+unix``, a plugin's."""
    transport: Transport = _registry.get(url.scheme)
    return transport


__all__ = ["ConnectOptions", "SyncTransport", "Transport", "transport_for"]
