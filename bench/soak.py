"""Soak and streaming load with the runner and the clients in separate processes.

``run_soak`` starts a runner (``warmwire serve warmwire.examples.echo:Echo``, in
its own process, on the asyncio or trio backend) and load-generator processes
(``python -m bench.soak --worker ...``), each one anyio event loop holding a share
of the sessions.  Every session streams numbered inputs ``{"session": i, "seq": n}``
at a fixed rate (phases spread over the period) with ``max_buffering=60`` and
reads its results concurrently; each worker checks that every session got back
exactly its own inputs, once each, in order, and the parent adds the workers'
figures up.  One session comes and goes first, so what the runner starts once
and keeps (a blocking handler's worker thread and its loop) is in the baseline;
then a warm-up round; after each round the parent waits (bounded) for the runner
to hold no session, no more file descriptors and no more threads than before
the warm-up, and reads its RSS, all from outside
(``/proc/<pid>/fd``, ``/proc/<pid>/status``, and ``warmwire_sessions_open`` from
the runner's ``/metrics``; the runner exposes no task count).

Latency is measured from each input's *scheduled* send time to its result, so a
runner (or a generator) that falls behind shows up as latency and as a lower
achieved send rate, not as a quietly smaller load.

Clients: ``raw`` is a minimal WebSocket client on anyio streams (msgpack
payloads, masked frames, pongs): a few tens of µs of CPU per message, so that
on 2 cores the generators leave the runner its core.  ``warmwire`` is
warmwire's own async client.  ``mixed`` alternates them across workers.

``python -m bench.soak`` runs the soak and prints the figures (``make soak``);
exit status 1 when anything was lost, duplicated, misordered or leaked.
"""

from __future__ import annotations

import argparse
import array
import base64
import itertools
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import msgpack

ROOT = Path(__file__).resolve().parent.parent
APP = "warmwire/echo"
ENDPOINT = "/async"
"""The echo app's async handler: where sessions go unless told (``--endpoint``)."""
ENDPOINTS = (ENDPOINT, "/realtime")
"""And its sync one, whose sessions are served on the worker thread's loop."""
MAX_BUFFERING = 60
RSS_GROWTH_LIMIT = 0.10
OPENING_AT_ONCE = 50
GRACE = 10.0
"""Seconds after a session's last scheduled input for its remaining results."""
URL_LINE = re.compile(r"warmwire runner listening on (\S+)")


# --- the runner process, watched from outside ---------------------------------------------------


