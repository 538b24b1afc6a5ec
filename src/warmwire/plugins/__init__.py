"""Plugin registries: codecs, transports and token strategies, found through entry points."""

from __future__ import annotations

from typing import Any

from warmwire.codecs.base import Codec
from warmwire.plugins.registry import (
    AUTH_GROUP,
    CODECS_GROUP,
    TRANSPORTS_GROUP,
    PluginError,
    Registry,
)


def _is_codec(obj: object) -> bool:
    # A codec *class* passes the runtime Protocol check through its class
    # attributes, then fails at encode(); only instances are codecs.
    return (
        not isinstance(obj, type)
        and isinstance(obj, Codec)
        and isinstance(getattr(obj, "name", None), str)
    )


def _has(*methods: str) -> Any:
    return lambda obj: all(callable(getattr(obj, m, None)) for m in methods)


codecs: Registry[Codec] = Registry(CODECS_GROUP, "codec", _is_codec)
transports: Registry[Any] = Registry(TRANSPORTS_GROUP, "transport", _has("connect"))
auth: Registry[Any] = Registry(AUTH_GROUP, "token strategy", _has("credentials"))


def get_codec(codec: str | Codec) -> Codec:
    """Resolve a codec given by name (entry point) or as an object."""
    if isinstance(codec, str):
        return codecs.get(codec)
    if not _is_codec(codec):
        raise PluginError(
            f"{codec!r} is not a codec: it needs 'name', 'frame', 'encode' and 'decode'.",
            group=CODECS_GROUP,
            name=repr(codec),
        )
    return codec


__all__ = [
    "AUTH_GROUP",
    "CODECS_GROUP",
    "TRANSPORTS_GROUP",
    "PluginError",
    "Registry",
    "auth",
    "codecs",
    "get_codec",
    "transports",
]
