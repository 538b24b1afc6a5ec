"""Scaling settings on the app, in fal's terms: declared, checked, and the session limit.

Under ``warmwire serve`` (here ``runner.serve``), ``max_multiplexing`` is the runner's
session limit unless ``max_sessions`` is given; on Ray Serve the same settings become
the deployment's autoscaling config (tests/scale/test_ray_scaling.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

import warmwire
from warmwire import runner
from warmwire.core.errors import ConfigurationError
from warmwire.runner import Scaling

TIMEOUT = 10.0


class Paired(runner.App, app_id="test/paired", max_multiplexing=2, keep_alive=5):
    """Two sessions per runner, declared as class keywords."""

    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


class Attributes(runner.App, app_id="test/attributes"):
    min_concurrency = 1
    max_concurrency = 3
    concurrency_buffer = 1


def test_declared_as_keywords_or_attributes_defaults_are_fals() -> None:
    assert runner.App.scaling == Scaling(
        min_concurrency=0,
        max_concurrency=None,
        keep_alive=60.0,
        max_multiplexing=None,
        concurrency_buffer=0,
    )
    assert Paired.scaling.max_multiplexing == 2
    assert Paired.scaling.keep_alive == 5
    assert Paired.max_multiplexing == 2  # readable as a class attribute too
    assert Attributes.scaling == Scaling(min_concurrency=1, max_concurrency=3, concurrency_buffer=1)

    class Child(Attributes, app_id="test/child", keep_alive=0):
        pass

    assert Child.scaling == Scaling(
        min_concurrency=1, max_concurrency=3, keep_alive=0, concurrency_buffer=1
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"min_concurrency": -1}, "min_concurrency must be >= 0, got -1"),
        ({"max_concurrency": 0}, "max_concurrency must be >= 1, got 0"),
        ({"min_concurrency": 3, "max_concurrency": 2}, "max_concurrency (2) is below"),
        ({"keep_alive": -1}, "keep_alive must be a number of seconds >= 0"),
        ({"keep_alive": float("inf")}, "keep_alive must be a number of seconds >= 0"),
        ({"keep_alive": "60"}, "keep_alive must be a number of seconds >= 0"),
        ({"max_multiplexing": 0}, "max_multiplexing must be >= 1, got 0"),
        ({"max_multiplexing": 1.5}, "max_multiplexing must be a whole number, got 1.5"),
        ({"concurrency_buffer": True}, "concurrency_buffer must be a whole number"),
    ],
)
def test_bad_settings_are_refused_naming_the_app(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:

        class Bad(runner.App, app_id="test/bad", **settings):
            pass

    assert str(refused.value).startswith("Bad: ")
    assert message in str(refused.value)


def test_runners_for_sessions_within_the_bounds() -> None:
    scaling = Scaling(min_concurrency=1, max_concurrency=4, max_multiplexing=2)
    assert [scaling.runners_for(n) for n in (0, 1, 2, 3, 8, 100)] == [1, 1, 1, 2, 4, 4]
    buffered = Scaling(max_multiplexing=2, concurrency_buffer=1)
    assert [buffered.runners_for(n) for n in (0, 1, 3)] == [1, 2, 3]
    assert Scaling().runners_for(0) == 0  # scale to zero


def test_session_limit_default_is_max_multiplexing_explicit_wins() -> None:
    assert runner.Runner([Paired()]).config.max_sessions == 2
    explicit = runner.RunnerConfig(insecure_no_auth=True, max_sessions=7)
    assert runner.Runner([Paired()], explicit).config.max_sessions == 7


@pytest.mark.anyio
async def test_warmwire_serve_refuses_the_session_past_max_multiplexing(
    wait_until: Callable[..., Any],
) -> None:
    async with runner.serve(Paired, insecure_no_auth=True) as server:
        with anyio.fail_after(TIMEOUT):
            async with (
                warmwire.realtime_async("test/paired", url=server.url) as first,
                warmwire.realtime_async("test/paired", url=server.url) as second,
            ):
                await wait_until(lambda: len(server.runner.sessions) == 2)
                with pytest.raises(warmwire.HandshakeError) as refused:
                    async with warmwire.realtime_async("test/paired", url=server.url):
                        pass
                for n, conn in enumerate((first, second)):
                    await conn.send({"n": n})
                    assert await conn.recv() == {"n": n}
    assert refused.value.status_code == 503
    assert b"2 sessions" in refused.value.body
