"""Soak with the runner and the clients in separate processes (``bench/soak.py``).

The same code as ``make soak`` (500 sessions x 60 s x 20/s), with small numbers:
a ``warmwire serve`` runner on the backend under test, its echo app's async
handler and its sync one (whose sessions are served on the worker thread's loop),
two load-generator processes on that backend (one with a minimal raw WebSocket client, one with
warmwire's async client), numbered inputs.  Every session must get back exactly
its own inputs, once each, in order; after the sessions close, the runner
process (read from ``/proc/<pid>`` and its ``/metrics``) must hold no session
and no more file descriptors or threads than before the warm-up, and its RSS
must have grown less than 10% over the main round.  ``test_soak.py`` runs the
in-process form, which also counts the runner's tasks.
"""

from __future__ import annotations

import pytest
from bench.soak import run_soak, verdict

SESSIONS, SECONDS, RATE, WARMUP = 100, 3.5, 20.0, 1.0

pytestmark = [pytest.mark.soak, pytest.mark.timeout(240)]


@pytest.mark.parametrize("endpoint", ["/async", "/realtime"])
def test_soak_in_separate_processes(anyio_backend: str, endpoint: str) -> None:
    result = run_soak(
        backend=anyio_backend,
        sessions=SESSIONS,
        seconds=SECONDS,
        rate=RATE,
        warmup=WARMUP,
        workers=2,
        client="mixed",
        endpoint=endpoint,
    )
    print(f"soak ({anyio_backend}, {endpoint}, separate processes): {result}")
    main = result["main"]
    assert main["expected"] == SESSIONS * round(SECONDS * RATE)
    assert verdict(result) == [], result
