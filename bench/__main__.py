"""``python -m bench [--quick]``: run every contender, interleaved, and write the report.

Phases: round trips (p50/p99) and pipelined throughput per payload, connect
times, interleaved pairs of load runs and of idle sessions (warmwire and the
websockets echo server, alternating which goes first), and a pyinstrument profile of warmwire's
round trip.  Every loop is bounded in count and in time; all traffic stays on
127.0.0.1.  See ``bench/__init__.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx

from bench import report
from bench.contenders import ALL, CONNECT_ONLY, Contender
from bench.contenders.base import Worker
from bench.machine import describe
from bench.payloads import Payload, all_payloads
from bench.procs import ServerProcess, cpu_seconds, python_module
from bench.stats import median, summarize

API_KEY = "bench:bench-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent


@attrs.frozen
class Settings:
    rtt_batch: int
    rtt_rounds: int
    warmup: int
    pipeline_counts: dict[str, int]
    pipeline_rounds: int
    window: int
    connect_batch: int
    connect_rounds: int
    load_sessions: int
    load_rate: float
    load_duration: float
    load_workers: int
    load_pairs: int
    """Interleaved pairs of load runs (warmwire, websockets; alternating which goes first)."""
    load_pairs_sync: int
    """The same against warmwire's sync-handler endpoint (``/realtime``), how a model runs."""
    idle_sessions: int
    idle_workers: int
    idle_settle: float
    idle_cpu_window: float
    idle_pairs: int
    """Interleaved pairs of idle runs, as for the load runs."""
    phase_budget: float
    """Seconds one phase (one payload's round trips, say) may take; then its rounds stop."""

    @classmethod
    def full(cls) -> Settings:
        return cls(
            rtt_batch=100,
            rtt_rounds=20,
            warmup=200,
            pipeline_counts={"32 B": 2000, "100 KB": 400, "1 MB": 60},
            pipeline_rounds=5,
            window=8,
            connect_batch=20,
            connect_rounds=10,
            load_sessions=1000,
            load_rate=10.0,
            load_duration=20.0,
            load_workers=4,
            load_pairs=5,
            load_pairs_sync=3,
            idle_sessions=5000,
            idle_workers=4,
            idle_settle=3.0,
            idle_cpu_window=10.0,
            idle_pairs=3,
            phase_budget=900.0,
        )

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            rtt_batch=30,
            rtt_rounds=3,
            warmup=10,
            pipeline_counts={"32 B": 200, "100 KB": 40, "1 MB": 10},
            pipeline_rounds=2,
            window=8,
            connect_batch=5,
            connect_rounds=3,
            load_sessions=100,
            load_rate=10.0,
            load_duration=5.0,
            load_workers=2,
            load_pairs=3,
            load_pairs_sync=1,
            idle_sessions=300,
            idle_workers=2,
            idle_settle=1.0,
            idle_cpu_window=2.0,
            idle_pairs=1,
            phase_budget=60.0,
        )


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- servers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def servers(log_dir: Path, skipped: dict[str, str]) -> Iterator[dict[str, ServerProcess]]:
    """Start every server process; yield them by name; stop them all at the end."""
    from warmwire.auth.tokens import generate_signing_key

    key_path = log_dir / "signing.pem"
    key_path.write_bytes(generate_signing_key())
    keys_path = log_dir / "keys.txt"
    keys_path.write_text(API_KEY + "\n")
    started: dict[str, ServerProcess] = {}
    specs = {
        "warmwire": python_module(
            "bench.servers.warmwire_runner",
            f"--signing-key={key_path}",
            f"--key-file={keys_path}",
            "--no-keepalive",
        ),
        "websockets": python_module("bench.servers.websockets_echo"),
        "fal": [fal_python(), "-m", "bench.servers.fal_echo", f"--signing-key={key_path}"],
        "fal-nodeflate": [
            fal_python(),
            "-m",
            "bench.servers.fal_echo",
            f"--signing-key={key_path}",
            "--no-deflate",
        ],
        "tcp": python_module("bench.servers.tcp_echo"),
    }
    specs["warmwire-hop"] = [*specs["warmwire"], "--no-worker-loop"]
    try:
        for name, argv in specs.items():
            fal = name.startswith("fal")
            if fal and (reason := fal_missing()):
                skipped[name] = reason
                continue
            proc = ServerProcess(name, argv, log_dir)
            try:
                proc.start()
            except RuntimeError as exc:
                if not fal:
                    raise
                tail = (log_dir / f"{name}.log").read_text().strip().splitlines()[-3:]
                skipped[name] = f"the fal endpoint did not start: {exc}: {' | '.join(tail)}"
                continue
            proc.api_key = API_KEY
            started[name] = proc
            log(f"{name} server ready at {proc.url} (pid {proc.pid})")
        for name in ("warmwire", "warmwire-hop"):
            started[name].token = mint_token(started[name].http_url)
        yield started
    finally:
        for proc in started.values():
            proc.stop()


