"""``warmwire/stylize``: an image filter standing in for a realtime image model.

It behaves like the apps warmwire is for — a camera frame in, a restyled frame
out, as fast as possible — but needs only Pillow, so the demo and the tests
exercise real payloads (tens of kilobytes of JPEG per message, real decode and
encode work per frame) without a GPU or model weights.

Input (one message)::

    {"image": <JPEG or PNG bytes, or a data: URI / base64 string>,
     "effect": "posterize",      # see EFFECTS
     "strength": 3,              # optional; meaning and range depend on the effect
     "format": "jpeg"}           # optional: "jpeg" (default) or "png"

Output::

    {"image": <bytes, or a data: URI when the input was a string>,
     "width": 640, "height": 480, "effect": "posterize"}

Strings are accepted because JSON (the codec browsers often use) cannot carry
bytes; answering in kind keeps such clients working unchanged.

Pillow is the optional ``warmwire[demo]`` extra, imported here at module level:
examples are only imported when someone asks for them.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import threading
from typing import Any

import attrs
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError

from warmwire import runner

FORMATS = {"jpeg": "JPEG", "png": "PNG"}
"""Output formats accepted in ``format`` → Pillow's format names."""

MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}

JPEG_QUALITY = 85

MAX_PIXELS = 4096 * 4096
"""Larger frames are refused: a realtime frame this big is a client bug, not a request."""

_DATA_URI = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


@attrs.frozen(slots=True)
class Effect:
    """One effect and what its ``strength`` means."""

    name: str
    description: str
    default: float | None = None
    """``None``: the effect takes no strength."""
    minimum: float = 0.0
    maximum: float = 0.0
    integer: bool = False


EFFECTS: dict[str, Effect] = {
    effect.name: effect
    for effect in (
        Effect("none", "decode and re-encode only (transport and codec cost)"),
        Effect("invert", "negative image"),
        Effect("grayscale", "luminance only"),
        Effect("sepia", "warm monochrome, from a lookup table built in setup()"),
        Effect("posterize", "strength = bits kept per channel", 3, 1, 8, integer=True),
        Effect("solarize", "strength = threshold above which tones invert", 128, 0, 255),
        Effect("blur", "strength = Gaussian blur radius in pixels", 4, 0, 50),
        Effect("sharpen", "strength = unsharp-mask amount in percent", 150, 0, 500),
        Effect("edges", "strength = gain applied to the detected edges", 2, 0.1, 10),
        Effect("emboss", "relief shading"),
        Effect("pixelate", "strength = block size in pixels", 12, 2, 128, integer=True),
    )
}


