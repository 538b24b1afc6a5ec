"""Streams through Ray Serve: the deployment mounts the ASGI app, so the ``/stream`` route
comes with it.  One replica of the progressive example (``warmwire.examples.refine``) on a
local Ray instance; warmwire's stream client reads its steps through Serve's HTTP proxy.

Needs ``warmwire[ray]``; marked ``scale``.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

import warmwire
from helpers.ports import free_port
from helpers.tools import require_ray
from warmwire.examples.refine import Refine

RAY_MISSING: ImportError | None = None
try:
    import ray
    from ray import serve

    from warmwire.integrations.ray import deployment
except ImportError as missing:
    RAY_MISSING = missing

pytestmark = [pytest.mark.scale, pytest.mark.timeout(300)]

APP = "warmwire/refine"


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    require_ray(RAY_MISSING)
    # ray.init installs a SIGTERM handler in this process; the rest of the suite gets
    # the one it had back.
    previous = signal.getsignal(signal.SIGTERM)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    try:
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        try:
            app = deployment(
                Refine, num_replicas=1, ray_actor_options={"num_cpus": 0.5}, insecure_no_auth=True
            )
            serve.run(app, name="warmwire-stream", route_prefix="/")
            yield f"http://127.0.0.1:{port}"
        finally:
            serve.shutdown()
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)


def test_steps_stream_through_serve(serve_url: str) -> None:
    with warmwire.stream(APP, {"size": 16, "steps": 3}, url=serve_url) as events:
        steps = list(events)
    assert [(s["step"], s["iterations"]) for s in steps] == [(0, 4), (1, 8), (2, 16)]
    assert all(s["image"].startswith("data:image/png;base64,") for s in steps)
