"""Scale-out: nginx + 2 runners + a token service (deploy/cluster.py), as separate processes."""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib.util
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal

import warmwire
from helpers.polling import wait_until_sync
from helpers.tools import require_nginx

pytestmark = pytest.mark.scale

ROOT = Path(__file__).resolve().parents[2]
APP = "scale/whoami"
APP_SOURCE = """
import os
from typing import Any

from warmwire import runner


class App(runner.App, app_id="scale/whoami"):
    @runner.realtime("/realtime", buffering=60)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {**inp, "runner": os.environ["WARMWIRE_RUNNER_NAME"], "pid": os.getpid()}
"""


def _load_cluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "warmwire_deploy_cluster", ROOT / "deploy/cluster.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cluster_mod = _load_cluster()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the cluster is the subject here, not the event loop


@contextlib.contextmanager
def start_cluster(tmp_path: Path) -> Iterator[Any]:
    require_nginx()
    (tmp_path / "scale_whoami.py").write_text(APP_SOURCE)
    env = {**cluster_mod.os.environ, "PYTHONPATH": str(tmp_path)}
    with cluster_mod.Cluster(2, "scale_whoami:App", env=env) as cluster:
        yield cluster


wait_until = functools.partial(wait_until_sync, within=20)


def mint(cluster: Any) -> str:
    http = cluster.url.replace("ws://", "http://")
    response = httpx.post(
        f"{http}/tokens/",
        headers={"authorization": f"Key {cluster.key}"},
        json={"allowed_apps": ["whoami"], "token_expiration": 120},
    )
    response.raise_for_status()
    token: str = response.json()
    return token


async def p50_round_trip(url: str, token: str, count: int = 200) -> float:
    times = []
    async with warmwire.realtime_async(APP, url=url, token=token) as conn:
        for n in range(count):
            start = time.perf_counter()
            await conn.send({"n": n})
            await conn.recv()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


@pytest.mark.anyio
async def test_sessions_spread_over_runners_with_tokens_from_the_service(tmp_path: Path) -> None:
    with start_cluster(tmp_path) as cluster:
        served: collections.Counter[str] = collections.Counter()
        limit = anyio.Semaphore(25)

        async def session(i: int) -> None:
            async with (
                limit,
                warmwire.realtime_async(APP, url=cluster.url, key=cluster.key) as conn,
            ):
                for n in range(5):
                    await conn.send({"session": i, "n": n})
                    result = await conn.recv()
                    assert (result["session"], result["n"]) == (i, n)
                    served[result["runner"]] += 1

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for i in range(100):
                    tg.start_soon(session, i)
        assert sum(served.values()) == 500
        assert set(served) == {"runner-0", "runner-1"}, served

        # One token from the token service (through nginx) works on every runner directly.
        token = await anyio.to_thread.run_sync(mint, cluster)
        for index, url in enumerate(cluster.runner_urls):
            async with warmwire.realtime_async(APP, url=url, token=token) as conn:
                await conn.send({"n": 1})
                assert (await conn.recv())["runner"] == f"runner-{index}"

        # A measurement for docs/scaling.md, not an assertion.
        direct = await p50_round_trip(cluster.runner_urls[0], token)
        proxied = await p50_round_trip(cluster.url, token)
        print(f"\nround trip p50: direct {direct:.3f} ms, through nginx {proxied:.3f} ms")
        print(f"results per runner: {dict(served)}")


def test_sigterm_one_runner_mid_stream(tmp_path: Path) -> None:
    with (
        start_cluster(tmp_path) as cluster,
        start_blocking_portal() as portal,
        contextlib.ExitStack() as stack,
    ):
        results: list[dict[str, Any]] = []
        errors: list[warmwire.RealtimeError] = []
        callback = stack.enter_context(
            portal.wrap_async_context_manager(
                warmwire.connect_async(
                    APP,
                    url=cluster.url,
                    key=cluster.key,
                    on_result=results.append,
                    on_error=errors.append,
                    throttle_interval=0,
                )
            )
        )

        def send(obj: dict[str, Any]) -> None:
            portal.call(callback.send, obj)

        send({"n": 0})
        wait_until(lambda: len(results) == 1)
        victim = results[0]["runner"]

        # A blocking client on the same runner (least_conn: keep opening until one is).
        blocking = None
        for _ in range(8):
            conn = stack.enter_context(warmwire.realtime(APP, url=cluster.url, key=cluster.key))
            conn.send({"n": -1})
            if conn.recv(timeout=10)["runner"] == victim:
                blocking = conn
                break
        assert blocking is not None, "no blocking session landed on the callback's runner"

        # Inputs 1-5 are answered before the SIGTERM; 6-10 are in flight when it lands.
        for n in range(1, 6):
            send({"n": n})
            blocking.send({"n": n})
        assert [blocking.recv(timeout=10)["n"] for _ in range(5)] == [1, 2, 3, 4, 5]
        wait_until(lambda: {r["n"] for r in results} >= {1, 2, 3, 4, 5})
        for n in range(6, 11):
            send({"n": n})
            blocking.send({"n": n})
        cluster.terminate_runner(int(victim.rsplit("-", 1)[1]))

        # The blocking client: the inputs the runner accepted are answered in order,
        # later ones get x-fal-error ("runner draining"), and the rest are covered by
        # the close: a clear ConnectionClosedError with code 1001.
        answered: list[int] = []
        refusals: list[str] = []
        closed: warmwire.ConnectionClosedError | None = None
        for _ in range(20):
            try:
                answered.append(blocking.recv(timeout=20)["n"])
            except warmwire.ConnectionClosedError as exc:
                closed = exc
                break
            except warmwire.RealtimeError as exc:
                refusals.append(str(exc))
        assert closed is not None
        assert closed.code == 1001
        assert answered == list(range(6, 6 + len(answered)))
        assert all("draining" in text for text in refusals), refusals
        assert len(answered) + len(refusals) <= 5

        # The callback client: the same, reported through on_error, ...
        def closed_1001() -> bool:
            return any(isinstance(e, warmwire.ConnectionClosedError) for e in errors)

        wait_until(closed_1001)
        closes = [e for e in errors if isinstance(e, warmwire.ConnectionClosedError)]
        assert [e.code for e in closes] == [1001]
        assert all("draining" in str(e) for e in errors if e not in closes), errors
        on_victim = [r["n"] for r in results if r["runner"] == victim]
        assert on_victim == list(range(len(on_victim)))
        # ... then the next sends reconnect through nginx, to the other runner.
        for n in range(11, 21):
            send({"n": n})
        wait_until(lambda: {r["n"] for r in results} >= set(range(11, 21)))
        later = [r for r in results if r["n"] >= 11]
        assert {r["runner"] for r in later} == {"runner-0", "runner-1"} - {victim}
        assert callback.connections == 2
        assert cluster.wait_runner(int(victim.rsplit("-", 1)[1])) == 0
