"""Interleaved pairs of runs and what they sum up to: pure logic, no timing, no servers.

A *pair* is one run of warmwire and one of the reference (the websockets echo
server) under the same settings, one right after the other; the order
alternates from pair to pair (warmwire first in pairs 1, 3, 5..., the reference
first in pairs 2, 4...), so a drift of the machine during the bench lands on both
sides alike.  What is compared is the ratio warmwire / reference *within* each
pair; over the pairs it is reported as its median and its spread (min to max).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from bench.stats import median, ratio

SUBJECT = "warmwire"
REFERENCE = "websockets"

Figure = Callable[[Mapping[str, Any]], "float | None"]
"""Reads one figure (p99 latency, memory per session...) from one run's results."""


@attrs.frozen
class Spread:
    """Ratios over the pairs: their median and their range."""

    median: float
    low: float
    high: float
    count: int


def spread(values: Sequence[float | None]) -> Spread | None:
    """Median, min and max of the values that were measured (``None`` and NaN left out);
    ``None`` when none was."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    if not kept:
        return None
    return Spread(median=median(kept), low=min(kept), high=max(kept), count=len(kept))


def order(index: int, subject: str = SUBJECT, reference: str = REFERENCE) -> tuple[str, str]:
    """Which side runs first in pair ``index`` (0-based): the subject in even pairs."""
    return (subject, reference) if index % 2 == 0 else (reference, subject)


def schedule(pairs: int) -> Iterator[tuple[int, str]]:
    """``(pair index, side)`` in the order the runs happen."""
    for index in range(pairs):
        for side in order(index):
            yield index, side


def run_pairs(
    pairs: int,
    run: Callable[[str], dict[str, Any]],
    figures: Mapping[str, Figure],
    *,
    what: str,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any] | None]]:
    """``run(side)`` for each side of ``pairs`` pairs, in :func:`schedule`'s order; every
    pair with its runs and ratios, and the summary of the pairs whose runs all succeeded
    (a run that raises is its pair's ``error``; the other pairs still run).  ``what``
    names a run in the log (``"load"``, ``"idle"``)."""
    results: list[dict[str, Any]] = [{"index": i} for i in range(pairs)]
    for index, side in schedule(pairs):
        pair = results[index]
        pair.setdefault("order", []).append(side)
        if "error" in pair:
            continue
        log(f"{what} pair {index + 1}/{pairs}: {side}")
        try:
            pair[side] = run(side)
        except Exception as exc:
            pair["error"] = f"{side}: {type(exc).__name__}: {exc}"
            log(f"{what} pair {index + 1}/{pairs} failed ({pair['error']}); left out")
    for pair in results:
        pair["ratios"] = pair_ratios(pair, figures)
    complete = [p for p in results if "error" not in p]
    return results, summarize_pairs(complete, figures)


def pair_ratios(pair: Mapping[str, Any], figures: Mapping[str, Figure]) -> dict[str, float | None]:
    """Each figure's ratio subject / reference within one pair (``None`` if a side is missing)."""
    subject, reference = pair.get(SUBJECT), pair.get(REFERENCE)
    out: dict[str, float | None] = {}
    for name, read in figures.items():
        if subject is None or reference is None:
            out[name] = None
            continue
        out[name] = ratio(read(subject), read(reference))
    return out


def summarize_pairs(
    pairs: Sequence[Mapping[str, Any]], figures: Mapping[str, Figure]
) -> dict[str, dict[str, Any] | None]:
    """Per figure: the median and spread of its per-pair ratios (as a plain dict, for JSON)."""
    per_pair = [pair_ratios(pair, figures) for pair in pairs]
    out: dict[str, dict[str, Any] | None] = {}
    for name in figures:
        summary = spread([r[name] for r in per_pair])
        out[name] = None if summary is None else attrs.asdict(summary)
    return out


def meets(summary: Mapping[str, Any] | None, limit: float) -> bool | None:
    """The target's verdict: the median ratio at or under ``limit`` (``None``: not measured)."""
    if summary is None:
        return None
    return bool(summary["median"] <= limit)


def batch_ratios(
    numerator: Sequence[Sequence[float]], denominator: Sequence[Sequence[float]]
) -> list[float]:
    """Ratios of two contenders' batch figures, round by round.

    Each argument is a list of ``[round, value]`` (a contender that failed has
    no entry for the later rounds); only rounds both have are compared.
    """
    den = {int(round_): value for round_, value in denominator}
    out = []
    for round_, value in numerator:
        r = ratio(value, den.get(int(round_)))
        if r is not None:
            out.append(r)
    return out


# --- the figures the load and idle pairs compare ------------------------------------------------


def _cpu_per_message(run: Mapping[str, Any], percent: str) -> float | None:
    """CPU seconds (``run[percent]``, % of a core) per answered message over the window."""
    if run.get("achieved_per_s", 0) <= 0:
        return None
    return float(run[percent]) / 100 / float(run["achieved_per_s"])


def cpu_per_message(run: Mapping[str, Any]) -> float | None:
    """Server CPU seconds per answered message over the measured window."""
    return _cpu_per_message(run, "runner_cpu_percent")


def generators_cpu_per_message(run: Mapping[str, Any]) -> float | None:
    """The load generators' CPU seconds per answered message over the measured window.

    They do the same work against either server, so within a pair its ratio is a check on
    the machine: far from 1.0, the pair's two runs did not run on the same machine (a
    neighbour, the host), and its other ratios say less about the servers."""
    return _cpu_per_message(run, "generators_cpu_percent")


def _field(name: str) -> Figure:
    def read(run: Mapping[str, Any]) -> float | None:
        value = run.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)

    return read


LOAD_FIGURES: dict[str, Figure] = {
    "latency_p99": _field("latency_p99"),
    "latency_p50": _field("latency_p50"),
    "cpu_per_message": cpu_per_message,
    "generators_cpu_per_message": generators_cpu_per_message,
}
IDLE_FIGURES: dict[str, Figure] = {
    "rss_per_session": _field("rss_per_session"),
    "uss_per_session": _field("uss_per_session"),
}

LOAD_RATE_FRACTION = 0.99


def load_held(run: Mapping[str, Any], fraction: float = LOAD_RATE_FRACTION) -> bool:
    """Whether a load run is a fair point of comparison: every session connected, no
    errors, and at least ``fraction`` of the offered rate answered within the window."""
    return bool(
        run["connected"] == run["sessions"]
        and run["errors"] == 0
        and run["achieved_per_s"] >= fraction * run["offered_per_s"]
    )


def idle_held(run: Mapping[str, Any]) -> bool:
    """Whether an idle run held every session it was asked to."""
    return bool(run["held"] == run["sessions"])
