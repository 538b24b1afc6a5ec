"""The front doors the stream tests run against: warmwire's own server, and the ASGI adapter
under uvicorn and hypercorn (mounted in FastAPI too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from helpers.asgi_servers import hypercorn_server, uvicorn_server
from warmwire import asgi, runner

from .apps import Steps

DOORS = ["warmwire", "uvicorn", "hypercorn", "fastapi-mount"]


@asynccontextmanager
async def served(door: str, app: Steps, **config: Any) -> AsyncIterator[str]:
    """``app`` behind ``door``; yields the base URL clients are given."""
    if door == "warmwire":
        async with runner.serve(app, **config) as server:
            yield server.url
        return
    application = asgi.app(app, **config)
    prefix = ""
    if door == "fastapi-mount":
        api = FastAPI()
        api.mount("/apps", application)
        host: Any = api
        prefix = "/apps"
        serve_with = uvicorn_server
    else:
        host = application
        serve_with = uvicorn_server if door == "uvicorn" else hypercorn_server
    with serve_with(host) as base:
        yield base + prefix


def host_port_prefix(url: str) -> tuple[str, int, str]:
    """``("127.0.0.1", PORT, "/apps")`` from a base URL ``served()`` yielded."""
    rest = url.split("://", 1)[1]
    authority, _, prefix = rest.partition("/")
    host, port = authority.rsplit(":", 1)
    return host, int(port), f"/{prefix}" if prefix else ""
