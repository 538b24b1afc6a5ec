"""``warmwire/refine``: an image refined step by step, each step streamed as it is ready.

A stand-in for a diffusion model's previews, with no dependency beyond the standard
library: a view of the Mandelbrot set rendered with more iterations at each step,
so each image is sharper than the one before, and the last is the result.  Every
step is a PNG data URI (JSON carries it as is: SSE events are JSON)::

    warmwire serve warmwire.examples.refine:Refine --insecure-no-auth --port 8080

    for step in warmwire.stream("warmwire/refine", {"steps": 6}, url="http://127.0.0.1:8080"):
        print(step["step"], step["iterations"], len(step["image"]))

The same handler serves the realtime route: over a WebSocket each input gets the
same steps, one message each.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from typing import Any

from warmwire import runner

MAX_SIZE = 256
MAX_STEPS = 12


class Refine(runner.App, app_id="warmwire/refine"):
    """``{"size": 64, "steps": 6, "x": -0.75, "y": 0.0, "zoom": 1.0}`` (all optional)
    streams ``{"step", "steps", "iterations", "image"}``, one per step."""

    @runner.realtime("/realtime", buffering=1, session_timeout=60)
    def run(self, inp: dict[str, Any]) -> Iterator[dict[str, Any]]:
        size = _int(inp, "size", 64, 8, MAX_SIZE)
        steps = _int(inp, "steps", 6, 1, MAX_STEPS)
        x, y = _float(inp, "x", -0.75), _float(inp, "y", 0.0)
        zoom = _float(inp, "zoom", 1.0)
        if zoom <= 0:
            raise runner.InvalidInput("zoom must be above 0")
        for step in range(steps):
            iterations = 4 * 2**step  # each step resolves finer detail
            pixels = _render(size, x, y, 1.5 / zoom, iterations)
            yield {
                "step": step,
                "steps": steps,
                "iterations": iterations,
                "image": "data:image/png;base64," + base64.b64encode(_png(size, pixels)).decode(),
            }


def _int(inp: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = inp.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise runner.InvalidInput(f"{name} must be an integer from {low} to {high}")
    return value


def _float(inp: dict[str, Any], name: str, default: float) -> float:
    value = inp.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise runner.InvalidInput(f"{name} must be a number")
    return float(value)


def _render(size: int, cx: float, cy: float, radius: float, iterations: int) -> bytes:
    """Grey levels, row by row: how fast each point escapes (black: it never does)."""
    out = bytearray(size * size)
    scale = 2 * radius / size
    for row in range(size):
        ci = cy - radius + row * scale
        for col in range(size):
            cr = cx - radius + col * scale
            zr = zi = 0.0
            n = 0
            while n < iterations and zr * zr + zi * zi <= 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2 * zr * zi + ci
                n += 1
            out[row * size + col] = 0 if n == iterations else 255 - (255 * n) // iterations
    return bytes(out)


def _png(size: int, grey: bytes) -> bytes:
    """An 8-bit greyscale PNG (the standard library's zlib is all it takes)."""
    rows = b"".join(b"\x00" + grey[r * size : (r + 1) * size] for r in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
