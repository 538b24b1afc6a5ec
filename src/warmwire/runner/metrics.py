"""Prometheus metrics of one runner, served at ``GET /metrics``.

Each runner has its own registry, so several runners in one process (tests,
embedding) keep separate figures.  The per-message figures (messages in and
out, handler time) are plain numbers read at scrape time: a prometheus-client
``Counter.inc()`` takes a lock, and they are updated on the event loop only.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Sessions, messages, drops, handler latency and cold start."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Gauge(
            "warmwire_sessions_open", "Sessions currently open", registry=self.registry
        )
        self.sessions_total = Counter(
            "warmwire_sessions", "Sessions opened", registry=self.registry
        )
        self.refused = Counter(
            "warmwire_refused_connections",
            "Connections refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.messages_in = 0
        """Inputs received."""
        self.messages_out = 0
        """Results sent."""
        self._handler_counts = [0] * (len(HANDLER_BUCKETS) + 1)
        self._handler_sum = 0.0
        self.registry.register(self)  # collect() below
        self.dropped = Counter(
            "warmwire_inputs_dropped",
            "Inputs dropped by the realtime buffer (oldest first)",
            registry=self.registry,
        )
        self.errors = Counter(
            "warmwire_errors",
            "x-fal-error messages sent, by code",
            ["code"],
            registry=self.registry,
        )
        self.cold_start = Gauge(
            "warmwire_cold_start_seconds", "Duration of the apps' setup()", registry=self.registry
        )

    def observe_handler(self, seconds: float) -> None:
        """Count one handler call that took ``seconds``."""
        self._handler_counts[bisect.bisect_left(HANDLER_BUCKETS, seconds)] += 1
        self._handler_sum += seconds

    def collect(self) -> Iterator[Metric]:
        """The per-message figures, for the registry (prometheus-client's collector protocol)."""
        yield CounterMetricFamily("warmwire_messages_in", "Inputs received", value=self.messages_in)
        yield CounterMetricFamily("warmwire_messages_out", "Results sent", value=self.messages_out)
        cumulative, buckets = 0, []
        for bound, count in zip(
            (*HANDLER_BUCKETS, float("inf")), self._handler_counts, strict=True
        ):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "warmwire_handler_seconds",
            "Time the app's handler took per call",
            buckets=buckets,
            sum_value=self._handler_sum,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
