"""The ``warmwire`` command, run as a real subprocess the way a user runs it."""

from __future__ import annotations

import io
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

import warmwire
from helpers.processes import RunnerProcess, run_cli, start_runner
from warmwire.cli import UsageError, load_app, main
from warmwire.demo import run_demo
from warmwire.examples.echo import Echo


@pytest.fixture
def serve_echo(request: pytest.FixtureRequest) -> Iterator[RunnerProcess]:
    """``warmwire serve warmwire.examples.echo:Echo`` on a free port, under ``request.param``."""
    backend: str = request.param
    args = ["serve", "warmwire.examples.echo:Echo", "--insecure-no-auth", "--port", "0"]
    with start_runner(*args, "--backend", backend) as served:
        yield served


# --- serve -------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("serve_echo", ["asyncio", "trio"], indirect=True)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_round_trips_then_stops_cleanly_on_signal(
    serve_echo: RunnerProcess, signum: signal.Signals
) -> None:
    proc = serve_echo.proc
    assert serve_echo.url.startswith("ws://127.0.0.1:")
    with warmwire.realtime("warmwire/echo", url=serve_echo.url) as conn:
        conn.send({"n": 1, "blob": b"\x00" * 1000})
        assert conn.recv(timeout=10) == {"n": 1, "blob": b"\x00" * 1000}

    proc.send_signal(signum)
    assert proc.wait(timeout=15) == 0
    output = serve_echo.output.finish()
    assert "stopping" in output
    assert "Traceback" not in output


def test_serve_without_auth_explains_the_flag() -> None:
    done = run_cli("serve", "warmwire.examples.echo:Echo", "--port", "0")
    assert done.returncode == 2
    assert "--insecure-no-auth" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_serve_bad_target_exits_2_with_a_clear_message() -> None:
    done = run_cli("serve", "warmwire.examples.nope:Echo", "--insecure-no-auth")
    assert done.returncode == 2
    assert "cannot import 'warmwire.examples.nope'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("warmwire.examples.echo", "is not MODULE:CLASS; write e.g. warmwire.examples.echo:Echo"),
        (":Echo", "is not MODULE:CLASS"),
        ("warmwire.examples.nope:Echo", "no module named 'warmwire.examples.nope'"),
        ("warmwire.examples.echo:Nope", "module 'warmwire.examples.echo' has no 'Nope'"),
        ("warmwire.runner:Runner", "is a class, not a subclass of warmwire.runner.App"),
        ("warmwire.runner:serve", "is a function, not a subclass of warmwire.runner.App"),
    ],
)
def test_load_app_says_what_is_wrong(target: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        load_app(target)


def test_load_app_finds_the_class() -> None:
    assert load_app("warmwire.examples.echo:Echo") is Echo


def test_a_module_with_a_missing_dependency_is_not_reported_as_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "needs_dep.py").write_text("import surely_not_installed_dep\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match="importing 'needs_dep' failed: No module named"):
        load_app("needs_dep:App")


# --- demo --------------------------------------------------------------------------------------


def test_demo_runs_end_to_end() -> None:
    done = run_cli("demo", "--frames", "20")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for heading in (
        "metric",
        "round-trip p50 (ms)",
        "round-trip p95 (ms)",
        "round-trip p99 (ms)",
        "frames per second",
        "bytes per frame sent",
        "runner cold start (ms)",
    ):
        assert heading in out
    assert re.search(r"round-trip p50 \(ms\)\s*│\s*\d+\.\d\d", out)
    assert "20/20" in out


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("codec", ["msgpack", "json"])
def test_run_demo_reports_the_numbers(backend: str, codec: str) -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=120)
    report = run_demo(12, (96, 64), codec, console, effect="invert", backend=backend)
    assert report.frames == len(report.latencies) == 12
    assert 0 < report.p50_ms <= report.p95_ms <= report.p99_ms
    assert report.fps > 0
    assert report.bytes_per_frame_sent > 100
    assert report.bytes_per_frame_received > 100
    assert report.cold_start > 0
    assert "round-trip p99 (ms)" in screen.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codec", "zip"], "unknown codec 'zip'"),
        (["--effect", "sparkle"], "unknown effect 'sparkle'"),
    ],
)
def test_demo_bad_choice_exits_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--frames", "1", *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("size", ["640", "10x10", "axb", "640x480x3"])
def test_demo_bad_size_is_a_usage_error(size: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--size", size])
    assert exited.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