class Stylize(runner.App, app_id="warmwire/stylize"):
    """Applies one of :data:`EFFECTS` to each frame.

    ``buffering=2``: a camera client that outpaces the filter should see its
    newest frames processed, not a growing backlog of stale ones.
    """

    def setup(self) -> None:
        """Build the lookup tables and run every effect once on a small frame.

        The tables are the app's "weights"; the dummy pass makes Pillow load its
        codecs and filter kernels now, so the first real frame is not the slow
        one.  Its duration is the runner's measured cold start.
        """
        self._posterize_luts = {bits: _posterize_lut(bits) for bits in range(1, 9)}
        self._sepia_luts = _sepia_luts()
        self._gain_luts: dict[float, list[int]] = {}
        self._gain_lock = threading.Lock()
        sample = _sample_frame(96, 64)
        for name, effect in EFFECTS.items():
            for fmt in FORMATS.values():
                self.apply(sample, name, effect.default, fmt)

    @runner.realtime("/realtime", buffering=2)
    def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        """One frame in, one frame out; bad input raises :class:`ValueError` saying why."""
        raw = inp.get("image")
        as_text = isinstance(raw, str)
        image = decode_image(raw)
        effect = inp.get("effect")
        if not isinstance(effect, str) or effect not in EFFECTS:
            problem = "missing 'effect'" if effect is None else f"unknown effect {effect!r}"
            raise ValueError(f"{problem}; use one of: {', '.join(EFFECTS)}")
        strength = check_strength(EFFECTS[effect], inp.get("strength"))
        fmt_name = inp.get("format", "jpeg")
        fmt = FORMATS.get(fmt_name.lower()) if isinstance(fmt_name, str) else None
        if fmt is None:
            raise ValueError(f"unknown format {fmt_name!r}; use 'jpeg' or 'png'")
        data = self.apply(image, effect, strength, fmt)
        out_image: bytes | str = data
        if as_text:
            out_image = f"data:{MIME[fmt]};base64,{base64.b64encode(data).decode('ascii')}"
        return {"image": out_image, "width": image.width, "height": image.height, "effect": effect}

    def apply(self, image: Image.Image, effect: str, strength: float | None, fmt: str) -> bytes:
        """Apply ``effect`` and encode as ``fmt`` (a Pillow format name)."""
        alpha = image.getchannel("A") if "A" in image.getbands() else None
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        result = self._transform(rgb, effect, strength)
        if alpha is not None and fmt == "PNG":
            result.putalpha(alpha)
        out = io.BytesIO()
        if fmt == "JPEG":
            result.save(out, "JPEG", quality=JPEG_QUALITY)
        else:
            result.save(out, "PNG", compress_level=1)  # speed over size: this is realtime
        return out.getvalue()

    def _transform(self, rgb: Image.Image, effect: str, strength: float | None) -> Image.Image:
        value = strength if strength is not None else (EFFECTS[effect].default or 0.0)
        if effect == "none":
            return rgb
        if effect == "invert":
            return ImageOps.invert(rgb)
        if effect == "grayscale":
            return ImageOps.grayscale(rgb)
        if effect == "sepia":
            gray = ImageOps.grayscale(rgb)
            return Image.merge("RGB", [gray.point(lut) for lut in self._sepia_luts])
        if effect == "posterize":
            return rgb.point(self._posterize_luts[int(value)])
        if effect == "solarize":
            return ImageOps.solarize(rgb, int(value))
        if effect == "blur":
            return rgb.filter(ImageFilter.GaussianBlur(value))
        if effect == "sharpen":
            return rgb.filter(ImageFilter.UnsharpMask(radius=2, percent=int(value), threshold=3))
        if effect == "edges":
            return rgb.filter(ImageFilter.FIND_EDGES).point(self._gain(value))
        if effect == "emboss":
            return rgb.filter(ImageFilter.EMBOSS)
        if effect == "pixelate":
            block = int(value)
            small = rgb.resize(
                (max(1, rgb.width // block), max(1, rgb.height // block)), Image.Resampling.BOX
            )
            return small.resize(rgb.size, Image.Resampling.NEAREST)
        raise AssertionError(f"EFFECTS lists {effect!r} but _transform does not implement it")

    def _gain(self, gain: float) -> list[int]:
        # Handlers may run in several worker threads; the cache is shared.
        with self._gain_lock:
            lut = self._gain_luts.get(gain)
            if lut is None:
                if len(self._gain_luts) > 64:
                    self._gain_luts.clear()
                lut = [min(255, round(v * gain)) for v in range(256)] * 3
                self._gain_luts[gain] = lut
            return lut


def decode_image(raw: object) -> Image.Image:
    """The JPEG or PNG in ``raw`` (bytes, or a data URI / base64 string), fully loaded."""
    if isinstance(raw, str):
        text = _DATA_URI.sub("", raw, count=1)
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(
                "'image' is a string but not base64 or a data:image/...;base64 URI; "
                "send the JPEG/PNG bytes (msgpack or cbor) or a data URI (json)"
            ) from None
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if raw is None:
        raise ValueError("missing 'image': send the frame as JPEG or PNG bytes")
    if not isinstance(raw, bytes):
        raise ValueError(f"'image' must be JPEG or PNG bytes, got {type(raw).__name__}")
    try:
        image = Image.open(io.BytesIO(raw), formats=list(FORMATS.values()))
        if image.width * image.height > MAX_PIXELS:
            raise ValueError(
                f"the image is {image.width}x{image.height}; frames are limited to "
                f"{MAX_PIXELS} pixels — downscale before sending"
            )
        image.load()
    except UnidentifiedImageError:
        raise ValueError(
            f"'image' is not a JPEG or PNG ({len(raw)} bytes starting {raw[:8]!r}); "
            "send the encoded file's bytes, not raw pixels"
        ) from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(
            f"'image' is not a decodable JPEG or PNG ({len(raw)} bytes): {exc}"
        ) from None
    return image


def check_strength(effect: Effect, strength: object) -> float | None:
    """``strength`` validated against ``effect``'s range; ``None`` means the default."""
    if strength is None:
        return None
    if effect.default is None:
        raise ValueError(f"effect {effect.name!r} takes no strength; leave 'strength' out")
    if isinstance(strength, bool) or not isinstance(strength, int | float):
        raise ValueError(f"'strength' must be a number, got {type(strength).__name__}")
    value = float(strength)
    if not math.isfinite(value) or not effect.minimum <= value <= effect.maximum:
        raise ValueError(
            f"strength {strength!r} is out of range for {effect.name!r}: "
            f"use {effect.minimum:g} to {effect.maximum:g} ({effect.description})"
        )
    if effect.integer and value != int(value):
        raise ValueError(f"strength for {effect.name!r} must be a whole number, got {strength!r}")
    return value


def _posterize_lut(bits: int) -> list[int]:
    mask = ~(2 ** (8 - bits) - 1) & 0xFF
    return [v & mask for v in range(256)] * 3


def _sepia_luts() -> tuple[list[int], list[int], list[int]]:
    def channel(scale: float) -> list[int]:
        return [min(255, round(v * scale)) for v in range(256)]

    return channel(1.07), channel(0.74), channel(0.43)


def _sample_frame(width: int, height: int) -> Image.Image:
    """A small test card for the warm-up pass: gradients and edges, with alpha."""
    frame = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", [frame, frame.transpose(Image.Transpose.ROTATE_180), frame])
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, width // 2, height // 2), "white")
    image.putalpha(frame)
    return image
