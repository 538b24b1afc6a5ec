"""``warmwire/raw-echo``: echoes every message unchanged, on any path (conformance runs).

A raw endpoint: text comes back as the same text, binary as the same bytes,
with no codec and no envelope, so a WebSocket conformance suite (Autobahn's
cases, driven by ``make conformance``) can talk to the runner as to any echo
server, on whatever path it dials::

    warmwire serve warmwire.examples.raw_echo:RawEcho --insecure-no-auth --ping-interval 0
"""

from __future__ import annotations

from warmwire import runner
from warmwire.core.request_target import MAX_BUFFERING


class RawEcho(runner.App, app_id="warmwire/raw-echo"):
    """Returns each payload as it came; async, so echoes never wait for a worker thread."""

    @runner.realtime(
        "/realtime", raw=True, any_path=True, buffering=MAX_BUFFERING, session_timeout=None
    )
    async def run(self, payload: bytes | str) -> bytes | str:
        return payload
