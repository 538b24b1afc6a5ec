"""An app that says which process served each input, and which process ran its setup()."""

from __future__ import annotations

import os
from typing import Any

from warmwire import runner


class Pids(runner.App, app_id="test/pids"):
    def setup(self) -> None:
        self.setup_pid = os.getpid()

    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        index = os.environ.get("WARMWIRE_WORKER_INDEX")
        return {"pid": os.getpid(), "setup_pid": self.setup_pid, "index": index}
