"""``warmwire/echo``: returns every input unchanged (protocol tests, benchmarks)."""

from __future__ import annotations

from typing import Any

from warmwire import runner


class Echo(runner.App, app_id="warmwire/echo"):
    """Echoes each input; ``/realtime`` is sync (worker thread), ``/async`` runs on the loop."""

    @runner.realtime("/realtime", buffering=60)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp

    @runner.realtime("/async", buffering=60)
    async def run_async(self, inp: dict[str, Any]) -> dict[str, Any]:
        return inp
