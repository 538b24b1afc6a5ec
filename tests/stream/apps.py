"""The apps the stream tests serve: generators (blocking and async), unary, and the knobs
the cases need; each records what its handlers did, for the tests to check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel

from warmwire import runner

APP = "test/steps"


class Steps(runner.App, app_id=APP):
    """``{"n": N, "tag": T}`` yields ``{"step": i}`` for i < N (``n: -1``: for ever).

    Knobs: ``fail_at`` raises at that step, ``pad`` adds that many bytes to each output,
    ``hang_after`` (async only) waits for ever after that many outputs.  Every
    generator's ``finally`` records its tag in :attr:`closed`; :attr:`produced` counts
    the outputs made per tag.
    """

    def setup(self) -> None:
        self.closed: list[str] = []
        self.produced: dict[str, int] = {}

    def _outputs(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        tag = str(inp.get("tag", ""))
        n = int(inp.get("n", 3))
        i = 0
        while n < 0 or i < n:
            if inp.get("fail_at") == i:
                raise RuntimeError(f"asked to fail at step {i}")
            self.produced[tag] = i + 1
            yield {"step": i, **({"pad": "x" * inp["pad"]} if "pad" in inp else {})}
            i += 1

    @runner.realtime("/realtime", session_timeout=30)
    def run(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        try:
            yield from self._outputs(inp)
        finally:
            self.closed.append(str(inp.get("tag", "")))

    @runner.realtime("/async", session_timeout=30)
    async def run_async(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            for count, out in enumerate(self._outputs(inp)):
                if inp.get("hang_after") == count:
                    await anyio.sleep_forever()
                yield out
                await anyio.lowlevel.checkpoint()
            if inp.get("hang_after") is not None:
                await anyio.sleep_forever()
        finally:
            self.closed.append(str(inp.get("tag", "")))

    @runner.realtime("/unary")
    async def unary(self, inp: dict[str, Any]) -> dict[str, Any]:
        if inp.get("fail"):
            raise RuntimeError("asked to fail")
        if inp.get("refuse"):
            raise runner.InvalidInput("this input is refused by the app")
        return {"echo": inp}

    @runner.realtime("/short", session_timeout=0.3)
    async def short(self, inp: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """One output, then silence past the 0.3 s timeout: ``TIMEOUT``."""
        try:
            yield {"step": 0}
            await anyio.sleep_forever()
        finally:
            self.closed.append(str(inp.get("tag", "")))
