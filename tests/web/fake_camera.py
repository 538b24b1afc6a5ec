"""A fake camera for headless Chromium: a Y4M clip of a face that moves.

Chromium's ``--use-fake-device-for-media-stream`` shows a test pattern with no
face in it; ``--use-file-for-fake-video-capture=clip.y4m`` plays a file instead,
looping.  The clip is made here from the sample portrait the ``mediapipe``
install carries (matplotlib's ``grace_hopper.jpg``), drifting and zooming over
a moving background, so the model has a real face to find in every frame.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from warmwire.examples.faces import sample_portrait_path

WIDTH, HEIGHT, FPS = 640, 480, 30


def write_face_clip(path: Path, frames: int = 90) -> Path:
    """Write a ``frames``-long 640x480 30 fps Y4M (4:2:0) clip of a moving face to ``path``."""
    portrait_path = sample_portrait_path()
    if portrait_path is None:
        raise RuntimeError("no sample portrait: install the web extra (pip install -e '.[web]')")
    with Image.open(portrait_path) as source:
        portrait = source.convert("RGB")
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for index in range(frames):
            out.write(b"FRAME\n")
            out.write(_yuv420(_frame(portrait, index / FPS)))
    return path


def _frame(portrait: Image.Image, t: float) -> Image.Image:
    hue = int(t * 40) % 256
    frame = Image.new("HSV", (WIDTH, HEIGHT), (hue, 90, 70)).convert("RGB")
    draw = ImageDraw.Draw(frame)
    for i in range(5):
        x = WIDTH / 2 + 260 * math.sin(t * (0.5 + 0.2 * i) + i)
        y = HEIGHT / 2 + 190 * math.cos(t * (0.4 + 0.1 * i) + 2 * i)
        r = 25 + 8 * i
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(60 + 30 * i, 80, 160 - 20 * i))
    # One full loop of the motion per clip, so the looped video has no jump.
    phase = 2 * math.pi * t / 3.0
    scale = 330 / portrait.height * (1 + 0.06 * math.sin(phase))
    size = (round(portrait.width * scale), round(portrait.height * scale))
    face = portrait.resize(size, Image.Resampling.BILINEAR)
    x = (WIDTH - size[0]) // 2 + round(90 * math.sin(phase))
    y = (HEIGHT - size[1]) // 2 + round(30 * math.sin(2 * phase))
    frame.paste(face, (x, y))
    return frame


def _yuv420(rgb: Image.Image) -> bytes:
    ycbcr = np.asarray(rgb.convert("YCbCr"))
    y = ycbcr[..., 0]
    # 4:2:0: chroma averaged over 2x2 blocks.
    chroma = ycbcr[..., 1:].reshape(HEIGHT // 2, 2, WIDTH // 2, 2, 2).mean(axis=(1, 3))
    cb = chroma[..., 0].round().astype(np.uint8)
    cr = chroma[..., 1].round().astype(np.uint8)
    return y.tobytes() + cb.tobytes() + cr.tobytes()
