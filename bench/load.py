"""The load run: many concurrent sessions at a fixed message rate against one runner process.

``run_load`` starts a fresh server and load-generator processes
(``python -m bench.load --worker ...``), each holding a share of the
sessions on one asyncio loop with a minimal WebSocket client
(:mod:`bench.rawclient`: far less CPU per message than a full client library,
so that on 2 cores the generator leaves the server its core;
``client="warmwire"`` uses warmwire's async client instead).  Every session
sends on a fixed schedule (``rate`` per second, phases spread evenly) with one
message in flight; latency is measured from the *scheduled* send time, so a
runner that falls behind shows up as latency rather than as a quietly lower
rate (no coordinated omission).  The runner's CPU is read from /proc through
psutil over exactly the measured window.

``run_load_pairs`` runs it in interleaved pairs, warmwire's runner and the
websockets echo server under the same generator, and sums up the ratios
(:mod:`bench.pairs`).
"""

from __future__ import annotations

import argparse
import array
import functools
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import psutil

from bench.pairs import LOAD_FIGURES, run_pairs
from bench.payloads import all_payloads
from bench.procs import ServerProcess, cpu_seconds, memory, python_module
from bench.rawclient import RawClient
from bench.stats import percentile

CONNECT_CONCURRENCY = 50
GRACE = 10.0
"""Seconds after the window for the last answers; then the worker stops regardless."""


