"""A pace for work that must not take the event loop from the sessions: token refusals.

The runner answers a flood of bad tokens (or a fleet reconnecting with an
expired one) at a bounded rate; see ``RunnerConfig.max_refusal_rate``.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from warmwire.core.errors import ConfigurationError
from warmwire.transports import eventloop


class Pacer:
    """Lets callers through at ``rate`` per second after a burst of ``burst``, in order.

    A virtual-schedule token bucket (GCRA): each caller is given the next slot
    and sleeps until it.  At most ``max_waiting`` callers wait at once; beyond,
    callers go through at once, so that a flood opening connections faster
    than they are answered cannot hold an unbounded number of them open here.

    ``clock`` is the runner's (the event loop's own, whose deadlines the sleep
    uses); without one, the running loop's is taken at the first wait.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        max_waiting: int = 1024,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if rate <= 0 or burst < 1 or max_waiting < 0:
            raise ConfigurationError(
                f"a pace needs rate > 0, burst >= 1 and max_waiting >= 0, not rate={rate}, "
                f"burst={burst}, max_waiting={max_waiting}"
            )
        self.interval = 1.0 / rate
        self.burst = burst
        self.max_waiting = max_waiting
        self.waiting = 0
        self._clock = clock
        self._next: float | None = None
        """The schedule's end: when the caller after the last one given a slot may go."""

    async def wait(self) -> None:
        """Return when this caller's slot comes (at once within the burst)."""
        if self._clock is None:
            self._clock = eventloop.clock()
        now = self._clock()
        end = now if self._next is None else max(self._next, now)
        at = end + self.interval - self.burst * self.interval
        if at > now and self.waiting >= self.max_waiting:
            return  # too many waiting already: answer now, take no slot
        self._next = end + self.interval
        if at <= now:
            return
        self.waiting += 1
        try:
            await anyio.sleep_until(at)
        finally:
            self.waiting -= 1
