"""A short memory of refused tokens, so that a flood repeating one is refused cheaply.

Verifying an Ed25519 signature (and decoding the JWT around it) costs a
runner about 0.18 ms; a flood of connection attempts that all present the
same few bad tokens (a leaked expired token, another deployment's token)
would pay it every time.  Only refusals that can never become acceptances
are remembered (a bad signature, an expired token, the wrong app...), never
"not yet valid", and never a success: a remembered entry can only refuse
sooner what would have been refused anyway.
"""

from __future__ import annotations

import collections
import hashlib
import time
from collections.abc import Callable

import attrs

from warmwire.core.endpoint import Endpoint

DEFAULT_SIZE = 1024
DEFAULT_TTL = 30.0

_Key = tuple[bytes, Endpoint]


@attrs.define(eq=False)
class RefusalCache:
    """Bounded LRU of ``(token, endpoint) -> reason``, each entry kept ``ttl`` seconds."""

    size: int = attrs.field(default=DEFAULT_SIZE, validator=attrs.validators.ge(1))
    ttl: float = attrs.field(default=DEFAULT_TTL, validator=attrs.validators.gt(0))
    clock: Callable[[], float] = time.monotonic
    _entries: collections.OrderedDict[_Key, tuple[float, str]] = attrs.field(
        init=False, factory=collections.OrderedDict
    )

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, endpoint: Endpoint) -> str | None:
        """The remembered reason ``token`` was refused for ``endpoint``, if still fresh."""
        key = _key(token, endpoint)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, reason = entry
        if self.clock() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return reason

    def add(self, token: str, endpoint: Endpoint, reason: str) -> None:
        """Remember a refusal that stays a refusal (the caller decides which do)."""
        key = _key(token, endpoint)
        self._entries[key] = (self.clock() + self.ttl, reason)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def _key(token: str, endpoint: Endpoint) -> _Key:
    # A digest, not the token: a request may carry a token of up to the header
    # limit (16 KiB), and the memory must stay bounded by ``size`` alone.  A
    # collision (odds 2**-128) could only refuse a
    # valid token, never accept a bad one.
    digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return digest, endpoint
