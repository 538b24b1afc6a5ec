"""Noticing a client that has stopped reading, without reading a clock per message.

A client that takes no more messages fills its socket buffers, and then the
runner's sends wait for ever; holding more for it would grow without bound,
so the session is cut once a send has waited ``send_timeout``.  No cancel
scope per send and no timestamp per send (that is the hot path): sends count
themselves in a :class:`StallWatch`, and a watcher task looks at the counts a
few times per ``send_timeout`` on the event loop's own timer.
"""

from __future__ import annotations

import anyio

LOOKS = 4
"""Looks at the counts per ``send_timeout``: a stall is seen within a quarter of it more."""


class StallWatch:
    """Counts a session's sends; :meth:`until_stalled` returns once one is stuck.

    A send in progress adds one to ``pending`` and, when done, takes it back and
    adds one to ``finished``: two integer updates per send, nothing else.
    """

    __slots__ = ("finished", "pending")

    def __init__(self) -> None:
        self.pending = 0
        """Sends under way."""
        self.finished = 0
        """Sends done since the session began."""

    async def until_stalled(self, limit: float) -> None:
        """Return once a send has been under way for at least ``limit`` seconds with no
        send finishing meanwhile (at most ``limit / LOOKS`` later)."""
        quiet = 0
        """Looks in a row that found a send under way and none finished since the last."""
        seen = self.finished
        while True:
            await anyio.sleep(limit / LOOKS)
            if self.pending and self.finished == seen:
                # The send under way at this look was under way at the previous
                # one too (or began since): stuck for at least (quiet - 1) looks.
                quiet += 1
                if quiet > LOOKS:
                    return
            else:
                quiet = 0
                seen = self.finished
