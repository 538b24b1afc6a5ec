"""The streaming benchmark (``bench/stream.py``, ``make bench-stream``) runs end to end in its
quick form: both servers start, every path is measured, the report gives the ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_quick_run_reports_every_path(tmp_path: Path) -> None:
    out = tmp_path / "stream.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.stream", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    paths = ["warmwire SSE", "warmwire WebSocket", "warmwire WebSocket, open", "fal runtime SSE"]
    for path in paths:
        assert figures[path]["count"] == 2 * 10  # quick: 2 rounds of 10
        assert figures[path]["p50"] > 0
    assert "| p50 / fal runtime SSE |" in done.stdout
