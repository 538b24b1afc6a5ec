"""Percentiles and summaries, with no dependency beyond the standard library."""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks.

    Same definition as ``numpy.percentile``'s default ("linear"): rank
    ``q/100 * (n-1)`` in the sorted data, interpolated.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    fraction = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


@attrs.frozen
class Summary:
    """Latencies in seconds, summarised."""

    count: int
    p50: float
    p99: float
    mean: float
    minimum: float
    maximum: float


def summarize(values: Sequence[float]) -> Summary:
    return Summary(
        count=len(values),
        p50=percentile(values, 50),
        p99=percentile(values, 99),
        mean=sum(values) / len(values),
        minimum=min(values),
        maximum=max(values),
    )


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or ``None`` when either side is missing."""
    if a is None or b is None or b == 0:
        return None
    return a / b
