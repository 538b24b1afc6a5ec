"""Where warmwire's round trip spends its time: pyinstrument on the client and the runner.

:func:`profiled` samples the current thread and, at exit, writes ``PATH.txt``
(pyinstrument's call tree) and ``PATH.json`` (self and
inclusive time by ``file:function``, what the report tabulates).  The
runner side is a separate runner process started with ``--profile``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio

INTERVAL = 0.0005

# Frames whose own time is waiting for the peer rather than work: the event loop's
# epoll wait, and a blocking socket's receive (which also copies the bytes, a small part).
WAITING = {
    ("<built-in>", "epoll.poll"),
    ("<built-in>", "socket.recv"),
    ("<built-in>", "socket.recv_into"),
    ("selectors.py", "EpollSelector.select"),
}


@contextlib.contextmanager
def profiled(path: str | Path) -> Iterator[None]:
    from pyinstrument import Profiler

    profiler = Profiler(interval=INTERVAL, async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        session = profiler.stop()
        base = Path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        base.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False)
        )
        base.with_suffix(".json").write_text(json.dumps(hotspots(session), indent=1))


def _name(frame: Any) -> tuple[str, str]:
    short = Path(frame.file_path or "?").name
    function = frame.function or "?"
    if frame.class_name:
        function = f"{frame.class_name}.{function}"
    return short, function


def _where(frame: Any) -> str:
    path = frame.file_path or "?"
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return re.sub(r"^.*/lib/python3\.\d+/", "", path)


def hotspots(session: Any, top: int = 25) -> dict[str, Any]:
    """Self and inclusive seconds per function, and the total sampled (a pyinstrument session)."""
    root = session.root_frame()
    if root is None:
        return {"total": 0.0, "waiting": 0.0, "self": [], "inclusive": []}
    self_time: dict[tuple[str, str], float] = defaultdict(float)
    inclusive: dict[tuple[str, str], float] = defaultdict(float)
    paths: dict[tuple[str, str], str] = {}

    def walk(frame: Any, on_stack: frozenset[tuple[str, str]]) -> None:
        if frame.is_synthetic:
            return
        key = _name(frame)
        paths.setdefault(key, _where(frame))
        if key not in on_stack:
            inclusive[key] += frame.time
        self_time[key] += sum(c.time for c in frame.children if c.is_synthetic)
        for child in frame.children:
            walk(child, on_stack | {key})

    walk(root, frozenset())
    layers: dict[str, float] = defaultdict(float)
    for key, seconds in self_time.items():
        if key not in WAITING:
            layers[_layer(paths[key])] += seconds
    total = float(root.time)
    waiting = sum(t for k, t in self_time.items() if k in WAITING)

    def rows(table: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
        ordered = sorted(table.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [
            {"file": paths[k], "function": k[1], "seconds": t, "share": t / total if total else 0}
            for k, t in ordered
        ]

    return {
        "total": total,
        "waiting": waiting,
        "self": rows(self_time),
        "inclusive": rows(inclusive),
        "layers": dict(sorted(layers.items(), key=lambda kv: kv[1], reverse=True)),
    }


def _layer(path: str) -> str:
    """``warmwire/<subpackage>``, a library's top package, ``asyncio``, or ``<built-in>``."""
    parts = path.split("/")
    if parts[0] == "warmwire" and len(parts) > 2:
        return f"warmwire/{parts[1]}"
    if path.startswith("<"):
        return "C calls (<built-in>)"
    if "/" not in path:
        return path.removesuffix(".py")
    return parts[0] if not path.startswith("/") else "bench"


# --- the profiling run ---------------------------------------------------------------------------


def run_profiles(log_dir: Path, out_dir: Path, *, quick: bool) -> dict[str, Any]:
    """Profile the 32 B and 1 MB round trips: async and blocking client, and the runner.

    One runner process per payload, started with ``--profile``, so its
    profile holds that payload's traffic only (both clients' round trips).
    """
    from bench.payloads import all_payloads
    from bench.procs import ServerProcess, python_module

    counts = {"32 B": 300 if quick else 5000, "1 MB": 30 if quick else 400}
    results: dict[str, Any] = {}
    for payload in all_payloads():
        if payload.name not in counts:
            continue
        slug = payload.name.replace(" ", "").lower()
        runner_base = out_dir / f"runner-{slug}"
        runner = ServerProcess(
            f"profile-runner-{slug}",
            python_module("bench.servers.warmwire_runner", f"--profile={runner_base}"),
            log_dir,
        ).start()
        try:
            count = counts[payload.name]
            with profiled(out_dir / f"client-async-{slug}"):
                anyio.run(_async_roundtrips, runner.url, payload.obj, count)
            with profiled(out_dir / f"client-blocking-{slug}"):
                _blocking_roundtrips(runner.url, payload.obj, count)
        finally:
            runner.stop()
        results[payload.name] = {
            "count": counts[payload.name],
            "client-async": json.loads((out_dir / f"client-async-{slug}.json").read_text()),
            "client-blocking": json.loads((out_dir / f"client-blocking-{slug}.json").read_text()),
            "runner": json.loads(runner_base.with_suffix(".json").read_text()),
        }
    # The runner under many sessions: where its time goes when it is the bottleneck.
    from bench.load import run_load

    sessions, duration = (100, 3.0) if quick else (1000, 10.0)
    load_base = out_dir / "runner-load"
    run_load(
        log_dir,
        sessions=sessions,
        rate=10.0,
        duration=duration,
        workers=2 if quick else 4,
        runner_args=(f"--profile={load_base}",),
    )
    results[f"load: {sessions} sessions x 10/s, 32 B"] = {
        "count": int(sessions * 10 * duration),
        "runner": json.loads(load_base.with_suffix(".json").read_text()),
    }
    return results


async def _async_roundtrips(url: str, obj: dict[str, Any], count: int) -> None:
    import warmwire

    async with warmwire.realtime_async("bench/echo", url=url, path="/async") as conn:
        for _ in range(count):
            await conn.send(obj)
            await conn.recv()


def _blocking_roundtrips(url: str, obj: dict[str, Any], count: int) -> None:
    import warmwire

    with warmwire.realtime("bench/echo", url=url, path="/async") as conn:
        for _ in range(count):
            conn.send(obj)
            conn.recv()
