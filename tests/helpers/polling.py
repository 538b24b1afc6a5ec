"""Waiting, bounded, for a condition the runner exposes no event for (a session count, a counter).

Imported as ``helpers.polling`` by the tests of several folders (``tests/`` is on the
import path through ``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio


async def wait_until(
    predicate: Callable[[], bool], what: str = "condition", within: float = 10.0
) -> None:
    """Return once ``predicate()`` holds; ``AssertionError`` naming ``what`` after ``within`` s."""
    with anyio.move_on_after(within):
        # No event to wait on: re-check at every short tick until it holds.
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"{what}: not reached within {within}s")


def wait_until_sync(
    predicate: Callable[[], bool],
    what: str = "condition",
    within: float = 10.0,
    every: float = 0.01,
) -> None:
    """:func:`wait_until` for synchronous tests (a cluster's processes, a Ray deployment)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {within}s")
        time.sleep(every)  # no event to wait on: re-check every ``every`` seconds
