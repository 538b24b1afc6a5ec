"""The stylize example app: real images through a real runner over loopback."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

import warmwire
from warmwire import runner
from warmwire.examples.stylize import EFFECTS, Stylize, check_strength

APP = Stylize.app_id
APP_ERRORS = {"INTERNAL_ERROR", "INVALID_INPUT"}
"""What the runner sends when the app rejects an input: INTERNAL_ERROR today; the runner
is to map the app's validation errors to INVALID_INPUT. Either way the session stays open."""


def make_frame(width: int = 160, height: int = 120, *, alpha: bool = False) -> Image.Image:
    """A busy test card: gradients, a bright disc, a dark bar; every effect visibly changes it."""
    ramp = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", [ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), ramp])
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 4, height // 4, width // 2, height // 2), fill=(250, 250, 250))
    draw.rectangle((width // 2, height // 2, width - 8, height - 8), fill=(10, 20, 30))
    if alpha:
        image.putalpha(ramp.transpose(Image.Transpose.ROTATE_180))
    return image


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


JPEG_FRAME = encode(make_frame(), "JPEG")


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


@pytest.mark.anyio
@pytest.mark.parametrize("effect", ["invert", "posterize", "edges", "blur", "pixelate"])
async def test_jpeg_round_trip_applies_the_effect(effect: str) -> None:
    frame = make_frame()
    async with (
        runner.serve(Stylize, insecure_no_auth=True) as server,
        warmwire.realtime_async(APP, url=server.url) as conn,
    ):
        await conn.send({"image": encode(frame, "JPEG"), "effect": effect, "request_id": "f1"})
        result = await conn.recv()

    assert result["effect"] == effect
    assert (result["width"], result["height"]) == frame.size
    assert result["request_id"] == "f1"
    out = decode(result["image"])
    assert out.format == "JPEG"
    assert out.size == frame.size
    # JPEG noise is a couple of levels; every effect here moves pixels much further.
    assert mean_difference(out, frame) > 8


@pytest.mark.anyio
async def test_invert_inverts() -> None:
    frame = make_frame()
    async with (
        runner.serve(Stylize, insecure_no_auth=True) as server,
        warmwire.realtime_async(APP, url=server.url) as conn,
    ):
        await conn.send({"image": encode(frame, "PNG"), "effect": "invert", "format": "png"})
        result = await conn.recv()

    out = decode(result["image"])
    assert out.format == "PNG"
    assert out.tobytes() == bytes(255 - v for v in frame.tobytes())


@pytest.mark.anyio
async def test_png_round_trip_keeps_alpha_and_posterizes_exactly() -> None:
    frame = make_frame(alpha=True)
    async with (
        runner.serve(Stylize, insecure_no_auth=True) as server,
        warmwire.realtime_async(APP, url=server.url) as conn,
    ):
        await conn.send(
            {"image": encode(frame, "PNG"), "effect": "posterize", "strength": 2, "format": "png"}
        )
        result = await conn.recv()

    out = decode(result["image"])
    assert (out.format, out.mode, out.size) == ("PNG", "RGBA", frame.size)
    assert out.getchannel("A").tobytes() == frame.getchannel("A").tobytes()
    levels = set(out.convert("RGB").tobytes())
    assert levels <= {0, 64, 128, 192}
    assert len(levels) > 1
    assert mean_difference(out, frame) > 8


@pytest.mark.anyio
async def test_json_clients_send_and_get_data_uris() -> None:
    """JSON cannot carry bytes, so a string image is answered with a string image."""
    jpeg = encode(make_frame(), "JPEG")
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    async with (
        runner.serve(Stylize, insecure_no_auth=True) as server,
        warmwire.realtime_async(APP, url=server.url, codec="json") as conn,
    ):
        await conn.send({"image": uri, "effect": "grayscale", "format": "png"})
        result = await conn.recv()

    prefix = "data:image/png;base64,"
    assert result["image"].startswith(prefix)
    out = decode(base64.b64decode(result["image"][len(prefix) :]))
    assert out.mode == "L"
    assert out.size == (160, 120)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"image": b"definitely not an image", "effect": "invert"}, "is not a JPEG or PNG"),
        ({"image": "not base64!", "effect": "blur"}, "not base64 or a data:image"),
        ({"image": "data:image/png;base64,AAAA", "effect": "blur"}, "is not a JPEG or PNG"),
        ({"effect": "invert"}, "missing 'image'"),
        ({"image": None, "effect": "invert"}, "missing 'image'"),
        ({"image": 42, "effect": "invert"}, "must be JPEG or PNG bytes, got int"),
        ({"image": JPEG_FRAME}, "missing 'effect'; use one of: none, invert"),
        ({"image": JPEG_FRAME, "effect": "sparkle"}, "unknown effect 'sparkle'; use one of"),
        ({"image": JPEG_FRAME, "effect": "blur", "strength": 500}, "out of range for 'blur'"),
        ({"image": JPEG_FRAME, "effect": "blur", "format": "gif"}, "unknown format 'gif'"),
    ],
)
async def test_invalid_input_is_reported_and_the_session_keeps_working(
    bad: dict[str, Any], reason: str
) -> None:
    async with (
        runner.serve(Stylize, insecure_no_auth=True) as server,
        warmwire.realtime_async(APP, url=server.url) as conn,
    ):
        await conn.send(bad)
        with pytest.raises(warmwire.RealtimeError) as caught:
            await conn.recv()
        await conn.send({"image": JPEG_FRAME, "effect": "invert"})
        result = await conn.recv()

    assert caught.value.error in APP_ERRORS
    assert reason in caught.value.reason
    assert decode(result["image"]).size == (160, 120)


