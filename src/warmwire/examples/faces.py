"""``warmwire/faces``: a real vision model, warm — MediaPipe face detection on every frame.

The model is BlazeFace (MediaPipe's short-range face detector), shipped inside
the ``mediapipe`` wheel, so nothing is downloaded at run time.  ``setup()``
imports MediaPipe, builds the detection graph and runs it once on a sample
portrait: that is the cold start the runner reports, paid once per runner
instead of once per request.  Every frame after that is decode, detect, draw,
encode.

Input (one message)::

    {"image": <JPEG or WebP bytes, or a data: URI / base64 string>,
     "mode": "box",             # "box" (outline faces), "blur" or "pixelate" (hide them)
     "min_score": 0.5,          # optional: detections below this confidence are ignored
     "format": "jpeg"}          # optional: "jpeg" or "webp"; default: the input's format

Output::

    {"image": <bytes, or a data: URI when the input was a string>,
     "format": "jpeg", "width": 640, "height": 480, "mode": "box",
     "detections": [{"score": 0.93,
                     "box": {"x": 251, "y": 88, "width": 175, "height": 175},
                     "keypoints": {"right_eye": [296, 147], "left_eye": [375, 147], ...}}],
     "model_ms": 4.1, "handler_ms": 12.7}

Coordinates are pixels of the input image.  An input that is not a JPEG or
WebP image (or is truncated) raises :class:`warmwire.runner.InvalidInput`: the
client gets ``INVALID_INPUT`` saying why, and the stream goes on.

Needs the ``warmwire[web]`` extra (``mediapipe==0.10.21``: the last MediaPipe
wheels that carry the legacy face-detection models; 1.x wheels carry none).
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import io
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

from warmwire import runner

FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}
"""Accepted image formats (``format`` values) → Pillow's names."""

MIME = {"JPEG": "image/jpeg", "WEBP": "image/webp"}
JPEG_QUALITY = 80
WEBP_QUALITY = 75

MODES = ("box", "blur", "pixelate")
DEFAULT_MIN_SCORE = 0.5
DETECTOR_MIN_SCORE = 0.2
"""The detector's own threshold; ``min_score`` filters above it per request."""

MAX_PIXELS = 4096 * 4096
"""Larger frames are refused: a realtime frame this big is a client bug, not a request."""

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")
"""BlazeFace's six keypoints, in the model's order (right/left as seen by the subject)."""

BOX_COLOUR = (64, 224, 160)
KEYPOINT_COLOUR = (255, 214, 64)

_DATA_URI = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


def sample_portrait_path() -> Path | None:
    """A photograph with a face, shipped in a package: matplotlib's ``grace_hopper.jpg``.

    Used to warm the model up in ``setup()`` and as the synthetic camera's
    subject; ``None`` when matplotlib (a MediaPipe dependency) is not installed.
    Found without importing matplotlib, which would cost a second of start-up.
    """
    spec = importlib.util.find_spec("matplotlib")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
        if path.is_file():
            return path
    return None


