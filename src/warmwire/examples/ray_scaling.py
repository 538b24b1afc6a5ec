"""Apps that show scaling on Ray Serve: ``warmwire/warmup`` starts from zero and retires.

``Warmup`` declares fal's scaling settings on the class: no runner while no
session is open (``min_concurrency=0``), a runner stays warm 2 s after its last
session (``keep_alive=2``), at most two runners (``max_concurrency=2``).
Its ``setup()`` takes ``WARMWIRE_EXAMPLE_SETUP_SECONDS`` (default 1 s, a small
model's load) and its ``teardown()`` writes ``teardown-<pid>`` into
``WARMWIRE_EXAMPLE_TEARDOWN_DIR`` when set: what ``tests/scale/test_ray_scaling.py``
watches.  ``Pair`` is the same app capped at two sessions per runner
(``max_multiplexing=2``): a third session starts a second runner.  Try them with
``warmwire ray warmwire.examples.ray_scaling:Warmup
warmwire.examples.ray_echo:ReplicaEcho --verify-key signing.pem.pub``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from warmwire import runner

SETUP_SECONDS = "WARMWIRE_EXAMPLE_SETUP_SECONDS"
TEARDOWN_DIR = "WARMWIRE_EXAMPLE_TEARDOWN_DIR"


class Warmup(
    runner.App,
    app_id="warmwire/warmup",
    min_concurrency=0,
    max_concurrency=2,
    keep_alive=2,
):
    """Echoes each input with the pid of its runner and when that runner started."""

    started = 0.0

    def setup(self) -> None:
        time.sleep(float(os.environ.get(SETUP_SECONDS, "1")))
        self.started = time.time()

    @runner.realtime("/realtime")
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {**inp, "pid": os.getpid(), "started": self.started}

    def teardown(self) -> None:
        where = os.environ.get(TEARDOWN_DIR)
        if where:
            (Path(where) / f"teardown-{os.getpid()}").write_text(f"{time.time()}\n")


class Pair(Warmup, app_id="warmwire/pair", max_multiplexing=2):
    """:class:`Warmup` with two sessions per runner at most."""
