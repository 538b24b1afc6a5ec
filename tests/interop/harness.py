"""What the interop tests share: keys, the app every peer talks to, a runner in a thread,
and the Node.js drivers.

The peers are the real official clients and runtime, installed by ``make interop-setup``
(``tests/interop/setup.sh``; ``make test`` runs it): ``fal-client`` from PyPI (in
the project venv), ``@fal-ai/client`` and ``playwright-core`` from npm (in
``tests/interop/js``), Debian's Chromium, and the ``fal`` runtime in its own venv
(``tests/interop/.venv-fal``).  Nothing of the peers is patched: the Python
client is pointed at the runner through its module constants and
``FAL_RUN_HOST``; the JavaScript client dials ``wss://fal.run/...`` by design and
a wrapper around the global ``WebSocket`` sends it to the runner instead.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import attrs
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from helpers.tools import require, require_node
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyScope, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import TokenIssuer
from warmwire.runner import RunningServer

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
FAL_VENV_PYTHON = HERE / ".venv-fal" / "bin" / "python"
SETUP = "interop-setup"
"""The make target that installs the peers."""

KEY_ID = "interop"
SECRET = "interop-s3cret"
KEY = f"{KEY_ID}:{SECRET}"
APP = "interop/echo"
ALIAS = "echo"

SUBPROCESS_TIMEOUT = 90.0
"""Upper bound for one peer subprocess (a Node script, a browser session)."""


class InteropApp(runner.App, app_id=APP):
    """Echo with the knobs the peers' features need; records what its handlers saw.

    - ``/realtime``: msgpack, ``buffering=60`` (nothing is dropped, so a missing
      input was never sent), timings after each result, ``{"fail": reason}``
      raises (``INTERNAL_ERROR``);
    - ``/v2/json``: JSON in binary frames through ``encode_message``/``decode_message``,
      like a fal app with a custom codec (a client must override its codec);
    - ``/short``: a 0.5 s session timeout (``TIMEOUT``, then a normal close).
    """

    def setup(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def _record(self, path: str, inp: dict[str, Any]) -> None:
        self.seen.append((path, inp))  # list.append is atomic: handlers run on any thread

    @runner.realtime("/realtime", buffering=60, session_timeout=30, emit_timings=True)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        self._record("/realtime", inp)
        if inp.get("fail"):
            raise RuntimeError(f"asked to fail: {inp['fail']}")
        return {**inp, "served_by": "warmwire"}

    @runner.realtime(
        "/v2/json",
        buffering=60,
        session_timeout=30,
        encode_message=orjson.dumps,
        decode_message=orjson.loads,
    )
    async def run_json(self, inp: dict[str, Any]) -> dict[str, Any]:
        self._record("/v2/json", inp)
        return {**inp, "served_by": "warmwire", "codec": "json"}

    @runner.realtime("/short", buffering=60, session_timeout=0.5)
    async def run_short(self, inp: dict[str, Any]) -> dict[str, Any]:
        self._record("/short", inp)
        return {**inp, "served_by": "warmwire"}

    def inputs(self, path: str, scenario: str) -> list[dict[str, Any]]:
        """The inputs the handler at ``path`` received for one scenario, in order."""
        return [inp for p, inp in self.seen if p == path and inp.get("scenario") == scenario]


@attrs.define
class InteropRunner:
    """A running ``interop/echo`` with an API key and a signing key."""

    server: RunningServer
    app: InteropApp
    signing_key: Ed25519PrivateKey

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT`` or ``wss://localhost:PORT``."""
        return self.server.url

    @property
    def http_url(self) -> str:
        return self.server.http_url

    @property
    def host(self) -> str:
        """``host:port``, as a client puts it in a URL."""
        return self.url.split("://", 1)[1]

    def stale_token(self) -> str:
        """A token signed by this runner's key for ``echo`` that expired a minute ago.

        What a client holds when it reuses a token past its life: the runner must
        refuse it with the ``Unauthorized`` message a browser can read.
        """
        return TokenIssuer(self.signing_key).mint(KEY_ID, [ALIAS], -60)


def runner_auth(signing_key: Ed25519PrivateKey) -> RunnerAuth:
    # A key scoped to one owner, as a backend's should be: the fal clients ask for the
    # alias alone, and the token service binds it to that owner (interop/echo).
    key = ApiKey(KEY_ID, SECRET, KeyScope((f"{APP.split('/')[0]}/*",)))
    return RunnerAuth.create(keys=KeyStore([key]), signing_key=signing_key)


@contextmanager
def runner_in_thread(
    ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> Iterator[InteropRunner]:
    """``interop/echo`` with auth, on its own event loop in a thread, for sync tests.

    The peers run in subprocesses or block the test's thread, so the runner
    needs a loop of its own.  Leaving the block drains it (bounded by
    ``drain_timeout``) and stops the thread.
    """
    signing_key = Ed25519PrivateKey.generate()
    app = InteropApp()
    serve = runner.serve(
        app,
        host=host,
        ssl_context=ssl_context,
        auth=runner_auth(signing_key),
        drain_timeout=2.0,
        close_timeout=2.0,
    )
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(serve) as server,
    ):
        url = server.url
        if ssl_context is not None:
            # The certificate names "localhost": dial it by that name.
            url = url.replace(f"//{host}:", "//localhost:", 1)
        yield InteropRunner(attrs.evolve(server, url=url), app, signing_key)


def node_command() -> list[str]:
    """``node`` with the global ``WebSocket`` @fal-ai/client uses (a flag before Node 22)."""
    node = require_node(SETUP)
    probe = subprocess.run(
        [node, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return [node] if probe.returncode == 0 else [node, "--experimental-websocket"]


def check_js_installed() -> None:
    missing = [
        name
        for name in ("@fal-ai/client", "playwright-core", "esbuild")
        if not (JS_DIR / "node_modules" / name / "package.json").is_file()
    ]
    require(not missing, f"the npm packages {missing} in {JS_DIR}", SETUP)


@attrs.frozen
class NodeRun:
    """What a Node script printed: one JSON object a line."""

    records: list[dict[str, Any]]
    stdout: str
    stderr: str

    def scenario(self, name: str) -> dict[str, Any]:
        found = [r for r in self.records if r.get("scenario") == name]
        assert len(found) == 1, f"scenario {name!r} not reported once; {self.describe()}"
        record = found[0]
        assert "failure" not in record, f"scenario {name!r} failed: {record['failure']}"
        return record

    def describe(self) -> str:
        return f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def run_node(script: str, env: Mapping[str, str], *args: str) -> NodeRun:
    """Run ``tests/interop/js/<script>``; its stdout is JSON lines of observed events."""
    check_js_installed()
    full_env = {**os.environ, **env}
    process = subprocess.Popen(
        [*node_command(), script, *args],
        cwd=JS_DIR,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        # SIGTERM first: playwright-core then closes the browser it launched.
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        raise AssertionError(
            f"node {script} ran over {SUBPROCESS_TIMEOUT}s\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ) from None
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    run = NodeRun(records, stdout, stderr)
    assert process.returncode == 0, f"node {script} exited {process.returncode}; {run.describe()}"
    return run


def results(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results among a JavaScript scenario's events (``onResult`` calls), in order."""
    return [e["result"] for e in events if "result" in e]


def errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``onError`` calls among a JavaScript scenario's events, in order."""
    return [e["error"] for e in events if "error" in e]
