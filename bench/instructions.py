"""Runner instructions per round trip, counted by callgrind: ``make bench-instructions``.

Wall-clock figures on these shared 2-core machines drift from run to run;
instructions do not.  The bench runner (``bench/servers/warmwire_runner.py``)
runs under ``valgrind --tool=callgrind``; a client does a warm-up, the
counters are zeroed (``callgrind_control --zero``), the client does
``--round-trips`` 32-byte round trips, and the counters are dumped.  User-space
instructions only: the kernel's share of a loopback send is not in it.

``--tree DIR`` (repeatable) measures another checkout of warmwire, e.g. a
``git worktree`` of an older commit, with this checkout's client, so that a
change to the hot path is compared before and after in one run::

    git worktree add /tmp/before HEAD~5
    python -m bench.instructions --tree /tmp/before --tree .

The websockets echo server is measured the same way in the same run (``--no-peer``
skips it), and each runner's count is given as a ratio to it: the repeatable form of
"runner CPU per message" against the peer.  valgrind comes from Debian
(``make bench-instructions`` installs it, with ``deploy/debian-package.sh``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

import warmwire

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = {"n": 1, "text": "thirty-two bytes of msgpack"}


def _total(dump: Path) -> int:
    """The ``totals:`` (or ``summary:``) instruction count of a callgrind dump."""
    text = dump.read_text()
    found = re.search(r"^(?:totals|summary): (\d+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no totals in {dump}")
    return int(found.group(1))


async def _measured(url: str, path: str, pid: int, warmup: int, count: int) -> None:
    """On one connection: ``warmup`` round trips, zero the counters, ``count`` more, dump."""
    async with warmwire.realtime_async("bench/echo", url=url, path=path, open_timeout=120) as conn:
        for n in range(warmup + count):
            if n == warmup:
                await anyio.run_process(["callgrind_control", "--zero", str(pid)])
            await conn.send(PAYLOAD)
            await conn.recv()
        await anyio.run_process(["callgrind_control", "--dump", str(pid)])


def measure(
    tree: Path,
    *,
    backend: str,
    path: str,
    warmup: int,
    round_trips: int,
    worker_loop: bool | None = None,
) -> float:
    """Runner instructions per round trip for the warmwire checkout at ``tree`` (all its
    threads: callgrind runs them one at a time)."""
    server = ["bench.servers.warmwire_runner", "--no-keepalive", "--backend", backend]
    if worker_loop is not None:
        server.append("--worker-loop" if worker_loop else "--no-worker-loop")
    return _measure_server(server, tree / "src", path=path, warmup=warmup, round_trips=round_trips)


def measure_websockets(*, warmup: int, round_trips: int) -> float:
    """The same count for the websockets echo server (``bench/servers/websockets_echo.py``,
    asyncio), the peer the runner is compared with: it answers any path, and frames the same
    32 B message the same way."""
    return _measure_server(
        ["bench.servers.websockets_echo"],
        ROOT / "src",
        path="/async",
        warmup=warmup,
        round_trips=round_trips,
    )


def _measure_server(
    server_module: list[str], src: Path, *, path: str, warmup: int, round_trips: int
) -> float:
    """Instructions per round trip of ``python -m <server_module>`` (which prints ``ready URL``)
    under callgrind, driven by this checkout's async client."""
    out_dir = Path(tempfile.mkdtemp(prefix="warmwire-callgrind-"))
    out = out_dir / "callgrind.out"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}.%p",
        sys.executable,
        "-m",
        *server_module,
    ]
    server = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"{server_module[0]} under callgrind did not start: {line!r}")
        url = line.split()[1]
        anyio.run(_measured, url, path, server.pid, warmup, round_trips)
        dumps: list[Path] = []
        deadline = time.monotonic() + 60
        while not dumps and time.monotonic() < deadline:
            dumps = [p for p in out_dir.iterdir() if re.search(r"\.\d+\.\d+$", p.name)]
            time.sleep(0.2)
        if not dumps:
            raise RuntimeError(f"callgrind wrote no dump in {out_dir}")
        # The connection's open and close are outside the window: only round trips count.
        return _total(max(dumps, key=lambda p: p.stat().st_mtime)) / round_trips
    finally:
        server.terminate()
        server.wait(timeout=120)


