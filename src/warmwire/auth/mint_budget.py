"""Per-key budgets of tokens per minute: a leaked backend key cannot mint without bound."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import attrs

DEFAULT_MINT_RATE = 600
"""Tokens per minute a key may mint unless its line says ``mint_rate=N``: ten a second,
enough for a busy backend handing each visitor a token every two minutes."""


@attrs.define
class _Bucket:
    tokens: float
    updated: float


@attrs.define(eq=False)
class MintBudget:
    """A token bucket per key id: ``rate`` a minute, bursts up to ``rate``.

    Keys are the configured ones only (a key must be verified before it is
    charged), so the table is bounded by the key file.
    """

    default_rate: int = attrs.field(default=DEFAULT_MINT_RATE, validator=attrs.validators.ge(1))
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = attrs.field(init=False, factory=dict)

    def take(self, key_id: str, rate: int | None = None) -> float:
        """Spend one mint of ``key_id``: 0.0 when allowed, else the seconds until one is."""
        per_minute = rate or self.default_rate
        now = self.clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(per_minute), now)
        refill = (now - bucket.updated) * per_minute / 60.0
        bucket.tokens = min(float(per_minute), bucket.tokens + refill)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) * 60.0 / per_minute


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
