"""The ``warmwire`` command in its own process, the way a user runs it.

- :func:`run_cli`: run a command to completion (``keys generate``, ``token``, usage errors);
- :func:`start_runner`: start a long-running command (``serve``, ``token-server``), wait,
  bounded, for the URL it prints, and stop it on exit: SIGTERM, then SIGKILL;
- :func:`start_runner_async`: the same for async tests, whose event loop must keep
  running while the process starts (a client reconnecting in the background).

Readiness is the printed URL line, never a sleep.  The child's stderr goes to the same
pipe as its stdout, so a failure shows everything it printed, in order.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import anyio
import anyio.abc
import attrs
import pytest

CLI = [sys.executable, "-m", "warmwire.cli"]
"""``warmwire`` as this interpreter runs it (the venv's, whatever is on ``$PATH``)."""

URL_LINE = re.compile(r"^warmwire runner listening on (\S+)$")
"""What ``warmwire serve`` and ``warmwire token-server`` print once they accept connections."""

ENV = {
    **{
        name: value
        for name, value in os.environ.items()
        # A developer's own credentials and runner must not reach the commands under test.
        if name not in ("WARMWIRE_KEY", "WARMWIRE_KEYS", "WARMWIRE_URL")
    },
    "COLUMNS": "120",  # rich's tables wrap at the terminal's width: fix it
    "PYTHONUNBUFFERED": "1",  # each line reaches the pipe when printed
}
"""The environment the commands run in."""

START_TIMEOUT = 30.0
"""Upper bound, in seconds, for a runner to print its URL."""

STOP_TIMEOUT = 15.0
"""Upper bound, in seconds, for a runner to exit after SIGTERM before it is killed."""


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``warmwire ARGS`` to completion, its output captured (stdout and stderr apart)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=ENV, check=False
    )


class LineReader:
    """Reads a child's output on a thread so the test can wait for a line with a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._stream = proc.stdout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        """The lines taken from the child so far, in order."""
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        # Reads to the end so the child never blocks on a full pipe.
        for line in self._stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        """The first line from now on matching ``pattern``; the test fails after ``timeout`` s
        or if the child closes its output first, showing what it printed."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the process ended before printing {pattern.pattern!r}:\n{self.text}")
            self.seen.append(line)
            if match := pattern.search(line):
                return match
        pytest.fail(f"no line matching {pattern.pattern!r} within {timeout}s:\n{self.text}")

    def finish(self, timeout: float = 10) -> str:
        """All the output, once the process has closed it."""
        self._thread.join(timeout)
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return self.text
            if line is not None:
                self.seen.append(line)

    @property
    def text(self) -> str:
        """The lines seen so far, joined."""
        return "\n".join(self.seen)


@attrs.frozen
class RunnerProcess:
    """A ``warmwire`` command running in its own process, past its URL line."""

    proc: subprocess.Popen[str]
    url: str
    """The URL it printed (``ws://127.0.0.1:PORT`` for a runner)."""
    output: LineReader
    """Everything it printed (stdout and stderr); complete once the block has exited."""

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT``: the same port's HTTP routes (health, metrics, tokens)."""
        return self.url.replace("ws://", "http://", 1)

    def stop(self, signum: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send ``signum`` and wait for the exit code; a process still running after
        ``timeout`` s is killed and the test fails with its output."""
        return _stop(self.proc, self.output, signum, timeout)


def _stop(
    proc: subprocess.Popen[str], output: LineReader, signum: signal.Signals, timeout: float
) -> int:
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signum)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        output.finish()
        pytest.fail(
            f"the process did not exit within {timeout}s of {signum.name}; killed. "
            f"Its output:\n{output.text}"
        )


@contextmanager
def start_runner(
    *args: str,
    env: Mapping[str, str] = ENV,
    cwd: Path | None = None,
    ready: re.Pattern[str] = URL_LINE,
    start_timeout: float = START_TIMEOUT,
    stop_timeout: float = STOP_TIMEOUT,
) -> Iterator[RunnerProcess]:
    """``warmwire ARGS`` (``serve ...``, ``token-server ...``), once it has printed its URL.

    ``ready`` matches the line that carries the URL (its first group): the default is
    the runner's; ``warmwire demo --web`` prints its page's.

    Leaving the block stops it if it still runs (SIGTERM, then SIGKILL after
    ``stop_timeout`` s, which fails the test) and collects its output.
    """
    proc = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env),
        cwd=cwd,
    )
    output = LineReader(proc)
    try:
        url = output.wait_for(ready, start_timeout).group(1)
        yield RunnerProcess(proc, url, output)
    finally:
        try:
            _stop(proc, output, signal.SIGTERM, stop_timeout)
        finally:
            if proc.poll() is None:  # only when the wait itself was interrupted
                proc.kill()
                proc.wait(10)
            output.finish()
            assert proc.stdout is not None
            proc.stdout.close()


@attrs.frozen
class AsyncRunnerProcess:
    """:class:`RunnerProcess` for async tests: the process as anyio holds it."""

    process: anyio.abc.Process
    url: str


@asynccontextmanager
async def start_runner_async(
    *args: str, start_timeout: float = START_TIMEOUT
) -> AsyncIterator[AsyncRunnerProcess]:
    """``warmwire ARGS`` once it has printed its URL, without blocking the test's event loop.

    Its output is drained in the background (so it never blocks on a full pipe) until
    the block exits; then it is killed if still running.  Tests that kill it mid-session
    (``send_signal(SIGKILL)``) use :attr:`AsyncRunnerProcess.process`.
    """
    # The whole line, newline included: a read may end in the middle of the URL.
    url_line = re.compile(rb"^warmwire runner listening on (\S+)\r?\n", re.MULTILINE)
    process = await anyio.open_process(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ENV
    )
    try:
        assert process.stdout is not None
        output = b""
        with anyio.move_on_after(start_timeout):
            while (match := url_line.search(output)) is None:
                try:
                    output += await process.stdout.receive()
                except anyio.EndOfStream:
                    pytest.fail(
                        f"warmwire {' '.join(args)} ended before printing its URL:\n"
                        + output.decode(errors="replace")
                    )
        if match is None:
            pytest.fail(
                f"warmwire {' '.join(args)} printed no URL within {start_timeout}s:\n"
                + output.decode(errors="replace")
            )
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, process.stdout)
            yield AsyncRunnerProcess(process, match.group(1).decode())
            tg.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        with anyio.fail_after(10, shield=True):
            await process.wait()
        await process.aclose()


async def _drain(stream: anyio.abc.ByteReceiveStream) -> None:
    try:
        async for _ in stream:
            pass
    except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
