"""Plugin discovery through entry points (warmwire.plugins)."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

import warmwire.plugins
from warmwire.codecs import CborCodec, Codec, FrameKind, JsonCodec, MsgpackCodec
from warmwire.core.errors import ConfigurationError
from warmwire.plugins import CODECS_GROUP, PluginError, Registry, get_codec


class UpperCodec:
    """A minimal third-party codec."""

    name = "upper"
    frame = FrameKind.TEXT

    def encode(self, obj: Any) -> str:
        return str(obj).upper()

    def decode(self, data: bytes | str) -> Any:
        return data.lower() if isinstance(data, str) else data.decode().lower()


def _is_codec(obj: object) -> bool:
    return isinstance(obj, Codec) and isinstance(getattr(obj, "name", None), str)


@pytest.fixture
def registry() -> Registry[Codec]:
    """A fresh codec registry over the real entry-point group (no global state touched)."""
    return Registry(CODECS_GROUP, "codec", _is_codec)


# -- the built-ins, found through the installed entry points -----------------------


@pytest.mark.parametrize(
    ("name", "cls"), [("msgpack", MsgpackCodec), ("json", JsonCodec), ("cbor", CborCodec)]
)
def test_get_codec_finds_the_builtins(name: str, cls: type) -> None:
    codec = get_codec(name)
    assert isinstance(codec, cls)
    assert codec.name == name
    assert get_codec(name) is codec  # loaded once, then cached
    assert codec.decode(codec.encode({"x": [1, "two"]})) == {"x": [1, "two"]}


def test_builtins_are_registered_as_entry_points() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group=CODECS_GROUP)}
    assert {"msgpack", "json", "cbor"} <= names
    assert {"msgpack", "json", "cbor"} <= set(warmwire.plugins.codecs.names())


def test_unknown_codec_names_the_group_and_the_choices() -> None:
    with pytest.raises(PluginError) as info:
        get_codec("zstd-msgpack")
    error = info.value
    message = str(error)
    assert "'zstd-msgpack'" in message
    assert "'warmwire.codecs'" in message
    assert "available: cbor, json, msgpack" in message
    assert "entry-points" in message  # says how to register one
    assert error.group == CODECS_GROUP
    assert error.name == "zstd-msgpack"


def test_plugin_error_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        get_codec("nope")
    with pytest.raises(ValueError, match="unknown codec"):
        get_codec("nope")


def test_get_codec_passes_codec_objects_through() -> None:
    codec = UpperCodec()
    assert get_codec(codec) is codec
    msgpack = MsgpackCodec()
    assert get_codec(msgpack) is msgpack


@pytest.mark.parametrize(
    "obj",
    [object(), 42, None, {"name": "json"}, JsonCodec.encode],
    ids=["object", "int", "none", "dict", "function"],
)
def test_get_codec_refuses_non_codecs(obj: Any) -> None:
    with pytest.raises(PluginError) as info:
        get_codec(obj)
    message = str(info.value)
    assert "is not a codec" in message
    for part in ("'name'", "'frame'", "'encode'", "'decode'"):
        assert part in message
    assert info.value.group == CODECS_GROUP


def test_get_codec_refuses_a_codec_with_a_non_string_name() -> None:
    class Nameless(UpperCodec):
        name = None  # type: ignore[assignment]

    with pytest.raises(PluginError, match="is not a codec"):
        get_codec(Nameless())  # type: ignore[arg-type]


def test_get_codec_refuses_a_codec_class() -> None:
    with pytest.raises(PluginError):
        get_codec(MsgpackCodec)  # type: ignore[arg-type]


# -- Registry ---------------------------------------------------------------------------


def test_register_and_get(registry: Registry[Codec]) -> None:
    codec = UpperCodec()
    registry.register("upper", codec)
    assert registry.get("upper") is codec
    assert "upper" in registry.names()
    assert {"msgpack", "json", "cbor"} <= set(registry.names())
    assert registry.names() == sorted(registry.names())


def test_registered_plugins_shadow_entry_points(registry: Registry[Codec]) -> None:
    codec = UpperCodec()
    registry.register("json", codec)
    assert registry.get("json") is codec


@pytest.mark.parametrize(
    "plugin",
    [object(), "msgpack", MsgpackCodec().encode, None],
    ids=["object", "str", "fn", "none"],
)
def test_register_a_non_codec(registry: Registry[Codec], plugin: Any) -> None:
    with pytest.raises(PluginError) as info:
        registry.register("bad", plugin)
    message = str(info.value)
    assert "'bad'" in message
    assert "is not a codec" in message
    assert CODECS_GROUP in message
    assert info.value.name == "bad"
    assert "bad" not in registry.names()  # nothing was registered


def test_global_registry_refuses_a_non_codec() -> None:
    with pytest.raises(PluginError, match="not a codec"):
        warmwire.plugins.codecs.register("bad", object())  # type: ignore[arg-type]
    assert "bad" not in warmwire.plugins.codecs.names()


def test_other_registries_check_their_kind() -> None:
    with pytest.raises(PluginError, match="not a transport"):
        warmwire.plugins.transports.register("bad", object())
    with pytest.raises(PluginError, match="not a token strategy"):
        warmwire.plugins.auth.register("bad", object())


# -- broken third-party entry points -------------------------------------------------


class NeedsArguments(UpperCodec):
    def __init__(self, level: int) -> None:
        self.level = level


NOT_A_CODEC = object()
UPPER_INSTANCE = UpperCodec()


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """Add third-party entry points to the codec group, as an installed package would."""
    real = importlib.metadata.entry_points
    extra = [
        importlib.metadata.EntryPoint(name, value, CODECS_GROUP)
        for name, value in [
            ("upper-class", f"{__name__}:UpperCodec"),
            ("upper-instance", f"{__name__}:UPPER_INSTANCE"),
            ("missing-module", "warmwire_no_such_module.codec:Codec"),
            ("missing-attr", f"{__name__}:NoSuchCodec"),
            ("needs-args", f"{__name__}:NeedsArguments"),
            ("not-a-codec", f"{__name__}:NOT_A_CODEC"),
        ]
    ]

    def entry_points(**params: Any) -> Any:
        found = real(**params)
        if params.get("group") == CODECS_GROUP:
            return importlib.metadata.EntryPoints([*found, *extra])
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


@pytest.mark.usefixtures("fake_entry_points")
def test_third_party_class_is_instantiated(registry: Registry[Codec]) -> None:
    codec = registry.get("upper-class")
    assert isinstance(codec, UpperCodec)
    assert codec.encode("hi") == "HI"
    assert registry.get("upper-class") is codec


@pytest.mark.usefixtures("fake_entry_points")
def test_third_party_instance_is_used_as_is(registry: Registry[Codec]) -> None:
    assert registry.get("upper-instance") is UPPER_INSTANCE


@pytest.mark.usefixtures("fake_entry_points")
@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("missing-module", "failed to import"),
        ("missing-attr", "failed to import"),
        ("needs-args", "could not be instantiated without arguments"),
        ("not-a-codec", "which is not a codec"),
    ],
)
def test_broken_plugins(registry: Registry[Codec], name: str, match: str) -> None:
    with pytest.raises(PluginError, match=match) as info:
        registry.get(name)
    message = str(info.value)
    assert repr(name) in message
    assert repr(CODECS_GROUP) in message
    assert (info.value.group, info.value.name) == (CODECS_GROUP, name)


@pytest.mark.usefixtures("fake_entry_points")
def test_unknown_name_lists_third_party_plugins_too(registry: Registry[Codec]) -> None:
    with pytest.raises(PluginError, match="upper-class") as info:
        registry.get("nope")
    assert "msgpack" in str(info.value)
