"""``python -m bench.scale [--quick] [--write-docs]``: the scale-out figures of docs/scaling.md.

One run measures, on 127.0.0.1:

- **Round trips** (p50/p99, 32 B and 100 KB, msgpack, warmwire's async client on
  asyncio) to the same app by three paths: straight to a runner, through nginx
  (deploy/cluster.py: token service + 2 runners + nginx), and through Ray Serve's
  proxy (2 replicas, :mod:`warmwire.integrations.ray`).  Rounds are interleaved:
  each round runs one session of every path in a shuffled order, so machine noise
  hits them alike.  Reported with the ratios to the direct path.
- **Sessions per second** accepted: worker processes (separate from this one)
  each keep ``concurrency`` clients busy opening a session (TCP, WebSocket upgrade,
  token verification), doing one 32 B round trip and closing, for a fixed window.
  Against one runner directly, nginx + 1 runner, nginx + 2 runners, and Ray Serve
  with 2 replicas.

Every path checks the same JWT, minted once by the cluster's token service; the
runners and the replicas hold its public key only.  ``--write-docs`` replaces the
block between the ``bench-scale`` markers in docs/scaling.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
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


@contextlib.contextmanager
def ray_serve(verify_key: Path, replicas: int = 2) -> Iterator[str]:
    """A local Ray instance serving the app with ``replicas`` replicas; yields the ws:// URL."""
    import ray
    from ray import serve

    from warmwire.auth.runner_auth import RunnerAuth
    from warmwire.examples.ray_echo import ReplicaEcho
    from warmwire.integrations.ray import deployment

    cluster = _load_cluster()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        port = cluster.free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        app = deployment(
            ReplicaEcho,
            num_replicas=replicas,
            ray_actor_options={"num_cpus": 0.5},
            auth=functools.partial(RunnerAuth.from_files, verify_key=str(verify_key)),
        )
        serve.run(app, name="warmwire", route_prefix="/")
        yield f"ws://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()


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
    from bench.rawclient import RawClient

    small = all_payloads()[0].encoded
    target = f"/{APP}/realtime?fal_jwt_token={token}"
    done = 0
    errors = 0

    async def client() -> None:
        nonlocal done, errors
        while time.time() < start_at + window:
            try:
                conn = await RawClient.open(url, target, small)
                try:
                    await conn.send()
                    await conn.recv()
                finally:
                    await conn.aclose()
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
        "| payload | path | p50 | p99 | p50 ratio | p99 ratio |",
        "|---------|------|-----|-----|-----------|-----------|",
    ]
    for payload in ("32 B", "100 KB"):
        base = rtt[("direct", payload)]
        for path in ("direct", "nginx", "ray"):
            s = rtt[(path, payload)]
            lines.append(
                f"| {payload} | {LABELS[path]} | {_ms(s.p50)} | {_ms(s.p99)} | "
                f"{_x(ratio(s.p50, base.p50))} | {_x(ratio(s.p99, base.p99))} |"
            )
    lines += [
        "",
        f"Sessions per second: {settings.session_workers} client processes x "
        f"{settings.session_concurrency} concurrent clients for {settings.session_window:.0f} s, "
        "each session = connect, upgrade with the token (verified by the runner), one "
        "32 B round trip, close, by a minimal client (bench/rawclient.py). "
        f"nginx and direct: median of {settings.session_rounds} "
        "interleaved rounds, measured with Ray stopped; Ray Serve: one window, measured "
        "while it runs.",
        "",
        "| target | sessions/s | vs one runner | runner CPU (cores) | failed sessions |",
        "|--------|------------|---------------|--------------------|-----------------|",
    ]
    one = sessions["one runner (direct)"].rate
    for name, s in sessions.items():
        cpu = "n/a" if s.runner_cpu is None else f"{s.runner_cpu:.2f}"
        lines.append(f"| {name} | {s.rate:.0f} | {_x(ratio(s.rate, one))} | {cpu} | {s.errors} |")
    return "\n".join(lines) + "\n"


LABELS = {
    "direct": "client → runner",
    "nginx": "client → nginx → runner",
    "ray": "client → Ray Serve proxy → replica",
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
        json={"allowed_apps": ["replica-echo"], "token_expiration": 3600},
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
        log("starting Ray Serve (2 replicas)")
        ray_url = stack.enter_context(ray_serve(cluster.workdir / "signing.pem.pub"))
        paths = {"direct": cluster.runner_urls[0], "nginx": cluster.url, "ray": ray_url}

        log("round trips")
        rtt = measure_round_trips(paths, token, settings)

        log("sessions per second: Ray Serve")
        ray_sessions = measure_sessions(ray_url, token, settings)

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
    sessions["Ray Serve, 2 replicas"] = ray_sessions

    block = render(rtt, sessions, settings, time.monotonic() - started)
    print(block)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "round_trips": {
                        f"{path} {payload}": attrs.asdict(s) for (path, payload), s in rtt.items()
                    },
                    "sessions_per_second": {k: attrs.asdict(v) for k, v in sessions.items()},
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
