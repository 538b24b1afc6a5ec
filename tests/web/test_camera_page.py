"""The camera page in a real browser: headless Chromium with a fake camera, end to end.

``warmwire demo --web`` runs as a person starts it (a subprocess, its URL read
from its output).  ``web/test/camera_page.mjs`` drives Debian's Chromium with
playwright-core: a fake camera playing a clip of a face
(``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream
--use-file-for-fake-video-capture``), the page's own buttons, the figures it
shows.  Then a second browser with no camera at all, where the page must fall
back to its synthetic scene and say so.

What is checked: the page streams through warmwire's own client (clients/js), its
tokens from the page's backend route, the browser's WebSocket left as it is;
results are drawn and the figures move; the model finds the face; a bad frame (not
an image, a truncated JPEG) shows INVALID_INPUT on the page and the stream goes on;
the codec switch works both ways; the backlog stays bounded; p50/p95 round trips
measured in the browser; a path the runner does not serve shows why.

The screenshot goes to the test's temporary directory;
``WARMWIRE_UPDATE_DOCS=1`` also writes it to ``docs/camera.png`` and the
figures to ``docs/camera.json`` (what the README shows).

Needs ``make web-setup`` (``bash web/setup.sh --chromium``; ``make test`` runs it):
the npm packages, the page's bundle, Chromium.  Marked ``browser``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.processes import start_runner
from helpers.tools import CHROMIUM
from warmwire.web.server import BUNDLE

from .fake_camera import write_face_clip

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DRIVER = WEB / "test" / "camera_page.mjs"
DOCS = ROOT / "docs"
PAGE_LINE = re.compile(r"^warmwire camera page on (\S+)")
MEASURE = 300
"""Round trips the page measures p50/p95 over (10 s of a 30 fps camera)."""
START_TIMEOUT = 120.0
BROWSER_TIMEOUT = 300.0
SETUP_HINT = "run 'make web-setup' (bash web/setup.sh --chromium; make test runs it first)"


def check_prerequisites() -> None:
    missing = [
        what
        for what, there in (
            (f"the page's bundle {BUNDLE}", BUNDLE.is_file()),
            ("web/node_modules (npm ci)", (WEB / "node_modules" / "playwright-core").is_dir()),
            (f"Chromium at {CHROMIUM}", CHROMIUM.is_file()),
            ("node", shutil.which("node") is not None),
        )
        if not there
    ]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {SETUP_HINT}")


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    """``warmwire demo --web --port 0`` in a subprocess; its page URL; stopped with SIGINT."""
    check_prerequisites()
    args = ["demo", "--web", "--port", "0"]
    with start_runner(*args, ready=PAGE_LINE, start_timeout=START_TIMEOUT) as served:
        yield served.url
        code = served.stop(signal.SIGINT, timeout=30)
        assert code == 0, served.output.finish()[-3000:]


@pytest.fixture(scope="module")
def report(page_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the browser session once; what it saw, step by step."""
    where = tmp_path_factory.mktemp("camera")
    clip = write_face_clip(where / "face.y4m")
    screenshot = where / "camera.png"
    env = {
        **os.environ,
        "PAGE_URL": page_url,
        "SCREENSHOT": str(screenshot),
        "FAKE_VIDEO": str(clip),
        "CHROMIUM": str(CHROMIUM),
        "MEASURE": str(MEASURE),
    }
    run = subprocess.run(
        ["node", str(DRIVER)],
        cwd=WEB,
        env=env,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the driver printed no report (exit {run.returncode}):\n{run.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["ok"], f"{result.get('error')}\nsteps: {result['steps']}"
    assert run.returncode == 0
    result["screenshot"] = str(screenshot)
    return result


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    for seen in report["steps"]:
        if seen["name"] == name:
            return dict(seen)
    raise AssertionError(f"the browser never reached step {name!r}: {report['steps']}")


def test_camera_frames_come_back_drawn_and_the_figures_move(report: dict[str, Any]) -> None:
    first = step(report, "streaming")
    second = step(report, "figures moved")
    assert first["source"] == "camera"
    assert "camera" in first["sourceLabel"]
    assert first["state"] == "live"
    assert first["codec"] == "msgpack"
    assert first["drawn"] > 0
    assert first["p50"] > 0
    assert first["fpsOut"] > 0
    assert first["coldStartMs"] > 0
    # warmwire's own client, with tokens from the page's backend, no global replaced.
    assert first["nativeWebSocket"] is True
    assert any("from /api/token" in event for event in first["events"]), first["events"]
    assert any("subprotocol msgpack" in event for event in first["events"]), first["events"]
    assert second["results"] >= first["results"] + 30
    assert second["drawn"] > first["drawn"]
    assert second["p50"] is not None
    assert second["p95"] >= second["p50"]
    assert not report["console"], report["console"]


def test_the_model_finds_the_face_in_the_camera(report: dict[str, Any]) -> None:
    found = step(report, "face found")
    assert found["faces"] >= 1
    detections = [json.loads(line) for line in found["detections"].splitlines()]
    assert detections[0]["score"] >= 0.5
    assert set(detections[0]["box"]) == {"x", "y", "width", "height"}
    assert found["modelMs"] > 0


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("not-image", "is not a JPEG or WebP image"), ("truncated", "truncated")],
)
def test_a_bad_frame_shows_invalid_input_and_the_stream_goes_on(
    report: dict[str, Any], kind: str, reason: str
) -> None:
    seen = step(report, f"bad frame {kind}")
    assert seen["errorVisible"]
    assert "INVALID_INPUT" in seen["lastError"]
    assert reason in seen["lastError"]
    assert seen["resultsAfter"] >= seen["resultsBefore"] + 20
    assert seen["state"] == "live"


