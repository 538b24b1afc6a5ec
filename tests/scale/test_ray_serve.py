"""Ray Serve: a warmwire app as a 2-replica Serve deployment on a local Ray instance.

Ray starts once for the module (``ray.init`` on this machine, 2 CPUs, no dashboard)
with Serve's HTTP proxy on 127.0.0.1; the replicas verify tokens with the public key
only, and the tokens come from ``warmwire token-server`` (a separate process), as in
the nginx cluster.  Every result names the replica that served it (``ReplicaEcho``).

Needs ``warmwire[ray]`` (``make test`` installs it with the venv); without Ray every
test here fails saying so.  Marked ``scale``.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import importlib.util
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import attrs
import fal_client
import fal_client.client
import httpx
import pytest

import warmwire
from helpers.polling import wait_until_sync
from helpers.processes import run_cli, start_runner
from helpers.tools import require_ray
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.examples.ray_echo import ReplicaEcho

# Importable without Ray, so that `pytest -m "not scale"` collects on a machine without
# it; the tests then fail through _ray_is_installed, naming what installs it.
RAY_MISSING: ImportError | None = None
try:
    import ray
    from ray import serve

    from warmwire.integrations.ray import deployment
except ImportError as missing:
    RAY_MISSING = missing

pytestmark = [
    pytest.mark.scale,
    pytest.mark.timeout(300),  # Ray's start-up is in the first test's budget
]

ROOT = Path(__file__).resolve().parents[2]
APP = "warmwire/replica-echo"
ALIAS = "replica-echo"
SERVE_APP = "warmwire"


def _load_cluster() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "warmwire_deploy_cluster", ROOT / "deploy/cluster.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cluster_mod = sys.modules.get("warmwire_deploy_cluster") or _load_cluster()


@attrs.frozen
class ServeCluster:
    url: str
    """ws:// of Serve's HTTP proxy."""
    token_url: str
    """http:// of the token service."""
    key: str
    deployment_name: str

    def mint(self) -> str:
        response = httpx.post(
            f"{self.token_url}/tokens/",
            headers={"authorization": f"Key {self.key}"},
            json={"allowed_apps": [ALIAS], "token_expiration": 300},
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()
        return token

    def running_replicas(self) -> int:
        status = serve.status().applications[SERVE_APP].deployments[self.deployment_name]
        return int(status.replica_states.get("RUNNING", 0))


@pytest.fixture(scope="module", autouse=True)
def _ray_is_installed() -> None:
    # Module scope: autouse fixtures run before the module's other ones (ray_serve).
    require_ray(RAY_MISSING)


@pytest.fixture(scope="module")
def ray_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeCluster]:
    workdir = tmp_path_factory.mktemp("ray-serve")
    signing = workdir / "signing.pem"
    key = "dev:ray-serve-test-secret"
    (workdir / "keys.txt").write_text(f"{key}\n")
    generated = run_cli("keys", "generate", str(signing))
    assert generated.returncode == 0, generated.stderr
    with contextlib.ExitStack() as stack:
        token_server = stack.enter_context(
            start_runner(
                "token-server",
                "--port",
                "0",
                "--signing-key",
                str(signing),
                "--key-file",
                str(workdir / "keys.txt"),
            )
        )
        token_url = token_server.url.rstrip("/")
        # ray.init installs a SIGTERM handler in this process; the rest of the suite
        # gets the one it had back.
        stack.callback(signal.signal, signal.SIGTERM, signal.getsignal(signal.SIGTERM))
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
        stack.callback(ray.shutdown)
        port = cluster_mod.free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        stack.callback(serve.shutdown)
        app = deployment(
            ReplicaEcho,
            num_replicas=2,
            ray_actor_options={"num_cpus": 0.5},
            # Called in each replica: the public key only, as a stateless runner.
            auth=functools.partial(RunnerAuth.from_files, verify_key=f"{signing}.pub"),
        )
        serve.run(app, name=SERVE_APP, route_prefix="/")
        yield ServeCluster(
            url=f"ws://127.0.0.1:{port}",
            token_url=token_url.replace("ws://", "http://"),
            key=key,
            deployment_name=f"warmwire-{ReplicaEcho.__name__}",
        )


# Each check asks Ray's controller: not more often than every 50 ms.
wait_until = functools.partial(wait_until_sync, within=60, every=0.05)


