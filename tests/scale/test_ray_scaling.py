"""Many apps behind one address on Ray Serve, in HAProxy mode, scaled by their own settings.

One local Ray for the module (2 CPUs, no dashboard, loopback), started in Serve's
HAProxy direct-ingress mode with warmwire's settings
(:func:`warmwire.integrations.ray.local.haproxy_environment`: a day of
``hard-stop-after``; HAProxy's files and ports moved out of the machine-wide
defaults).  Two apps, each built by the config-file builder
(:func:`warmwire.integrations.ray.app`) at its own route prefix:

- ``warmwire/replica-echo``: one replica, always on;
- ``warmwire/warmup`` (:mod:`warmwire.examples.ray_scaling`): ``min_concurrency=0``,
  ``keep_alive=2``; its ``setup()`` takes 2 s and its ``teardown()`` leaves a
  marker file;
- ``warmwire/pair``: the same, at two sessions per runner (``max_multiplexing=2``),
  dialled through Serve's Python proxy (HAProxy can't respect that cap; the
  Python proxy is HAProxy mode's fallback proxy, on its own port).

The replicas verify real JWTs with the public key only; the test mints them.
Retired replicas keep accepting for 2 s before they drain (warmwire sets 5 s, Serve
30 s: the time load balancers take to deregister a replica; HAProxy reloads at once).
Marked ``scale``; about two minutes on 2 busy cores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import warmwire
from helpers.polling import wait_until_sync
from helpers.ports import free_port
from helpers.tools import require_ray
from warmwire.auth.tokens import TokenIssuer, generate_signing_key, load_signing_key, public_pem
from warmwire.examples.ray_scaling import SETUP_SECONDS, TEARDOWN_DIR

RAY_MISSING: ImportError | None = None
try:
    import ray
    from ray import serve

    from warmwire.integrations.ray import app as build_app
    from warmwire.integrations.ray.local import environment, haproxy_environment, side_ports
except ImportError as missing:
    RAY_MISSING = missing

pytestmark = [pytest.mark.scale, pytest.mark.timeout(300)]

ECHO = "warmwire/replica-echo"
WARMUP = "warmwire/warmup"
PAIR = "warmwire/pair"
COLD_SETUP_SECONDS = 2.0
"""Warmup's setup(): longer than the short open timeout below, by construction."""


@attrs.frozen
class Platform:
    url: str
    """ws:// of HAProxy: the one address of every app."""
    python_proxy: str
    """ws:// of Serve's Python proxy (HAProxy mode's fallback proxy)."""
    workdir: Path
    """HAProxy's files (under <node id>/); Warmup's teardown markers."""
    issuer: TokenIssuer

    def token(self) -> str:
        return self.issuer.mint("test", [ECHO, WARMUP, PAIR], 600)  # owner/alias

    def replicas(self, app: str) -> dict[str, int]:
        application = serve.status().applications[app]
        (deployment,) = application.deployments.values()
        return dict(deployment.replica_states)

    def haproxy_config(self) -> Path:
        (config,) = self.workdir.glob("*/haproxy.cfg")
        return config

    def haproxy_processes(self) -> list[int]:
        """HAProxy processes of this Ray: the live one and those a reload replaced."""
        config = str(self.haproxy_config()).encode()
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if config in Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0"):
                        found.append(int(entry))
        return found


@pytest.fixture(scope="module", autouse=True)
def _ray_is_installed() -> None:
    require_ray(RAY_MISSING)


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    # Short: HAProxy's socket paths under it must fit in 97 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="ww-", dir="/tmp"))
    signing = generate_signing_key()
    verify_key = workdir / "signing.pem.pub"
    verify_key.write_bytes(public_pem(load_signing_key(signing).public_key()))
    ports = side_ports()
    env = haproxy_environment(workdir=workdir, ports=ports)
    env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = "2"
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        stack.callback(signal.signal, signal.SIGTERM, signal.getsignal(signal.SIGTERM))
        with environment(env):  # read by the processes ray.init starts
            ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
        stack.callback(ray.shutdown)
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        stack.callback(serve.shutdown)
        common = {"verify_key": str(verify_key)}
        echo = build_app(
            {
                "app": "warmwire.examples.ray_echo:ReplicaEcho",
                "num_replicas": 1,
                "ray_actor_options": {"num_cpus": 0.25},
                **common,
            }
        )
        serve.run(echo, name="echo", route_prefix="/warmwire/replica-echo")
        replica_env = {TEARDOWN_DIR: str(workdir), SETUP_SECONDS: str(COLD_SETUP_SECONDS)}
        warmup = build_app(
            {
                "app": "warmwire.examples.ray_scaling:Warmup",
                "ray_actor_options": {"num_cpus": 0.25, "runtime_env": {"env_vars": replica_env}},
                **common,
            }
        )
        serve.run(warmup, name="warmup", route_prefix="/warmwire/warmup")
        pair = build_app(
            {
                "app": "warmwire.examples.ray_scaling:Pair",
                "ray_actor_options": {"num_cpus": 0.25, "runtime_env": {"env_vars": replica_env}},
                **common,
            }
        )
        serve.run(pair, name="pair", route_prefix="/warmwire/pair")
        yield Platform(
            f"ws://127.0.0.1:{port}",
            f"ws://127.0.0.1:{ports['fallback_http']}",
            workdir,
            TokenIssuer(load_signing_key(signing)),
        )


# Each check asks Ray's controller: not more often than every 100 ms.
def wait_until(predicate: Any, what: str, within: float = 60) -> None:
    wait_until_sync(predicate, what=what, within=within, every=0.1)


