"""``make conformance``: the Autobahn TestSuite cases against warmwire, both roles.

- server: kosoku's fuzzing client dials ``warmwire serve
  warmwire.examples.raw_echo:RawEcho`` (a raw endpoint that echoes every
  message unchanged, on any path) and plays sections 1-10.  It then plays
  sections 12-13, which offer permessage-deflate: warmwire does not negotiate
  extensions, so a conforming runner declines the offer and each case must
  end ``UNIMPLEMENTED`` with a clean close (or pass, should it ever accept).
- client: kosoku's fuzzing server plays sections 1-10 to
  ``conformance/client_driver.py``, warmwire's own client (async, then
  blocking) echoing every message.

Prints one ``ROLE: N passed, N failed`` line per run, lists every case that
did not pass with kosoku's explanation, and exits 1 if any case failed, a
process misbehaved or a run overran ``--timeout``.  Everything it starts is
stopped before it exits.  The runner's keepalive pings are switched off: an
unsolicited ping is legal, but the cases compare the exact events they see.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
from kosoku import FailureError, run_fuzzingclient, run_fuzzingserver

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [f"{n}.*" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10)]
"""Sections 1-10: the suite has no section 8."""
DEFLATE_SECTIONS = ["12.*", "13.*"]
"""permessage-deflate: offered by the suite, declined by warmwire."""
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""Section 9 sends messages of up to 16 MiB."""
STOP_TIMEOUT = 30.0
"""How long a process we started may take to exit after SIGTERM before it is killed."""
_LISTENING = re.compile(r"warmwire runner listening on (ws://\S+)")


class RunError(Exception):
    """A process we started failed, or a run overran its time."""


@attrs.frozen
class Tally:
    """The verdicts of one run."""

    role: str
    results: tuple[Any, ...]
    seconds: float
    declined_ok: bool = False
    """Count an UNIMPLEMENTED case with a clean close as declined, not failed."""

    def declined(self, result: Any) -> bool:
        return (
            self.declined_ok
            and result.behavior.value == "UNIMPLEMENTED"
            and result.behavior_close.value == "OK"
        )

    @property
    def passed(self) -> list[Any]:
        return [r for r in self.results if r.passed]

    @property
    def failed(self) -> list[Any]:
        return [r for r in self.results if not r.passed and not self.declined(r)]

    def summary(self) -> str:
        declined = sum(1 for r in self.results if not r.passed and self.declined(r))
        extra = f", {declined} declined" if self.declined_ok else ""
        return f"{self.role}: {len(self.passed)} passed{extra}, {len(self.failed)} failed"


# -- processes --------------------------------------------------------------------------------


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (the runner drains and tears down), then SIGKILL after ``STOP_TIMEOUT``."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


@contextlib.asynccontextmanager
async def raw_echo_runner(startup_timeout: float) -> AsyncIterator[str]:
    """Run ``warmwire serve`` with the raw echo app on a free loopback port; yield its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "warmwire",
        "serve",
        "warmwire.examples.raw_echo:RawEcho",
        "--insecure-no-auth",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ping-interval",
        "0",
        "--max-message-size",
        str(MAX_MESSAGE_SIZE),
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        url = await asyncio.wait_for(_read_url(proc.stdout), startup_timeout)
        yield url
    finally:
        await stop(proc)
        if proc.returncode not in (0, -signal.SIGTERM):
            raise RunError(f"warmwire serve exited with {proc.returncode}")


async def _read_url(stdout: asyncio.StreamReader) -> str:
    while line := await stdout.readline():
        match = _LISTENING.search(line.decode(errors="replace"))
        if match:
            return match.group(1)
    raise RunError("warmwire serve exited before listening; see its errors above")


# -- the two roles ----------------------------------------------------------------------------


async def fuzzingclient(url: str, cases: Sequence[str]) -> list[Any]:
    """kosoku drives the server at ``url``; every selected case's result, passed or not."""
    try:
        return list(await run_fuzzingclient(url, list(cases)))
    except FailureError as failure:
        return list(failure.results)


