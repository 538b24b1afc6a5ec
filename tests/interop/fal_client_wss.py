"""fal-client over wss:// as a deployment configures it; run by test_fal_client.py.

``FAL_RUN_HOST`` (the runner's ``host:port``), ``FAL_KEY`` and ``SSL_CERT_FILE`` (the
throwaway CA) come from the environment, set before fal_client is imported.  The token
service URL has no environment variable in fal-client: ``REST_URL`` is the one module
constant set here.  Prints one JSON line per client (``realtime``, ``realtime_async``).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import fal_client
import fal_client.client

APP = "interop/echo"

fal_client.client.REST_URL = f"https://{os.environ['FAL_RUN_HOST']}"


def report(client: str, result: Any, error: fal_client.client.RealtimeError) -> None:
    print(
        json.dumps(
            {
                "client": client,
                "realtime_url_format": fal_client.client.REALTIME_URL_FORMAT,
                "result": result,
                "error": [error.error, error.reason],
            }
        ),
        flush=True,
    )


def blocking() -> None:
    with fal_client.realtime(APP) as conn:
        conn.send({"scenario": "wss-realtime", "n": 1})
        result = conn.recv()
        conn.send({"scenario": "wss-realtime", "fail": "wss"})
        try:
            conn.recv()
        except fal_client.client.RealtimeError as exc:
            report("realtime", result, exc)
            return
    raise AssertionError("no x-fal-error")


async def nonblocking() -> None:
    async with fal_client.realtime_async(APP) as conn:
        await conn.send({"scenario": "wss-realtime_async", "n": 1})
        result = await conn.recv()
        await conn.send({"scenario": "wss-realtime_async", "fail": "wss"})
        try:
            await conn.recv()
        except fal_client.client.RealtimeError as exc:
            report("realtime_async", result, exc)
            return
    raise AssertionError("no x-fal-error")


if __name__ == "__main__":
    blocking()
    asyncio.run(asyncio.wait_for(nonblocking(), 30))