@attrs.frozen(slots=True)
class Detection:
    """One face: confidence, box and keypoints in pixels of the input image."""

    score: float
    x: int
    y: int
    width: int
    height: int
    keypoints: tuple[tuple[str, int, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "box": {"x": self.x, "y": self.y, "width": self.width, "height": self.height},
            "keypoints": {name: [x, y] for name, x, y in self.keypoints},
        }


class Faces(runner.App, app_id="warmwire/faces"):
    """Finds faces in each frame and outlines, blurs or pixelates them.

    ``buffering=2``: a camera at 30 fps may outpace the model; the runner then
    drops the oldest waiting frame, so the newest one is always next and the
    picture never lags behind a growing backlog.
    """

    def setup(self) -> None:
        """Import MediaPipe, build the face-detection graph, run it once on a portrait."""
        # MediaPipe's native code logs to stderr through glog; keep it to warnings.
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise RuntimeError(
                f"the warmwire/faces app needs MediaPipe ({exc}): pip install 'warmwire[web]' "
                "(mediapipe 0.10.21 has wheels for CPython 3.9 to 3.12)"
            ) from None
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=DETECTOR_MIN_SCORE
        )
        # The graph is one object with its own clock: one frame at a time through it.
        self._lock = threading.Lock()
        warm_up = _warm_up_frame()
        for mode in MODES:
            for fmt in FORMATS.values():
                self.apply(warm_up, mode, DEFAULT_MIN_SCORE, fmt)

    def teardown(self) -> None:
        detector = getattr(self, "_detector", None)
        if detector is not None:
            detector.close()

    @runner.realtime("/realtime", buffering=2)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        """One frame in, the frame with its faces drawn or hidden out, plus the detections."""
        started = time.perf_counter()
        raw = inp.get("image")
        as_text = isinstance(raw, str)
        image, in_fmt = decode_image(raw)
        mode = inp.get("mode", "box")
        if mode not in MODES:
            raise runner.InvalidInput(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        min_score = _min_score(inp.get("min_score", DEFAULT_MIN_SCORE))
        fmt_name = inp.get("format")
        fmt = in_fmt if fmt_name is None else _format(fmt_name)
        data, detections, model_ms = self.apply(image, mode, min_score, fmt)
        out_image: bytes | str = data
        if as_text:
            out_image = f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"
        return {
            "image": out_image,
            "format": fmt.lower(),
            "width": image.width,
            "height": image.height,
            "mode": mode,
            "detections": [d.to_json() for d in detections],
            "model_ms": round(model_ms, 2),
            "handler_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    def detect(self, rgb: Image.Image, min_score: float) -> list[Detection]:
        """Faces in ``rgb`` scoring at least ``min_score``, best first."""
        pixels = np.asarray(rgb)
        with self._lock:
            result = self._detector.process(pixels)
        found = []
        for det in result.detections or ():
            score = float(det.score[0])
            if score < min_score:
                continue
            rel = det.location_data.relative_bounding_box
            x0 = max(0, round(rel.xmin * rgb.width))
            y0 = max(0, round(rel.ymin * rgb.height))
            x1 = min(rgb.width, round((rel.xmin + rel.width) * rgb.width))
            y1 = min(rgb.height, round((rel.ymin + rel.height) * rgb.height))
            if x1 <= x0 or y1 <= y0:
                continue
            points = tuple(
                (name, round(kp.x * rgb.width), round(kp.y * rgb.height))
                for name, kp in zip(KEYPOINTS, det.location_data.relative_keypoints, strict=False)
            )
            found.append(Detection(score, x0, y0, x1 - x0, y1 - y0, points))
        found.sort(key=lambda d: d.score, reverse=True)
        return found

    def apply(
        self, image: Image.Image, mode: str, min_score: float, fmt: str
    ) -> tuple[bytes, list[Detection], float]:
        """Detect, render ``mode``, encode as ``fmt``: (image bytes, detections, model ms)."""
        rgb = image.convert("RGB") if image.mode != "RGB" else image.copy()
        started = time.perf_counter()
        detections = self.detect(rgb, min_score)
        model_ms = (time.perf_counter() - started) * 1000
        render(rgb, detections, mode)
        out = io.BytesIO()
        if fmt == "JPEG":
            rgb.save(out, "JPEG", quality=JPEG_QUALITY)
        else:
            rgb.save(out, "WEBP", quality=WEBP_QUALITY, method=0)  # speed over size
        return out.getvalue(), detections, model_ms


def render(rgb: Image.Image, detections: list[Detection], mode: str) -> None:
    """Draw ``detections`` on ``rgb`` in place: outlined (``box``) or hidden."""
    draw = ImageDraw.Draw(rgb)
    line = max(2, min(rgb.size) // 160)
    for det in detections:
        box = (det.x, det.y, det.x + det.width, det.y + det.height)
        if mode == "box":
            draw.rectangle(box, outline=BOX_COLOUR, width=line)
            r = line + 1
            for _, x, y in det.keypoints:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=KEYPOINT_COLOUR)
            label = f"face {det.score:.2f}"
            top = max(0, det.y - 14)
            draw.rectangle((det.x, top, det.x + 6 * len(label) + 6, top + 13), fill=BOX_COLOUR)
            draw.text((det.x + 3, top + 1), label, fill=(8, 24, 16))
            continue
        face = rgb.crop(box)
        if mode == "blur":
            face = face.filter(ImageFilter.GaussianBlur(max(4, det.width // 8)))
        else:  # pixelate
            block = max(4, det.width // 10)
            small = face.resize(
                (max(1, face.width // block), max(1, face.height // block)), Image.Resampling.BOX
            )
            face = small.resize(face.size, Image.Resampling.NEAREST)
        # An ellipse follows a face better than its box does.
        mask = Image.new("L", face.size, 0)
        ImageDraw.Draw(mask).ellipse((0, 0, face.width - 1, face.height - 1), fill=255)
        rgb.paste(face, box[:2], mask)


def decode_image(raw: object) -> tuple[Image.Image, str]:
    """The JPEG or WebP image in ``raw`` (bytes, or a data URI / base64 string), fully loaded,
    and its format; :class:`~warmwire.runner.InvalidInput` saying what is wrong otherwise."""
    if isinstance(raw, str):
        try:
            raw = base64.b64decode(_DATA_URI.sub("", raw, count=1), validate=True)
        except (binascii.Error, ValueError):
            raise runner.InvalidInput(
                "'image' is a string but not base64 or a data:image/...;base64 URI; send the "
                "JPEG/WebP bytes (msgpack) or a data URI (json)"
            ) from None
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if raw is None:
        raise runner.InvalidInput("missing 'image': send the frame as JPEG or WebP bytes")
    if not isinstance(raw, bytes):
        raise runner.InvalidInput(f"'image' must be JPEG or WebP bytes, got {type(raw).__name__}")
    kind = "JPEG or WebP image"
    try:
        image = Image.open(io.BytesIO(raw), formats=list(FORMATS.values()))
        kind = image.format or kind
        if image.width * image.height > MAX_PIXELS:
            raise runner.InvalidInput(
                f"the image is {image.width}x{image.height}; frames are limited to "
                f"{MAX_PIXELS} pixels: downscale before sending"
            )
        image.load()
    except UnidentifiedImageError:
        raise runner.InvalidInput(
            f"'image' is not a JPEG or WebP image ({len(raw)} bytes starting {raw[:8]!r}); "
            "send the encoded file's bytes"
        ) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise runner.InvalidInput(
            f"'image' is not a decodable {kind} ({len(raw)} bytes): {exc}"
        ) from None
    return image, image.format or "JPEG"


def _min_score(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise runner.InvalidInput(f"'min_score' must be a number, got {type(value).__name__}")
    if not DETECTOR_MIN_SCORE <= value <= 1:
        raise runner.InvalidInput(
            f"'min_score' must be from {DETECTOR_MIN_SCORE} to 1, got {value!r}"
        )
    return float(value)


def _format(name: object) -> str:
    fmt = FORMATS.get(name.lower()) if isinstance(name, str) else None
    if fmt is None:
        raise runner.InvalidInput(f"unknown format {name!r}; use 'jpeg' or 'webp'")
    return fmt


def _warm_up_frame() -> Image.Image:
    """A 640x480 frame with a face in it (the sample portrait), or a plain card without one."""
    path = sample_portrait_path()
    frame = Image.new("RGB", (640, 480), (40, 44, 52))
    if path is not None:
        with Image.open(path) as portrait:
            portrait.thumbnail((640, 480))
            frame.paste(portrait.convert("RGB"), ((640 - portrait.width) // 2, 0))
    return frame
