"""Streams through nginx with the shipped config (deploy/nginx, rendered by deploy/cluster.py):
each event reaches the client as the runner writes it, nothing held back on the way.

The app streams one output, then holds until the client leaves: if anything between the
runner and the client buffered the response, the client would never see that output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import anyio
import httpx
import pytest

import warmwire
from helpers.tools import require_nginx

pytestmark = [pytest.mark.scale, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
APP = "scale/held"
APP_SOURCE = """
from collections.abc import AsyncIterator
from typing import Any

import anyio

from warmwire import runner


class App(runner.App, app_id="scale/held"):
    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield {"step": 0}
        await anyio.sleep_forever()
"""


def _load_cluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "warmwire_deploy_cluster_stream", ROOT / "deploy/cluster.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nginx is the subject here, not the event loop


@pytest.mark.anyio
async def test_an_event_goes_through_nginx_while_the_handler_holds(tmp_path: Path) -> None:
    require_nginx()
    cluster_mod = _load_cluster()
    (tmp_path / "scale_held.py").write_text(APP_SOURCE)
    # This checkout's warmwire in the cluster's processes, whatever the venv has installed.
    env = {**cluster_mod.os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}"}
    with cluster_mod.Cluster(1, "scale_held:App", env=env) as cluster:
        http = cluster.url.replace("ws://", "http://")
        async with httpx.AsyncClient(timeout=10) as client:
            minted = await client.post(
                f"{http}/tokens/",
                headers={"authorization": f"Key {cluster.key}"},
                json={"allowed_apps": ["held"], "token_expiration": 120},
            )
        minted.raise_for_status()
        with anyio.fail_after(30):
            async with warmwire.stream_async(APP, {}, url=cluster.url, token=minted.json()) as ev:
                assert await ev.__anext__() == {"step": 0}
