"""Prometheus metrics of one runner, served at ``GET /metrics``.

Each runner has its own registry, so several runners in one process (tests,
embedding) keep separate figures.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
        self.messages_in = Counter(
            "warmwire_messages_in", "Inputs received", registry=self.registry
        )
        self.messages_out = Counter("warmwire_messages_out", "Results sent", registry=self.registry)
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
        self.handler_seconds = Histogram(
            "warmwire_handler_seconds",
            "Time the app's handler took per call",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.cold_start = Gauge(
            "warmwire_cold_start_seconds", "Duration of the apps' setup()", registry=self.registry
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
