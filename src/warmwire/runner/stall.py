"""Noticing a client that has stopped reading, without reading a clock per message.

A client that takes no more messages fills its socket buffers, and then the
runner's sends wait for ever; holding more for it would grow without bound,
so the session is cut once a send has waited ``send_timeout``.  No cancel
scope per send and no timestamp per send (that is the hot path): sends count
themselves in a :class:`StallWatch`, and a watcher task looks at the counts a
few times per ``send_timeout``: a session's reading task (:meth:`StallWatch.look`,
at the deadline of the wait it has anyway), a stream's watcher task
(:meth:`StallWatch.until_stalled`).
"""

from __future__ import annotations

import random

import anyio

LOOKS = 4
"""Looks at the counts per ``send_timeout``: a stall is seen within a quarter of it more."""


def first_look_phase() -> float:
    """Where in its period a session's first periodic look falls, as a fraction (0.5 to 1).

    A look costs the loop some 20 µs. Sessions opened together (a deploy, clients
    reconnecting after a restart) would otherwise look together at every period for
    as long as they last: thousands of looks in one burst, which every message
    behind it waits for.  Spread over half a period, they are a few per millisecond.
    """
    return 0.5 + random.random() / 2


class StallWatch:
    """Counts a session's sends; :meth:`until_stalled` returns once one is stuck.

    A send in progress adds one to ``pending`` and, when done, takes it back and
    adds one to ``finished``: two integer updates per send, nothing else.
    """

    __slots__ = ("_quiet", "_seen", "finished", "pending")

    def __init__(self) -> None:
        self.pending = 0
        """Sends under way."""
        self.finished = 0
        """Sends done since the session began."""
        self._quiet = 0
        """Looks in a row that found a send under way and none finished since the last."""
        self._seen = 0
        """``finished`` at the last look that found sends moving."""

    def look(self) -> bool:
        """One look, made every ``limit / LOOKS`` seconds: ``True`` once a send has been
        under way for at least ``limit`` seconds with no send finishing meanwhile
        (at most ``limit / LOOKS`` later)."""
        if self.pending and self.finished == self._seen:
            # The send under way at this look was under way at the previous
            # one too (or began since): stuck for at least (quiet - 1) looks.
            self._quiet += 1
            return self._quiet > LOOKS
        self._quiet = 0
        self._seen = self.finished
        return False

    async def until_stalled(self, limit: float) -> None:
        """Return once a send has been stuck for ``limit`` seconds (see :meth:`look`)."""
        while True:
            await anyio.sleep(limit / LOOKS)
            if self.look():
                return
