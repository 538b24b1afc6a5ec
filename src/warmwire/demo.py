"""``warmwire demo``: a camera-to-model loop, end to end, on one machine.

It is the first thing a newcomer runs, so it needs nothing but the
``warmwire[demo]`` extra and loopback: an embedded runner hosts the
:class:`~warmwire.examples.stylize.Stylize` app, a synthetic camera draws a
different frame each time, and the realtime client streams the frames through
it the way an interactive app would — send a frame, wait for the restyled one,
send the next.  The numbers at the end (round trip per frame, frames per
second, payload size, cold start) are the ones that decide whether an
interactive app feels live.

:func:`run_demo` returns a :class:`DemoReport`, so tests check the numbers
rather than scrape the table.
"""

from __future__ import annotations

import base64
import io
import math
import secrets
import time

import anyio
import attrs
import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import warmwire
from warmwire import runner
from warmwire.auth.keys import ApiKey, KeyStore
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.auth.tokens import generate_signing_key, load_signing_key
from warmwire.codecs.base import FrameKind
from warmwire.examples.stylize import EFFECTS, Stylize
from warmwire.plugins import get_codec

DEFAULT_EFFECT = "posterize"
CAMERA_JPEG_QUALITY = 80


@attrs.frozen(slots=True)
class DemoReport:
    """What one demo run measured."""

    frames: int
    width: int
    height: int
    codec: str
    effect: str
    latencies: tuple[float, ...]
    """Seconds from ``send()`` of each frame to ``recv()`` of its result."""
    elapsed: float
    """Seconds for the whole stream, drawing and encoding the frames included."""
    bytes_sent: int
    """Image payload bytes sent in total (JPEG, or its data URI with a text codec)."""
    bytes_received: int
    cold_start: float
    """Seconds the runner's ``setup()`` took before it accepted the first connection."""

    def percentile_ms(self, q: float) -> float:
        """Round-trip latency percentile ``q`` (0-100) in milliseconds."""
        return float(np.percentile(np.asarray(self.latencies), q)) * 1000.0

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else math.inf

    @property
    def bytes_per_frame_sent(self) -> float:
        return self.bytes_sent / self.frames

    @property
    def bytes_per_frame_received(self) -> float:
        return self.bytes_received / self.frames

    def table(self) -> Table:
        """The summary a person reads at the end of the demo."""
        table = Table(
            title="warmwire demo",
            caption="round trip: send a frame, await its result",
        )
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("frames", f"{self.frames} x {self.width}x{self.height} JPEG")
        table.add_row("effect / codec", f"{self.effect} / {self.codec}", end_section=True)
        table.add_row("round-trip p50 (ms)", f"{self.p50_ms:.2f}")
        table.add_row("round-trip p95 (ms)", f"{self.p95_ms:.2f}")
        table.add_row("round-trip p99 (ms)", f"{self.p99_ms:.2f}")
        table.add_row("frames per second", f"{self.fps:.1f}")
        table.add_row("bytes per frame sent", f"{self.bytes_per_frame_sent:,.0f}")
        table.add_row("bytes per frame received", f"{self.bytes_per_frame_received:,.0f}")
        table.add_row("runner cold start (ms)", f"{self.cold_start * 1000:.1f}")
        return table


