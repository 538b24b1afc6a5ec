"""Waiting, bounded, for a condition the runner exposes no event for (a session count, a counter).

Imported by the tests of several folders (``tests/`` is on ``sys.path`` through
its ``conftest.py``).
"""

from __future__ import annotations

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