def measure_client(tree: Path, *, backend: str, path: str, round_trips: int) -> float:
    """Client instructions per round trip: the async client of ``tree`` under callgrind,
    against a runner of this checkout, counted over the whole process twice (``n`` and
    ``2n`` round trips, on one connection each) and differenced, which leaves the
    imports, the open and the close out."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.servers.warmwire_runner", "--no-keepalive"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[1]
        totals = []
        for count in (round_trips, 2 * round_trips):
            out = Path(tempfile.mkdtemp(prefix="warmwire-callgrind-")) / "client.out"
            client_env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{ROOT}"}
            subprocess.run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    "-m",
                    "bench.instructions",
                    "--as-client",
                    url,
                    "--path",
                    path,
                    "--backend",
                    backend,
                    "--round-trips",
                    str(count),
                ],
                env=client_env,
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            totals.append(_total(out))
        return (totals[1] - totals[0]) / round_trips
    finally:
        server.terminate()
        server.wait(timeout=60)


def run_instructions(*, round_trips: int, warmup: int = 200) -> dict[str, Any]:
    """What ``python -m bench`` reports: the runner's count (async handler, sync handler,
    and the sync handler with ``worker_loop`` off) and the websockets echo server's, or why
    they could not be counted."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        return {"error": f"{' and '.join(missing)} not installed: apt-get install valgrind"}
    try:
        counts = {
            "websockets": measure_websockets(warmup=warmup, round_trips=round_trips),
            "warmwire": measure(
                ROOT, backend="asyncio", path="/async", warmup=warmup, round_trips=round_trips
            ),
            "warmwire_sync": measure(
                ROOT, backend="asyncio", path="/realtime", warmup=warmup, round_trips=round_trips
            ),
            "warmwire_hop": measure(
                ROOT,
                backend="asyncio",
                path="/realtime",
                warmup=warmup,
                round_trips=round_trips,
                worker_loop=False,
            ),
        }
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return {"error": f"callgrind run failed: {exc}"}
    return {**counts, "round_trips": round_trips}


async def _client_only(url: str, path: str, count: int) -> None:
    async with warmwire.realtime_async("bench/echo", url=url, path=path, open_timeout=120) as conn:
        for _ in range(count):
            await conn.send(PAYLOAD)
            await conn.recv()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--tree", type=Path, action="append", help="a warmwire checkout")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--path", default="/async", choices=["/async", "/realtime"])
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--side", default="runner", choices=["runner", "client", "both"])
    parser.add_argument(
        "--worker-loop",
        action=argparse.BooleanOptionalAction,
        help="start the runner with worker_loop on or off (for --path /realtime: no thread "
        "hop, or the hop; default: each checkout's own default)",
    )
    parser.add_argument(
        "--no-peer",
        action="store_true",
        help="do not measure the websockets echo server (the runner's ratio is to it)",
    )
    parser.add_argument("--as-client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.as_client:  # the process measured by measure_client
        anyio.run(_client_only, args.as_client, args.path, args.round_trips, backend=args.backend)
        return 0
    peer = None
    if args.side in ("runner", "both") and not args.no_peer:
        peer = measure_websockets(warmup=args.warmup, round_trips=args.round_trips)
        print(f"websockets echo server: {peer:,.0f} instructions per 32 B round trip", flush=True)
    for tree in args.tree or [ROOT]:
        tree = tree.resolve()
        if args.side in ("runner", "both"):
            per = measure(
                tree,
                backend=args.backend,
                path=args.path,
                warmup=args.warmup,
                round_trips=args.round_trips,
                worker_loop=args.worker_loop,
            )
            ratio = "" if peer is None else f" ({per / peer:.2f}x the websockets echo server's)"
            print(f"{tree}: runner {per:,.0f} instructions per 32 B round trip{ratio}", flush=True)
        if args.side in ("client", "both"):
            per = measure_client(
                tree, backend=args.backend, path=args.path, round_trips=args.round_trips
            )
            print(f"{tree}: client {per:,.0f} instructions per 32 B round trip", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