FAL_VENV_PYTHON = ROOT / "tests" / "interop" / ".venv-fal" / "bin" / "python"


def fal_python() -> str:
    """The interpreter for the fal endpoint: ``$BENCH_FAL_PYTHON``, else the fal venv that
    ``make interop-setup`` creates, else this one (if ``fal`` is installed here)."""
    if explicit := os.environ.get("BENCH_FAL_PYTHON"):
        return explicit
    if FAL_VENV_PYTHON.exists():
        return str(FAL_VENV_PYTHON)
    return sys.executable


def fal_missing() -> str | None:
    if importlib.util.find_spec("fal_client") is None:
        return "the fal-client package is not installed here (pip install -e '.[dev,bench]')"
    python = fal_python()
    probe = subprocess.run(
        [python, "-c", "import fal, fastapi, uvicorn"], capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        return (
            f"the fal package cannot be imported by {python}: fal cannot share the project "
            "venv (fal 1.83.0 pins pathspec<1, the project's mypy 2 needs pathspec>=1), so "
            "the fal endpoint runs from its own venv: `make interop-setup` creates "
            "tests/interop/.venv-fal, or point $BENCH_FAL_PYTHON at an interpreter with fal"
        )
    return None


def mint_token(http_url: str) -> str:
    response = httpx.post(
        f"{http_url}/tokens/",
        headers={"authorization": f"Key {API_KEY}"},
        json={"allowed_apps": ["bench/echo"], "token_expiration": 3600},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json())


def fal_versions() -> dict[str, str]:
    """The fal endpoint's library versions, from its own interpreter."""
    code = (
        "import importlib.metadata as m, json\n"
        "names = ('fal', 'fastapi', 'starlette', 'uvicorn', 'websockets', 'msgpack')\n"
        "out = {}\n"
        "for n in names:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    try:
        probe = subprocess.run(
            [fal_python(), "-c", code], capture_output=True, text=True, timeout=60
        )
        return dict(json.loads(probe.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}


# --- phases -------------------------------------------------------------------------------------


FAILED: dict[str, str] = {}
"""Contenders that raised: left out of every later batch, with the error in the report."""


def call(worker: Worker, method: str, *args: Any) -> Any:
    """``worker.call``, or ``None`` (and the contender marked failed) if it raises."""
    key = worker.contender.key
    if key in FAILED:
        return None
    try:
        return worker.call(method, *args)
    except Exception as exc:
        FAILED[key] = f"{method} failed: {type(exc).__name__}: {exc}"
        log(f"{key}: {FAILED[key]}; left out from now on")
        return None


def interleaved(
    workers: list[Worker], rounds: int, rng: random.Random, budget: float
) -> Iterator[tuple[int, Worker]]:
    """Round-robin in a fresh random order each round, until ``rounds`` or ``budget`` runs out."""
    deadline = time.monotonic() + budget
    for round_ in range(rounds):
        if time.monotonic() > deadline:
            log(f"phase budget of {budget:.0f}s spent after {round_} rounds; stopping it")
            return
        order = [w for w in workers if w.contender.key not in FAILED]
        rng.shuffle(order)
        for worker in order:
            yield round_, worker


def phase_rtt(
    workers: list[Worker], payload: Payload, s: Settings, rng: random.Random
) -> dict[str, Any]:
    for worker in workers:  # warm-up, not recorded
        done = 0
        while done < s.warmup:
            n = min(s.rtt_batch, s.warmup - done)
            call(worker, "roundtrips", payload, n)
            done += n
    samples: dict[str, list[float]] = {w.contender.key: [] for w in workers}
    cpu: dict[str, list[float]] = {w.contender.key: [0.0, 0.0] for w in workers}
    # Each batch's p50 by round: contenders' batches of one round ran next to each other,
    # so their ratio round by round is a ratio within one stretch of the machine's time.
    batches: dict[str, list[list[float]]] = {w.contender.key: [] for w in workers}
    for round_, worker in interleaved(workers, s.rtt_rounds, rng, s.phase_budget):
        key = worker.contender.key
        server = worker.contender.servers[worker.contender.server].process
        client0, server0 = time.process_time(), cpu_seconds(server)
        durations = call(worker, "roundtrips", payload, s.rtt_batch) or []
        # Only this contender runs now: the bench process's CPU is its client's (all its
        # threads), the server process's CPU is its server's.
        cpu[key][0] += time.process_time() - client0
        cpu[key][1] += cpu_seconds(server) - server0
        samples[key] += durations
        if durations:
            batches[key].append([round_, median(durations)])
    return {
        key: {
            **attrs.asdict(summarize(values)),
            "client_cpu": cpu[key][0] / len(values),
            "server_cpu": cpu[key][1] / len(values),
            "batch_p50": batches[key],
        }
        for key, values in samples.items()
        if values and key not in FAILED
    }


def phase_pipeline(
    workers: list[Worker], payload: Payload, s: Settings, rng: random.Random
) -> dict[str, Any]:
    count = s.pipeline_counts[payload.name]
    for worker in workers:
        call(worker, "pipelined", payload, max(1, count // 4), s.window)
    rates: dict[str, list[float]] = {w.contender.key: [] for w in workers}
    for _, worker in interleaved(workers, s.pipeline_rounds, rng, s.phase_budget):
        elapsed = call(worker, "pipelined", payload, count, s.window)
        if elapsed:
            rates[worker.contender.key].append(count / elapsed)
    return {
        key: {"msgs_per_s": median(values), "rounds": values, "count": count, "window": s.window}
        for key, values in rates.items()
        if values and key not in FAILED
    }


def phase_connect(workers: list[Worker], s: Settings, rng: random.Random) -> dict[str, Any]:
    for worker in workers:
        call(worker, "connect_once")
    samples: dict[str, list[float]] = {w.contender.key: [] for w in workers}
    for _, worker in interleaved(workers, s.connect_rounds, rng, s.phase_budget):
        for _ in range(s.connect_batch):
            elapsed = call(worker, "connect_once")
            if elapsed is not None:
                samples[worker.contender.key].append(elapsed)
    return {
        key: {**attrs.asdict(summarize(values)), "note": _contender(workers, key).connect_note}
        for key, values in samples.items()
        if values and key not in FAILED
    }


def _contender(workers: list[Worker], key: str) -> Contender:
    return next(w.contender for w in workers if w.contender.key == key)


def run_clients(
    results: dict[str, Any], s: Settings, rng: random.Random, only: set[str] | None, log_dir: Path
) -> None:
    skipped: dict[str, str] = results["skipped"]
    with servers(log_dir, skipped) as procs:
        chosen = [c for c in ALL if only is None or c.key in only]
        contenders: list[Contender] = []
        for cls in chosen:
            if cls.server not in procs:
                skipped[cls.key] = skipped.get(cls.server, f"no {cls.server} server")
                continue
            contenders.append(cls(procs))
        for c in contenders:
            results["contenders"][c.key] = _describe(c)
        workers = [Worker(c) for c in contenders]
        try:
            for w in workers:
                call(w, "open")
            fal = next((w for w in workers if w.contender.key == "fal-async"), None)
            if fal is not None:
                results["notes"]["fal_extensions"] = call(fal, "negotiated")
            for payload in all_payloads():
                log(f"round trips, {payload.name} ({payload.size} bytes encoded)")
                results["rtt"][payload.name] = phase_rtt(workers, payload, s, rng)
            for payload in all_payloads():
                log(f"pipelined, {payload.name}")
                results["pipeline"][payload.name] = phase_pipeline(workers, payload, s, rng)
            for w in workers:
                call(w, "close")
            # A contender that failed in the round trips may still connect: try it again.
            for key, why in FAILED.items():
                results["failed"].setdefault(key, []).append(why)
            FAILED.clear()
            extra = [cls(procs) for cls in CONNECT_ONLY if only is None or cls.key in only]
            for c in extra:
                results["contenders"][c.key] = _describe(c)
            connect_workers = workers + [Worker(c) for c in extra]
            log("connect times")
            results["connect"] = phase_connect(connect_workers, s, rng)
            for key, why in FAILED.items():
                results["failed"].setdefault(key, []).append(why)
            for w in connect_workers[len(workers) :]:
                w.stop()
        finally:
            for w in workers:
                w.stop()


def _describe(c: Contender) -> dict[str, Any]:
    return {
        "label": c.label,
        "family": c.family,
        "style": c.style,
        "backend": c.backend,
        "server": c.server,
    }


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run (< 2 min)")
    parser.add_argument("--only", help="comma-separated contender keys (default: all)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument("--skip-instructions", action="store_true", help="no callgrind counts")
    parser.add_argument("--load-path", default="/async", choices=["/async", "/realtime"])
    parser.add_argument(
        "--load-pairs", type=int, help="interleaved load-run pairs (default: 5, quick 3)"
    )
    parser.add_argument(
        "--idle-pairs", type=int, help="interleaved idle-run pairs (default: 3, quick 1)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs",
        help="where benchmarks.md, benchmarks.png and benchmarks.json go (default docs/)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.skip_profile and importlib.util.find_spec("pyinstrument") is None:
        # Said now, not after the quarter of an hour the other phases take.
        raise SystemExit(
            "python -m bench: pyinstrument is missing for the profile phase: run `make bench` "
            "(it installs the bench extra), or pip install -e '.[bench]', or pass --skip-profile"
        )
    s = Settings.quick() if args.quick else Settings.full()
    if args.load_pairs is not None:
        s = attrs.evolve(s, load_pairs=max(1, args.load_pairs))
    if args.idle_pairs is not None:
        s = attrs.evolve(s, idle_pairs=max(1, args.idle_pairs))
    rng = random.Random(args.seed)
    only = set(args.only.split(",")) if args.only else None
    log_dir = Path(tempfile.mkdtemp(prefix="warmwire-bench-"))
    log(f"{'quick' if args.quick else 'full'} run; server logs in {log_dir}")
    started = time.time()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "machine": {**describe(), "fal_python": fal_python(), "fal_versions": fal_versions()},
        "settings": attrs.asdict(s),
        "payloads": {p.name: p.size for p in all_payloads()},
        "contenders": {},
        "skipped": {},
        "failed": {},
        "notes": {},
        "rtt": {},
        "pipeline": {},
        "connect": {},
    }
    run_clients(results, s, rng, only, log_dir)
    from bench.threadhop import measure as measure_thread_hop

    log("a bare thread hop and WorkerPool.run, the floor under a sync handler")
    results["thread_hop"] = measure_thread_hop(rounds=3 if args.quick else 5)
    if not args.skip_instructions:
        from bench.instructions import run_instructions

        log("runner instructions per round trip under callgrind: warmwire and websockets")
        results["instructions"] = run_instructions(round_trips=500 if args.quick else 2000)
    if not args.skip_load:
        from bench.load import run_load_pairs

        # The async handler's block, then the sync handler's (how a model runs).
        for key, path, pairs in (
            ("load_pairs", args.load_path, s.load_pairs),
            ("load_pairs_sync", "/realtime", s.load_pairs_sync),
        ):
            log(
                f"load runs: {pairs} interleaved pairs (warmwire {path}, websockets), "
                f"{s.load_sessions} sessions x {s.load_rate:g}/s for {s.load_duration:g}s, "
                f"{s.load_workers} generator processes"
            )
            results[key] = run_load_pairs(
                log_dir,
                pairs=pairs,
                sessions=s.load_sessions,
                rate=s.load_rate,
                duration=s.load_duration,
                workers=s.load_workers,
                path=path,
                log=log,
            )
    if not args.skip_idle:
        from bench.idle import run_idle_pairs

        log(f"idle sessions: {s.idle_pairs} interleaved pairs of {s.idle_sessions} sessions")
        results["idle_pairs"] = run_idle_pairs(
            log_dir,
            pairs=s.idle_pairs,
            sessions=s.idle_sessions,
            workers=s.idle_workers,
            settle=s.idle_settle,
            cpu_window=s.idle_cpu_window,
            log=log,
        )
    if not args.skip_profile:
        from bench.profiling import run_profiles

        log("profiling warmwire's round trip (pyinstrument)")
        results["profile"] = run_profiles(
            log_dir, args.out / "benchmarks-profiles", quick=args.quick
        )
    results["seconds"] = time.time() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks.json").write_text(json.dumps(results, indent=1, default=str))
    report.write(results, args.out)
    print(report.console_summary(results))
    log(f"done in {results['seconds']:.0f}s; wrote {args.out / 'benchmarks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
