"""Verify keys fetched from a token server's JWKS, fetched again when they may have changed.

Rotation (``warmwire keys rotate``) publishes the next signing key in the JWKS
before it signs anything, and keeps a retired key there while its tokens may
be alive.  A runner verifying through ``--jwks-url`` follows along:

- when a token names a key it does not hold (``kid``), it fetches the JWKS
  again, at most once every ``min_interval`` seconds (a flood of forged
  ``kid`` values costs one fetch per interval, not one per connection);
- when its copy is older than ``max_age``, the next handshake fetches it
  again, so a retired key stops verifying without a restart.

Fetches run in a worker thread on the handshake that needs them; nothing runs
in the background.  A failed fetch keeps the keys held and is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio.to_thread
import attrs
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warmwire.auth.tokens import keys_from_jwks
from warmwire.core.errors import ConfigurationError

log = logging.getLogger("warmwire.auth")

DEFAULT_MIN_INTERVAL = 30.0
DEFAULT_MAX_AGE = 600.0


def fetch_jwks(url: str, timeout: float = 10.0) -> list[Ed25519PublicKey]:
    """The Ed25519 keys of the JWKS at ``url`` (blocking)."""
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return keys_from_jwks(response.json())


@attrs.define(eq=False)
class JwksSource:
    """Where a runner's verify keys come from, and when to fetch them again."""

    url: str
    fetched: float
    """When the keys held were fetched (``clock()``)."""
    fixed: tuple[Ed25519PublicKey, ...] = attrs.field(default=(), repr=False)
    """Keys held whatever the JWKS says (``--verify-key``, the runner's own signing key)."""
    min_interval: float = DEFAULT_MIN_INTERVAL
    max_age: float = DEFAULT_MAX_AGE
    clock: Callable[[], float] = time.monotonic
    timeout: float = 5.0
    _attempted: float = attrs.field(init=False, default=float("-inf"))

    def __attrs_post_init__(self) -> None:
        self._attempted = self.fetched
        if self.min_interval < 0 or self.max_age <= 0:
            raise ConfigurationError("the JWKS refresh interval and max age must be positive")

    def stale(self) -> bool:
        """Whether the keys held are older than ``max_age`` (and no fetch is under way)."""
        now = self.clock()
        return now - self.fetched >= self.max_age and now - self._attempted >= self.min_interval

    def may_refresh(self) -> bool:
        """Whether a fetch for an unknown ``kid`` is allowed now (at most one per interval)."""
        return self.clock() - self._attempted >= self.min_interval

    async def refresh(self) -> list[Ed25519PublicKey] | None:
        """Fetch the keys again (in a worker thread); ``None`` when the fetch failed."""
        self._attempted = self.clock()
        try:
            keys = await anyio.to_thread.run_sync(fetch_jwks, self.url, self.timeout)
        except (httpx.HTTPError, ValueError, ConfigurationError) as exc:
            log.warning("JWKS refresh from %s failed (%s); keeping the keys held", self.url, exc)
            return None
        self.fetched = self.clock()
        log.info("JWKS refreshed from %s: %d keys", self.url, len(keys))
        return [*keys, *self.fixed]
