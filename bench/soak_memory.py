"""Where a soaking runner's RSS goes: Python objects, Python's allocator, or glibc's heap.

``python -m bench.soak_memory`` starts a runner process (``--serve``: the
``warmwire/echo`` app through ``runner.serve``, plus a probe that answers
``stats`` on stdin) and drives rounds of streaming sessions through it with
:func:`bench.soak.run_round` (clients in separate processes).  After each round
(sessions closed, ``gc.collect()`` run) it prints, for the runner process:

- ``rss``, ``rss_anon``, ``rss_file``: ``VmRSS`` and its anonymous and
  file-backed parts (KiB);
- ``objects``: ``len(gc.get_objects())`` (container objects the GC tracks);
- ``blocks``: ``sys.getallocatedblocks()`` (live pymalloc/raw blocks);
- ``traced``: ``tracemalloc``'s current traced size (KiB), with ``--tracemalloc``;
- ``heap_used``/``heap_free``/``mmap``: glibc ``mallinfo2()``: bytes in use and
  free inside malloc's arenas, and bytes in mmapped chunks (KiB);
- ``arenas``/``arenas_highwater``: pymalloc's 256 KiB arenas now and at most
  (``sys._debugmallocstats()``); pymalloc maps them itself, outside glibc's figures.

RSS that rises while objects, blocks and traced memory stay flat is memory the
allocators keep (freed but not returned to the system), not a leak.
``--arena-max N`` sets ``MALLOC_ARENA_MAX`` for the runner; ``--trim`` calls
``malloc_trim(0)`` before each reading.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import anyio

from bench.soak import RunnerProcess, run_round, wait_until


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> Any:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _Mallinfo2
    return libc


def _pymalloc() -> dict[str, int]:
    """pymalloc's arenas now and at their high-water mark, from ``sys._debugmallocstats()``."""
    with tempfile.TemporaryFile("w+") as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read()
    found: dict[str, int] = {}
    for key, label in (
        ("arenas", "# arenas allocated current"),
        ("arenas_highwater", "# arenas highwater mark"),
    ):
        for line in text.splitlines():
            if line.startswith(label):
                found[key] = int(line.split("=")[1].replace(",", ""))
    return found


def _stats(trim: bool) -> dict[str, Any]:
    gc.collect()
    libc = _libc()
    if trim:
        libc.malloc_trim(0)
    info = libc.mallinfo2()
    fields: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0])
    return {
        "rss": fields["VmRSS"],
        "rss_anon": fields["RssAnon"],
        "rss_file": fields["RssFile"],
        "objects": len(gc.get_objects()),
        "blocks": sys.getallocatedblocks(),
        "traced": tracemalloc.get_traced_memory()[0] // 1024 if tracemalloc.is_tracing() else None,
        "heap_used": info.uordblks // 1024,
        "heap_free": info.fordblks // 1024,
        "mmap": info.hblkhd // 1024,
        **_pymalloc(),
    }


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)


async def _serve(args: argparse.Namespace) -> None:
    from warmwire import runner
    from warmwire.examples.echo import Echo

    if args.tracemalloc:
        tracemalloc.start()
    async with runner.serve(Echo, insecure_no_auth=True, port=0) as server:
        print(f"warmwire runner listening on {server.url}", flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line or line.strip() == "quit":
                return
            # Measured on the event loop, between messages: nothing runs meanwhile.
            text = json.dumps(_stats(args.trim))
            await anyio.to_thread.run_sync(_write_atomically, Path(line.strip()), text)


def drive(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    env_before = os.environ.get("MALLOC_ARENA_MAX")
    if args.arena_max:
        os.environ["MALLOC_ARENA_MAX"] = str(args.arena_max)
    with tempfile.TemporaryDirectory(prefix="warmwire-soak-memory-") as name:
        tmp = Path(name)
        argv = [sys.executable, "-m", "bench.soak_memory", "--serve", f"--backend={args.backend}"]
        argv += ["--tracemalloc"] * args.tracemalloc + ["--trim"] * args.trim
        runner = RunnerProcess(args.backend, tmp, argv=argv, stdin=True)
        if env_before is None:
            os.environ.pop("MALLOC_ARENA_MAX", None)
        else:
            os.environ["MALLOC_ARENA_MAX"] = env_before
        try:
            for index in range(args.rounds):
                if index:
                    figures = run_round(
                        runner.url,
                        backend=args.backend,
                        sessions=args.sessions,
                        seconds=args.seconds,
                        rate=args.rate,
                        workers=2,
                        client="raw",
                        tmp=tmp,
                    )
                    lost = figures["lost"]
                else:
                    lost = 0
                wait_until(lambda: runner.sessions() == 0)
                out = tmp / f"stats{index}.json"
                assert runner.popen.stdin is not None
                runner.popen.stdin.write(f"{out}\n")
                runner.popen.stdin.flush()
                wait_until(out.exists, 30)
                row = {"round": index, "lost": lost, **json.loads(out.read_text())}
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            runner.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--rounds", type=int, default=8, help="round 0 is the idle baseline")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--arena-max", type=int, default=0, help="MALLOC_ARENA_MAX (0: unset)")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) before each reading")
    args = parser.parse_args(argv)
    if args.serve:
        anyio.run(_serve, args, backend=args.backend)
        return 0
    drive(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
