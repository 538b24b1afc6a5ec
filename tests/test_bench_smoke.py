"""The benchmark's statistics: percentiles on known data (no timing, no servers).

``bench/`` is a top-level package beside ``src/``, not installed with warmwire; the
repository root is on the tests' import path (``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import sys

import numpy
import pytest
from bench.stats import median, percentile, ratio, summarize


def test_percentile_of_one_to_hundred_one() -> None:
    values = list(range(1, 102))  # 1..101: rank q/100 * 100 is exactly q
    assert percentile(values, 0) == 1
    assert percentile(values, 50) == 51
    assert percentile(values, 99) == 100
    assert percentile(values, 100) == 101


def test_percentile_interpolates_between_ranks() -> None:
    # Sorted [1, 2, 3, 4]: the median's rank is 1.5, halfway between 2 and 3.
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)
    # p99 of [0, 10]: rank 0.99 → 9.9.
    assert percentile([10.0, 0.0], 99) == pytest.approx(9.9)


def test_percentile_matches_numpy_linear() -> None:
    values = [0.31, 0.05, 1.7, 0.22, 0.22, 9.0, 0.4, 0.35, 0.01]
    for q in (1, 25, 50, 75, 90, 99):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_percentile_of_one_value_and_bad_input() -> None:
    assert percentile([7.5], 99) == 7.5
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def test_summary_and_ratio() -> None:
    summary = summarize([3.0, 1.0, 2.0])
    assert (summary.count, summary.p50, summary.minimum, summary.maximum) == (3, 2.0, 1.0, 3.0)
    assert summary.mean == pytest.approx(2.0)
    assert median([5.0, 1.0]) == 3.0
    assert ratio(1.0, 4.0) == 0.25
    assert ratio(None, 4.0) is None
    assert ratio(1.0, 0.0) is None


def test_a_run_without_pyinstrument_stops_at_once_and_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.__main__ import main

    monkeypatch.setitem(sys.modules, "pyinstrument", None)  # not importable, as without the extra
    with pytest.raises(SystemExit, match=r"pyinstrument is missing.*--skip-profile"):
        main(["--quick", "--out", "/nonexistent"])


def _hop_results(**hop: float) -> dict[str, object]:
    rtt = {"ww-asyncio-hop": {"p50": 250e-6}, "ww-asyncio": {"p50": 120e-6}}
    return {
        "rtt": {"32 B": rtt},
        "thread_hop": {"rounds": 5, "hops_per_round": 1000, **hop},
    }


def test_the_thread_hop_text_gives_the_one_cpu_hop_where_it_was_measured() -> None:
    from bench.report import thread_hop_text

    measured = thread_hop_text(_hop_results(bare_p50=80e-6, pool_p50=90e-6, bare_one_cpu_p50=40e-6))
    assert measured is not None
    assert "130 µs over an async handler's" in measured
    assert "leaves the hop 24 µs" in measured
    assert "held to one CPU the bare hop takes 40 µs" in measured
    # One CPU only, or no sched_setaffinity: the sentence is left out, not filled with nothing.
    unmeasured = thread_hop_text(_hop_results(bare_p50=80e-6, pool_p50=90e-6))
    assert unmeasured is not None
    assert "one CPU" not in unmeasured