class SyntheticCamera:
    """Draws a moving test card — a drifting colour field and bouncing shapes — as JPEG.

    Every frame differs, so neither side can get away with caching, and the
    JPEG size is that of a real, busy camera frame rather than a flat one.
    The colour field is built from 1-D waves added by broadcasting, which keeps
    a 640x480 frame well under a millisecond to draw.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._xs = np.linspace(0.0, 3 * math.pi, width, dtype=np.float32)
        self._ys = np.linspace(0.0, 2 * math.pi, height, dtype=np.float32)
        self._pixels = np.empty((height, width, 3), dtype=np.uint8)

    def frame(self, index: int) -> bytes:
        """Frame number ``index``, JPEG-encoded."""
        t = index * 0.15
        for channel, phase in enumerate((0.0, 2.1, 4.2)):
            across = (63.0 * (1.0 + np.sin(self._xs + t + phase))).astype(np.uint8)
            down = (63.0 * (1.0 + np.sin(self._ys * 1.3 - t + phase))).astype(np.uint8)
            np.add(across[np.newaxis, :], down[:, np.newaxis], out=self._pixels[..., channel])
        image = Image.fromarray(self._pixels)
        draw = ImageDraw.Draw(image)
        w, h = self.width, self.height
        r = max(4, min(w, h) // 8)
        cx = w / 2 + (w / 2 - r) * math.sin(t * 0.9)
        cy = h / 2 + (h / 2 - r) * math.sin(t * 1.7)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(250, 250, 240), outline=(0, 0, 0))
        sx = (index * 7) % max(1, w - r)
        draw.rectangle((sx, h - 2 * r, sx + r, h - r), fill=(20, 20, 30))
        draw.text((8, 8), f"warmwire demo  frame {index:05d}", fill=(255, 255, 255))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=CAMERA_JPEG_QUALITY)
        return out.getvalue()


def run_demo(
    frames: int,
    size: tuple[int, int],
    codec: str,
    console: Console,
    *,
    effect: str = DEFAULT_EFFECT,
    backend: str = "asyncio",
) -> DemoReport:
    """Run the demo to the end and print its table; blocking (starts its own event loop).

    Raises :class:`warmwire.ConfigurationError` for a bad argument before any
    server starts.
    """
    return anyio.run(
        lambda: run_demo_async(frames, size, codec, console, effect=effect), backend=backend
    )


async def run_demo_async(
    frames: int,
    size: tuple[int, int],
    codec: str,
    console: Console,
    *,
    effect: str = DEFAULT_EFFECT,
) -> DemoReport:
    """:func:`run_demo` inside an already running asyncio or trio program."""
    width, height = size
    if frames < 1:
        raise warmwire.ConfigurationError(f"frames must be at least 1, got {frames}")
    if width < 1 or height < 1:
        raise warmwire.ConfigurationError(f"size must be positive, got {width}x{height}")
    if effect not in EFFECTS:
        raise warmwire.ConfigurationError(
            f"unknown effect {effect!r}; use one of: {', '.join(EFFECTS)}"
        )
    text_frames = get_codec(codec).frame is FrameKind.TEXT  # unknown codec: fails here
    camera = SyntheticCamera(width, height)

    console.print(f"Starting an embedded runner with [bold]{Stylize.app_id}[/] on loopback…")
    failure: Exception | None = None
    # The real flow, with throwaway credentials: a dev API key, a signing key;
    # the client mints a short-lived token at the runner's token service and
    # connects with that JWT, as a browser would.
    dev_key = ApiKey("demo", secrets.token_urlsafe(24))
    auth = RunnerAuth.create(
        keys=KeyStore([dev_key]), signing_key=load_signing_key(generate_signing_key())
    )
    async with runner.serve(Stylize, host="127.0.0.1", port=0, auth=auth) as server:
        cold_start = server.cold_start or 0.0
        console.print(
            f"Runner ready at {server.url} (cold start {cold_start * 1000:.1f} ms). "
            f"Streaming {frames} frames of {width}x{height} JPEG, effect {effect!r}, "
            f"codec {codec!r}."
        )
        # An exception escaping this block would reach the caller wrapped in the
        # server's task-group ExceptionGroup; carry it out plainly instead.
        try:
            stream = await _stream(
                server.url, str(dev_key), camera, frames, codec, effect, text_frames, console
            )
        except Exception as exc:
            failure = exc
    if failure is not None:
        raise failure
    latencies, elapsed, sent, received = stream
    report = DemoReport(
        frames=frames,
        width=width,
        height=height,
        codec=codec,
        effect=effect,
        latencies=tuple(latencies),
        elapsed=elapsed,
        bytes_sent=sent,
        bytes_received=received,
        cold_start=cold_start,
    )
    console.print(report.table())
    return report


async def _stream(
    url: str,
    key: str,
    camera: SyntheticCamera,
    frames: int,
    codec: str,
    effect: str,
    text_frames: bool,
    console: Console,
) -> tuple[list[float], float, int, int]:
    """Send each frame, wait for its result; returns latencies, elapsed, bytes out, bytes in."""
    latencies: list[float] = []
    sent = received = 0
    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    async with warmwire.realtime_async(Stylize.app_id, url=url, codec=codec, key=key) as conn:
        with progress:
            task = progress.add_task("frames", total=frames)
            started = time.perf_counter()
            for index in range(frames):
                jpeg = camera.frame(index)
                # JSON cannot carry bytes: text codecs send the frame as a data URI.
                image: bytes | str = (
                    "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
                    if text_frames
                    else jpeg
                )
                before = time.perf_counter()
                await conn.send({"image": image, "effect": effect})
                result = await conn.recv()
                latencies.append(time.perf_counter() - before)
                if result is None:
                    raise warmwire.RealtimeError(
                        "CONNECTION_CLOSED",
                        f"the runner closed the session after {index} of {frames} frames",
                    )
                _check_result(result, camera, index)
                sent += len(image)
                received += len(result["image"])
                progress.advance(task)
            elapsed = time.perf_counter() - started
    return latencies, elapsed, sent, received


def _check_result(result: object, camera: SyntheticCamera, index: int) -> None:
    if (
        not isinstance(result, dict)
        or not isinstance(result.get("image"), bytes | str)
        or (result.get("width"), result.get("height")) != (camera.width, camera.height)
    ):
        raise warmwire.RealtimeError(
            "UNEXPECTED_RESULT",
            f"frame {index}: expected a {camera.width}x{camera.height} image, got {result!r:.200}",
        )
