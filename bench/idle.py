"""Idle sessions: how many one runner process holds, and the memory each one costs.

``run_idle`` starts a fresh server, measures its memory with one session
opened and closed (so lazily imported code is already counted), has worker
processes (``python -m bench.idle --worker ...``) open ``sessions`` idle
sessions (each with a pending ``recv()``, as a real client has, so pings are
answered), waits until the runner counts them all, and measures again:
memory per session = growth / sessions.  The same is done for the
``websockets`` echo server as a reference: ``run_idle_pairs`` alternates the
two in interleaved pairs and sums up the ratios (:mod:`bench.pairs`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

from bench.pairs import IDLE_FIGURES, run_pairs
from bench.procs import ServerProcess, cpu_seconds, memory, python_module

CONNECT_CONCURRENCY = 50
SERVERS = {
    "warmwire": ("bench.servers.warmwire_runner", "/async"),
    "websockets": ("bench.servers.websockets_echo", "/realtime"),
}


def run_idle(
    log_dir: Path,
    *,
    server: str = "warmwire",
    sessions: int = 5000,
    workers: int = 4,
    settle: float = 3.0,
    cpu_window: float = 10.0,
) -> dict[str, Any]:
    module, path = SERVERS[server]
    proc = ServerProcess(f"idle-{server}", python_module(module), log_dir).start()
    workers_ = []
    try:
        _one_session(proc.url, path)
        time.sleep(1.0)
        before = memory(proc.process)
        shares = [sessions // workers + (i < sessions % workers) for i in range(workers)]
        started = time.monotonic()
        for share in shares:
            argv = python_module(
                "bench.idle",
                "--worker",
                f"--url={proc.url}",
                f"--path={path}",
                f"--sessions={share}",
            )
            workers_.append(
                subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        held = sum(_ready(w, 240) for w in workers_)
        connect_seconds = time.monotonic() - started
        counted = _runner_sessions(proc.http_url) if server == "warmwire" else None
        time.sleep(settle)
        cpu0 = cpu_seconds(proc.process)
        time.sleep(cpu_window)
        idle_cpu = 100 * (cpu_seconds(proc.process) - cpu0) / cpu_window
        after = memory(proc.process)
        counted_after = _runner_sessions(proc.http_url) if server == "warmwire" else None
    finally:
        for w in workers_:
            if w.poll() is None:
                assert w.stdin is not None
                w.stdin.close()
        for w in workers_:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        proc.stop()
    return {
        "server": server,
        "sessions": sessions,
        "held": held,
        "runner_counted": counted,
        "runner_counted_after_idle": counted_after,
        "connect_seconds": connect_seconds,
        "rss_before": before["rss"],
        "rss_after": after["rss"],
        "uss_before": before["uss"],
        "uss_after": after["uss"],
        "rss_per_session": (after["rss"] - before["rss"]) / max(1, held),
        "uss_per_session": (after["uss"] - before["uss"]) / max(1, held),
        "idle_cpu_percent": idle_cpu,
    }


def run_idle_pairs(
    log_dir: Path,
    *,
    pairs: int = 3,
    sessions: int = 5000,
    workers: int = 4,
    settle: float = 3.0,
    cpu_window: float = 10.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``pairs`` interleaved pairs of idle runs, warmwire and websockets, each with a fresh
    server process; the side that goes first alternates (:func:`bench.pairs.order`).
    A run that raises is recorded as its pair's ``error`` and the pair left out."""
    results, summary = run_pairs(
        pairs,
        lambda server: run_idle(
            log_dir,
            server=server,
            sessions=sessions,
            workers=workers,
            settle=settle,
            cpu_window=cpu_window,
        ),
        IDLE_FIGURES,
        what=f"idle ({sessions} sessions)",
        log=log,
    )
    return {
        "settings": {"pairs": pairs, "sessions": sessions, "workers": workers},
        "pairs": results,
        "summary": summary,
    }


def _one_session(url: str, path: str) -> None:
    import warmwire

    with warmwire.realtime("bench/echo", url=url, path=path) as conn:
        conn.send({"warm": True})
        conn.recv(timeout=10)


def _runner_sessions(http_url: str) -> int:
    return int(httpx.get(f"{http_url}/ready", timeout=10).json()["sessions"])


def _ready(proc: subprocess.Popen[str], timeout: float) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("an idle-session worker exited before it was ready")
        if line.startswith("ready"):
            return int(line.split()[1])
    raise RuntimeError(f"an idle-session worker was not ready within {timeout}s")


# --- the worker process -------------------------------------------------------------------------


async def _worker(args: argparse.Namespace) -> None:
    import warmwire

    held = 0
    failed = 0
    release = anyio.Event()
    all_in = anyio.Event()

    def counted() -> None:
        if held + failed == args.sessions:
            all_in.set()

    async with anyio.create_task_group() as tg:
        slots = anyio.Semaphore(CONNECT_CONCURRENCY)

        async def hold() -> None:
            nonlocal held, failed
            try:
                async with slots:
                    cm = warmwire.realtime_async("bench/echo", url=args.url, path=args.path)
                    conn = await cm.__aenter__()
            except Exception:
                failed += 1
                counted()
                return
            held += 1
            counted()
            try:
                async with anyio.create_task_group() as inner:

                    async def reader() -> None:
                        # Reading answers the runner's pings, as a live client does.
                        await conn.recv()

                    inner.start_soon(reader)
                    await release.wait()
                    inner.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    await cm.__aexit__(None, None, None)

        for _ in range(args.sessions):
            tg.start_soon(hold)
        with anyio.fail_after(230):
            await all_in.wait()
        print(f"ready {held} failed {failed}", flush=True)
        # Hold until the coordinator closes our stdin (bounded: at most 10 minutes).
        with anyio.move_on_after(600):
            await anyio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
        release.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", default="/async")
    parser.add_argument("--sessions", type=int, required=True)
    anyio.run(_worker, parser.parse_args())


if __name__ == "__main__":
    main()
