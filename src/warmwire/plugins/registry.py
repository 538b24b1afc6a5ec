"""Entry-point discovery for codecs, transports and token strategies.

Plugins are found through the standard ``importlib.metadata`` entry points, so
a third-party package registers itself in its ``pyproject.toml``::

    [project.entry-points."warmwire.codecs"]
    zstd-msgpack = "my_package.codec:ZstdMsgpackCodec"

warmwire's own built-ins register the same way.  A plugin is loaded lazily, the
first time its name is asked for; a plugin that fails to import or is not the
right kind of object raises :class:`PluginError` naming the plugin, the group
and what to fix.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Generic, TypeVar

from warmwire.core.errors import ConfigurationError

T = TypeVar("T")

CODECS_GROUP = "warmwire.codecs"
TRANSPORTS_GROUP = "warmwire.transports"
AUTH_GROUP = "warmwire.auth"


class PluginError(ConfigurationError):
    """A plugin is unknown, fails to load, or is not the right kind of object."""

    def __init__(self, message: str, *, group: str, name: str) -> None:
        super().__init__(message)
        self.group = group
        self.name = name


class Registry(Generic[T]):
    """Named plugins of one kind, from one entry-point group plus explicit registrations.

    Entry-point values may name a class (instantiated with no arguments) or an
    instance; ``check`` says whether the loaded object is usable.
    """

    def __init__(self, group: str, kind: str, check: Callable[[object], bool]) -> None:
        self.group = group
        self.kind = kind
        self._check = check
        self._loaded: dict[str, T] = {}
        self._registered: dict[str, T] = {}

    def register(self, name: str, plugin: T) -> None:
        """Register ``plugin`` under ``name`` in this process (tests, embedding)."""
        self._validate(name, plugin, f"register({name!r}, …)")
        self._registered[name] = plugin

    def names(self) -> list[str]:
        """Every available name: registered ones and installed entry points."""
        found = {ep.name for ep in importlib.metadata.entry_points(group=self.group)}
        return sorted(found | self._registered.keys())

    def get(self, name: str) -> T:
        """Load the plugin called ``name``."""
        if name in self._registered:
            return self._registered[name]
        if name in self._loaded:
            return self._loaded[name]
        matches = [
            ep for ep in importlib.metadata.entry_points(group=self.group) if ep.name == name
        ]
        if not matches:
            available = ", ".join(self.names()) or "none"
            raise PluginError(
                f"unknown {self.kind} {name!r}: no plugin of that name in the entry-point group "
                f"{self.group!r} (available: {available}). Install the package that provides "
                f"it, or register it under [project.entry-points.{self.group!r}].",
                group=self.group,
                name=name,
            )
        entry = matches[0]
        try:
            obj = entry.load()
        except Exception as exc:
            raise PluginError(
                f"{self.kind} plugin {name!r} ({entry.value}) in group {self.group!r} failed to "
                f"import: {exc!r}. Fix or reinstall the package that provides it.",
                group=self.group,
                name=name,
            ) from exc
        if isinstance(obj, type):
            try:
                obj = obj()
            except Exception as exc:
                raise PluginError(
                    f"{self.kind} plugin {name!r} ({entry.value}) in group {self.group!r} could "
                    f"not be instantiated without arguments: {exc!r}. Point the entry point at "
                    "an instance or a class with a no-argument constructor.",
                    group=self.group,
                    name=name,
                ) from exc
        plugin: T = self._validate(name, obj, entry.value)
        self._loaded[name] = plugin
        return plugin

    def _validate(self, name: str, obj: object, origin: str) -> T:
        if not self._check(obj):
            raise PluginError(
                f"{self.kind} plugin {name!r} ({origin}) in group {self.group!r} is a "
                f"{type(obj).__name__}, which is not a {self.kind}. See the {self.kind} "
                "interface in warmwire's documentation.",
                group=self.group,
                name=name,
            )
        return obj  # type: ignore[return-value]