def test_the_codec_switch_changes_the_wire(report: dict[str, Any]) -> None:
    as_json = step(report, "codec json")
    back = step(report, "codec msgpack")
    assert as_json["codec"] == "json"
    assert back["codec"] == "msgpack"
    assert back["results"] >= as_json["results"] + 30
    assert as_json["faces"] >= 1
    # The old connection was closed, not left behind: the page holds one session.
    assert report["runnerSessions"] == 1


def test_round_trip_measured_in_the_browser_and_no_backlog(report: dict[str, Any]) -> None:
    measured = report["measured"]
    assert measured["samples"] >= MEASURE
    assert 0 < measured["p50"] <= measured["p95"]
    # Drop-oldest with max_buffering=2: frames in flight stay a handful, never a queue
    # that grows with the number of frames sent (hundreds here).
    assert measured["maxInFlight"] <= 30
    assert measured["fpsOut"] > 0
    figures = {
        "p50_ms": round(measured["p50"], 1),
        "p95_ms": round(measured["p95"], 1),
        "samples": measured["samples"],
        "fps_in": measured["fpsIn"],
        "fps_out": measured["fpsOut"],
        "dropped": measured["dropped"],
        "max_in_flight": measured["maxInFlight"],
        "model_ms": measured["modelMs"],
        "cold_start_ms": measured["coldStartMs"],
        "user_agent": report.get("userAgent"),
    }
    print(f"\ncamera page, in the browser: {json.dumps(figures)}")
    screenshot = Path(report["screenshot"])
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("WARMWIRE_UPDATE_DOCS") == "1":
        shutil.copyfile(screenshot, DOCS / "camera.png")
        (DOCS / "camera.json").write_text(json.dumps(figures, indent=2) + "\n")


def test_without_a_camera_the_page_says_so_and_streams_a_synthetic_scene(
    report: dict[str, Any],
) -> None:
    seen = step(report, "no camera")
    assert seen["source"] == "synthetic"
    assert "synthetic animated scene" in seen["sourceNote"]
    assert "No camera" in seen["sourceNote"] or "refused" in seen["sourceNote"]
    assert seen["results"] >= 30
    assert seen["faces"] >= 1


def test_a_refused_connection_shows_why_on_the_page(report: dict[str, Any]) -> None:
    seen = step(report, "refused")
    assert seen["errorVisible"]
    # The runner's reason, read after the upgrade (a browser cannot read an HTTP refusal).
    assert seen["code"] == "Not Found", seen
    assert "no realtime endpoint" in seen["lastError"], seen["lastError"]
    assert "/warmwire/faces/no-such-path" in seen["lastError"], seen["lastError"]
    assert seen["results"] == 0
    assert seen["state"] == "error"
    assert not [line for line in report["refusedConsole"] if "pageerror" in line]