class RunnerProcess:
    """``warmwire serve`` in a subprocess; its fds, threads and RSS read from /proc."""

    def __init__(
        self,
        backend: str,
        log_dir: Path,
        extra_args: Sequence[str] = ("--insecure-no-auth",),
        app: str = "warmwire.examples.echo:Echo",
        argv: list[str] | None = None,
        stdin: bool = False,
    ) -> None:
        self.log_path = log_dir / f"runner-{backend}.log"
        self._log: IO[str] = open(self.log_path, "w")  # noqa: SIM115
        if argv is None:
            argv = [sys.executable, "-m", "warmwire.cli", "serve", app, "--port", "0"]
            argv += ["--backend", backend, *extra_args]
        self.popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
            env={**worker_env(), "PYTHONUNBUFFERED": "1"},
            cwd=ROOT,
        )
        self.url, self._pump = _read_url(self.popen, 60.0)
        parts = urlsplit(self.url)
        self.http_url = f"http://{parts.hostname}:{parts.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def _status(self, field: str) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status")

    def threads(self) -> int:
        return self._status("Threads")

    def rss_kib(self) -> int:
        return self._status("VmRSS")

    def schedstat(self) -> tuple[float, float]:
        return schedstat(self.pid)

    def metric(self, name: str, default: float | None = None) -> float:
        """The sum of the runner's samples of ``name`` (over labels) from ``/metrics``."""
        with urllib.request.urlopen(f"{self.http_url}/metrics", timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        found = False
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        if not found and default is not None:
            return default
        if not found:
            raise RuntimeError(f"no {name} in the runner's /metrics")
        return total

    def sessions(self) -> int:
        return int(self.metric("warmwire_sessions_open"))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._pump.join(10)
        for stream in (self.popen.stdout, self.popen.stdin):
            if stream is not None:
                stream.close()
        self._log.close()


def schedstat(pid: int) -> tuple[float, float]:
    """Seconds process ``pid`` (all its threads) ran on a CPU, and waited runnable for one.

    From ``/proc/<pid>/task/*/schedstat`` (nanoseconds); the wait shows a process
    that wanted a CPU the machine's other processes held.
    """
    ran = waited = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                fields = f.read().split()
        except OSError:
            continue  # a thread that ended meanwhile
        ran += int(fields[0])
        waited += int(fields[1])
    return ran / 1e9, waited / 1e9


def _read_url(popen: subprocess.Popen[str], timeout: float) -> tuple[str, threading.Thread]:
    """The runner's URL, and the thread that keeps reading its stdout."""
    found: list[str] = []

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:  # read to the end, so the runner never blocks on its stdout
            if not found and (match := URL_LINE.search(line)):
                found.append(match.group(1))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not found:
        if popen.poll() is not None:
            raise RuntimeError(f"the runner exited ({popen.returncode}) before listening")
        if time.monotonic() > deadline:
            popen.kill()
            raise RuntimeError(f"the runner was not listening within {timeout}s")
        time.sleep(0.02)  # polling a thread's finding, bounded by the deadline
    return found[0], reader


def wait_until(predicate: Callable[[], bool], within: float = 30.0) -> bool:
    """Poll ``predicate`` (no event exists for "the runner let go"), bounded."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- the parent: rounds of worker processes -------------------------------------------------------


def worker_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.soak", "--worker", *args]


def worker_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def _expect(proc: subprocess.Popen[str], word: str, timeout: float) -> int:
    """Wait for the worker's ``word N`` line; N."""
    assert proc.stdout is not None
    result: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(word):
                result.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not result:
        proc.kill()
        raise RuntimeError(f"a worker did not say {word!r} within {timeout}s")
    return int(result[0].split()[1])


def run_round(
    url: str,
    *,
    backend: str,
    sessions: int,
    seconds: float,
    rate: float,
    workers: int,
    client: str,
    tmp: Path,
    endpoint: str = ENDPOINT,
    token: str | None = None,
    on_start: Callable[[float, list[int]], None] | None = None,
) -> dict[str, Any]:
    """One round: ``sessions`` sessions over ``workers`` processes; the added-up figures."""
    count = max(1, round(seconds * rate))
    workers = max(1, min(workers, sessions))
    shares = [sessions // workers + (i < sessions % workers) for i in range(workers)]
    firsts = list(itertools.accumulate([0, *shares[:-1]]))
    procs: list[subprocess.Popen[str]] = []
    outs = [tmp / f"worker{i}" for i in range(workers)]
    try:
        for i, (first, share, out) in enumerate(zip(firsts, shares, outs, strict=True)):
            kind = client if client != "mixed" else ("raw", "warmwire")[i % 2]
            args = [
                f"--url={url}",
                f"--backend={backend}",
                f"--first={first}",
                f"--sessions={share}",
                f"--total={sessions}",
                f"--count={count}",
                f"--rate={rate}",
                f"--client={kind}",
                f"--endpoint={endpoint}",
                f"--out={out}",
            ]
            if token is not None:
                args.append(f"--token={token}")
            procs.append(
                subprocess.Popen(
                    worker_argv(*args),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=worker_env(),
                    cwd=ROOT,
                )
            )
        for p in procs:
            _expect(p, "ready", 120 + sessions / 10)
        start = time.monotonic() + 0.5
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"{start}\n")
            p.stdin.flush()
        if on_start is not None:
            on_start(start, [p.pid for p in procs])
        for p in procs:
            _expect(p, "done", seconds + GRACE + 120)
            p.wait(60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            for stream in (p.stdin, p.stdout):
                if stream is not None:
                    stream.close()
    figures = [json.loads(out.with_suffix(".json").read_text()) for out in outs]
    latency = array.array("d")
    scheduled = array.array("d")
    for out in outs:
        latency.frombytes(out.with_suffix(".lat").read_bytes())
        scheduled.frombytes(out.with_suffix(".due").read_bytes())
    summed = {
        key: sum(f[key] for f in figures)
        for key in (
            "sent",
            "received",
            "lost",
            "duplicated",
            "misordered",
            "foreign",
            "errors",
            "failed_sessions",
            "sent_in_window",
        )
    }
    lat = sorted(latency)
    return {
        **summed,
        "sessions": sessions,
        "seconds": seconds,
        "rate": rate,
        "expected": sessions * count,
        "offered_per_s": sessions * rate,
        "send_rate_per_s": summed["sent_in_window"] / (count / rate),
        "latency_p50_ms": 1000 * percentile(lat, 50) if lat else None,
        "latency_p99_ms": 1000 * percentile(lat, 99) if lat else None,
        "latency_max_ms": 1000 * lat[-1] if lat else None,
        "start": start,
        "_latency": latency,
        "_scheduled": scheduled,
    }


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks of already sorted values."""
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def run_soak(
    *,
    backend: str = "asyncio",
    sessions: int = 500,
    seconds: float = 60.0,
    rate: float = 20.0,
    warmup: float | None = None,
    workers: int = 2,
    client: str = "raw",
    endpoint: str = ENDPOINT,
) -> dict[str, Any]:
    """Warm-up round, main round, resources before and after; the figures (no verdict)."""
    warmup = max(1.0, seconds / 4) if warmup is None else warmup
    with tempfile.TemporaryDirectory(prefix="warmwire-soak-") as name:
        tmp = Path(name)
        runner = RunnerProcess(backend, tmp)
        try:
            _first_session(runner, endpoint)
            base_fds, base_threads = runner.fds(), runner.threads()
            common: dict[str, Any] = dict(
                backend=backend, sessions=sessions, rate=rate, workers=workers, endpoint=endpoint
            )
            warm = run_round(runner.url, seconds=warmup, client=client, tmp=tmp, **common)
            settled_warm = _settle(runner, base_fds, base_threads, "after_warmup")
            rss_before = runner.rss_kib()
            cpu: list[tuple[float, float]] = []

            generators: list[float] = []

            def sample_cpu(start: float, pids: list[int]) -> None:
                # The runner's and the generators' CPU over exactly the sending window.
                def sample() -> None:
                    for at in (start, start + seconds):
                        time.sleep(max(0.0, at - time.monotonic()))
                        cpu.append(runner.schedstat())
                        generators.append(sum(schedstat(pid)[0] for pid in pids))

                threading.Thread(target=sample, daemon=True).start()

            main = run_round(
                runner.url, seconds=seconds, client=client, tmp=tmp, on_start=sample_cpu, **common
            )
            settled_main = _settle(runner, base_fds, base_threads, "after_main")
            rss_after = runner.rss_kib()
            dropped = runner.metric("warmwire_inputs_dropped_total")
            alive = runner.popen.poll() is None
        finally:
            runner.stop()
    for figures in (warm, main):
        figures.pop("_latency")
        figures.pop("_scheduled")
    return {
        "backend": backend,
        "client": client,
        "endpoint": endpoint,
        "workers": workers,
        "warmup_seconds": warmup,
        "warmup": warm,
        "main": main,
        "runner_cpu_percent": (100 * (cpu[1][0] - cpu[0][0]) / seconds if len(cpu) == 2 else None),
        "runner_runqueue_wait_percent": (
            100 * (cpu[1][1] - cpu[0][1]) / seconds if len(cpu) == 2 else None
        ),
        "generators_cpu_percent": (
            100 * (generators[1] - generators[0]) / seconds if len(generators) == 2 else None
        ),
        "runner_dropped_inputs": dropped,
        "runner_alive": alive,
        "load_average": os.getloadavg(),
        "fds": {"before": base_fds, **settled_warm["fds"], **settled_main["fds"]},
        "threads": {"before": base_threads, **settled_warm["threads"], **settled_main["threads"]},
        "sessions_open_after": settled_main["sessions"],
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_growth_pct": round(100 * (rss_after - rss_before) / rss_before, 2),
    }


def _first_session(runner: RunnerProcess, endpoint: str) -> None:
    """One round trip, before the baseline: what the runner starts at its first session
    and keeps for its life (a blocking handler's worker thread, its event loop's
    descriptors) is then in the baseline, and any growth after it is per session."""
    import warmwire

    with warmwire.realtime(APP, url=runner.url, path=endpoint) as conn:
        conn.send({"session": -1, "seq": 0})
        conn.recv(timeout=60)
    wait_until(lambda: runner.sessions() == 0)


def _settle(runner: RunnerProcess, fds: int, threads: int, key: str) -> dict[str, Any]:
    """Wait (bounded) for no session and fds/threads back to the baseline; what was reached."""
    wait_until(lambda: runner.sessions() == 0)
    wait_until(lambda: runner.fds() <= fds)
    wait_until(lambda: runner.threads() <= threads)
    return {
        "fds": {key: runner.fds()},
        "threads": {key: runner.threads()},
        "sessions": runner.sessions(),
    }


def verdict(result: dict[str, Any]) -> list[str]:
    """What failed, in words; empty when the soak passed."""
    failures = []
    for name in ("warmup", "main"):
        figures = result[name]
        for key in ("lost", "duplicated", "misordered", "foreign", "errors", "failed_sessions"):
            if figures[key]:
                failures.append(f"{name}: {key} = {figures[key]}")
        if figures["received"] != figures["expected"]:
            failures.append(f"{name}: received {figures['received']} of {figures['expected']}")
    fds, threads = result["fds"], result["threads"]
    if fds["after_main"] > fds["before"]:
        failures.append(f"fds grew: {fds}")
    if threads["after_main"] > threads["before"]:
        failures.append(f"threads grew: {threads}")
    if result["sessions_open_after"]:
        failures.append(f"sessions still open: {result['sessions_open_after']}")
    if result["rss_growth_pct"] >= 100 * RSS_GROWTH_LIMIT:
        failures.append(f"RSS grew {result['rss_growth_pct']}%")
    if not result["runner_alive"]:
        failures.append("the runner died")
    return failures


# --- the worker process ---------------------------------------------------------------------------


class RawSession:
    """A minimal WebSocket client on an anyio stream: msgpack in binary frames, pongs, close."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.lock = anyio.Lock()

    @classmethod
    async def open(cls, url: str, target: str) -> RawSession:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        session = cls(await anyio.connect_tcp(parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: msgpack\r\n\r\n"
        )
        await session.stream.send(request.encode())
        while (end := session.buffer.find(b"\r\n\r\n")) < 0:
            session.buffer += await session.stream.receive()
        status = bytes(session.buffer[: session.buffer.find(b"\r\n")])
        del session.buffer[: end + 4]
        if b" 101 " not in status:
            await session.stream.aclose()
            raise ConnectionError(f"upgrade refused: {status!r}")
        return session

    async def _write(self, payload: bytes, opcode: int) -> None:
        async with self.lock:
            await self.stream.send(masked_frame(payload, opcode))

    async def send(self, obj: Any) -> None:
        await self._write(msgpack.packb(obj), 0x2)

    async def recv(self) -> Any:
        """The next decoded message; ``None`` at a close frame or end of stream."""
        buffer = self.buffer
        while True:
            frame = _take_frame(buffer)
            if frame is None:
                try:
                    buffer += await self.stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return None
                continue
            opcode, payload = frame
            if opcode == 0x9:
                await self._write(payload, 0xA)
            elif opcode == 0x2:
                return msgpack.unpackb(payload)
            elif opcode == 0x1:
                return {"text": payload.decode()}
            elif opcode == 0x8:
                return None

    async def aclose(self) -> None:
        try:
            await self._write(struct.pack("!H", 1000), 0x8)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        await self.stream.aclose()


def masked_frame(payload: bytes, opcode: int) -> bytes:
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    if not n:
        return header + key
    mask = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return header + key + masked


def _take_frame(buffer: bytearray) -> tuple[int, bytes] | None:
    """Remove one complete (unmasked, unfragmented) server frame from ``buffer``."""
    if len(buffer) < 2:
        return None
    length = buffer[1] & 0x7F
    start = 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length, start = struct.unpack_from("!H", buffer, 2)[0], 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
    if len(buffer) < start + length:
        return None
    opcode = buffer[0] & 0x0F
    payload = bytes(buffer[start : start + length])
    del buffer[: start + length]
    return opcode, payload


async def _open(args: argparse.Namespace) -> tuple[Any, Callable[[], Any]]:
    """A session of the worker's client kind: (connection, its async close)."""
    if args.client == "raw":
        from warmwire.core.request_target import build_target

        path = f"/{APP}{args.endpoint}"
        target = build_target(path, token=args.token, max_buffering=MAX_BUFFERING)
        raw = await RawSession.open(args.url, target)
        return raw, raw.aclose
    import warmwire

    cm = warmwire.realtime_async(
        APP, url=args.url, path=args.endpoint, max_buffering=MAX_BUFFERING, token=args.token
    )
    conn = await cm.__aenter__()
    return conn, lambda: cm.__aexit__(None, None, None)


async def _worker(args: argparse.Namespace) -> None:
    n = args.sessions
    conns: list[Any] = [None] * n
    closers: list[Callable[[], Any]] = []
    failed = 0
    opening = anyio.Semaphore(OPENING_AT_ONCE)

    async def connect(i: int) -> None:
        nonlocal failed
        async with opening:
            try:
                conns[i], close = await _open(args)
                closers.append(close)
            except Exception as exc:
                failed += 1
                print(f"session {args.first + i}: open failed: {exc!r}", file=sys.stderr)

    with anyio.fail_after(110 + n / 10):
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(connect, i)
    print(f"ready {n - failed}", flush=True)
    with anyio.fail_after(300):
        line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
    # time.monotonic() is the parent's clock (CLOCK_MONOTONIC is system-wide); the loop's
    # clock (trio's has an offset) is what sleeps are scheduled on.
    offset = anyio.current_time() - time.monotonic()
    start = float(line) + offset
    period = 1.0 / args.rate
    count = args.count
    window_end = start + count * period
    latency = array.array("d")
    scheduled = array.array("d")
    stats = {"sent": 0, "sent_in_window": 0, "errors": 0}
    report: list[list[int] | None] = [None] * n

    async def session(i: int) -> None:
        conn = conns[i]
        index = args.first + i
        phase = period * index / args.total
        got: list[int] = []
        due_of = [start + phase + seq * period for seq in range(count)]

        async def receive() -> None:
            with anyio.move_on_after(due_of[-1] - anyio.current_time() + GRACE):
                while len(got) < count:
                    result = await conn.recv()
                    now = anyio.current_time()
                    if result is None:
                        return
                    if not isinstance(result, dict) or "seq" not in result:
                        stats["errors"] += 1
                        print(f"session {index}: unexpected {result!r}", file=sys.stderr)
                        continue
                    seq = result["seq"]
                    if result.get("session") != index:
                        got.append(-1)  # foreign: someone else's result
                        continue
                    got.append(seq)
                    if 0 <= seq < count:
                        latency.append(now - due_of[seq])
                        scheduled.append(due_of[seq] - offset)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(receive)
                for seq in range(count):
                    await anyio.sleep_until(due_of[seq])
                    await conn.send({"session": index, "seq": seq})
                    stats["sent"] += 1
                    if anyio.current_time() <= window_end:
                        stats["sent_in_window"] += 1
        except Exception as exc:
            stats["errors"] += 1
            print(f"session {index}: {exc!r}", file=sys.stderr)
        report[i] = got

    async with anyio.create_task_group() as tg:
        for i in range(n):
            if conns[i] is not None:
                tg.start_soon(session, i)
    figures = {"lost": 0, "duplicated": 0, "misordered": 0, "foreign": 0, "received": 0}
    for got in report:
        if got is None:
            figures["lost"] += count
            continue
        figures["received"] += len(got)
        mine = [seq for seq in got if seq >= 0]
        figures["foreign"] += len(got) - len(mine)
        distinct = set(mine)
        figures["lost"] += count - len(distinct & set(range(count)))
        figures["duplicated"] += len(mine) - len(distinct)
        figures["misordered"] += sum(1 for a, b in itertools.pairwise(mine) if b < a)
    out = Path(args.out)
    out.with_suffix(".lat").write_bytes(latency.tobytes())
    out.with_suffix(".due").write_bytes(scheduled.tobytes())
    out.with_suffix(".json").write_text(json.dumps({**figures, **stats, "failed_sessions": failed}))
    with anyio.move_on_after(20):
        for close in closers:
            try:
                await close()
            except Exception as exc:
                print(f"close: {exc!r}", file=sys.stderr)
    print(f"done {figures['received']}", flush=True)


# --- command line ---------------------------------------------------------------------------------


def _row(result: dict[str, Any]) -> str:
    m = result["main"]
    return (
        f"{result['backend']}: {m['sessions']} sessions x {m['seconds']:g} s x {m['rate']:g}/s "
        f"({result['client']} client, {result['workers']} workers, "
        f"{result['endpoint']}): "
        f"expected {m['expected']}, sent {m['sent']}, received {m['received']}, "
        f"lost {m['lost']}, duplicated {m['duplicated']}, misordered {m['misordered']}, "
        f"foreign {m['foreign']}, errors {m['errors']}; "
        f"send rate {m['send_rate_per_s']:.0f}/s of {m['offered_per_s']:.0f}/s; "
        f"latency p50 {_ms(m['latency_p50_ms'])}, p99 {_ms(m['latency_p99_ms'])}, "
        f"max {_ms(m['latency_max_ms'])}; runner CPU {result['runner_cpu_percent'] or 0:.0f}%, "
        f"waiting for a CPU {result['runner_runqueue_wait_percent'] or 0:.0f}%, "
        f"generators CPU {result['generators_cpu_percent'] or 0:.0f}%, "
        f"dropped {result['runner_dropped_inputs']:.0f}; "
        f"fds {result['fds']}, threads {result['threads']}, "
        f"sessions open after {result['sessions_open_after']}; "
        f"RSS {result['rss_before_kib']} -> {result['rss_after_kib']} KiB "
        f"({result['rss_growth_pct']:+.2f}%)"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument(
        "--backend", action="append", choices=["asyncio", "trio"], help="repeatable"
    )
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", default="raw", choices=["raw", "warmwire", "mixed"])
    parser.add_argument(
        "--endpoint",
        default=ENDPOINT,
        choices=ENDPOINTS,
        help="the echo app's async handler, or its sync one (default %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.worker:
        args.backend = args.backend[0]
        anyio.run(_worker, args, backend=args.backend)
        return 0
    results = []
    failed = False
    for backend in args.backend or ["asyncio", "trio"]:
        result = run_soak(
            backend=backend,
            sessions=args.sessions,
            seconds=args.seconds,
            rate=args.rate,
            warmup=args.warmup,
            workers=args.workers,
            client=args.client,
            endpoint=args.endpoint,
        )
        failures = verdict(result)
        result["failures"] = failures
        results.append(result)
        print(_row(result), flush=True)
        print(("FAIL: " + "; ".join(failures)) if failures else "PASS", flush=True)
        failed = failed or bool(failures)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
