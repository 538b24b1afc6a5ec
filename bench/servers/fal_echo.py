"""A ``fal.realtime`` echo endpoint served by uvicorn, as ``fal run`` serves an app locally.

The FastAPI app is the one fal builds for a ``fal.App`` (``App._build_app``, what
``App.serve`` runs under uvicorn); ``FAL_APP_ROOT_PATH`` (read by fal) mounts it
under ``/bench/echo`` so ``fal-client`` finds it at the URL it builds for the app
id ``bench/echo``.  ``POST /tokens/`` stands in for fal's token service: it mints
an EdDSA JWT like warmwire's runner does, so the token fetch costs the same
work on both stacks.  The uvicorn settings are those of ``App.serve``;
``--no-deflate`` turns permessage-deflate off on the server side only.

Runs in fal's own venv (fal cannot share the project's: fal pins pathspec<1,
mypy 2 needs pathspec>=1), so it imports nothing from warmwire.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

os.environ["FAL_APP_ROOT_PATH"] = "/bench/echo"

import fal
import uvicorn
from fastapi import Request


class FalEcho(fal.App):
    @fal.realtime("/realtime", buffering=60)
    async def run(self, inp: dict) -> dict:  # type: ignore[type-arg]
        return inp


def build_app(signing_key: str | None) -> Any:
    app = FalEcho(_allow_init=True)._build_app()
    key = None
    if signing_key:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(Path(signing_key).read_bytes(), password=None)

    async def tokens(request: Request) -> Any:
        # The claims and algorithm of warmwire's TokenIssuer (EdDSA), with PyJWT directly:
        # this process runs in fal's own venv, where warmwire is not installed.
        import jwt

        body = await request.json()
        if key is None:
            return "unsigned-bench-token"
        now = int(time.time())
        claims = {
            "sub": "bench",
            "allowed_apps": body.get("allowed_apps", []),
            "iat": now,
            "nbf": now,
            "exp": now + int(body.get("token_expiration", 120)),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key, algorithm="EdDSA")

    app.add_api_route("/tokens/", tokens, methods=["POST"])
    return app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signing-key")
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="refuse permessage-deflate (uvicorn's ws_per_message_deflate=False)",
    )
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(args.signing_key),
        timeout_keep_alive=300,
        lifespan="on",
        log_level="warning",
        ws_per_message_deflate=not args.no_deflate,
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