@pytest.mark.anyio
async def test_truncated_jpeg_is_refused() -> None:
    truncated = JPEG_FRAME[: len(JPEG_FRAME) // 2]
    async with (
        runner.serve(Stylize, insecure_no_auth=True) as server,
        warmwire.realtime_async(APP, url=server.url) as conn,
    ):
        await conn.send({"image": truncated, "effect": "invert"})
        with pytest.raises(warmwire.RealtimeError) as caught:
            await conn.recv()

    assert caught.value.error in APP_ERRORS
    assert "not a decodable JPEG or PNG" in caught.value.reason


@pytest.mark.anyio
async def test_setup_is_the_measured_cold_start() -> None:
    async with runner.serve(Stylize, insecure_no_auth=True) as server:
        assert server.cold_start is not None
        assert server.cold_start > 0


# --- the app object alone, no runner ------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> Stylize:
    app = Stylize()
    app.setup()
    return app


@pytest.mark.parametrize("effect", sorted(EFFECTS))
def test_every_effect_runs_with_its_default_strength(app: Stylize, effect: str) -> None:
    frame = make_frame(64, 48)
    result = app.run({"image": encode(frame, "PNG"), "effect": effect, "format": "png"})
    out = decode(result["image"])
    assert out.size == (64, 48)
    if effect == "none":
        assert out.convert("RGB").tobytes() == frame.tobytes()
    else:
        assert mean_difference(out, frame) > 1


@pytest.mark.parametrize(
    ("effect", "strength", "message"),
    [
        ("invert", 1, "takes no strength"),
        ("posterize", 2.5, "must be a whole number"),
        ("posterize", 9, "out of range"),
        ("blur", float("nan"), "out of range"),
        ("blur", True, "must be a number, got bool"),
        ("blur", "3", "must be a number, got str"),
    ],
)
def test_strength_is_checked(effect: str, strength: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_strength(EFFECTS[effect], strength)


def test_strength_in_range_passes() -> None:
    assert check_strength(EFFECTS["posterize"], 4) == 4.0
    assert check_strength(EFFECTS["blur"], None) is None
