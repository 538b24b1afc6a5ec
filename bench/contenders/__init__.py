"""One module per contender; :data:`ALL` lists them in table order."""

from __future__ import annotations

from bench.contenders.base import Contender
from bench.contenders.fal_stack import FalAsync, FalAsyncNoDeflate, FalSync
from bench.contenders.tcp_floor import TcpAsyncio, TcpBlocking
from bench.contenders.warmwire_async import (
    WarmwireAsyncio,
    WarmwireHop,
    WarmwireMint,
    WarmwireSyncHandler,
    WarmwireTrio,
)
from bench.contenders.warmwire_blocking import WarmwireBlocking
from bench.contenders.websockets_async import WebsocketsAsyncio
from bench.contenders.websockets_sync import WebsocketsSync

ALL: tuple[type[Contender], ...] = (
    WarmwireAsyncio,
    WarmwireTrio,
    WarmwireBlocking,
    WarmwireSyncHandler,
    WarmwireHop,
    WebsocketsAsyncio,
    WebsocketsSync,
    FalAsync,
    FalSync,
    FalAsyncNoDeflate,
    TcpAsyncio,
    TcpBlocking,
)

CONNECT_ONLY: tuple[type[Contender], ...] = (WarmwireMint,)
"""Contenders measured for connect time only."""

__all__ = ["ALL", "CONNECT_ONLY", "Contender"]
