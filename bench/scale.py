"""``python -m bench.scale [--quick] [--write-docs]``: the scale-out figures of docs/scaling.md.

One run measures, on 127.0.0.1:

- **Round trips** (p50/p99, 32 B and 100 KB, msgpack, warmwire's async client on
  asyncio) to the same app by four paths: straight to a runner, through nginx
  (deploy/cluster.py: token service + 2 runners + nginx), through Ray Serve's
  Python proxy, and through Ray Serve's HAProxy direct ingress (2 replicas,
  :mod:`warmwire.integrations.ray`).  Ray runs once, in HAProxy mode: its Python
  proxy is the fallback proxy HAProxy mode keeps (the same ``ProxyActor`` as
  Serve's default proxy), dialled on its own port.  Rounds are interleaved: each
  round runs one session of every path in a shuffled order, so machine noise hits
  them alike.  Reported with the ratios to the direct and the nginx paths.
- **Cold start from zero**: ``warmwire/warmup`` (``min_concurrency=0``, a
  ``setup()`` of 0 s here, so the figure is Ray's and Serve's part) is left to go
  back to zero replicas, then one session is opened through HAProxy: the time to
  its first result.  That session arrived while no replica was up, so HAProxy
  sent it to the fallback Python proxy, where it stays: its round trips are
  reported next to those of a session opened once the replica was warm.
- **Sessions per second** accepted: worker processes (separate from this one)
  each keep ``concurrency`` clients busy opening a session (TCP, WebSocket upgrade,
  token verification), doing one 32 B round trip and closing, for a fixed window.
  Against one runner directly, nginx + 1 runner, nginx + 2 runners, and Ray Serve
  with 2 replicas through each of its proxies.

Every path checks the same JWT, minted once by the cluster's token service; the
runners and the replicas hold its public key only.  ``--write-docs`` replaces the
block between the ``bench-scale`` markers in docs/scaling.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import attrs
import httpx

from bench.payloads import Payload, all_payloads
from bench.stats import Summary, median, ratio, summarize

ROOT = Path(__file__).resolve().parent.parent
APP = "warmwire/replica-echo"
APP_SPEC = "warmwire.examples.ray_echo:ReplicaEcho"
WARMUP = "warmwire/warmup"
WARMUP_SPEC = "warmwire.examples.ray_scaling:Warmup"
DOCS = ROOT / "docs" / "scaling.md"
BEGIN = "<!-- bench-scale:begin -->"
END = "<!-- bench-scale:end -->"


@attrs.frozen
class Settings:
    rounds: int
    batch: int
    warmup: int
    session_window: float
    session_workers: int
    session_concurrency: int
    session_rounds: int
    cold_starts: int

    @classmethod
    def full(cls) -> Settings:
        return cls(
            rounds=10,
            batch=100,
            warmup=20,
            session_window=5.0,
            session_workers=3,
            session_concurrency=16,
            session_rounds=3,
            cold_starts=3,
        )

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            rounds=2,
            batch=30,
            warmup=5,
            session_window=2.0,
            session_workers=2,
            session_concurrency=8,
            session_rounds=1,
            cold_starts=1,
        )


def log(message: str) -> None:
    print(f"[bench.scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _load_cluster() -> ModuleType:
    name = "warmwire_deploy_cluster"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "deploy" / "cluster.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- Ray Serve ----------------------------------------------------------------------------------


@attrs.frozen
class RayPaths:
    haproxy: str
    """ws:// of HAProxy (Serve's HTTP port in HAProxy mode)."""
    python: str
    """ws:// of Serve's Python proxy (HAProxy mode's fallback proxy)."""
    workdir: Path
    """HAProxy's files (its config under ``<node id>/``)."""

    def haproxy_has_warmup_replica(self) -> bool:
        """HAProxy's config (re)loaded with a Warmup replica among its servers."""
        return any(
            "SERVE_REPLICA_warmup" in config.read_text()
            for config in self.workdir.glob("*/haproxy.cfg")
        )


