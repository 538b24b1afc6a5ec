"""What a callback client's ``on_result`` and ``on_error`` received, waited on without sleeping."""

from __future__ import annotations

import threading
from typing import Any

import anyio.to_thread

import warmwire


class CallbackEvents:
    """Collects callback events; the test waits for counts (callbacks may run on any thread)."""

    def __init__(self) -> None:
        self.results: list[Any] = []
        self.errors: list[warmwire.RealtimeError] = []
        self._changed = threading.Condition()

    def on_result(self, result: Any) -> None:
        with self._changed:
            self.results.append(result)
            self._changed.notify_all()

    def on_error(self, error: warmwire.RealtimeError) -> None:
        with self._changed:
            self.errors.append(error)
            self._changed.notify_all()

    def wait(self, results: int = 0, errors: int = 0, timeout: float = 10) -> None:
        """Block until at least ``results`` results and ``errors`` errors arrived."""
        with self._changed:
            ok = self._changed.wait_for(
                lambda: len(self.results) >= results and len(self.errors) >= errors, timeout
            )
        assert ok, f"timed out: results={self.results} errors={self.errors}"

    async def await_(self, results: int = 0, errors: int = 0) -> None:
        """:meth:`wait`, from async code (in a worker thread)."""
        await anyio.to_thread.run_sync(lambda: self.wait(results, errors))
