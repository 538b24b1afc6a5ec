"""``warmwire serve --workers N``: N processes on one port, each with its own setup().

Real processes (the supervisor and its workers, started by the test as a user
would), real loopback connections spread by the kernel (``SO_REUSEPORT``), real
signals.  The app answers with the pid that served the input and the pid that
ran its ``setup()``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import warmwire
from helpers.polling import wait_until_sync
from helpers.processes import RunnerProcess, run_cli, start_runner

APPS = Path(__file__).parent / "apps"
PIDS_LINE = re.compile(r"^(\d+) worker processes \(pids ([\d, ]+)\) share the port$")
RESTARTED = re.compile(r"worker (\d+) exited with .*; starting it again")


def serve(*extra: str) -> tuple[str, ...]:
    return ("serve", "pids:Pids", "--port", "0", "--insecure-no-auth", "--workers", "2", *extra)


def worker_pids(runner: RunnerProcess) -> list[int]:
    match = runner.output.wait_for(PIDS_LINE, 10)
    assert match.group(1) == "2"
    return [int(pid) for pid in match.group(2).split(", ")]


def served_by(url: str) -> int:
    """Open a session, send one input: the pid of the worker that served it."""
    with warmwire.realtime("test/pids", url=url, open_timeout=10) as conn:
        conn.send({})
        answer = conn.recv(timeout=10)
    assert answer["pid"] == answer["setup_pid"], "each worker runs its own setup()"
    WORKER_INDEXES.setdefault(answer["pid"], answer["index"])
    return int(answer["pid"])


WORKER_INDEXES: dict[int, str] = {}
"""Each worker's ``$WARMWIRE_WORKER_INDEX``, by pid, as the app saw it."""


def sessions_until_both(url: str, workers: set[int]) -> int:
    """Open sessions until each of ``workers`` has served one; how many were opened."""
    seen: set[int] = set()
    opened = 0
    # The kernel picks a worker per connection (by its addresses' hash): a few dozen
    # connections reach both unless one worker never gets any.
    while seen != workers:
        assert opened < 200, f"after {opened} sessions only workers {seen} of {workers} served"
        seen.add(served_by(url))
        opened += 1
    return opened


def gone(pid: int) -> bool:
    """The process has ended (a zombie no one has reaped yet counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_workers_share_the_port_and_metrics_count_them_all(backend: str) -> None:
    with start_runner(*serve("--backend", backend), cwd=APPS) as runner:
        pids = worker_pids(runner)
        opened = sessions_until_both(runner.url, set(pids))
        # Each knows its index (to pick its own GPU, say).
        assert [WORKER_INDEXES[pid] for pid in pids] == ["0", "1"]
        # Every scrape answers for both workers, whichever worker it reached.
        for _ in range(4):
            response = httpx.get(f"{runner.http_url}/metrics", timeout=10)
            assert response.status_code == 200, response.text
            families = {f.name: f for f in text_string_to_metric_families(response.text)}
            opened_by_worker = {
                s.labels["worker"]: s.value
                for s in families["warmwire_sessions"].samples
                if s.name == "warmwire_sessions_total"
            }
            assert set(opened_by_worker) == {"0", "1"}
            assert sum(opened_by_worker.values()) == opened
        # /ready and /health are each worker's own, as a balancer's probe expects.
        assert httpx.get(f"{runner.http_url}/ready", timeout=10).json()["ready"] is True
        assert runner.stop() == 0
    assert all(gone(pid) for pid in pids)


def test_sigterm_drains_every_worker() -> None:
    with start_runner(*serve(), cwd=APPS) as runner:
        pids = worker_pids(runner)
        with contextlib.ExitStack() as stack:
            # Sessions left open on both workers.
            sessions = []
            served: set[int] = set()
            while served != set(pids):
                assert len(sessions) < 100, f"only workers {served} of {pids} took a session"
                conn = stack.enter_context(warmwire.realtime("test/pids", url=runner.url))
                conn.send({})
                served.add(conn.recv(timeout=10)["pid"])
                sessions.append(conn)
            runner.proc.send_signal(signal.SIGTERM)
            for conn in sessions:
                # Each worker drained: its sessions closed with 1001 ("going away").
                with pytest.raises(warmwire.ConnectionClosedError) as closed:
                    conn.recv(timeout=15)
                assert closed.value.code == 1001
        assert runner.proc.wait(15) == 0
    assert all(gone(pid) for pid in pids)
    assert "stopping: draining every worker" in runner.output.text


def test_a_worker_that_dies_is_started_again() -> None:
    with start_runner(*serve(), cwd=APPS) as runner:
        first, second = worker_pids(runner)
        os.kill(first, signal.SIGKILL)
        runner.output.wait_for(RESTARTED, 15)
        runner.output.wait_for(re.compile(r"^\[worker \d\] warmwire runner listening on "), 30)
        wait_until_sync(lambda: gone(first), "the killed worker reaped")
        served: set[int] = set()
        for _ in range(200):  # until the other worker and the new one have both served
            served.add(served_by(runner.url))
            if len(served) == 2:
                break
        assert first not in served
        assert second in served, "the other worker kept serving"
        assert runner.stop() == 0


def test_workers_stop_when_the_supervisor_is_killed() -> None:
    with start_runner(*serve(), cwd=APPS) as runner:
        pids = worker_pids(runner)
        runner.proc.kill()  # SIGKILL: no chance to stop its workers itself
        runner.proc.wait(10)
        wait_until_sync(lambda: all(gone(pid) for pid in pids), "workers gone", within=20)


def test_workers_need_a_tcp_port() -> None:
    done = run_cli(*serve("--uds", "/tmp/warmwire-never.sock"))
    assert done.returncode == 2
    assert "--workers shares a TCP port" in done.stderr
