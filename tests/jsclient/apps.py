"""The app the JavaScript client's tests talk to: ``jsclient/echo``, served by ``warmwire serve``.

The Node tests (``clients/js/test/``) start it themselves, as a user would:
``python -m warmwire.cli serve apps:JsClientEcho`` with this directory on ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import Any

from warmwire import runner


class JsClientEcho(runner.App, app_id="jsclient/echo"):
    """Echo with the knobs the client's behaviours need.

    - ``/realtime``: every input back with ``served_by``, nothing dropped
      (``buffering=60``), timings after each result; ``{"fail": reason}`` makes the app
      raise (``INTERNAL_ERROR``), ``{"invalid": reason}`` refuse the input
      (``INVALID_INPUT``), the session going on after either;
    - ``/short``: a 0.5 s session timeout (``TIMEOUT``, then a normal close);
    - ``/medium``: an 11 s session timeout, longer than the life of a 10 s token (the
      shortest the token service mints).
    """

    @runner.realtime("/realtime", buffering=60, session_timeout=30, emit_timings=True)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise RuntimeError(f"asked to fail: {inp['fail']}")
        if inp.get("invalid"):
            raise runner.InvalidInput(f"asked to refuse the input: {inp['invalid']}")
        return {**inp, "served_by": "warmwire"}

    @runner.realtime("/short", buffering=60, session_timeout=0.5)
    async def run_short(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {**inp, "served_by": "warmwire"}

    @runner.realtime("/medium", buffering=60, session_timeout=11)
    async def run_medium(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {**inp, "served_by": "warmwire"}
