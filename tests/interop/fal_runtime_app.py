"""A realtime endpoint built with the fal runtime itself, served by uvicorn on loopback.

Run with the interpreter of ``tests/interop/.venv-fal`` (the fal package cannot
share the project's venv: fal 1.83.0 requires ``pathspec<1`` and the project's
mypy 2.x requires ``pathspec>=1``).  The test suite starts it as a subprocess:

    .venv-fal/bin/python fal_runtime_app.py

It prints one line the test waits for: ``INTEROP-READY <port>`` once fal's own
lifespan has run ``setup()``, or ``INTEROP-IMPORT-ERROR <reason>`` when the fal
package cannot be imported (the tests then fail with that reason, which includes
pip's error when setup.sh could not install it).

The endpoints are what an fal app author writes: ``@fal.realtime`` on ``fal.App``
methods; each decorated method is the FastAPI WebSocket endpoint fal generates
(it takes the ``WebSocket``), mounted with ``add_api_websocket_route`` at the
path warmwire's client dials (``/{owner}/{alias}/{path}``; on fal's platform the
gateway strips the ``{owner}/{alias}`` prefix).
"""

from __future__ import annotations

import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

try:
    import fal
    import uvicorn
    from fal.api import RouteSignature
    from fal.realtime import _fal_websocket_template
    from fastapi import FastAPI
except ImportError as exc:  # reported to the test, which fails with this reason
    # setup.sh leaves pip's complaint beside the venv when it could not install fal.
    failed = Path(sys.prefix) / "INSTALL-FAILED.txt"
    why = f"; pip said: {' | '.join(failed.read_text().splitlines())}" if failed.exists() else ""
    print(f"INTEROP-IMPORT-ERROR cannot import the fal runtime: {exc!r}{why}", flush=True)
    sys.exit(3)

APP_PREFIX = "/interop/fal"


class InteropFal(fal.App):
    """Echo with the knobs the interop tests need, written against fal's API."""

    def setup(self) -> None:
        self.setups = getattr(self, "setups", 0) + 1

    @fal.realtime("/realtime", buffering=8, session_timeout=30)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise RuntimeError(f"asked to fail: {inp['fail']}")
        return {**inp, "served_by": "fal", "setups": self.setups}

    @fal.realtime("/blocking", buffering=8, session_timeout=30)
    def run_blocking(self, inp: dict[str, Any]) -> dict[str, Any]:
        # A sync handler: fal runs it in its executor.
        return {**inp, "served_by": "fal-blocking"}

    @fal.realtime("/short", buffering=8, session_timeout=0.5)
    async def run_short(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {**inp, "served_by": "fal-short"}


async def _timed(self: InteropFal, inp: dict[str, Any]) -> dict[str, Any]:
    return {**inp, "served_by": "fal-timed"}


# fal 1.83.0's public ``fal.realtime()`` has no ``emit_timings`` argument, although its
# RouteSignature carries the flag and the session code honours it; fal's own template
# builds the endpoint that emits ``x-fal-message`` timings after each result.
InteropFal.run_timed = _fal_websocket_template(  # type: ignore[attr-defined]
    _timed,
    RouteSignature(
        path="/timed",
        is_websocket=True,
        realtime_mode="unary",
        buffering=8,
        session_timeout=30,
        emit_timings=True,
    ),
)


def build(app: InteropFal) -> FastAPI:
    @asynccontextmanager
    async def lifespan(api: FastAPI):  # type: ignore[no-untyped-def]
        async with app.lifespan(api):  # fal's own lifespan: setup() before serving
            print(f"INTEROP-READY {PORT}", flush=True)
            yield

    api = FastAPI(lifespan=lifespan)
    for signature, endpoint in app.collect_routes().items():
        assert signature.is_websocket, signature
        api.add_api_websocket_route(APP_PREFIX + signature.path, endpoint)
    return api


if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    PORT = sock.getsockname()[1]
    api = build(InteropFal(_allow_init=True))
    config = uvicorn.Config(api, log_level="warning", lifespan="on", ws_ping_interval=None)
    uvicorn.Server(config).run(sockets=[sock])
