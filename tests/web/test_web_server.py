"""The camera page's backend, without a browser: its routes, its token route, its CLI.

The page's token route is the one place a key is used: it must mint through
the runner's token service, only for the app the page serves, and nothing the
browser can fetch may contain the key.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from PIL import Image

import warmwire
from warmwire import cli
from warmwire.auth.keys import ApiKey
from warmwire.web import server as web_server
from warmwire.web.server import WebDemo, serve_web_demo

TIMEOUT = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the page server is uvicorn


@pytest.fixture
def known_key() -> ApiKey:
    """The page server's key, made known to the test (in use it is random and unseen)."""
    return ApiKey("web-demo", "s3cret-the-browser-must-never-see")


@pytest.fixture
async def demo(known_key: ApiKey) -> AsyncIterator[WebDemo]:
    with anyio.fail_after(TIMEOUT):
        async with serve_web_demo(0, key=known_key) as running:
            yield running


async def get(demo: WebDemo, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=demo.url, timeout=TIMEOUT) as client:
        return await client.get(path)


@pytest.mark.anyio
async def test_page_assets_and_config(demo: WebDemo) -> None:
    page = await get(demo, "/")
    assert page.status_code == 200
    assert "/static/app.js" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert (await get(demo, asset)).status_code == 200
    config = (await get(demo, "/api/config")).json()
    assert config["app"] == "warmwire/faces"
    assert config["runner"] == demo.runner.url
    assert config["max_buffering"] == 2
    assert config["cold_start_ms"] == pytest.approx(demo.cold_start * 1000, abs=0.1)
    sample = await get(demo, "/sample.jpg")
    assert Image.open(io.BytesIO(sample.content)).format == "JPEG"


@pytest.mark.anyio
async def test_token_route_mints_for_the_page_app_only(demo: WebDemo) -> None:
    ok = await get(demo, "/api/token?app=warmwire/faces/realtime")
    assert ok.status_code == 200
    assert ok.headers["cache-control"] == "no-store"
    body = ok.json()
    assert body["expires_in"] == 120
    assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", body["token"])
    assert (await get(demo, "/api/token?app=warmwire/faces")).status_code == 200
    other = await get(demo, "/api/token?app=acme/other")
    assert other.status_code == 403
    assert "warmwire/faces only" in other.json()["reason"]
    assert (await get(demo, "/api/token?app=not-an-app")).status_code == 400
    assert (await get(demo, "/api/token")).status_code == 400


@pytest.mark.anyio
async def test_the_minted_token_opens_a_session_with_the_model(demo: WebDemo) -> None:
    token = (await get(demo, "/api/token?app=warmwire/faces/realtime")).json()["token"]
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 90)).save(out, "JPEG")
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/faces", url=demo.runner.url, token=token
        ) as conn:
            await conn.send({"image": out.getvalue()})
            result = await conn.recv()
    assert result is not None
    assert (result["width"], result["height"], result["detections"]) == (64, 48, [])


@pytest.mark.anyio
async def test_the_key_never_reaches_the_browser(demo: WebDemo, known_key: ApiKey) -> None:
    seen = [
        await get(demo, path)
        for path in (
            "/",
            "/static/app.js",
            "/static/style.css",
            "/api/config",
            "/api/token?app=warmwire/faces/realtime",
            "/api/token?app=acme/other",
        )
    ]
    for response in seen:
        assert known_key.secret not in response.text
        assert known_key.secret not in str(response.headers)


def test_cli_without_the_bundle_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(web_server, "BUNDLE", tmp_path / "app.js")
    assert cli.main(["demo", "--web", "--port", "0"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "bundle" in err
    assert "make web" in err
    assert "npm ci && npm run build" in err
    assert "Traceback" not in err


def test_cli_web_needs_asyncio(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--web", "--backend", "trio"]) == cli.EXIT_USAGE
    assert "--web runs on asyncio" in capsys.readouterr().err
