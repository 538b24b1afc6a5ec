"""``freeze_gc``: what ``setup()`` left alive is out of the collector's reach, the rest is not."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from warmwire import runner

pytestmark = pytest.mark.anyio


class Model(runner.App, app_id="test/model"):
    def setup(self) -> None:
        self.weights = [[float(i)] for i in range(2000)]  # 2,000 tracked objects

    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    """The test process's collector as it was: the test suite starts many runners."""
    assert gc.get_freeze_count() == 0
    try:
        yield
    finally:
        gc.unfreeze()


def _tracked(obj: object) -> bool:
    """Whether the collector's generations hold ``obj`` (frozen objects are in none)."""
    return any(o is obj for o in gc.get_objects())


async def test_freeze_gc_takes_the_model_out_of_the_collectors_reach(
    unfrozen_after: None,
) -> None:
    app = Model()
    async with runner.serve(app, insecure_no_auth=True, freeze_gc=True):
        assert gc.get_freeze_count() >= len(app.weights)
        assert not _tracked(app.weights[0])
        later = [0.0]  # made after setup(): collected as usual
        assert _tracked(later)


async def test_the_collector_is_left_alone_by_default(unfrozen_after: None) -> None:
    app = Model()
    async with runner.serve(app, insecure_no_auth=True):
        assert gc.get_freeze_count() == 0
        assert _tracked(app.weights[0])
