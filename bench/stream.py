"""``python -m bench.stream [--quick] [--json PATH]``: time to first event of a progressive output.

One request whose handler yields 4 small outputs; the figure is the time from the
client's first byte (connecting included) to the first output in its hands.  In one
run, rounds interleaved in a shuffled order so that machine noise hits every path alike:

- ``warmwire SSE``: ``POST /bench/steps/stream`` on warmwire's runner (Server-Sent Events);
- ``fal runtime SSE``: the fal runtime's own streaming endpoint for the same steps
  (``bench/servers/fal_stream.py``: ``@fal.endpoint`` + ``StreamingResponse`` under
  uvicorn, in fal's venv);
- ``warmwire WebSocket``: the same output over the realtime path, opening included
  (upgrade, input, first result), with warmwire's own client;
- ``warmwire WebSocket, open``: on a session already open (input, first result): what
  realtime is for, and the floor of the other three.

Both SSE paths are read by the same lean client (a raw socket, the request written in
one piece, the response scanned for its first event), so the client costs them alike.
Reported: p50 and p99 in milliseconds and each p50's ratio to the fal runtime's.
Absolute times on a shared machine drift; the ratios of one run are the figures.
Needs the fal runtime's venv (``make interop-setup``) for the fal endpoint;
without it, that path is left out and the report says why.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs

import warmwire
from bench.procs import ServerProcess, python_module
from bench.stats import Summary, ratio, summarize

ROOT = Path(__file__).resolve().parent.parent
APP = "bench/steps"
STEPS = 4
BODY = json.dumps({"n": STEPS}).encode()


@attrs.frozen
class Settings:
    rounds: int
    batch: int
    warmup: int

    @classmethod
    def full(cls) -> Settings:
        return cls(rounds=10, batch=50, warmup=20)

    @classmethod
    def quick(cls) -> Settings:
        return cls(rounds=2, batch=10, warmup=3)


async def sse_first_event(host: str, port: int, path: str) -> float:
    """Seconds from connecting to the first SSE event of ``POST path``; reads the rest untimed."""
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"accept: text/event-stream\r\ncontent-length: {len(BODY)}\r\nconnection: close\r\n\r\n"
    ).encode() + BODY
    started = time.perf_counter()
    async with await anyio.connect_tcp(host, port) as stream:
        await stream.send(request)
        received = b""
        while True:
            received += await stream.receive()
            head = received.find(b"\r\n\r\n")
            data = received.find(b"data: ", head) if head >= 0 else -1
            if data >= 0 and received.find(b"\n\n", data) >= 0:
                elapsed = time.perf_counter() - started
                break
        if not received.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{path}: {received[:200]!r}")
        try:
            while await stream.receive():  # the other events and the end, untimed
                pass
        except anyio.EndOfStream:
            pass
    return elapsed


async def ws_first_result(url: str) -> float:
    """Seconds from opening a realtime session to its first result (the rest read untimed)."""
    started = time.perf_counter()
    async with warmwire.realtime_async(APP, url=url, codec="json") as conn:
        await conn.send({"n": STEPS})
        await conn.recv()
        elapsed = time.perf_counter() - started
        for _ in range(STEPS - 1):
            await conn.recv()
    return elapsed


def ws_open_first_result(conn: warmwire.AsyncRealtimeConnection) -> Callable[[], Awaitable[float]]:
    async def measure() -> float:
        started = time.perf_counter()
        await conn.send({"n": STEPS})
        await conn.recv()
        elapsed = time.perf_counter() - started
        for _ in range(STEPS - 1):
            await conn.recv()
        return elapsed

    return measure


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    return host, int(port)


async def measure(warmwire_url: str, fal_url: str | None, settings: Settings) -> dict[str, Any]:
    host, port = _host_port(warmwire_url)
    paths: dict[str, Callable[[], Awaitable[float]]] = {
        "warmwire SSE": lambda: sse_first_event(host, port, f"/{APP}/stream"),
        "warmwire WebSocket": lambda: ws_first_result(warmwire_url),
    }
    if fal_url is not None:
        fal_host, fal_port = _host_port(fal_url)
        paths["fal runtime SSE"] = lambda: sse_first_event(fal_host, fal_port, f"/{APP}/stream")
    times: dict[str, list[float]] = {name: [] for name in paths}
    times["warmwire WebSocket, open"] = []
    rng = random.Random(19)
    async with warmwire.realtime_async(APP, url=warmwire_url, codec="json") as conn:
        paths["warmwire WebSocket, open"] = ws_open_first_result(conn)
        for name, path in paths.items():  # warm every path (imports, connections, caches)
            for _ in range(settings.warmup):
                await path()
            print(f"warmed {name}", file=sys.stderr)
        for round_ in range(settings.rounds):
            order = list(paths)
            rng.shuffle(order)
            for name in order:
                for _ in range(settings.batch):
                    times[name].append(await paths[name]())
            print(f"round {round_ + 1}/{settings.rounds}", file=sys.stderr)
    summaries = {name: summarize(values) for name, values in times.items()}
    return {"summaries": summaries, "baseline": "fal runtime SSE" if fal_url else None}


def report(result: dict[str, Any], skipped: str | None) -> str:
    summaries: dict[str, Summary] = result["summaries"]
    baseline = summaries.get(result["baseline"]) if result["baseline"] else None
    sse = summaries["warmwire SSE"]
    lines = [
        "| path | first event p50 (ms) | p99 (ms) | p50 / fal runtime SSE | p50 / warmwire SSE |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in summaries.items():
        to_fal = ratio(s.p50, baseline.p50) if baseline else None
        lines.append(
            f"| {name} | {s.p50 * 1000:.3f} | {s.p99 * 1000:.3f} | "
            f"{'n/a' if to_fal is None else f'{to_fal:.2f}'} | {ratio(s.p50, sse.p50):.2f} |"
        )
    if skipped:
        lines.append(f"\nfal runtime SSE left out: {skipped}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 short rounds")
    parser.add_argument("--no-fal", action="store_true", help="leave the fal endpoint out")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    settings = Settings.quick() if args.quick else Settings.full()
    from bench.__main__ import fal_missing, fal_python

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as logs:
        log_dir = Path(logs)
        servers = [
            ServerProcess(
                "warmwire", python_module("bench.servers.warmwire_steps"), log_dir
            ).start()
        ]
        fal_url = None
        skipped = "--no-fal" if args.no_fal else fal_missing()
        try:
            if skipped is None:
                fal = ServerProcess(
                    "fal", [fal_python(), str(ROOT / "bench/servers/fal_stream.py")], log_dir
                )
                servers.append(fal.start(timeout=120))
                fal_url = fal.url
            result = anyio.run(measure, servers[0].url, fal_url, settings)
        finally:
            for server in servers:
                server.stop()
    print(report(result, skipped))
    if args.json:
        figures = {name: attrs.asdict(s) for name, s in result["summaries"].items()}
        Path(args.json).write_text(json.dumps({"settings": attrs.asdict(settings), **figures}))


if __name__ == "__main__":
    main()
