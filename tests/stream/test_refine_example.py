"""The progressive example (``warmwire.examples.refine``): sharper images step by step,
streamed as each is ready, under ``warmwire serve`` and in-process, and the same handler
over the realtime WebSocket."""

from __future__ import annotations

import base64
import io
from typing import Any

import anyio
import pytest
from PIL import Image

import warmwire
from helpers.processes import start_runner
from warmwire import runner
from warmwire.examples.refine import Refine

APP = "warmwire/refine"


def _image(step: dict[str, Any]) -> Image.Image:
    header, _, data = step["image"].partition(",")
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def _check(steps: list[dict[str, Any]], count: int, size: int) -> None:
    assert [s["step"] for s in steps] == list(range(count))
    iterations = [s["iterations"] for s in steps]
    assert iterations == sorted(set(iterations))  # each step finer than the last
    images = [_image(s) for s in steps]
    assert {(im.size, im.mode) for im in images} == {((size, size), "L")}
    # Refining changes the picture: no two steps render the same image.
    assert len({im.tobytes() for im in images}) == count


@pytest.mark.anyio
async def test_steps_stream_in_process_and_over_realtime() -> None:
    async with runner.serve(Refine, insecure_no_auth=True) as server:
        with anyio.fail_after(60):
            async with warmwire.stream_async(
                APP, {"size": 32, "steps": 4}, url=server.url
            ) as events:
                _check([step async for step in events], 4, 32)
            with pytest.raises(warmwire.StreamError) as invalid:
                async with warmwire.stream_async(APP, {"size": 4}, url=server.url) as events:
                    await events.__anext__()
            assert invalid.value.error == "INVALID_INPUT"
            # Over a WebSocket, the same steps, one message each.
            async with warmwire.realtime_async(APP, url=server.url, codec="json") as conn:
                await conn.send({"size": 16, "steps": 3})
                _check([await conn.recv() for _ in range(3)], 3, 16)


def test_steps_stream_from_warmwire_serve() -> None:
    with start_runner(
        "serve", "warmwire.examples.refine:Refine", "--insecure-no-auth", "--port", "0"
    ) as process:
        with warmwire.stream(APP, {"size": 24, "steps": 3}, url=process.url) as events:
            _check(list(events), 3, 24)
