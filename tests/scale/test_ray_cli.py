"""``warmwire ray MOD:CLASS ...``: the one-command local form, in its own process.

It starts a local Ray in HAProxy mode (the default: neither app caps its sessions per
runner) and serves two apps behind one address, each
at its own prefix and scaled by its own settings (both start at zero replicas here):
a session to each waits for its cold start and is served; SIGTERM deletes the apps
(their replicas drain and run ``teardown()``) and stops Ray.  Tokens are real JWTs
the test mints; the replicas hold the public key only.  Marked ``scale``; about a
minute on 2 busy cores.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import warmwire
from helpers.ports import free_port
from helpers.processes import ENV, start_runner
from helpers.tools import require_ray
from warmwire.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key, public_pem
from warmwire.examples.ray_scaling import TEARDOWN_DIR

RAY_MISSING: ImportError | None = None
try:
    import ray  # noqa: F401  # the check that Ray is installed
except ImportError as missing:
    RAY_MISSING = missing

pytestmark = [pytest.mark.scale, pytest.mark.timeout(300)]

READY = re.compile(r"^warmwire on Ray Serve listening on (\S+)$")


def test_warmwire_ray_serves_two_apps_from_zero_behind_one_address(tmp_path: Path) -> None:
    require_ray(RAY_MISSING)
    signing = generate_signing_key()
    verify_key = tmp_path / "signing.pem.pub"
    verify_key.write_bytes(public_pem(load_signing_key(signing).public_key()))
    token = TokenIssuer(load_signing_key(signing)).mint(
        "test", ["warmwire/warmup", "warmwire/replica-echo"], 600
    )
    port = free_port()
    env = {**ENV, TEARDOWN_DIR: str(tmp_path)}  # reaches the replicas through Ray
    with start_runner(
        "ray",
        "warmwire.examples.ray_scaling:Warmup",
        "warmwire.examples.ray_echo:ReplicaEcho",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--verify-key",
        str(verify_key),
        env=env,
        ready=READY,
        start_timeout=180,
        stop_timeout=90,
    ) as serving:
        assert serving.url == f"ws://127.0.0.1:{port}"
        for app in ("warmwire/warmup", "warmwire/replica-echo"):
            with warmwire.realtime(app, url=serving.url, token=token, open_timeout=90) as conn:
                conn.send({"app": app})
                assert conn.recv(timeout=30)["app"] == app
        warmup_pid = None
        with warmwire.realtime("warmwire/warmup", url=serving.url, token=token) as conn:
            conn.send({"n": 1})
            warmup_pid = conn.recv(timeout=30)["pid"]
    assert (tmp_path / f"teardown-{warmup_pid}").exists()  # deleted apps ran teardown()
    assert f"  ws://127.0.0.1:{port}/warmwire/warmup/realtime" in serving.output.seen
    assert not any(line.startswith("note:") for line in serving.output.seen)  # HAProxy
