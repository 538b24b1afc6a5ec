"""Lifecycle: setup before ready, teardown at exit, draining in process and on SIGTERM."""

from __future__ import annotations

import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

import warmwire
from helpers.processes import ENV, start_runner
from warmwire import runner
from warmwire.core.events import HttpRequest

pytestmark = pytest.mark.anyio

TIMEOUT = 10.0
SETUP_SECONDS = 0.05


class Warm(runner.App, app_id="test/warm"):
    """Records its lifecycle; its first input waits for ``gate``."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.gate: anyio.Event | None = None
        self.model: Callable[[int], int] | None = None

    def setup(self) -> None:
        self.events.append("setup")
        time.sleep(SETUP_SECONDS)  # loading the model
        self.setup_thread = threading.current_thread().name
        self.model = lambda n: n * 10

    def teardown(self) -> None:
        self.events.append("teardown")

    @runner.realtime("/realtime", buffering=10)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        assert self.model is not None, "setup() must run before the first input"
        if self.gate is not None and inp["i"] == 0:
            await self.gate.wait()
        self.events.append(f"handled {inp['i']}")
        return {"i": inp["i"], "out": self.model(inp["i"])}


def http_request(path: str) -> HttpRequest:
    return HttpRequest("GET", path, (), b"")


async def test_not_ready_until_setup_has_run() -> None:
    app = Warm()
    the_runner = runner.Runner([app])
    status, _, _ = the_runner.http(http_request("/ready"))
    assert status == 503
    assert not the_runner.ready
    await the_runner.startup()
    status, body, _ = the_runner.http(http_request("/ready"))
    assert status == 200
    assert b'"ready":true' in body
    assert app.events == ["setup"]
    assert app.setup_thread != threading.main_thread().name, "setup() runs off the loop"
    await the_runner.shutdown()
    assert app.events == ["setup", "teardown"]


async def test_ready_and_health_after_setup_then_teardown_at_exit(
    http_get: Callable[..., Any],
) -> None:
    app = Warm()
    async with runner.serve(app, insecure_no_auth=True) as server:
        # serve() yields only once setup() is done: the model is loaded already.
        assert app.events == ["setup"]
        ready = await http_get(server, "/ready")
        health = await http_get(server, "/health")
        async with warmwire.realtime_async("test/warm", url=server.url) as conn:
            await conn.send({"i": 4})
            assert await conn.recv() == {"i": 4, "out": 40}
        assert "teardown" not in app.events
    assert app.events == ["setup", "handled 4", "teardown"]
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["draining"] is False
    assert body["cold_start_seconds"] > SETUP_SECONDS / 2  # the clocks may round apart
    assert body["cold_start_seconds"] == server.cold_start
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


async def test_teardown_runs_when_the_block_raises() -> None:
    app = Warm()
    with pytest.raises(RuntimeError, match="boom"):
        async with runner.serve(app, insecure_no_auth=True):
            raise RuntimeError("boom")
    assert app.events == ["setup", "teardown"]


async def test_leaving_serve_drains_in_flight_inputs_then_closes_with_1001(
    http_get: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    app = Warm()
    app.gate = anyio.Event()
    results: list[Any] = []
    closes: list[int] = []
    observed: dict[str, Any] = {}
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            async with runner.serve(app, insecure_no_auth=True) as server:

                async def client(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                    async with warmwire.realtime_async("test/warm", url=server.url) as conn:
                        for i in range(5):
                            await conn.send({"i": i, "request_id": f"r{i}"})
                        task_status.started()
                        try:
                            while (result := await conn.recv()) is not None:
                                results.append(result)
                        except warmwire.ConnectionClosedError as exc:
                            closes.append(exc.code)

                async def during_drain() -> None:
                    await wait_until(lambda: server.runner.draining, what="drain started")
                    observed["ready"] = await http_get(server, "/ready")
                    try:
                        async with warmwire.realtime_async("test/warm", url=server.url):
                            pass
                    except warmwire.HandshakeError as exc:
                        observed["refused"] = exc
                    observed["sessions"] = len(server.runner.sessions)
                    assert app.gate is not None
                    app.gate.set()

                await tg.start(client)
                await wait_until(lambda: len(server.runner.sessions) == 1)
                session = next(iter(server.runner.sessions))
                await wait_until(lambda: session.received == 5, what="all inputs read")
                assert results == []  # all five are in flight
                tg.start_soon(during_drain)
            # Leaving the block drained: every input answered before the close.
            assert "teardown" in app.events
    assert results == [{"i": i, "out": i * 10, "request_id": f"r{i}"} for i in range(5)]
    assert closes == [1001]
    assert app.events == ["setup", *(f"handled {i}" for i in range(5)), "teardown"]
    ready = observed["ready"]
    assert ready.status_code == 503
    assert ready.json()["draining"] is True
    assert observed["refused"].status_code == 503
    assert b"draining" in observed["refused"].body
    assert observed["sessions"] == 1


async def test_draining_an_idle_session_closes_it_with_1001() -> None:
    app = Warm()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            async with runner.serve(app, insecure_no_auth=True) as server:
                conn_cm = warmwire.realtime_async("test/warm", url=server.url)
                conn = await conn_cm.__aenter__()
                caught: list[BaseException] = []

                async def read() -> None:
                    try:
                        await conn.recv()
                    except warmwire.ConnectionClosedError as exc:
                        caught.append(exc)
                    finally:
                        await conn_cm.__aexit__(None, None, None)

                tg.start_soon(read)
    assert len(caught) == 1
    assert isinstance(caught[0], warmwire.ConnectionClosedError)
    assert caught[0].code == 1001


# -- SIGTERM on `warmwire serve` -----------------------------------------------------------

SLOW_APP = textwrap.dedent(
    """
    import time
    from typing import Any

    from warmwire import runner


    class SlowApp(runner.App, app_id="test/slowdrain"):
        @runner.realtime("/realtime", buffering=10)
        def run(self, inp: dict[str, Any]) -> dict[str, Any]:
            time.sleep(0.5)  # the model's work
            return {"i": inp["i"]}
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sigterm_drains_in_flight_inputs_then_exits_0(tmp_path: Path, backend: str) -> None:
    (tmp_path / "warmwire_slowdrain_app.py").write_text(SLOW_APP)
    pythonpath = ENV.get("PYTHONPATH")
    env = {**ENV, "PYTHONPATH": f"{tmp_path}:{pythonpath}" if pythonpath else str(tmp_path)}
    args = ["serve", "warmwire_slowdrain_app:SlowApp", "--insecure-no-auth", "--port", "0"]
    with start_runner(*args, "--backend", backend, env=env, cwd=tmp_path) as served:
        proc, url, http_url = served.proc, served.url, served.http_url
        assert httpx.get(f"{http_url}/ready", timeout=TIMEOUT).status_code == 200
        with warmwire.realtime("test/slowdrain", url=url) as conn:
            for i in range(5):
                conn.send({"i": i, "request_id": f"r{i}"})
            results = [conn.recv(timeout=TIMEOUT)]
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # Draining takes ~2 s (four inputs left at 0.5 s): /ready says 503 meanwhile.
            ready_status = None
            while time.monotonic() - signalled < TIMEOUT:
                ready_status = httpx.get(f"{http_url}/ready", timeout=TIMEOUT).status_code
                if ready_status == 503:
                    break
            assert ready_status == 503
            results += [conn.recv(timeout=TIMEOUT) for _ in range(4)]
            with pytest.raises(warmwire.ConnectionClosedError) as closed:
                conn.recv(timeout=TIMEOUT)
        assert proc.wait(timeout=30) == 0  # within the default drain_timeout grace period
    text = served.output.text
    assert results == [{"i": i, "request_id": f"r{i}"} for i in range(5)]
    assert closed.value.code == 1001
    assert "stopping" in text
    assert "Traceback" not in text