@contextlib.contextmanager
def ray_serve(verify_key: Path, replicas: int = 2) -> Iterator[RayPaths]:
    """A local Ray in HAProxy mode serving the echo app (``replicas`` replicas) and
    ``warmwire/warmup`` (from zero), each at its own prefix; yields both proxies' URLs."""
    import shutil
    import tempfile

    import ray
    from ray import serve

    from warmwire.examples.ray_scaling import SETUP_SECONDS
    from warmwire.integrations.ray import app as build_app
    from warmwire.integrations.ray.local import environment, haproxy_environment, side_ports

    cluster = _load_cluster()
    workdir = Path(tempfile.mkdtemp(prefix="ww-", dir="/tmp"))  # short: HAProxy socket paths
    ports = side_ports()
    env = haproxy_environment(workdir=workdir, ports=ports)
    with environment(env):
        ray.init(
            num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False
        )
    try:
        port = cluster.free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        echo = build_app(
            {
                "app": APP_SPEC,
                "num_replicas": replicas,
                "ray_actor_options": {"num_cpus": 0.5},
                "verify_key": str(verify_key),
            }
        )
        serve.run(echo, name="echo", route_prefix=f"/{APP}")
        warmup_env = {"runtime_env": {"env_vars": {SETUP_SECONDS: "0"}}}
        warmup = build_app(
            {
                "app": WARMUP_SPEC,
                "ray_actor_options": {"num_cpus": 0.25, **warmup_env},
                "verify_key": str(verify_key),
            }
        )
        serve.run(warmup, name="warmup", route_prefix=f"/{WARMUP}")
        yield RayPaths(
            f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{ports['fallback_http']}", workdir
        )
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def _warmup_replicas() -> int:
    from ray import serve

    (deployment,) = serve.status().applications["warmup"].deployments.values()
    return sum(deployment.replica_states.values())


@attrs.frozen
class ColdStart:
    open_to_result: list[float]
    """Seconds from opening a session at zero replicas to its first result."""
    cold_session: Summary
    """Round trips of a session opened at zero (it stays on the fallback proxy)."""
    warm_session: Summary
    """Round trips of a session opened once HAProxy knew the replica (HAProxy → replica)."""


async def _session_round_trips(url: str, token: str, count: int) -> tuple[float, list[float]]:
    """Seconds to the first result of a new session, and its next ``count`` round trips."""
    import warmwire

    small = all_payloads()[0].obj
    sent = time.perf_counter()
    async with warmwire.realtime_async(WARMUP, url=url, token=token, open_timeout=90) as conn:
        await conn.send(small)
        await conn.recv()
        first = time.perf_counter() - sent
        times = []
        for _ in range(count):
            start = time.perf_counter()
            await conn.send(small)
            await conn.recv()
            times.append(time.perf_counter() - start)
    return first, times


def measure_cold_starts(paths: RayPaths, token: str, settings: Settings) -> ColdStart:
    url = paths.haproxy
    firsts: list[float] = []
    cold: list[float] = []
    warm: list[float] = []
    for n in range(settings.cold_starts):
        deadline = time.monotonic() + 120
        while _warmup_replicas():  # keep_alive (2 s), then the replica drains and stops
            if time.monotonic() > deadline:
                raise SystemExit("warmwire/warmup did not go back to zero replicas in 120 s")
            time.sleep(0.2)
        first, cold_times = anyio.run(_session_round_trips, url, token, settings.batch)
        firsts.append(first)
        cold += cold_times
        deadline = time.monotonic() + 30
        while not paths.haproxy_has_warmup_replica():  # HAProxy reloaded with the replica
            if time.monotonic() > deadline:
                raise SystemExit("HAProxy's config has no warmwire/warmup replica after 30 s")
            time.sleep(0.05)
        warm += anyio.run(_session_round_trips, url, token, settings.batch)[1]
        log(f"cold start {n + 1}/{settings.cold_starts}: first result after {first:.2f} s")
    return ColdStart(firsts, summarize(cold), summarize(warm))


# --- round trips --------------------------------------------------------------------------------


async def _round_trips(
    url: str, token: str, payload: Payload, count: int, warmup: int
) -> list[float]:
    import warmwire

    times: list[float] = []
    async with warmwire.realtime_async(APP, url=url, token=token) as conn:
        for n in range(warmup + count):
            start = time.perf_counter()
            await conn.send(payload.obj)
            result = await conn.recv()
            elapsed = time.perf_counter() - start
            assert result["seed"] == payload.obj["seed"], result
            if n >= warmup:
                times.append(elapsed)
    return times


def measure_round_trips(
    paths: dict[str, str], token: str, settings: Settings
) -> dict[tuple[str, str], Summary]:
    payloads = [p for p in all_payloads() if p.name in ("32 B", "100 KB")]
    samples: dict[tuple[str, str], list[float]] = {
        (path, p.name): [] for path in paths for p in payloads
    }
    order = list(paths)
    for round_no in range(settings.rounds):
        for payload in payloads:
            random.shuffle(order)
            for path in order:
                samples[(path, payload.name)] += anyio.run(
                    _round_trips, paths[path], token, payload, settings.batch, settings.warmup
                )
        log(f"round trips: round {round_no + 1}/{settings.rounds}")
    return {key: summarize(values) for key, values in samples.items()}


# --- sessions per second ------------------------------------------------------------------------


