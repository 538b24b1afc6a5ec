"""One realtime session: the logic of a connection, whatever carries its frames.

A :class:`Session` reads inputs from a :class:`Channel`, buffers them
(drop-oldest), runs the app's handler and sends results back.  warmwire's own
server drives it over :class:`~warmwire.transports.websocket.AsyncWebSocket`;
an ASGI adapter drives it over the ASGI ``receive``/``send`` pair, where the
ASGI server owns the framing.  The session never sees which.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import anyio
import anyio.to_thread
import orjson
from anyio import CapacityLimiter

from warmwire.codecs.base import Codec, FrameKind
from warmwire.core.close_codes import CloseCode
from warmwire.core.envelope import ErrorCode, error_message, timings_message
from warmwire.core.errors import CodecError
from warmwire.core.events import Closed
from warmwire.runner.buffer import DropOldestBuffer
from warmwire.runner.handlers import Handler

log = logging.getLogger("warmwire.runner.session")


class Channel(Protocol):
    """What a session needs from a connection."""

    async def recv(self) -> bytes | str | Closed: ...

    async def send(self, data: bytes | str) -> None: ...

    async def start_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None: ...


class InvalidInput(Exception):
    """An input the app cannot take; reported as ``INVALID_INPUT`` and skipped."""


class Session:
    """Serves one connection until the client leaves, times out, or the runner stops."""

    def __init__(
        self,
        channel: Channel,
        handler: Handler,
        codec: Codec,
        *,
        buffering: int,
        session_timeout: float | None,
        max_batch_size: int = 1,
        emit_timings: bool = False,
        limiter: CapacityLimiter | None = None,
        name: str = "session",
    ) -> None:
        self.channel = channel
        self.handler = handler
        self.codec = codec
        self.buffer: DropOldestBuffer[dict[str, Any]] = DropOldestBuffer(buffering)
        self.session_timeout = session_timeout
        self.max_batch_size = max_batch_size
        self.emit_timings = emit_timings
        self.limiter = limiter
        self.name = name
        self.received = 0
        self.sent = 0
        self.closed: Closed | None = None

    @property
    def dropped(self) -> int:
        """Inputs dropped by the realtime buffer (oldest first) so far."""
        return self.buffer.dropped

    async def run(self) -> None:
        """Serve until the connection is over."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._work)
            await self._read()
            tg.cancel_scope.cancel()

    async def _read(self) -> None:
        while True:
            with anyio.move_on_after(self.session_timeout or float("inf")) as scope:
                item = await self.channel.recv()
            if scope.cancelled_caught:
                await self._timeout()
                continue
            if isinstance(item, Closed):
                self.closed = item
                self.buffer.close()
                return
            self.received += 1
            try:
                inp = self._decode(item)
            except InvalidInput as exc:
                await self.channel.send(error_message(ErrorCode.INVALID_INPUT, str(exc)))
                continue
            dropped = self.buffer.put(inp)
            if dropped is not None:
                log.debug(
                    "%s: buffer full (%d), dropped the oldest input (request_id=%r); %d dropped",
                    self.name,
                    self.buffer.capacity,
                    dropped.get("request_id"),
                    self.buffer.dropped,
                )

    async def _timeout(self) -> None:
        log.info("%s: no input for %ss, closing", self.name, self.session_timeout)
        await self.channel.send(
            error_message(
                ErrorCode.TIMEOUT,
                f"no input for {self.session_timeout} seconds; reconnect when needed",
            )
        )
        await self.channel.start_close(CloseCode.NORMAL, "session timeout")
        self.session_timeout = None  # the close handshake now ends the read loop

    def _decode(self, data: bytes | str) -> dict[str, Any]:
        try:
            if isinstance(data, str) and self.codec.frame is not FrameKind.TEXT:
                obj = orjson.loads(data)
            else:
                obj = self.codec.decode(data)
        except (CodecError, orjson.JSONDecodeError) as exc:
            raise InvalidInput(f"undecodable input: {exc}") from None
        if not isinstance(obj, dict):
            raise InvalidInput(f"an input must be a map/object of fields, got {type(obj).__name__}")
        return obj

    async def _work(self) -> None:
        while batch := await self.buffer.get_batch(self.max_batch_size):
            started = time.perf_counter()
            try:
                outputs = await self._call(batch)
            except Exception as exc:
                log.exception("%s: the app raised while handling an input", self.name)
                await self.channel.send(
                    error_message(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                )
                continue
            elapsed = time.perf_counter() - started
            for inp, out in zip(batch, outputs, strict=True):
                await self._send_result(inp, out, elapsed)

    async def _call(self, batch: list[dict[str, Any]]) -> list[Any]:
        arg: Any = batch if self.max_batch_size > 1 else batch[0]
        if self.handler.is_async:
            result = await self.handler.fn(arg)
        else:
            result = await anyio.to_thread.run_sync(self.handler.fn, arg, limiter=self.limiter)
        if self.max_batch_size == 1:
            return [result]
        if not isinstance(result, list) or len(result) != len(batch):
            raise TypeError(
                f"a batched handler must return a list of {len(batch)} outputs, one per input"
            )
        return result

    async def _send_result(self, inp: dict[str, Any], out: Any, elapsed: float) -> None:
        if isinstance(out, dict) and "request_id" in inp and "request_id" not in out:
            out = {**out, "request_id": inp["request_id"]}
        try:
            data = self.codec.encode(out)
        except CodecError as exc:
            log.error("%s: cannot encode the app's output: %s", self.name, exc)
            await self.channel.send(
                error_message(
                    ErrorCode.INTERNAL_ERROR, f"the app's output cannot be encoded: {exc}"
                )
            )
            return
        await self.channel.send(data)
        self.sent += 1
        if self.emit_timings:
            await self.channel.send(timings_message(elapsed))
