"""Server processes: start one, read its ``ready <url>`` line, stop it, watch its CPU and memory."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import attrs
import psutil


@attrs.define
class ServerProcess:
    """A server the bench started; ``url`` is what its clients dial."""

    name: str
    argv: list[str]
    log_dir: Path
    url: str = ""
    token: str | None = None
    api_key: str | None = None
    popen: subprocess.Popen[str] | None = None
    _log: IO[str] | None = None

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://", 1).replace("tcp://", "http://", 1)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.pid)

    def start(self, timeout: float = 60.0, env: dict[str, str] | None = None) -> ServerProcess:
        self._log = open(self.log_dir / f"{self.name}.log", "w")  # noqa: SIM115
        self.popen = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=Path(__file__).resolve().parent.parent,
        )
        self.url = _wait_ready(self.popen, timeout, self.name, self.log_dir)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        if self._log is not None:
            self._log.close()


def _wait_ready(popen: subprocess.Popen[str], timeout: float, name: str, log_dir: Path) -> str:
    """The URL from the server's ``ready <url>`` line, read within ``timeout`` seconds."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            raise RuntimeError(
                f"the {name} server exited before it was ready; see {log_dir / name}.log"
            )
        if line.startswith("ready "):
            return line.split()[1]
    popen.kill()
    raise RuntimeError(f"the {name} server was not ready within {timeout}s")


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of all the process's threads: nanoseconds from /proc/PID/task/*/schedstat
    on Linux (psutil's user+system times tick at 10 ms, too coarse for one batch)."""
    total = 0
    try:
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended meanwhile
    except OSError:
        times = process.cpu_times()
        return float(times.user + times.system)
    return total / 1e9


def memory(process: psutil.Process) -> dict[str, Any]:
    """RSS and USS in bytes (USS: memory only this process holds)."""
    info = process.memory_full_info()
    return {"rss": info.rss, "uss": info.uss}
