"""Prometheus metrics of one runner, served at ``GET /metrics``.

Each runner has its own registry, so several runners in one process (tests,
embedding) keep separate figures.  The per-message figures (messages in and
out, handler time) are plain numbers read at scrape time: a prometheus-client
``Counter.inc()`` takes a lock, and they are updated on the event loop only; each
worker loop (``worker_loop``) has figures of its own (:meth:`Metrics.shard`), summed
at scrape time, so every number has one writer.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MessageFigures:
    """The per-message figures one thread writes: messages in and out, handler time.

    With the counters every thread shares (drops, errors: prometheus-client's,
    thread-safe).
    """

    def __init__(self, dropped: Counter, errors: Counter) -> None:
        self.messages_in = 0
        """Inputs received."""
        self.messages_out = 0
        """Results sent."""
        self.handler_counts = [0] * (len(HANDLER_BUCKETS) + 1)
        self.handler_sum = 0.0
        self.dropped = dropped
        self.errors = errors

    def observe_handler(self, seconds: float) -> None:
        """Count one handler call that took ``seconds``."""
        self.handler_counts[bisect.bisect_left(HANDLER_BUCKETS, seconds)] += 1
        self.handler_sum += seconds


class Metrics(MessageFigures):
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
        self._shards: list[MessageFigures] = [self]
        self.registry.register(self)  # collect() below
        super().__init__(
            dropped=Counter(
                "warmwire_inputs_dropped",
                "Inputs dropped by the realtime buffer (oldest first)",
                registry=self.registry,
            ),
            errors=Counter(
                "warmwire_errors",
                "x-fal-error messages sent, by code",
                ["code"],
                registry=self.registry,
            ),
        )
        self.cold_start = Gauge(
            "warmwire_cold_start_seconds", "Duration of the apps' setup()", registry=self.registry
        )

    def shard(self) -> MessageFigures:
        """Per-message figures for another thread to write, counted in these."""
        shard = MessageFigures(self.dropped, self.errors)
        self._shards.append(shard)
        return shard

    def collect(self) -> Iterator[Metric]:
        """The per-message figures, for the registry (prometheus-client's collector protocol)."""
        shards = list(self._shards)
        yield CounterMetricFamily(
            "warmwire_messages_in", "Inputs received", value=sum(s.messages_in for s in shards)
        )
        yield CounterMetricFamily(
            "warmwire_messages_out", "Results sent", value=sum(s.messages_out for s in shards)
        )
        counts = [sum(column) for column in zip(*(s.handler_counts for s in shards), strict=True)]
        cumulative, buckets = 0, []
        for bound, count in zip((*HANDLER_BUCKETS, float("inf")), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "warmwire_handler_seconds",
            "Time the app's handler took per call",
            buckets=buckets,
            sum_value=sum(s.handler_sum for s in shards),
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
