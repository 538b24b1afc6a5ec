"""An app's scaling settings (fal's knobs) as a Ray Serve autoscaling config.

=======================  =====================================================
``runner.App``           Ray Serve deployment
=======================  =====================================================
``min_concurrency``      ``autoscaling_config.min_replicas`` (0: scale to zero)
``max_concurrency``      ``autoscaling_config.max_replicas`` (``None``: 100)
``keep_alive``           ``downscale_delay_s`` and ``downscale_to_zero_delay_s``
``max_multiplexing``     ``max_ongoing_requests`` and the policy's sessions per
                         replica (``None``: 100)
``concurrency_buffer``   replicas the policy adds beyond current demand
=======================  =====================================================

A session is one ongoing request for Serve for as long as it stays open, so
Serve's request metrics count sessions.  :class:`SessionsPolicy` asks for
``ceil(sessions / max_multiplexing) + concurrency_buffer`` replicas; Serve
bounds that by ``min_replicas``/``max_replicas`` and applies the delays.

Cold starts, as short as Serve allows:

- ``upscale_delay_s=0``: a demand is acted on at the controller's next tick
  (0.1 s), from zero and beyond.
- ``metrics_interval_s`` and ``look_back_period_s`` short: the proxy's handle
  records its queued requests every ``min(metrics_interval_s,
  0.2 * look_back_period_s)`` and pushes what it recorded at once when a
  request arrives for a deployment at zero replicas.  A push made before any
  point was recorded carries no demand, and the next push comes a
  ``metrics_interval_s`` later: with Serve's defaults (10 s, 30 s) the first
  session of a cold start waited 7-10 s before the scale-up even began.
- No overshoot: the policy counts sessions (mean over the look-back window,
  so a session counted both queued at the handle and running at the replica
  during its hand-over adds up to one) and rounds up only past a whole
  replica's worth.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from warmwire.runner.app import Scaling

if TYPE_CHECKING:
    from ray.serve.config import AutoscalingContext

__all__ = [
    "DEFAULT_MAX_REPLICAS",
    "DEFAULT_MAX_SESSIONS",
    "LOOK_BACK_PERIOD_S",
    "METRICS_INTERVAL_S",
    "SessionsPolicy",
    "autoscaling_config",
    "sessions_per_replica",
]

DEFAULT_MAX_SESSIONS = 100
"""Sessions per replica when the app declares no ``max_multiplexing``."""
DEFAULT_MAX_REPLICAS = 100
"""Replicas at most when the app declares no ``max_concurrency``."""
METRICS_INTERVAL_S = 0.5
"""How often handles and replicas record and push their request counts."""
LOOK_BACK_PERIOD_S = 2.0
"""The window Serve averages request counts over (4 pushes)."""

_POLICY = f"{__name__}:SessionsPolicy"
_ROUNDING = 1e-6
"""A mean of 2.0000001 sessions is 2 sessions, not 3 (float sums over the window)."""


def sessions_per_replica(scaling: Scaling) -> int:
    """The sessions one replica takes: ``max_ongoing_requests``."""
    return scaling.max_multiplexing or DEFAULT_MAX_SESSIONS


def autoscaling_config(scaling: Scaling, **overrides: Any) -> dict[str, Any]:
    """Serve's ``autoscaling_config`` for an app's :class:`~warmwire.runner.app.Scaling`.

    ``overrides`` replace single fields (e.g. ``look_back_period_s=10``).
    """
    per_replica = sessions_per_replica(scaling)
    max_replicas = scaling.max_concurrency or max(DEFAULT_MAX_REPLICAS, scaling.min_concurrency)
    config: dict[str, Any] = {
        "min_replicas": scaling.min_concurrency,
        "max_replicas": max_replicas,
        "target_ongoing_requests": per_replica,
        "upscale_delay_s": 0.0,
        "downscale_delay_s": scaling.keep_alive,
        "downscale_to_zero_delay_s": scaling.keep_alive,
        "metrics_interval_s": METRICS_INTERVAL_S,
        "look_back_period_s": LOOK_BACK_PERIOD_S,
        "policy": {
            "policy_function": _POLICY,
            "policy_kwargs": {
                "max_multiplexing": per_replica,
                "concurrency_buffer": scaling.concurrency_buffer,
            },
        },
    }
    config.update(overrides)
    return config


@contextmanager
def quiet_metrics_interval() -> Iterator[None]:
    """Serve warns that ``metrics_interval_s`` is deprecated in favour of process-wide
    environment variables; it is still the only per-deployment setting of the push
    period, and what makes a cold start start at once."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*metrics_interval_s.*", category=DeprecationWarning
        )
        yield


class SessionsPolicy:
    """Serve autoscaling policy: replicas for the open sessions, plus the buffer.

    Serve instantiates it once per deployment with ``policy_kwargs`` and calls it
    every control-loop tick; Serve's wrapper then applies the cold-start fast path
    (zero replicas and a request waiting: one replica at once), the delays and the
    ``min_replicas``/``max_replicas`` bounds.
    """

    def __init__(self, max_multiplexing: int, concurrency_buffer: int = 0) -> None:
        self.max_multiplexing = max_multiplexing
        self.concurrency_buffer = concurrency_buffer

    def __call__(self, ctx: AutoscalingContext) -> tuple[int, dict[str, Any]]:
        return self.replicas_for(float(ctx.total_num_requests)), {}

    def replicas_for(self, sessions: float) -> int:
        """Replicas for ``sessions`` (a mean over the look-back window, so a float)."""
        busy = math.ceil(max(0.0, sessions / self.max_multiplexing - _ROUNDING))
        return busy + self.concurrency_buffer
