"""Token refusals are answered at a bounded pace; authorised connections never wait for it.

``RunnerConfig.max_refusal_rate``: a small burst of refusals (50 ms worth) is
answered at once, then one per ``1/rate`` seconds, so a client that retries only after its
answer (a flood script, a fleet reconnecting with an expired token) cannot
make the runner refuse faster than that.  Real runners, real JWTs, loopback.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import warmwire
from warmwire import runner
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer
from warmwire.core.errors import ConfigurationError
from warmwire.examples.echo import Echo
from warmwire.runner import RunnerConfig, RunningServer
from warmwire.runner.pacing import Pacer

pytestmark = pytest.mark.anyio

TIMEOUT = 20.0
KEY = Ed25519PrivateKey.generate()
APP = "warmwire/echo"


def good_token() -> str:
    return TokenIssuer(KEY).mint("dev", [APP], 60)


def bad_token() -> str:
    return TokenIssuer(Ed25519PrivateKey.generate()).mint("dev", [APP], 60)


def serve(**options: Any) -> Any:
    return runner.serve(Echo, auth=RunnerAuth.create(signing_key=KEY), **options)


async def refused(server: RunningServer, token: str) -> float:
    """Attempt with a bad token; when (anyio clock) the refusal arrived."""

    async def converse() -> None:
        async with warmwire.realtime_async(APP, url=server.url, token=token) as conn:
            await conn.send({"n": 1})
            await conn.recv()

    with pytest.raises(warmwire.UnauthorizedError):
        await converse()
    return anyio.current_time()


# -- the pacer -----------------------------------------------------------------------------


async def test_a_burst_goes_through_at_once_and_the_rest_wait_their_slot() -> None:
    pacer = Pacer(20.0, burst=2)
    done: list[float] = []

    async def caller() -> None:
        await pacer.wait()
        done.append(anyio.current_time())

    start = anyio.current_time()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(caller)
            await anyio.wait_all_tasks_blocked()
            assert (len(done), pacer.waiting) == (2, 4)
    assert pacer.waiting == 0
    # Slot k (past the burst) is not before start + (k - burst + 1) / rate.
    for k, at in enumerate(sorted(done)[2:], start=1):
        assert at >= start + k * 0.05 - 1e-6


async def test_beyond_max_waiting_callers_go_through_at_once() -> None:
    pacer = Pacer(0.5, burst=1, max_waiting=2)
    done = 0

    async def caller() -> None:
        nonlocal done
        await pacer.wait()
        done += 1

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(caller)
            await anyio.wait_all_tasks_blocked()
            # One within the burst, two waiting (2 s and 4 s away), two let through.
            assert (done, pacer.waiting) == (3, 2)
            tg.cancel_scope.cancel()
    assert pacer.waiting == 0


async def test_the_schedule_recovers_when_refusals_stop() -> None:
    pacer = Pacer(50.0, burst=1)
    with anyio.fail_after(TIMEOUT):
        await pacer.wait()
        await pacer.wait()  # waits one slot (20 ms)
        await anyio.sleep_until(anyio.current_time() + 0.05)
        async with anyio.create_task_group() as tg:
            tg.start_soon(pacer.wait)
            await anyio.wait_all_tasks_blocked()
            assert pacer.waiting == 0  # the burst is back


def test_bad_paces_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="rate > 0"):
        Pacer(0.0)
    with pytest.raises(ConfigurationError, match="max_refusal_rate"):
        runner.Runner([Echo()], RunnerConfig(max_refusal_rate=-1.0, insecure_no_auth=True))


# -- in the runner ---------------------------------------------------------------------------


async def test_refusals_past_the_burst_are_paced_and_all_refused(
    metric: Any, metrics_text: Any
) -> None:
    async with serve(max_refusal_rate=40.0) as server:
        start = anyio.current_time()
        times: list[float] = []

        async def attempt() -> None:
            times.append(await refused(server, bad_token()))

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                for _ in range(16):
                    tg.start_soon(attempt)
        text = await metrics_text(server)
    assert len(times) == 16
    # A burst of 2 (50 ms worth), then one per 25 ms: the last no sooner than 0.35 s in.
    assert max(times) >= start + 14 * 0.025 - 1e-6
    assert metric(text, "warmwire_refused_connections_total", reason="unauthorized") == 16


async def test_authorised_sessions_do_not_wait_behind_paced_refusals() -> None:
    async with serve(max_refusal_rate=2.0) as server:
        refusals: list[float] = []
        served_at = 0.0

        async def attempt() -> None:
            refusals.append(await refused(server, bad_token()))

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                # A burst of 1, then 0.5 s apart: the 6th is due 2.5 s in.
                for _ in range(6):
                    tg.start_soon(attempt)
                await anyio.wait_all_tasks_blocked()
                async with warmwire.realtime_async(APP, url=server.url, token=good_token()) as c:
                    await c.send({"n": 7})
                    assert await c.recv() == {"n": 7}
                served_at = anyio.current_time()
    assert len(refusals) == 6
    assert served_at < max(refusals)


async def test_no_pace_when_disabled() -> None:
    async with serve(max_refusal_rate=None) as server:
        assert server.runner.config.max_refusal_rate is None
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(refused, server, bad_token())
