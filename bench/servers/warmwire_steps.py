"""The warmwire side of the streaming benchmark: ``python -m bench.servers.warmwire_steps``.

Serves ``bench/steps``: the same steps as ``bench/servers/fal_stream.py`` (``{"n": N}``
yields N small dicts from an async generator), over ``POST /bench/steps/stream``
(Server-Sent Events) and over the realtime WebSocket at ``/bench/steps/realtime``.
No authentication and no keepalive: the benchmark measures the paths, not the checks.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio

from warmwire import runner


def step(i: int, n: int) -> dict[str, Any]:
    """One output; the fal endpoint's is the same (``fal_stream._step``)."""
    return {"step": i, "of": n, "pad": "x" * 8}


class BenchSteps(runner.App, app_id="bench/steps"):
    @runner.realtime("/realtime", buffering=60, session_timeout=None)
    async def run(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        n = int(inp.get("n", 4))
        for i in range(n):
            yield step(i, n)


async def _serve() -> None:
    async with runner.serve(
        BenchSteps, host="127.0.0.1", port=0, insecure_no_auth=True, ping_interval=None
    ) as server:
        print(f"ready {server.url}", flush=True)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                return


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    anyio.run(_serve)
