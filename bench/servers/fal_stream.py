"""A fal streaming endpoint served by uvicorn: the fal runtime's own ``/stream``.

``python bench/servers/fal_stream.py`` (in fal's venv) serves the app id ``bench/steps``:
``POST /bench/steps/stream`` with ``{"n": N}`` answers ``text/event-stream``, one
``data:`` event per step, written the way fal's documentation writes a streaming
endpoint (``@fal.endpoint`` returning a ``StreamingResponse`` of an async generator).
``/realtime`` streams the same steps over a WebSocket (``@fal.realtime``).  The
FastAPI app is the one fal builds for a ``fal.App`` (``App._build_app``), under
``FAL_APP_ROOT_PATH``; uvicorn's settings are those of ``App.serve``.

Runs in fal's own venv, so it imports nothing from warmwire.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

os.environ["FAL_APP_ROOT_PATH"] = "/bench/steps"

import fal
import uvicorn
from fastapi.responses import StreamingResponse
from pydantic import BaseModel


class StepsInput(BaseModel):
    n: int = 4


def _step(i: int, n: int) -> dict[str, Any]:
    return {"step": i, "of": n, "pad": "x" * 8}


class FalSteps(fal.App):
    @fal.endpoint("/stream")
    async def stream(self, inp: StepsInput) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            for i in range(inp.n):
                yield f"data: {json.dumps(_step(i, inp.n), separators=(',', ':'))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


async def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        FalSteps(_allow_init=True)._build_app(),
        timeout_keep_alive=300,
        lifespan="on",
        log_level="warning",
    )
    server = uvicorn.Server(config)  # exits on SIGINT/SIGTERM by itself
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            return
        await asyncio.sleep(0.05)
    print(f"ready http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