async def server_role(timeout: float) -> list[Tally]:
    tallies = []
    async with raw_echo_runner(timeout) as url:
        # Any path reaches the raw endpoint: dial the bare root, as Autobahn users do.
        root = url.rstrip("/") + "/"
        for role, cases, declined_ok in (
            ("server", SECTIONS, False),
            ("server-deflate", DEFLATE_SECTIONS, True),
        ):
            started = time.perf_counter()
            results = await _bounded(fuzzingclient(root, cases), timeout, role)
            tallies.append(Tally(role, tuple(results), time.perf_counter() - started, declined_ok))
    return tallies


async def client_role(timeout: float, *, sync: bool) -> list[Tally]:
    role = "client-sync" if sync else "client-async"
    started = time.perf_counter()
    async with run_fuzzingserver(SECTIONS, host="127.0.0.1", port=0) as server:
        driver = [
            sys.executable,
            str(ROOT / "conformance" / "client_driver.py"),
            f"ws://{server.address}:{server.port}",
            "--agent",
            "warmwire",
        ]
        if sync:
            driver.append("--sync")
        proc = await asyncio.create_subprocess_exec(*driver, stdin=asyncio.subprocess.DEVNULL)
        try:
            code = await _bounded(proc.wait(), timeout, role)
        finally:
            await stop(proc)
        if code != 0:
            raise RunError(f"{role}: the client driver exited with {code}")
        # The driver's /updateReports ended the run: the results are final.
        try:
            results = list(await _bounded(server.get_result(), STOP_TIMEOUT, role))
        except FailureError as failure:
            results = list(failure.results)
    return [Tally(role, tuple(results), time.perf_counter() - started)]


async def _bounded(awaitable: Any, timeout: float, role: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise RunError(f"{role}: not finished within {timeout:.0f}s") from None


# -- reporting --------------------------------------------------------------------------------


def describe_failure(result: Any) -> str:
    return (
        f"    {result.case_id}: behavior={result.behavior.value} "
        f"close={result.behavior_close.value}: {result.result} / {result.result_close}"
    )


def write_report(directory: Path, tally: Tally) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    cases = {
        r.case_id: {
            "behavior": r.behavior.value,
            "behaviorClose": r.behavior_close.value,
            "result": r.result,
            "resultClose": r.result_close,
            "description": r.description,
            "localCloseCode": r.local_close_code,
            "remoteCloseCode": r.remote_close_code,
            "durationMs": r.duration,
        }
        for r in tally.results
    }
    (directory / f"{tally.role}.json").write_text(json.dumps(cases, indent=2) + "\n")


async def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    tallies: list[Tally] = []
    errors: list[str] = []
    steps: list[Callable[[], Awaitable[list[Tally]]]] = []
    if args.role in ("server", "both"):
        steps.append(lambda: server_role(args.timeout))
    if args.role in ("client", "both"):
        steps.append(lambda: client_role(args.timeout, sync=False))
        steps.append(lambda: client_role(args.timeout, sync=True))
    for step in steps:
        try:
            produced = await step()
        except RunError as exc:
            errors.append(str(exc))
            print(f"error: {exc}", flush=True)
            continue
        for tally in produced:
            tallies.append(tally)
            print(tally.summary(), flush=True)
            for result in tally.failed:
                print(describe_failure(result), flush=True)
            if args.reports is not None:
                write_report(args.reports, tally)
    core = [t for t in tallies if not t.declined_ok]
    ids = {t.role: {r.case_id for r in t.results} for t in core}
    if len({frozenset(v) for v in ids.values()}) > 1:
        errors.append(
            "the roles ran different case sets: "
            + ", ".join(f"{role}={len(v)}" for role, v in ids.items())
        )
        print(f"error: {errors[-1]}", flush=True)
    if any(not t.results for t in tallies):
        errors.append("a run produced no results")
        print(f"error: {errors[-1]}", flush=True)
    times = "".join(f"{t.role} {t.seconds:.1f}s, " for t in tallies)
    print(f"time: {times}total {time.perf_counter() - started:.1f}s", flush=True)
    failed = sum(len(t.failed) for t in tallies) + len(errors)
    passed = sum(len(t.passed) for t in core)
    print(f"conformance: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--role", choices=["server", "client", "both"], default="both", help="what to test"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds each run may take (%(default)s)"
    )
    parser.add_argument(
        "--reports", type=Path, help="write each run's verdicts, per case, as ROLE.json here"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
