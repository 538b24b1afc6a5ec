"""``warmwire serve --workers N``: sessions per second and messages per second at 1 and 2 workers.

``python -m bench.workers`` (``make bench-workers``) starts ``warmwire serve
--workers N`` for N in 1 and 2, interleaved over ``--rounds`` rounds, and drives
each with the same generator: ``--generators`` processes of
:class:`bench.rawclient.RawClient` (a pre-built 32 B frame, no codec, so that the
generator leaves the runner as much CPU as it can).

- sessions per second: each generator keeps ``--concurrency`` clients opening a
  session, making one round trip and closing it, for ``--window`` seconds;
- messages per second: each generator holds ``--concurrency`` sessions, each
  with ``--pipeline`` messages in flight, for ``--window`` seconds.

Reported as the median over the rounds and the ratio 2 workers / 1 worker, with
each round's figures.  The runner and the generators share the machine's cores:
on 2 cores a second worker competes with the generator, which bounds the gain.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from bench.payloads import all_payloads

ROOT = Path(__file__).resolve().parents[1]
APP = "bench/echo"
TARGET = f"/{APP}/async"
READY = "warmwire runner listening on "


@contextmanager
def serving(workers: int) -> Iterator[str]:
    """``warmwire serve`` of the bench's echo app with ``workers`` workers; its URL."""
    argv = [
        sys.executable,
        "-m",
        "warmwire.cli",
        "serve",
        "bench.servers.warmwire_runner:BenchEcho",
        "--port",
        "0",
        "--insecure-no-auth",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY):
                url = line[len(READY) :].strip()
                break
        else:
            raise RuntimeError(f"warmwire serve --workers {workers} exited before it was ready")
        # Keep reading its output, so that it never blocks on a full pipe.
        threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
        yield url
    finally:
        proc.terminate()
        proc.wait(60)


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def _generator(
    kind: str, url: str, concurrency: int, pipeline: int, start_at: float, window: float, out: Any
) -> None:
    from bench.rawclient import RawClient, one_session

    small = all_payloads()[0].encoded
    done = 0
    errors = 0
    end = start_at + window

    async def sessions() -> None:
        nonlocal done, errors
        while time.time() < end:
            try:
                await one_session(url, TARGET, small)
            except (ConnectionError, OSError, TimeoutError):
                errors += 1
                continue
            done += 1

    async def messages() -> None:
        nonlocal done
        conn = await RawClient.open(url, TARGET, small)
        try:
            await anyio.sleep(max(0.0, start_at - time.time()))  # all start together
            for _ in range(pipeline):
                await conn.send()
            while time.time() < end:
                await conn.recv()
                done += 1
                await conn.send()
            for _ in range(pipeline):
                await conn.recv()
        finally:
            await conn.aclose()

    async def main() -> None:
        if kind == "sessions":
            await anyio.sleep(max(0.0, start_at - time.time()))
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(sessions if kind == "sessions" else messages)

    anyio.run(main)
    out.put((done, errors))


def measure(kind: str, url: str, args: argparse.Namespace) -> float:
    """``kind`` (sessions or messages) per second over the window, from every generator."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # time for the generators to import and open
    procs = [
        ctx.Process(
            target=_generator,
            args=(kind, url, args.concurrency, args.pipeline, start_at, args.window, out),
        )
        for _ in range(args.generators)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=args.window + 60) for _ in procs]
    for proc in procs:
        proc.join(30)
    errors = sum(r[1] for r in results)
    if errors:
        print(f"  ({errors} {kind} failed)", file=sys.stderr)
    return sum(r[0] for r in results) / args.window


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pipeline", type=int, default=4)
    args = parser.parse_args(argv)
    figures: dict[tuple[str, int], list[float]] = {}
    for round_ in range(args.rounds):
        for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
            with serving(workers) as url:
                for kind in ("sessions", "messages"):
                    rate = measure(kind, url, args)
                    figures.setdefault((kind, workers), []).append(rate)
                    print(f"round {round_ + 1} workers={workers} {kind}/s {rate:,.0f}", flush=True)
    print()
    print("| per second | 1 worker | 2 workers | ratio (median) | rounds (1 → 2) |")
    print("| --- | --- | --- | --- | --- |")
    for kind in ("sessions", "messages"):
        one, two = figures[(kind, 1)], figures[(kind, 2)]
        rounds = ", ".join(f"{a:,.0f} → {b:,.0f}" for a, b in zip(one, two, strict=True))
        ratio = statistics.median(b / a for a, b in zip(one, two, strict=True))
        print(
            f"| {kind} | {statistics.median(one):,.0f} | {statistics.median(two):,.0f} "
            f"| {ratio:.2f}x | {rounds} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
