"""``warmwire serve --workers N``: N runner processes sharing one port, as uvicorn's and
gunicorn's users expect.

Each worker is a ``warmwire serve`` process of its own, with its own ``setup()``
(its own model: one per GPU, say), listening on the same port with
``SO_REUSEPORT``, so the kernel spreads the connections over them: no process
in between, and a session stays on the worker that accepted it.  The supervisor
serves nothing itself.  It reserves the port (a socket bound with
``SO_REUSEPORT`` that never listens: ``--port 0`` then picks one port for all),
starts the workers, prints the runner's line once every worker is ready, and:

- on SIGINT or SIGTERM, passes SIGTERM to every worker, each of which drains as
  a single runner does (new sessions refused, accepted inputs finished, 1001),
  and waits for them all;
- restarts a worker that exits on its own after it was ready (its sessions are
  lost with it; the others' are not touched); a worker that fails before it is
  ready stops them all, with its output on stderr;
- if the supervisor itself is killed, each worker sees its standard input close
  and drains: no worker is left behind.

Each worker finds its index in ``$WARMWIRE_WORKER_INDEX`` (from 0) and the count
in ``$WARMWIRE_WORKERS``: to pin one worker per GPU, ``setup()`` selects the
device by its index (``torch.cuda.set_device(index)``), or sets
``CUDA_VISIBLE_DEVICES`` to it before the framework first touches CUDA.

Workers run in their own session (process group), so a terminal's Ctrl+C
reaches the supervisor only, which stops them in order.  ``/metrics`` answers
for every worker (:mod:`warmwire.runner.worker_group`).  Without
``SO_REUSEPORT`` (Windows) ``--workers`` is refused with what to do instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence

import anyio
import anyio.abc
import attrs

from warmwire.core.errors import ConfigurationError

log = logging.getLogger("warmwire.supervisor")

WORKER_INDEX = "WARMWIRE_WORKER_INDEX"
"""The environment variable telling a worker its index, from 0 (e.g. to pick its GPU)."""
WORKER_COUNT = "WARMWIRE_WORKERS"
"""The environment variable telling a worker how many workers there are."""

READY_LINE = "warmwire runner listening on "
"""How a worker (``warmwire serve``) says it accepts connections."""


def check_supported(workers: int, uds: str | None) -> None:
    """Refuse a ``--workers`` that cannot work here, saying what to do instead."""
    if workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, not {workers}")
    if workers == 1:
        return
    if uds is not None:
        raise ConfigurationError(
            "--workers shares a TCP port between processes; a Unix socket (--uds) is served "
            "by one process: drop --uds, or run one runner per socket"
        )
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigurationError(
            "--workers needs SO_REUSEPORT, which this OS lacks: run one `warmwire serve` "
            "per port behind a load balancer (see docs/scaling.md)"
        )


def run(argv: Sequence[str], *, workers: int, host: str, port: int) -> int:
    """Run ``warmwire serve ARGV`` as ``workers`` processes on one port until SIGINT/SIGTERM;
    the exit status (0 when every worker stopped cleanly)."""
    with (
        _reserved_port(host, port) as bound,
        tempfile.TemporaryDirectory(prefix="warmwire-workers-") as sockets,
    ):
        return anyio.run(_Supervisor(list(argv), workers, bound, sockets).run)


@contextlib.contextmanager
def _reserved_port(host: str, port: int) -> Iterator[int]:
    """The port the workers share, held (bound, never listening) until they have stopped."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, port))
        yield int(holder.getsockname()[1])


@attrs.define
class _Worker:
    index: int
    process: anyio.abc.Process
    ready: anyio.Event = attrs.field(factory=anyio.Event)
    url: str = ""


@attrs.define
class _Supervisor:
    argv: list[str]
    count: int
    port: int
    sockets: str
    stopping: bool = False
    failed: bool = False

    async def run(self) -> int:
        async with anyio.create_task_group() as tg:
            workers = [await self._start(tg, index) for index in range(self.count)]
            if not await self._all_ready(workers):
                self.failed = True
                await self._stop(workers)
                tg.cancel_scope.cancel()
                return 1
            print(f"{READY_LINE}{workers[0].url}", flush=True)
            pids = ", ".join(str(w.process.pid) for w in workers)
            print(f"{self.count} worker processes (pids {pids}) share the port", flush=True)
            print("Press Ctrl+C to stop.", flush=True)
            for worker in workers:
                tg.start_soon(self._keep_running, tg, workers, worker)
            await _stop_signal()
            print("stopping: draining every worker", flush=True)
            await self._stop(workers)
            tg.cancel_scope.cancel()
        return 1 if self.failed else 0

    async def _start(self, tg: anyio.abc.TaskGroup, index: int) -> _Worker:
        command = [
            sys.executable,
            "-m",
            "warmwire.cli",
            *self.argv,
            # Later options win: each worker serves the reserved port as one of the group.
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--as-worker",
            f"{index}:{self.count}:{self.sockets}",
        ]
        # What setup() reads to take its own share of the machine, e.g. one GPU each:
        # CUDA_VISIBLE_DEVICES=<index>, or torch.cuda.set_device(index).
        env = {**os.environ, WORKER_INDEX: str(index), WORKER_COUNT: str(self.count)}
        process = await anyio.open_process(
            command,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=True,
        )
        worker = _Worker(index, process)
        tg.start_soon(self._relay, worker)
        return worker

    async def _relay(self, worker: _Worker) -> None:
        """Pass the worker's output on, marked with its index; note when it is ready."""
        assert worker.process.stdout is not None
        async for line in _lines(worker.process.stdout):
            if line.startswith(READY_LINE) and not worker.ready.is_set():
                worker.url = line[len(READY_LINE) :].strip()
                worker.ready.set()
            print(f"[worker {worker.index}] {line}", flush=True)
        worker.ready.set()  # its output ended: ready or not, stop waiting for it

    async def _all_ready(self, workers: list[_Worker]) -> bool:
        for worker in workers:
            await worker.ready.wait()
            if not worker.url:
                code = await worker.process.wait()
                log.error("worker %d exited with %s before it was ready", worker.index, code)
                return False
        return True

    async def _keep_running(
        self, tg: anyio.abc.TaskGroup, workers: list[_Worker], worker: _Worker
    ) -> None:
        """Restart ``worker`` (in ``workers``) whenever it exits on its own."""
        while True:
            code = await worker.process.wait()
            if self.stopping:
                return
            log.warning("worker %d exited with %s; starting it again", worker.index, code)
            worker = await self._start(tg, worker.index)
            workers[worker.index] = worker
            if not await self._all_ready([worker]):
                self.failed = True
                return

    async def _stop(self, workers: list[_Worker]) -> None:
        """SIGTERM to every worker (each drains), then wait for them all."""
        self.stopping = True
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in workers:
            code = await worker.process.wait()
            if code != 0:
                log.error("worker %d exited with %s", worker.index, code)
                self.failed = True
            assert worker.process.stdin is not None
            await worker.process.stdin.aclose()


async def _lines(stream: anyio.abc.ByteReceiveStream) -> AsyncIterator[str]:
    pending = b""
    async for chunk in stream:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")


async def _stop_signal() -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            return