def test_health_and_readiness_through_the_proxy(ray_serve: ServeCluster) -> None:
    http = ray_serve.url.replace("ws://", "http://")
    assert httpx.get(f"{http}/health", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{http}/ready", timeout=10).json()
    # Warm before Serve routes to it: setup() ran in the replica's constructor.
    assert ready["ready"] is True
    assert ready["cold_start_seconds"] is not None
    assert ray_serve.running_replicas() == 2


def test_unknown_app_is_refused(ray_serve: ServeCluster) -> None:
    token = ray_serve.mint()
    with pytest.raises(warmwire.HandshakeError) as refused:
        with warmwire.realtime("warmwire/nope", url=ray_serve.url, token=token):
            pass
    # Serve's proxy carries the runner's HTTP refusal (ASGI denial response) unchanged.
    assert refused.value.status_code == 404
    assert b"/warmwire/replica-echo/realtime" in refused.value.body


def test_unauthenticated_sessions_are_refused(ray_serve: ServeCluster) -> None:
    with warmwire.realtime(APP, url=ray_serve.url, token="forged") as conn:
        with pytest.raises(warmwire.UnauthorizedError):
            conn.recv(timeout=20)


@pytest.mark.anyio
async def test_async_client_round_trips_with_tokens(ray_serve: ServeCluster) -> None:
    token = await anyio.to_thread.run_sync(ray_serve.mint)
    replicas: set[str] = set()
    with anyio.fail_after(60):
        for session in range(8):
            async with warmwire.realtime_async(APP, url=ray_serve.url, token=token) as conn:
                for n in range(3):
                    await conn.send({"session": session, "n": n, "blob": b"\x00\xff" * 100})
                    result = await conn.recv()
                    assert (result["session"], result["n"]) == (session, n)
                    assert result["blob"] == b"\x00\xff" * 100
                    replicas.add(result["replica"])
    assert replicas  # each result names a Serve replica
    print(f"\nasync sessions served by replicas {sorted(replicas)}")


def test_blocking_client_round_trips_with_tokens(ray_serve: ServeCluster) -> None:
    token = ray_serve.mint()
    with warmwire.realtime(APP, url=ray_serve.url, token=token, codec="json") as conn:
        for n in range(5):
            conn.send({"n": n})
            result = conn.recv(timeout=20)
            assert result["n"] == n
            assert result["replica"]


def test_official_fal_client_through_serve(
    ray_serve: ServeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Configuration only: fal-client mints at the token service and dials Serve's proxy.
    monkeypatch.setattr(fal_client.client, "REALTIME_URL_FORMAT", f"{ray_serve.url}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", ray_serve.token_url)
    client = fal_client.SyncClient(key=ray_serve.key)
    with client.realtime(APP) as conn:
        conn.send({"n": 1, "image": b"\x89PNG"})
        result = conn.recv()
        assert result["n"] == 1
        assert result["image"] == b"\x89PNG"
        assert result["replica"]
        conn.send({"n": 2})
        assert conn.recv()["n"] == 2


def one_session(ray_serve: ServeCluster, token: str, n: int) -> dict[str, Any]:
    with warmwire.realtime(APP, url=ray_serve.url, token=token, open_timeout=10) as conn:
        conn.send({"n": n})
        result: dict[str, Any] = conn.recv(timeout=10)
        assert result["n"] == n
        return result


def test_killed_replica_new_sessions_still_served(ray_serve: ServeCluster) -> None:
    token = ray_serve.mint()
    wait_until(lambda: ray_serve.running_replicas() == 2, what="2 replicas running")
    # Find both replicas: keep opening sessions until each has served one.
    seen: dict[str, int] = {}

    def both_seen() -> bool:
        result = one_session(ray_serve, token, len(seen))
        seen[result["replica"]] = result["pid"]
        return len(seen) == 2

    wait_until(both_seen, what="sessions on both replicas")
    victim, victim_pid = next(iter(seen.items()))
    os.kill(victim_pid, signal.SIGKILL)

    # New sessions are served while Serve notices and replaces the replica.  A session
    # routed to the dead replica before the proxy hears of its death may fail; count them.
    failed: list[BaseException] = []
    served_after_kill: list[str] = []

    def new_session_served() -> bool:
        try:
            served_after_kill.append(one_session(ray_serve, token, -1)["replica"])
        except (warmwire.WarmwireError, OSError) as exc:
            failed.append(exc)
            return False
        return True

    wait_until(new_session_served, what="a new session served after the kill")
    assert victim not in served_after_kill

    # Serve restores 2 replicas; a replica that didn't exist before serves new sessions,
    # and from then on every new session is served.
    def replacement_serves() -> bool:
        return new_session_served() and served_after_kill[-1] not in seen

    wait_until(replacement_serves, within=120, what="the replacement replica serving")
    wait_until(lambda: ray_serve.running_replicas() == 2, what="2 replicas running again")
    for n in range(10):
        assert one_session(ray_serve, token, n)["replica"] != victim
    print(
        f"\nkilled replica {victim} (pid {victim_pid}); sessions failed while Serve "
        f"noticed: {len(failed)}; served after: {dict(collections.Counter(served_after_kill))}"
    )


@pytest.mark.anyio
async def test_replica_is_warm_and_health_check_follows_readiness() -> None:
    """The replica class without Serve: setup() in the constructor, check_health = /ready."""
    from warmwire.integrations.ray import WarmwireReplica

    replica = WarmwireReplica.__new__(WarmwireReplica)
    await WarmwireReplica.__init__(replica, ReplicaEcho, None, {"insecure_no_auth": True})
    assert replica.asgi.runner.cold_start is not None  # setup() ran
    replica.check_health()
    await replica.__del__()  # what Serve awaits when it stops the replica: drain, teardown
    assert replica.asgi.runner.draining
    with pytest.raises(RuntimeError, match="draining"):
        replica.check_health()


def test_deployment_asks_for_an_auth_factory() -> None:
    with pytest.raises(TypeError, match="needs auth="):
        deployment(ReplicaEcho)
    auth = RunnerAuth.create(signing_key=load_signing_key(generate_signing_key()))
    with pytest.raises(TypeError, match="callable returning a RunnerAuth"):
        deployment(ReplicaEcho, auth=auth)  # type: ignore[arg-type]  # keys can't be pickled


def test_without_ray_the_import_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    monkeypatch.delitem(sys.modules, "warmwire.integrations.ray")
    with pytest.raises(ImportError, match=r"pip install 'warmwire\[ray\]'"):
        importlib.import_module("warmwire.integrations.ray")
