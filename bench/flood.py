"""Good sessions' latency, quiet and under a flood of bad-token connection attempts.

``python -m bench.flood`` (``make bench-flood``) starts one ``warmwire serve``
runner with a signing key (tokens required), then runs two rounds of the same
good sessions (default 50 sessions streaming numbered inputs at 20/s each, with
a valid token, from a load-generator process; see :mod:`bench.soak`):

1. **quiet**: the good sessions alone;
2. **flood**: the same, while flooder processes (``python -m bench.flood
   --flooder ...``) make 5,000 WebSocket connection attempts with bad tokens
   (garbage, signed by another key, expired), as fast as their concurrency
   allows, starting ``--flood-delay`` seconds into the round.

Every bad attempt must be refused the documented way (upgrade, then an
``Unauthorized`` message and a close with code 1008); every good input's result
must arrive, once, in order.  It prints the good sessions' p50 and p99 latency
(from each input's scheduled send time) in both rounds, over the flood's
window (inputs scheduled while the flood ran) and over the whole round, and
the flood/quiet ratios.  The machine's two cores are shared by the runner, the
good sessions' generator and the flooders: the flooders' own CPU is part of
what the good sessions feel.

The runner answers token refusals at ``RunnerConfig.max_refusal_rate`` (100/s
by default) past a small burst, so the 5,000 attempts take about 50 s and
outlast the 20 s round: the flood's window is the part of it inside the round,
and the runner's flood-round CPU is counted to the flood's end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc

from bench.soak import (
    APP,
    ENDPOINT,
    ROOT,
    RunnerProcess,
    _take_frame,
    percentile,
    run_round,
    schedstat,
    worker_env,
)


def _tokens(pem: Path) -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from warmwire.auth.tokens import TokenIssuer, load_signing_key

    ours = TokenIssuer(load_signing_key(pem))
    theirs = TokenIssuer(Ed25519PrivateKey.generate())
    return {
        "good": ours.mint("bench", [APP], 3600),
        "garbage": "bad.token.value",
        "other_key": theirs.mint("bench", [APP], 3600),
        "expired": ours.mint("bench", [APP], -600),
    }


def run_flood(
    *,
    backend: str = "asyncio",
    sessions: int = 50,
    rate: float = 20.0,
    seconds: float = 20.0,
    attempts: int = 5000,
    flooders: int = 2,
    concurrency: int = 25,
    flood_delay: float = 2.0,
    nice: int = 0,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="warmwire-flood-") as name:
        tmp = Path(name)
        pem = tmp / "signing.pem"
        subprocess.run(
            [sys.executable, "-m", "warmwire.cli", "keys", "generate", str(pem)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tokens = _tokens(pem)
        bad = [tokens["garbage"], tokens["other_key"], tokens["expired"]]
        runner = RunnerProcess(backend, tmp, extra_args=["--signing-key", str(pem)])
        procs: list[subprocess.Popen[str]] = []
        try:
            common: dict[str, Any] = dict(
                backend=backend,
                sessions=sessions,
                seconds=seconds,
                rate=rate,
                workers=1,
                client="raw",
                tmp=tmp,
                token=tokens["good"],
            )
            quiet_cpu: list[float] = []

            def mark(start: float, _pids: list[int]) -> None:
                quiet_cpu.append(schedstat(runner.pid)[0])

            quiet = run_round(runner.url, on_start=mark, **common)
            quiet_cpu.append(schedstat(runner.pid)[0])
            refused_before = runner.metric("warmwire_refused_connections_total", 0.0)
            outs = [tmp / f"flooder{i}.json" for i in range(flooders)]
            shares = [attempts // flooders + (i < attempts % flooders) for i in range(flooders)]
            cpu: dict[str, float] = {}

            def launch(start: float, _pids: list[int]) -> None:
                cpu["start"] = schedstat(runner.pid)[0]
                cpu["wall_start"] = time.monotonic()
                for share, out in zip(shares, outs, strict=True):
                    argv = [sys.executable, "-m", "bench.flood", "--flooder"]
                    argv += [f"--url={runner.url}", f"--attempts={share}"]
                    argv += [f"--concurrency={concurrency}", f"--at={start + flood_delay}"]
                    argv += [f"--out={out}", f"--nice={nice}", *(f"--bad={t}" for t in bad)]
                    procs.append(subprocess.Popen(argv, env=worker_env(), cwd=ROOT, text=True))

            flood = run_round(runner.url, on_start=launch, **common)
            for p in procs:
                p.wait(120)
            cpu["end"] = schedstat(runner.pid)[0]
            cpu["wall_end"] = time.monotonic()
            refused_after = runner.metric("warmwire_refused_connections_total", 0.0)
            flooded = [json.loads(out.read_text()) for out in outs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
            runner.stop()
    begin = min(f["begin"] for f in flooded)
    end = max(f["end"] for f in flooded)
    outcomes: dict[str, int] = {}
    for f in flooded:
        for key, value in f["outcomes"].items():
            outcomes[key] = outcomes.get(key, 0) + value

    def window(figures: dict[str, Any], lo: float, hi: float) -> dict[str, Any]:
        lat = sorted(
            latency
            for latency, due in zip(figures["_latency"], figures["_scheduled"], strict=True)
            if lo <= due <= hi
        )
        if not lat:
            return {"count": 0, "p50_ms": None, "p99_ms": None}
        return {
            "count": len(lat),
            "p50_ms": 1000 * percentile(lat, 50),
            "p99_ms": 1000 * percentile(lat, 99),
        }

    # The quiet round's matching window: the same offsets from its start.
    quiet_window = window(
        quiet, quiet["start"] + (begin - flood["start"]), quiet["start"] + (end - flood["start"])
    )
    flood_window = window(flood, begin, end)
    whole = {name: window(r, -1e18, 1e18) for name, r in (("quiet", quiet), ("flood", flood))}
    for r in (quiet, flood):
        r.pop("_latency")
        r.pop("_scheduled")
    return {
        "backend": backend,
        "good_sessions": sessions,
        "rate": rate,
        "seconds": seconds,
        "attempts": attempts,
        "flooders": flooders,
        "concurrency": concurrency,
        "flooders_nice": nice,
        "load_average": os.getloadavg(),
        "flood_seconds": end - begin,
        "attempts_per_s": attempts / (end - begin) if end > begin else None,
        "outcomes": outcomes,
        "runner_refused_metric": refused_after - refused_before,
        "runner_cpu_percent_quiet_round": 100 * (quiet_cpu[1] - quiet_cpu[0]) / seconds,
        # Over the round and the rest of the flood: a paced flood outlasts the round
        # (RunnerConfig.max_refusal_rate), and its refusals are counted to their end.
        "flood_round_seconds": cpu["wall_end"] - cpu["wall_start"],
        "runner_cpu_percent_flood_round": 100
        * (cpu["end"] - cpu["start"])
        / (cpu["wall_end"] - cpu["wall_start"]),
        "runner_cpu_ms_per_refusal": 1000
        * ((cpu["end"] - cpu["start"]) - (quiet_cpu[1] - quiet_cpu[0]))
        / attempts,
        "quiet": quiet,
        "flood": flood,
        "window": {"quiet": quiet_window, "flood": flood_window},
        "whole": whole,
    }


def verdict(result: dict[str, Any]) -> list[str]:
    failures = []
    for name in ("quiet", "flood"):
        r = result[name]
        for key in ("lost", "duplicated", "misordered", "foreign", "errors", "failed_sessions"):
            if r[key]:
                failures.append(f"{name}: {key} = {r[key]}")
        if r["received"] != r["expected"]:
            failures.append(f"{name}: received {r['received']} of {r['expected']}")
    refused = result["outcomes"].get("refused_1008", 0)
    if refused != result["attempts"]:
        failures.append(f"bad attempts refused with 1008: {refused} of {result['attempts']}")
    if result["runner_refused_metric"] != result["attempts"]:
        failures.append(f"runner counted {result['runner_refused_metric']} refusals")
    return failures


# --- a flooder process ----------------------------------------------------------------------------


async def _attempt(url: str, token: str) -> str:
    """One upgrade with a bad token; how it ended (``refused_1008`` is the documented way)."""
    from warmwire.core.request_target import build_target

    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    target = build_target(f"/{APP}{ENDPOINT}", token=token)
    try:
        stream = await anyio.connect_tcp(parts.hostname, parts.port)
    except OSError as exc:
        return f"connect_{type(exc).__name__}"
    async with stream:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        buffer = bytearray()
        unauthorized = False
        try:
            await stream.send(request.encode())
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                buffer += await stream.receive()
            if not buffer.startswith(b"HTTP/1.1 101"):
                return "status_" + bytes(buffer[9:12]).decode(errors="replace")
            del buffer[: end + 4]
            while True:
                frame = _take_frame(buffer)
                if frame is None:
                    buffer += await stream.receive()
                    continue
                opcode, payload = frame
                if opcode == 0x1 and json.loads(payload).get("error") == "Unauthorized":
                    unauthorized = True
                elif opcode == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    if unauthorized and code == 1008:
                        return "refused_1008"
                    return f"closed_{code}_unauthorized_{unauthorized}"
                else:
                    return f"unexpected_opcode_{opcode}"
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
            return f"cut_{type(exc).__name__}"


async def _flooder(args: argparse.Namespace) -> None:
    at = args.at + (anyio.current_time() - time.monotonic())
    await anyio.sleep_until(at)
    outcomes: dict[str, int] = {}
    begin = time.monotonic()
    todo = iter(range(args.attempts))

    async def worker() -> None:
        for i in todo:
            outcome = await _attempt(args.url, args.bad[i % len(args.bad)])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    with anyio.fail_after(110):
        async with anyio.create_task_group() as tg:
            for _ in range(args.concurrency):
                tg.start_soon(worker)
    end = time.monotonic()
    figures = json.dumps({"begin": begin, "end": end, "outcomes": outcomes})
    await anyio.Path(args.out).write_text(figures)


# --- command line ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or not b else f"{a / b:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flooder", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--bad", action="append", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--sessions", type=int, default=50, help="good sessions")
    parser.add_argument("--rate", type=float, default=20.0, help="inputs/s per good session")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each round")
    parser.add_argument("--attempts", type=int, default=5000, help="bad-token attempts")
    parser.add_argument("--flooders", type=int, default=2, help="flooder processes")
    parser.add_argument("--concurrency", type=int, default=25, help="attempts at once each")
    parser.add_argument("--flood-delay", type=float, default=2.0)
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the flooders at this niceness (19: they get only CPU the others leave)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.flooder:
        if args.nice:
            os.nice(args.nice)
        anyio.run(_flooder, args)
        return 0
    result = run_flood(
        backend=args.backend,
        sessions=args.sessions,
        rate=args.rate,
        seconds=args.seconds,
        attempts=args.attempts,
        flooders=args.flooders,
        concurrency=args.concurrency,
        flood_delay=args.flood_delay,
        nice=args.nice,
    )
    q, f = result["window"]["quiet"], result["window"]["flood"]
    wq, wf = result["whole"]["quiet"], result["whole"]["flood"]
    print(
        f"{result['backend']}: {result['good_sessions']} good sessions x {result['rate']:g}/s, "
        f"{result['seconds']:g} s rounds; flood: {result['attempts']} bad-token attempts from "
        f"{result['flooders']} processes in {result['flood_seconds']:.1f} s "
        f"({result['attempts_per_s'] or 0:.0f}/s); outcomes {result['outcomes']}; "
        f"runner counted {result['runner_refused_metric']:.0f} refusals; runner CPU over the "
        f"quiet round {result['runner_cpu_percent_quiet_round']:.0f}%, the flood round "
        f"({result['flood_round_seconds']:.0f} s, to the flood's end) "
        f"{result['runner_cpu_percent_flood_round']:.0f}% (about "
        f"{result['runner_cpu_ms_per_refusal']:.2f} ms per refusal); flooders' niceness "
        f"{result['flooders_nice']}; load average {result['load_average']}"
    )
    print(
        f"  during the flood window: quiet p50 {_ms(q['p50_ms'])} p99 {_ms(q['p99_ms'])} "
        f"({q['count']} results); flood p50 {_ms(f['p50_ms'])} p99 {_ms(f['p99_ms'])} "
        f"({f['count']} results); ratio p50 {_ratio(f['p50_ms'], q['p50_ms'])}, "
        f"p99 {_ratio(f['p99_ms'], q['p99_ms'])}"
    )
    print(
        f"  whole rounds: quiet p50 {_ms(wq['p50_ms'])} p99 {_ms(wq['p99_ms'])}; flood p50 "
        f"{_ms(wf['p50_ms'])} p99 {_ms(wf['p99_ms'])}; ratio p99 "
        f"{_ratio(wf['p99_ms'], wq['p99_ms'])}"
    )
    failures = verdict(result)
    print(("FAIL: " + "; ".join(failures)) if failures else "correctness: PASS")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
