"""A third-party codec found through its entry point, installed for real with pip.

The throwaway distribution ``ww-rot13codec`` is built and installed into a
private ``--target`` directory once per module; each test puts that directory
on ``sys.path`` (undone afterwards), where ``importlib.metadata`` finds its
entry points exactly as it would in a user's environment.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import msgpack
import pytest

import warmwire
from warmwire import plugins
from warmwire.codecs.base import FrameKind
from warmwire.runner import RunningServer
from warmwire.transports.base import ConnectOptions

TIMEOUT = 10.0
PACKAGE = "ww_rot13codec"
BROKEN_MODULE = "ww_rot13codec_broken"
MAGIC = b"ROT\x01"

CODEC_SOURCE = '''
"""msgpack with every byte shifted by 13 and a magic prefix: never plain msgpack."""

from typing import Any

from warmwire.codecs.base import FrameKind
from warmwire.codecs.msgpack import MsgpackCodec
from warmwire.core.errors import CodecError

MAGIC = b"ROT\\x01"
_ENCODE = bytes((b + 13) % 256 for b in range(256))
_DECODE = bytes((b - 13) % 256 for b in range(256))


class RotCodec:
    name = "rot-msgpack"
    frame = FrameKind.BINARY

    def __init__(self) -> None:
        self._inner = MsgpackCodec()

    def encode(self, obj: Any) -> bytes:
        return MAGIC + bytes(self._inner.encode(obj)).translate(_ENCODE)

    def decode(self, data: bytes | str) -> Any:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if not raw.startswith(MAGIC):
            raise CodecError(f"not a rot-msgpack payload (no {MAGIC!r} prefix)")
        return self._inner.decode(raw[len(MAGIC):].translate(_DECODE))
'''

BROKEN_SOURCE = """
raise ImportError("ww_rot13codec_broken needs the 'zstandard' package, which is missing")
"""

PYPROJECT = f"""
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "ww-rot13codec"
version = "0.0.1"
requires-python = ">=3.10"

[project.entry-points."warmwire.codecs"]
rot-msgpack = "{PACKAGE}:RotCodec"
broken-codec = "{BROKEN_MODULE}:Codec"

[tool.hatch.build.targets.wheel]
packages = ["{PACKAGE}", "{BROKEN_MODULE}"]
"""


def rot_encode(obj: Any) -> bytes:
    """The plugin's encoding, reimplemented here to check the bytes on the wire."""
    table = bytes((b + 13) % 256 for b in range(256))
    return MAGIC + msgpack.packb(obj, use_bin_type=True).translate(table)


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and install the throwaway codec distribution; return its ``--target`` dir."""
    root = tmp_path_factory.mktemp("rotcodec")
    pkgdir = root / "src"
    (pkgdir / PACKAGE).mkdir(parents=True)
    (pkgdir / PACKAGE / "__init__.py").write_text(textwrap.dedent(CODEC_SOURCE))
    (pkgdir / BROKEN_MODULE).mkdir()
    (pkgdir / BROKEN_MODULE / "__init__.py").write_text(textwrap.dedent(BROKEN_SOURCE))
    (pkgdir / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(pkgdir),
        ],
        check=True,
        timeout=120,
    )
    assert any(site.glob("ww_rot13codec-0.0.1.dist-info/entry_points.txt"))
    return site


@pytest.fixture
def installed_plugin(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The plugin visible to ``importlib.metadata`` for one test, and forgotten after it."""
    monkeypatch.syspath_prepend(str(plugin_site))
    # The registry caches what it loaded: restore it so later tests see no plugin.
    monkeypatch.setattr(plugins.codecs, "_loaded", dict(plugins.codecs._loaded))
    yield
    for name in (PACKAGE, BROKEN_MODULE):
        sys.modules.pop(name, None)


class RecordingTcp:
    """A third-party transport: plain TCP on anyio's streams, keeping a copy of every
    byte the runner sends (frames to a client are unmasked, so payloads can be found
    verbatim).  Its anyio stream is driven by the anyio driver under either loop."""

    def __init__(self) -> None:
        self.received = bytearray()

    async def connect(self, url: Any, options: ConnectOptions) -> anyio.abc.ByteStream:
        stream = await anyio.connect_tcp(url.host, url.port)
        return _Tee(stream, self.received)


class _Tee(anyio.abc.ByteStream):
    def __init__(self, inner: anyio.abc.ByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await self._inner.receive(max_bytes)
        self._sink += data
        return data

    async def send(self, item: bytes) -> None:
        await self._inner.send(item)

    async def send_eof(self) -> None:
        await self._inner.send_eof()

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- discovery and negotiation -------------------------------------------------------


@pytest.mark.usefixtures("installed_plugin")
def test_plugin_is_discovered_by_name() -> None:
    assert "rot-msgpack" in plugins.codecs.names()
    codec = plugins.get_codec("rot-msgpack")
    assert codec.name == "rot-msgpack"
    assert codec.frame is FrameKind.BINARY
    assert type(codec).__module__ == PACKAGE
    assert codec.decode(codec.encode({"a": b"\x00"})) == {"a": b"\x00"}


@pytest.mark.anyio
@pytest.mark.usefixtures("installed_plugin")
async def test_plugin_codec_round_trip_through_runner(echo_server: RunningServer) -> None:
    transport = RecordingTcp()
    inp = {"image": bytes(range(256)) * 16, "caption": "rot me", "request_id": "p-1"}
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec="rot-msgpack", transport=transport
        ) as conn:
            assert conn.subprotocol == "rot-msgpack"
            await conn.send(inp)
            assert await conn.recv() == inp
    wire = bytes(transport.received)
    head = wire.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nsec-websocket-protocol: rot-msgpack\r\n" in head + b"\r\n"
    # The runner encoded its result with the plugin, not with msgpack.
    assert rot_encode(inp) in wire
    assert msgpack.packb(inp, use_bin_type=True) not in wire


