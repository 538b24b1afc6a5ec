"""The warmwire/faces example: a real model (MediaPipe face detection) behind a real runner.

The frames are real photographs (the sample portrait the ``mediapipe`` install
carries) as JPEG and WebP; the model must find the face, the image must come
back in the format it went in, and a frame that is not an image must be
``INVALID_INPUT`` on the wire with the stream going on.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import anyio
import numpy as np
import pytest
from PIL import Image

import warmwire
from warmwire import runner
from warmwire.examples.faces import Faces, decode_image, sample_portrait_path

pytestmark = pytest.mark.anyio

APP = Faces.app_id
TIMEOUT = 30.0


def portrait(fmt: str = "JPEG", size: tuple[int, int] = (640, 480)) -> bytes:
    """The sample portrait centred on a 640x480 frame, encoded as ``fmt``."""
    path = sample_portrait_path()
    assert path is not None, "the web extra is not installed: pip install -e '.[dev,web]'"
    frame = Image.new("RGB", size, (30, 34, 40))
    with Image.open(path) as photo:
        photo.thumbnail(size)
        frame.paste(photo.convert("RGB"), ((size[0] - photo.width) // 2, 0))
    out = io.BytesIO()
    frame.save(out, fmt, quality=85)
    return out.getvalue()


def blank(fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 150)).save(out, fmt)
    return out.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def roundtrip(*inputs: dict[str, Any], codec: str = "msgpack") -> list[Any]:
    """Send each input on one connection; each answer is a result or the RealtimeError raised."""
    answers: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            runner.serve(Faces, insecure_no_auth=True) as server,
            warmwire.realtime_async(APP, url=server.url, codec=codec) as conn,
        ):
            assert server.cold_start is not None
            assert server.cold_start > 0
            for inp in inputs:
                await conn.send(inp)
                try:
                    answers.append(await conn.recv())
                except warmwire.RealtimeError as exc:
                    answers.append(exc)
    # An app error, never the connection's end: the session went on to the last input.
    assert not any(isinstance(a, warmwire.ConnectionClosedError) for a in answers)
    return answers


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
async def test_finds_the_face_and_answers_in_the_input_format(fmt: str) -> None:
    (result,) = await roundtrip({"image": portrait(fmt), "request_id": "frame-1"})
    assert result["request_id"] == "frame-1"
    assert result["format"] == fmt.lower()
    assert (result["width"], result["height"]) == (640, 480)
    image = decoded(result["image"])
    assert image.format == fmt
    assert image.size == (640, 480)
    (face,) = result["detections"]
    assert 0.5 <= face["score"] <= 1
    box = face["box"]
    # The portrait's face is in the upper middle of the frame.
    assert 200 <= box["x"] + box["width"] / 2 <= 440
    assert 60 <= box["y"] + box["height"] / 2 <= 300
    assert 60 <= box["width"] <= 320
    assert set(face["keypoints"]) == {
        "right_eye",
        "left_eye",
        "nose_tip",
        "mouth_center",
        "right_ear",
        "left_ear",
    }
    assert result["model_ms"] > 0
    assert result["handler_ms"] >= result["model_ms"]


async def test_modes_change_the_face_only() -> None:
    frame = portrait()
    boxed, blurred, pixelated, plain = await roundtrip(
        {"image": frame, "mode": "box"},
        {"image": frame, "mode": "blur"},
        {"image": frame, "mode": "pixelate"},
        {"image": blank()},
    )
    box = boxed["detections"][0]["box"]
    inside = (
        box["x"] + box["width"] // 4,
        box["y"] + box["height"] // 4,
        box["x"] + 3 * box["width"] // 4,
        box["y"] + 3 * box["height"] // 4,
    )
    original = decoded(frame).convert("L")

    def detail(image: Image.Image, area: tuple[int, int, int, int]) -> float:
        """Mean absolute difference between neighbouring pixels: high for a sharp face."""
        pixels = np.asarray(image.convert("L").crop(area), dtype=np.float64)
        return float(np.abs(np.diff(pixels, axis=1)).mean())

    sharp = detail(original, inside)
    assert detail(decoded(blurred["image"]), inside) < sharp / 2
    assert detail(decoded(pixelated["image"]), inside) < sharp / 2
    # Far from the face, blurring changed nothing beyond JPEG noise.
    corner = (560, 400, 640, 480)
    assert abs(detail(decoded(blurred["image"]), corner) - detail(original, corner)) < 2
    assert plain["detections"] == []


async def test_json_codec_data_uris_in_and_out() -> None:
    uri = "data:image/jpeg;base64," + base64.b64encode(portrait()).decode("ascii")
    (result,) = await roundtrip({"image": uri}, codec="json")
    assert result["image"].startswith("data:image/jpeg;base64,")
    assert len(result["detections"]) == 1
    assert decoded(base64.b64decode(result["image"].split(",", 1)[1])).size == (640, 480)


async def test_bad_frames_are_invalid_input_and_the_stream_goes_on() -> None:
    jpeg = portrait()
    answers = await roundtrip(
        {"image": b"this is not an image"},
        {"image": jpeg[: len(jpeg) // 2]},
        {"image": jpeg[:64]},
        {"mode": "box"},
        {"image": 42},
        {"image": "not base64 at all!"},
        {"image": jpeg, "mode": "sketch"},
        {"image": jpeg, "min_score": "high"},
        {"image": jpeg, "format": "gif"},
        {"image": jpeg, "request_id": "after"},
    )
    *errors, last = answers
    reasons = []
    for error in errors:
        assert isinstance(error, warmwire.RealtimeError), error
        assert error.error == "INVALID_INPUT"
        assert "Traceback" not in error.reason
        reasons.append(error.reason)
    assert "not a JPEG or WebP image" in reasons[0]
    assert "truncated" in reasons[1]
    assert "missing 'image'" in reasons[3]
    assert "unknown mode 'sketch'" in reasons[6]
    assert last["request_id"] == "after"
    assert len(last["detections"]) == 1


def test_decode_refuses_other_formats() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "PNG")
    with pytest.raises(runner.InvalidInput, match="not a JPEG or WebP"):
        decode_image(out.getvalue())


def test_the_model_is_loaded_in_setup() -> None:
    app = Faces()
    assert not hasattr(app, "_detector")
    app.setup()
    try:
        data, detections, model_ms = app.apply(decoded(portrait()), "box", 0.5, "JPEG")
        assert len(detections) == 1
        assert model_ms > 0
        assert decoded(data).format == "JPEG"
    finally:
        app.teardown()