def at_zero(platform: Platform) -> bool:
    return platform.replicas("warmup") == {}


def round_trip(conn: Any, n: int) -> dict[str, Any]:
    conn.send({"n": n})
    result: dict[str, Any] = conn.recv(timeout=30)
    assert result["n"] == n
    return result


def test_two_apps_behind_one_address(platform: Platform) -> None:
    token = platform.token()
    with warmwire.realtime(ECHO, url=platform.url, token=token) as echo:
        assert round_trip(echo, 1)["replica"]
        with warmwire.realtime(WARMUP, url=platform.url, token=token, open_timeout=60) as warm:
            assert round_trip(warm, 2)["pid"] != round_trip(echo, 3)["pid"]
    # Each app scaled on its own: the echo app's one replica, Warmup's one.
    assert platform.replicas("echo") == {"RUNNING": 1}
    assert platform.replicas("warmup") == {"RUNNING": 1}
    with pytest.raises(warmwire.HandshakeError) as unknown:
        with warmwire.realtime("warmwire/nope", url=platform.url, token=token):
            pass
    assert unknown.value.status_code == 404  # HAProxy: no app at that prefix


def test_from_zero_cold_start_then_warm_then_zero_with_teardown(platform: Platform) -> None:
    token = platform.token()
    wait_until(lambda: at_zero(platform), "warmup back at zero replicas")
    sent = time.monotonic()
    with warmwire.realtime(WARMUP, url=platform.url, token=token, open_timeout=60) as first:
        opened = time.monotonic() - sent
        cold = round_trip(first, 1)
    with warmwire.realtime(WARMUP, url=platform.url, token=token, open_timeout=60) as second:
        warm = round_trip(second, 2)
    assert warm["pid"] == cold["pid"]  # the same runner, still warm
    assert warm["started"] == cold["started"]  # no second setup()
    assert platform.replicas("warmup") == {"RUNNING": 1}  # one session: no overshoot
    marker = platform.workdir / f"teardown-{cold['pid']}"
    assert not marker.exists()
    wait_until(lambda: at_zero(platform), "warmup back at zero after keep_alive")
    wait_until(marker.exists, "teardown() of the retired replica", within=10)
    print(f"\ncold start from zero: the first session opened after {opened:.2f} s")


@pytest.mark.anyio
async def test_open_timeout_shorter_than_the_cold_start_says_so(platform: Platform) -> None:
    import anyio.to_thread

    token = platform.token()
    await anyio.to_thread.run_sync(
        lambda: wait_until(lambda: at_zero(platform), "warmup back at zero replicas")
    )
    with pytest.raises((TimeoutError, warmwire.WarmwireError)) as timed_out:
        async with warmwire.realtime_async(
            WARMUP, url=platform.url, token=token, open_timeout=COLD_SETUP_SECONDS / 4
        ):
            pass
    message = str(timed_out.value)
    assert "cold start" in message
    assert "open_timeout" in message


def test_haproxy_session_outlives_another_apps_scale_up_and_down(platform: Platform) -> None:
    token = platform.token()
    config = platform.haproxy_config().read_text()
    assert "hard-stop-after 86400s" in config  # Serve's default, 120 s, would cut sessions
    wait_until(lambda: at_zero(platform), "warmup back at zero replicas")
    with warmwire.realtime(ECHO, url=platform.url, token=token) as echo:
        round_trip(echo, 1)
        holder = set(platform.haproxy_processes())
        # Warmup scales up (a replica added: HAProxy reloads) ...
        with warmwire.realtime(WARMUP, url=platform.url, token=token, open_timeout=60) as warm:
            round_trip(warm, 2)
            round_trip(echo, 3)
        # ... and back down to zero (a replica removed: HAProxy reloads again).
        wait_until(lambda: at_zero(platform), "warmup back at zero after keep_alive")
        live = set(platform.haproxy_processes())
        # The process that took the echo session was replaced, and still holds it.
        assert holder & live
        assert live - holder
        for n in range(4, 14):
            round_trip(echo, n)


def test_a_session_past_max_multiplexing_starts_and_gets_another_runner(
    platform: Platform,
) -> None:
    token = platform.token()
    opened = []
    with contextlib.ExitStack() as sessions:
        for n in range(3):  # two fill the first runner; the third waits for a second one
            conn = sessions.enter_context(
                warmwire.realtime(PAIR, url=platform.python_proxy, token=token, open_timeout=60)
            )
            opened.append(round_trip(conn, n)["pid"])
        assert opened[0] == opened[1] != opened[2]
        assert platform.replicas("pair") == {"RUNNING": 2}


def test_replica_killed_mid_session_new_sessions_are_served(platform: Platform) -> None:
    token = platform.token()
    with warmwire.realtime(ECHO, url=platform.url, token=token) as doomed:
        victim = round_trip(doomed, 1)
        os.kill(victim["pid"], signal.SIGKILL)
        with pytest.raises((warmwire.WarmwireError, OSError)):
            round_trip(doomed, 2)

    def served() -> bool:
        try:
            with warmwire.realtime(ECHO, url=platform.url, token=token, open_timeout=30) as conn:
                return bool(round_trip(conn, 3)["pid"] != victim["pid"])
        except (warmwire.WarmwireError, OSError):
            return False  # routed to the dead replica before Serve noticed: retry

    wait_until(served, "a new session served by the replacement replica", within=120)
    wait_until(lambda: platform.replicas("echo") == {"RUNNING": 1}, "the echo app restored")
