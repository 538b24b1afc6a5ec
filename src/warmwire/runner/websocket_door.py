"""warmwire's own server as a front door: the sequence's steps over its own WebSocket.

:class:`~warmwire.runner.front_door.FrontDoor` decides; this door answers with
:class:`~warmwire.transports.websocket.AsyncWebSocket`, which owns the framing
here, so the door also pings (``ping_interval``) and does the closing handshake.
"""

from __future__ import annotations

import socket

import attrs

from warmwire.runner.config import RunnerConfig
from warmwire.runner.keepalive import Pings
from warmwire.runner.routing import Refused
from warmwire.runner.session import Channel, Keepalive
from warmwire.transports.asyncio_websocket import AsyncioWebSocket
from warmwire.transports.websocket import AsyncWebSocket


class WebSocketDoor:
    """One upgrade on warmwire's own server: refusals, the 101, rejections after it, pings."""

    def __init__(self, ws: AsyncWebSocket, config: RunnerConfig) -> None:
        self._ws = ws
        self._config = config
        self.closed = False
        """The transport is closed already (a refusal's answer closes it)."""

    @property
    def keepalive(self) -> Pings | None:
        interval = self._config.ping_interval
        return None if interval is None else Pings(self._ws, interval, self._config.ping_timeout)

    async def refuse(self, refused: Refused) -> None:
        await self._ws.respond(refused.status, refused.body)
        self.closed = True

    async def accept(self, subprotocol: str | None) -> Channel:
        await self._ws.accept(subprotocol)
        return self._ws

    async def reject(self, message: str, code: int, reason: str) -> None:
        await self._ws.aclose(code, reason, last_message=message)  # one write for both
        self.closed = True

    async def hand_over(self) -> Handover | None:
        moved = await self._ws.detach()
        if moved is None:
            return None
        self.closed = True  # here: the connection goes on elsewhere
        return Handover(moved, self._ws, self._config)


@attrs.frozen(slots=True)
class Handover:
    """An accepted connection let go of by one event loop, for another to go on with."""

    sock: socket.socket
    detached: AsyncWebSocket
    config: RunnerConfig

    async def open(self) -> tuple[Channel, Keepalive | None]:
        """On the loop that goes on: the session's channel, and its pings."""
        ws = await AsyncioWebSocket.adopt(self.sock, self.detached)
        return ws, WebSocketDoor(ws, self.config).keepalive
