"""Observability: ``GET /metrics`` is Prometheus text, and its figures move with traffic.

In process (``runner.serve``) and under ``warmwire serve`` as a real subprocess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import warmwire
from helpers.processes import start_runner
from warmwire import runner
from warmwire.examples.echo import Echo

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0

FIGURES = {
    "sessions_open": ("warmwire_sessions_open", {}),
    "sessions": ("warmwire_sessions_total", {}),
    "in": ("warmwire_messages_in_total", {}),
    "out": ("warmwire_messages_out_total", {}),
    "dropped": ("warmwire_inputs_dropped_total", {}),
    "invalid": ("warmwire_errors_total", {"code": "INVALID_INPUT"}),
    "handler_calls": ("warmwire_handler_seconds_count", {}),
    "handler_seconds": ("warmwire_handler_seconds_sum", {}),
    "cold_start": ("warmwire_cold_start_seconds", {}),
}


def figures(text: str) -> dict[str, float]:
    """The figures this suite follows; a labelled counter not yet incremented counts 0."""
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    found = {}
    for key, (name, labels) in FIGURES.items():
        values = [
            s.value
            for s in samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        if not values and labels:
            values = [0.0]
        assert len(values) == 1, f"{name}{labels}: {values}"
        found[key] = float(values[0])
    return found


def assert_prometheus_text(text: str) -> None:
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families["warmwire_sessions_open"] == "gauge"
    assert families["warmwire_sessions"] == "counter"
    assert families["warmwire_messages_in"] == "counter"
    assert families["warmwire_messages_out"] == "counter"
    assert families["warmwire_inputs_dropped"] == "counter"
    assert families["warmwire_errors"] == "counter"
    assert families["warmwire_handler_seconds"] == "histogram"
    assert families["warmwire_cold_start_seconds"] == "gauge"
    assert "# HELP warmwire_handler_seconds" in text
    assert 'warmwire_handler_seconds_bucket{le="+Inf"}' in text


async def test_metrics_move_with_traffic(
    metrics_text: Callable[..., Any], wait_until: Callable[..., Any], raw_ws: Callable[..., Any]
) -> None:
    async with runner.serve(Echo, insecure_no_auth=True) as server:
        before_text = await metrics_text(server)
        assert_prometheus_text(before_text)
        before = figures(before_text)
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async("warmwire/echo", url=server.url) as conn:
                for n in range(3):
                    await conn.send({"n": n})
                    assert await conn.recv() == {"n": n}
                during = figures(await metrics_text(server))
            async with raw_ws(server, "/warmwire/echo/realtime") as ws:
                await ws.send(b"\xc1")  # undecodable
                assert "INVALID_INPUT" in await ws.recv()
            await wait_until(lambda: not server.runner.sessions)
        after = figures(await metrics_text(server))
    assert before["sessions"] == before["in"] == before["out"] == before["handler_calls"] == 0
    assert before["sessions_open"] == 0
    assert before["invalid"] == 0
    assert before["cold_start"] == pytest.approx(server.cold_start)
    assert during["sessions_open"] == 1
    assert during["sessions"] == 1
    assert (during["in"], during["out"], during["handler_calls"]) == (3, 3, 3)
    assert during["handler_seconds"] > 0
    assert after["sessions_open"] == 0
    assert after["sessions"] == 2
    assert (after["in"], after["out"], after["handler_calls"]) == (4, 3, 3)
    assert after["invalid"] == 1
    assert after["dropped"] == 0


# -- under `warmwire serve` ---------------------------------------------------------------


@pytest.fixture
def served_echo() -> Iterator[str]:
    with start_runner(
        "serve", "warmwire.examples.echo:Echo", "--insecure-no-auth", "--port", "0"
    ) as served:
        yield served.url


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_cli_runner_exposes_health_ready_and_moving_metrics(served_echo: str) -> None:
    http_url = served_echo.replace("ws://", "http://", 1)
    async with httpx.AsyncClient(base_url=http_url, timeout=TIMEOUT) as http:
        health = await http.get("/health")
        ready = await http.get("/ready")
        before_response = await http.get("/metrics")
        with anyio.fail_after(TIMEOUT):
            async with warmwire.realtime_async("warmwire/echo", url=served_echo) as conn:
                for n in range(4):
                    await conn.send({"n": n})
                    assert await conn.recv() == {"n": n}
        after_response = await http.get("/metrics")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert ready.json()["cold_start_seconds"] >= 0
    assert before_response.status_code == 200
    assert before_response.headers["content-type"].startswith("text/plain")
    assert_prometheus_text(before_response.text)
    before, after = figures(before_response.text), figures(after_response.text)
    assert after["sessions"] == before["sessions"] + 1
    assert after["in"] == before["in"] + 4
    assert after["out"] == before["out"] + 4
    assert after["handler_calls"] == before["handler_calls"] + 4