@pytest.mark.anyio
@pytest.mark.usefixtures("installed_plugin")
async def test_runner_decodes_only_through_the_plugin(echo_server: RunningServer) -> None:
    """Plain msgpack under the plugin's name is refused: the runner really uses the plugin."""

    class Impostor:
        name = "rot-msgpack"
        frame = FrameKind.BINARY
        plain = True

        def encode(self, obj: Any) -> bytes:
            if self.plain:
                return bytes(msgpack.packb(obj, use_bin_type=True))
            return rot_encode(obj)

        def decode(self, data: bytes | str) -> Any:
            return plugins.get_codec("rot-msgpack").decode(data)

    impostor = Impostor()
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=impostor
        ) as conn:
            assert conn.subprotocol == "rot-msgpack"
            await conn.send({"plain": "msgpack"})
            with pytest.raises(warmwire.RealtimeError) as info:
                await conn.recv()
            assert info.value.error == "INVALID_INPUT"
            assert "rot-msgpack" in info.value.reason
            # The session survives; a correctly encoded input still goes through.
            impostor.plain = False
            await conn.send({"proper": True})
            assert await conn.recv() == {"proper": True}


@pytest.mark.anyio
@pytest.mark.usefixtures("installed_plugin")
async def test_plugin_codec_with_blocking_client(echo_server: RunningServer) -> None:
    def client() -> tuple[str | None, Any]:
        with warmwire.realtime(
            "warmwire/echo", url=echo_server.url, codec="rot-msgpack", open_timeout=TIMEOUT
        ) as conn:
            conn.send({"sync": b"\x01\x02"})
            return conn.subprotocol, conn.recv(timeout=TIMEOUT)

    subprotocol, out = await anyio.to_thread.run_sync(client)
    assert subprotocol == "rot-msgpack"
    assert out == {"sync": b"\x01\x02"}


@pytest.mark.anyio
async def test_runner_without_plugin_falls_back_to_default(
    echo_server: RunningServer, plugin_site: Path
) -> None:
    """A client that knows a codec the runner lacks gets the runner's default, not an error."""
    from warmwire.codecs.msgpack import MsgpackCodec

    class Offered(MsgpackCodec):
        name = "rot-msgpack"  # offered by name; encoded as plain msgpack

    assert "rot-msgpack" not in plugins.codecs.names()
    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=Offered()
        ) as conn:
            assert conn.subprotocol is None
            await conn.send({"fallback": 1})
            assert await conn.recv() == {"fallback": 1}


# -- errors --------------------------------------------------------------------------


@pytest.mark.usefixtures("no_network", "installed_plugin")
def test_unknown_codec_is_a_plugin_error_before_io() -> None:
    for connect in (warmwire.realtime_async, warmwire.realtime):
        with pytest.raises(plugins.PluginError) as info:
            connect("warmwire/echo", url="ws://127.0.0.1:9", codec="zstd-msgpack")
        exc = info.value
        assert isinstance(exc, warmwire.ConfigurationError)
        assert exc.group == "warmwire.codecs"
        assert exc.name == "zstd-msgpack"
        message = str(exc)
        assert "'zstd-msgpack'" in message
        assert "warmwire.codecs" in message
        # What is available, including the installed plugin.
        for name in ("msgpack", "json", "cbor", "rot-msgpack"):
            assert name in message


@pytest.mark.usefixtures("no_network", "installed_plugin")
def test_broken_plugin_is_a_plugin_error_naming_it() -> None:
    for connect in (warmwire.realtime_async, warmwire.realtime):
        with pytest.raises(plugins.PluginError) as info:
            connect("warmwire/echo", url="ws://127.0.0.1:9", codec="broken-codec")
        exc = info.value
        assert exc.group == "warmwire.codecs"
        assert exc.name == "broken-codec"
        message = str(exc)
        assert "'broken-codec'" in message
        assert "warmwire.codecs" in message
        assert f"{BROKEN_MODULE}:Codec" in message
        assert "zstandard" in message  # the underlying ImportError, for the user to act on
        assert isinstance(exc.__cause__, ImportError)


@pytest.mark.anyio
@pytest.mark.usefixtures("installed_plugin")
async def test_broken_plugin_offered_by_name_does_not_break_the_runner(
    echo_server: RunningServer,
) -> None:
    """A client offering a codec whose plugin fails to load on the runner gets the default."""
    from warmwire.codecs.msgpack import MsgpackCodec

    class Offered(MsgpackCodec):
        name = "broken-codec"

    with anyio.fail_after(TIMEOUT):
        async with warmwire.realtime_async(
            "warmwire/echo", url=echo_server.url, codec=Offered()
        ) as conn:
            assert conn.subprotocol is None
            await conn.send({"ok": True})
            assert await conn.recv() == {"ok": True}
