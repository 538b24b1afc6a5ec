"""bench/workers.py's quick run: it starts ``warmwire serve --workers 1`` and ``2``, drives
both, and prints its table (no timing is asserted: the figures are for the report)."""

from __future__ import annotations

import re

import pytest
from bench import workers


def test_a_quick_run_measures_both(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--rounds", "1", "--window", "1", "--generators", "1", "--concurrency", "2"]
    assert workers.main(argv) == 0
    out = capsys.readouterr().out
    for kind in ("sessions", "messages"):
        row = re.search(rf"^\| {kind} \| ([\d,]+) \| ([\d,]+) \| [\d.]+x \|", out, re.MULTILINE)
        assert row is not None, out
        assert all(int(n.replace(",", "")) > 0 for n in row.groups()), row.group(0)