def _session_worker(
    url: str, token: str, concurrency: int, start_at: float, window: float, out: Any
) -> None:
    """One load process: ``concurrency`` clients open, round-trip and close sessions.

    The clients are :class:`bench.rawclient.RawClient` (a pre-built frame, no codec),
    so that on a small machine the generator leaves the runners as much CPU as it can;
    the runner still does the whole upgrade, token verification and session.
    """
    from bench.rawclient import one_session

    small = all_payloads()[0].encoded
    target = f"/{APP}/realtime?fal_jwt_token={token}"
    done = 0
    errors = 0

    async def client() -> None:
        nonlocal done, errors
        while time.time() < start_at + window:
            try:
                await one_session(url, target, small)
            except (ConnectionError, OSError, TimeoutError):
                errors += 1
                continue
            done += 1

    async def main() -> None:
        await anyio.sleep(max(0.0, start_at - time.time()))  # all workers start together
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(client)

    anyio.run(main)
    out.put((done, errors))


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used (from /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@attrs.frozen
class SessionRate:
    rate: float
    """Sessions finished per second of the window."""
    errors: int
    runner_cpu: float | None
    """CPU the runner processes used over the window, in cores (None: not measured)."""


def measure_sessions(
    url: str, token: str, settings: Settings, runner_pids: list[int] | None = None
) -> SessionRate:
    """Sessions per second over the window (sessions finished / seconds), and errors."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # time for the workers to import
    workers = [
        ctx.Process(
            target=_session_worker,
            args=(
                url,
                token,
                settings.session_concurrency,
                start_at,
                settings.session_window,
                out,
            ),
        )
        for _ in range(settings.session_workers)
    ]
    for worker in workers:
        worker.start()
    runner_cpu = None
    if runner_pids:
        time.sleep(max(0.0, start_at - time.time()))  # the window's start
        before = _cpu_seconds(runner_pids)
        time.sleep(settings.session_window)
        runner_cpu = (_cpu_seconds(runner_pids) - before) / settings.session_window
    results = [out.get(timeout=settings.session_window + 60) for _ in workers]
    for worker in workers:
        worker.join(30)
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    # Sessions that began before the window's end finish just after it; the window
    # is long next to one session, so done / window is the accepted rate.
    return SessionRate(done / settings.session_window, errors, runner_cpu)


# --- report -------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def render(
    rtt: dict[tuple[str, str], Summary],
    sessions: dict[str, SessionRate],
    cold: ColdStart,
    settings: Settings,
    seconds: float,
) -> str:
    import importlib.metadata

    lines = [
        f"`python -m bench.scale` ({time.strftime('%Y-%m-%d')}, {seconds:.0f} s): "
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"warmwire {importlib.metadata.version('warmwire')}, {_versions()}. "
        "Everything on 127.0.0.1 in one container; the clients share the CPUs with "
        f"the servers (load average {os.getloadavg()[0]:.2f} at the end). App: "
        f"`{APP_SPEC}` (async echo), msgpack, one JWT from the token service.",
        "",
        f"Round trips: {settings.rounds} interleaved rounds x {settings.batch} sequential "
        f"round trips per path and payload (after {settings.warmup} warm-up ones), one "
        "session each.",
        "",
        "| payload | path | p50 | p99 | p50 vs direct | p99 vs direct | p50 vs nginx |",
        "|---------|------|-----|-----|---------------|---------------|--------------|",
    ]
    for payload in ("32 B", "100 KB"):
        base = rtt[("direct", payload)]
        nginx = rtt[("nginx", payload)]
        for path in LABELS:
            s = rtt[(path, payload)]
            lines.append(
                f"| {payload} | {LABELS[path]} | {_ms(s.p50)} | {_ms(s.p99)} | "
                f"{_x(ratio(s.p50, base.p50))} | {_x(ratio(s.p99, base.p99))} | "
                f"{_x(ratio(s.p50, nginx.p50))} |"
            )
    lines += [
        "",
        f"Sessions per second: {settings.session_workers} client processes x "
        f"{settings.session_concurrency} concurrent clients for {settings.session_window:.0f} s, "
        "each session = connect, upgrade with the token (verified by the runner), one "
        "32 B round trip, close, by a minimal client (bench/rawclient.py). "
        f"nginx and direct: median of {settings.session_rounds} "
        "interleaved rounds, measured with Ray stopped; Ray Serve: one window per proxy, "
        "measured while it runs.",
        "",
        "| target | sessions/s | vs one runner | runner CPU (cores) | failed sessions |",
        "|--------|------------|---------------|--------------------|-----------------|",
    ]
    one = sessions["one runner (direct)"].rate
    for name, s in sessions.items():
        cpu = "n/a" if s.runner_cpu is None else f"{s.runner_cpu:.2f}"
        lines.append(f"| {name} | {s.rate:.0f} | {_x(ratio(s.rate, one))} | {cpu} | {s.errors} |")
    firsts = ", ".join(f"{t:.2f} s" for t in cold.open_to_result)
    lines += [
        "",
        f"Cold start from zero ({WARMUP}, `setup()` 0 s, through HAProxy): first result "
        f"{firsts} after the open ({len(cold.open_to_result)} samples). The session that "
        "arrived at zero stays on the fallback Python proxy: its 32 B round trips "
        f"p50 {_ms(cold.cold_session.p50)} (p99 {_ms(cold.cold_session.p99)}), against "
        f"p50 {_ms(cold.warm_session.p50)} (p99 {_ms(cold.warm_session.p99)}) for a session "
        "opened right after, once HAProxy had reloaded with the new replica.",
    ]
    return "\n".join(lines) + "\n"


LABELS = {
    "direct": "client → runner",
    "nginx": "client → nginx → runner",
    "ray": "client → Ray Serve Python proxy → replica",
    "haproxy": "client → Ray Serve HAProxy → replica",
}


def _versions() -> str:
    import importlib.metadata
    import subprocess

    parts = []
    for dist in ("ray",):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            parts.append(f"{dist} {importlib.metadata.version(dist)}")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        cluster = _load_cluster()
        nginx = subprocess.run(
            [cluster.find_nginx(), "-v"], capture_output=True, text=True, check=False
        )
        parts.append(nginx.stderr.strip().split(": ")[-1].replace("/", " "))
    return ", ".join(parts)


def write_docs(block: str) -> None:
    text = DOCS.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOCS}: no {BEGIN} … {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{block}{END}{tail}")


def mint(cluster: Any) -> str:
    response = httpx.post(
        cluster.url.replace("ws://", "http://") + "/tokens/",
        headers={"authorization": f"Key {cluster.key}"},
        json={"allowed_apps": ["replica-echo", "warmup"], "token_expiration": 3600},
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()
    return token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run (under a minute)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/scaling.md")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    settings = Settings.quick() if args.quick else Settings.full()
    cluster_mod = _load_cluster()
    started = time.monotonic()

    with contextlib.ExitStack() as stack:
        log("starting the nginx cluster (token service, 2 runners, nginx)")
        cluster = stack.enter_context(cluster_mod.Cluster(2, APP_SPEC))
        token = mint(cluster)
        log("starting Ray Serve in HAProxy mode (2 replicas, and an app at zero)")
        ray_paths = stack.enter_context(ray_serve(cluster.workdir / "signing.pem.pub"))
        paths = {
            "direct": cluster.runner_urls[0],
            "nginx": cluster.url,
            "ray": ray_paths.python,
            "haproxy": ray_paths.haproxy,
        }

        log("round trips")
        rtt = measure_round_trips(paths, token, settings)

        log("cold starts from zero")
        cold = measure_cold_starts(ray_paths, token, settings)

        log("sessions per second: Ray Serve")
        ray_sessions = {
            "Ray Serve Python proxy, 2 replicas": measure_sessions(
                ray_paths.python, token, settings
            ),
            "Ray Serve HAProxy, 2 replicas": measure_sessions(ray_paths.haproxy, token, settings),
        }

    # The nginx and direct rates with Ray stopped (its idle processes take CPU on a small
    # machine), interleaved over rounds; the median round per target.
    with (
        cluster_mod.Cluster(2, APP_SPEC) as pair,
        cluster_mod.Cluster(1, APP_SPEC) as single,
    ):
        pids = [r.proc.pid for r in pair.runners]
        targets = {
            "one runner (direct)": (pair.runner_urls[0], mint(pair), pids[:1]),
            "nginx + 1 runner": (single.url, mint(single), [single.runners[0].proc.pid]),
            "nginx + 2 runners": (pair.url, mint(pair), pids),
        }
        rates: dict[str, list[SessionRate]] = {name: [] for name in targets}
        for round_no in range(settings.session_rounds):
            order = list(targets)
            random.shuffle(order)
            for name in order:
                rates[name].append(measure_sessions(*targets[name][:2], settings, targets[name][2]))
            log(f"sessions per second: round {round_no + 1}/{settings.session_rounds}")
    sessions = {
        name: SessionRate(
            median([r.rate for r in runs]),
            sum(r.errors for r in runs),
            median([r.runner_cpu for r in runs if r.runner_cpu is not None]),
        )
        for name, runs in rates.items()
    }
    sessions.update(ray_sessions)

    block = render(rtt, sessions, cold, settings, time.monotonic() - started)
    print(block)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "round_trips": {
                        f"{path} {payload}": attrs.asdict(s) for (path, payload), s in rtt.items()
                    },
                    "sessions_per_second": {k: attrs.asdict(v) for k, v in sessions.items()},
                    "cold_start": attrs.asdict(cold),
                },
                indent=2,
            )
        )
    if args.write_docs:
        write_docs(block)
        log(f"wrote {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
