"""warmwire's own server as a front door: the sequence's steps over its own WebSocket.

:class:`~warmwire.runner.front_door.FrontDoor` decides; this door answers with
:class:`~warmwire.transports.websocket.AsyncWebSocket`, which owns the framing
here, so the door also pings (``ping_interval``) and does the closing handshake.
"""

from __future__ import annotations

import logging

import anyio

from warmwire.core.errors import ProtocolError
from warmwire.runner.config import RunnerConfig
from warmwire.runner.front_door import Keepalive
from warmwire.runner.routing import Refused
from warmwire.runner.session import Channel
from warmwire.transports.websocket import AsyncWebSocket

log = logging.getLogger("warmwire.runner")


class WebSocketDoor:
    """One upgrade on warmwire's own server: refusals, the 101, rejections after it, pings."""

    def __init__(self, ws: AsyncWebSocket, config: RunnerConfig) -> None:
        self._ws = ws
        self._config = config
        self.closed = False
        """The transport is closed already (a refusal's answer closes it)."""

    @property
    def keepalive(self) -> Keepalive | None:
        return None if self._config.ping_interval is None else self._ping

    async def refuse(self, refused: Refused) -> None:
        await self._ws.respond(refused.status, refused.body)
        self.closed = True

    async def accept(self, subprotocol: str | None) -> Channel:
        await self._ws.accept(subprotocol)
        return self._ws

    async def reject(self, message: str, code: int, reason: str) -> None:
        await self._ws.aclose(code, reason, last_message=message)  # one write for both
        self.closed = True

    async def _ping(self, name: str) -> None:
        """Ping the peer; one that stays silent past ``ping_timeout`` is gone: cut it."""
        interval, timeout = self._config.ping_interval, self._config.ping_timeout
        assert interval is not None
        while True:
            await anyio.sleep(interval)
            with anyio.move_on_after(timeout) as scope:
                try:
                    await self._ws.ping()
                except ProtocolError:
                    # The closing handshake has begun: no more pings; the session's
                    # close_timeout bounds the wait for the client's reply.
                    return
            if scope.cancelled_caught:
                log.info("%s peer unresponsive for %ss; disconnecting", name, timeout)
                await self._ws.aclose_transport()
                return
