"""warmwire's JavaScript client (``clients/js``): its Node tests, each file a test here.

The Node test runner (``node --test``) runs ``clients/js/test/*.test.mjs``; each file starts
its own ``warmwire serve apps:JsClientEcho`` (``apps.py``, beside this file) with
``python -m warmwire.cli``, this interpreter, and talks to it with the built package
(``clients/js/dist``), under asyncio (and for the connection and reconnect files, trio
too): lazy connect, keep-latest throttling, tokens and their refresh,
Unauthorized, reconnects after a runner killed mid-stream, x-fal-error codes, TIMEOUT, the
codec as subprotocol, with msgpack and JSON; the ``await``/``for await`` form; the
``npm pack`` tarball installed into a throwaway project; the ``ws`` fallback.

Needs ``make jsclient-setup`` (``bash clients/js/setup.sh``; ``make test`` runs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.tools import require, require_node

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CLIENT = ROOT / "clients" / "js"
SETUP = "jsclient-setup"
NODE_TESTS = sorted(p.name for p in (CLIENT / "test").glob("*.test.mjs"))
BOTH_BACKENDS = ("connect.test.mjs", "reconnect.test.mjs")
"""The files that also run against a trio runner (the others' runner is incidental)."""
TIMEOUT = 240.0
"""Upper bound for one Node test file (the token refresh waits out real 10 s tokens)."""


def node_command() -> list[str]:
    """``node``, with the global ``WebSocket`` (a flag before Node 22)."""
    node = require_node(SETUP)
    probe = subprocess.run(
        [node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return [node] if probe.returncode == 0 else [node, "--experimental-websocket"]


def test_the_node_tests_are_found() -> None:
    assert {"connect.test.mjs", "tokens.test.mjs", "reconnect.test.mjs"} <= set(NODE_TESTS)


@pytest.mark.timeout(TIMEOUT + 30)
@pytest.mark.parametrize(
    ("name", "backend"),
    [(name, "asyncio") for name in NODE_TESTS] + [(name, "trio") for name in BOTH_BACKENDS],
)
def test_node_client(name: str, backend: str) -> None:
    require(
        (CLIENT / "dist" / "index.js").is_file()
        and (CLIENT / "node_modules" / "@msgpack" / "msgpack").is_dir(),
        "the client's npm packages and build (clients/js/node_modules, clients/js/dist)",
        SETUP,
    )
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(HERE)]),
        "WARMWIRE_BACKEND": backend,
    }
    for variable in ("WARMWIRE_KEY", "WARMWIRE_KEYS", "WARMWIRE_URL"):
        env.pop(variable, None)
    run = subprocess.run(
        [*node_command(), "--test", "--test-reporter=spec", f"test/{name}"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    print(run.stdout)
    output = f"{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, f"node --test test/{name} failed:\n{output}"