def run_load(
    log_dir: Path,
    *,
    sessions: int = 1000,
    rate: float = 10.0,
    duration: float = 30.0,
    workers: int = 4,
    path: str = "/async",
    runner_args: tuple[str, ...] = (),
    server: str = "warmwire",
    client: str = "raw",
) -> dict[str, Any]:
    module = {
        "warmwire": "bench.servers.warmwire_runner",
        "websockets": "bench.servers.websockets_echo",
    }
    runner = ServerProcess(
        f"load-{server}", python_module(module[server], *runner_args), log_dir
    ).start()
    procs: list[subprocess.Popen[str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            shares = [sessions // workers + (i < sessions % workers) for i in range(workers)]
            outs = [Path(tmp) / f"worker{i}" for i in range(workers)]
            for share, out in zip(shares, outs, strict=True):
                argv = python_module(
                    "bench.load",
                    "--worker",
                    f"--url={runner.url}",
                    f"--path={path}",
                    f"--sessions={share}",
                    f"--rate={rate}",
                    f"--duration={duration}",
                    f"--out={out}",
                    f"--client={client}",
                )
                procs.append(
                    subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                )
            connected = sum(_expect(p, "ready", 180) for p in procs)
            start_at = time.monotonic() + 1.0
            for p in procs:
                assert p.stdin is not None
                p.stdin.write(f"{start_at}\n")
                p.stdin.flush()
            process = runner.process
            gen_procs = [psutil.Process(p.pid) for p in procs]
            time.sleep(max(0.0, start_at - time.monotonic()))
            cpu0 = cpu_seconds(process)
            gen0 = sum(cpu_seconds(g) for g in gen_procs)
            time.sleep(duration)
            cpu1 = cpu_seconds(process)
            gen1 = sum(cpu_seconds(g) for g in gen_procs)
            mem = memory(process)
            for p in procs:
                _expect(p, "done", GRACE + 60)
            results = [json.loads(out.with_suffix(".json").read_text()) for out in outs]
            scheduled = array.array("d")
            service = array.array("d")
            for out in outs:
                with open(out.with_suffix(".sched"), "rb") as f:
                    scheduled.frombytes(f.read())
                with open(out.with_suffix(".svc"), "rb") as f:
                    service.frombytes(f.read())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        runner.stop()
    completed = sum(r["completed"] for r in results)
    in_window = sum(r["in_window"] for r in results)
    offered = sessions * rate
    return {
        "server": server,
        "sessions": sessions,
        "connected": connected,
        "rate_per_session": rate,
        "duration": duration,
        "workers": workers,
        "path": path,
        "offered_per_s": offered,
        "achieved_per_s": in_window / duration,
        "client": client,
        "completed": completed,
        "scheduled": sum(r["scheduled"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "latency_p50": percentile(scheduled, 50) if scheduled else math.nan,
        "latency_p99": percentile(scheduled, 99) if scheduled else math.nan,
        "latency_max": max(scheduled) if scheduled else math.nan,
        "service_p50": percentile(service, 50) if service else math.nan,
        "service_p99": percentile(service, 99) if service else math.nan,
        "runner_cpu_percent": 100 * (cpu1 - cpu0) / duration,
        "generators_cpu_percent": 100 * (gen1 - gen0) / duration,
        "runner_rss": mem["rss"],
    }


def run_load_pairs(
    log_dir: Path,
    *,
    pairs: int = 5,
    sessions: int = 1000,
    rate: float = 10.0,
    duration: float = 20.0,
    workers: int = 4,
    path: str = "/async",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``pairs`` interleaved pairs of load runs, warmwire's runner and the websockets echo
    server, each run with a fresh server process and the same generator settings; which
    side goes first alternates from pair to pair (:func:`bench.pairs.order`).

    Returns every pair's two runs and ratios (warmwire / websockets) and, per ratio, its
    median and spread over the pairs.  A run that raises is recorded as that pair's
    ``error``; the pair is left out of the summary and the others still run.
    """
    results, summary = run_pairs(
        pairs,
        lambda server: run_load(
            log_dir,
            sessions=sessions,
            rate=rate,
            duration=duration,
            workers=workers,
            path=path,
            server=server,
        ),
        LOAD_FIGURES,
        what="load",
        log=log,
    )
    return {
        "settings": {
            "pairs": pairs,
            "sessions": sessions,
            "rate_per_session": rate,
            "duration": duration,
            "workers": workers,
            "path": path,
        },
        "pairs": results,
        "summary": summary,
    }


def _expect(proc: subprocess.Popen[str], word: str, timeout: float) -> int:
    """Wait for the worker's ``word N`` line; N."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a load worker exited before saying {word!r}")
        if line.startswith(word):
            return int(line.split()[1])
    raise RuntimeError(f"a load worker did not say {word!r} within {timeout}s")


# --- the worker process -------------------------------------------------------------------------


async def _worker(args: argparse.Namespace) -> None:
    import warmwire

    obj = all_payloads()[0].obj
    payload = all_payloads()[0].encoded
    period = 1.0 / args.rate
    conns: list[Any] = []
    errors = 0
    async with anyio.create_task_group() as tg:
        opened = anyio.Semaphore(CONNECT_CONCURRENCY)
        ready = anyio.Event()
        all_in = anyio.Event()

        async def hold() -> None:
            nonlocal errors
            async with opened:
                try:
                    if args.client == "raw":
                        raw = await RawClient.open(args.url, f"/bench/echo{args.path}", payload)
                        conns.append((raw.aclose, raw))
                    else:
                        cm = warmwire.realtime_async("bench/echo", url=args.url, path=args.path)
                        conn = await cm.__aenter__()
                        conns.append((functools.partial(cm.__aexit__, None, None, None), conn))
                except Exception:
                    errors += 1
            if len(conns) + errors == args.sessions:
                all_in.set()
            await ready.wait()

        for _ in range(args.sessions):
            tg.start_soon(hold)
        with anyio.fail_after(170):
            await all_in.wait()
        ready.set()
    print(f"ready {len(conns)}", flush=True)
    with anyio.fail_after(300):
        line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    start = float(line)
    end = start + args.duration
    scheduled_lat = array.array("d")
    service_lat = array.array("d")
    counters = {"scheduled": 0, "completed": 0, "in_window": 0}

    async def session(conn: Any, phase: float) -> None:
        nonlocal errors
        due = start + phase
        clock = time.monotonic
        while due < end:
            now = clock()
            if due > now:
                await anyio.sleep(due - now)
            counters["scheduled"] += 1
            sent = clock()
            try:
                await conn.send(obj)
                await conn.recv()
            except Exception:
                errors += 1
                return
            done = clock()
            counters["completed"] += 1
            if done <= end:
                counters["in_window"] += 1
            scheduled_lat.append(done - due)
            service_lat.append(done - sent)
            due += period

    n = max(1, len(conns))
    with anyio.move_on_after(args.duration + (start - time.monotonic()) + GRACE):
        async with anyio.create_task_group() as tg:
            for i, (_, conn) in enumerate(conns):
                tg.start_soon(session, conn, period * i / n)
    out = Path(args.out)
    out.with_suffix(".sched").write_bytes(scheduled_lat.tobytes())
    out.with_suffix(".svc").write_bytes(service_lat.tobytes())
    out.with_suffix(".json").write_text(json.dumps({**counters, "errors": errors}))
    print(f"done {counters['completed']}", flush=True)
    with anyio.move_on_after(10):
        for close, _ in conns:
            await close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", default="/async")
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--client", default="raw", choices=["raw", "warmwire"])
    anyio.run(_worker, parser.parse_args())


if __name__ == "__main__":
    main()
