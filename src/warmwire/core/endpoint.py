"""App ids, endpoint paths and runner URLs.

An app id is ``owner/alias[/sub/path]``; the namespaces ``workflows/`` and
``comfy/`` take one more leading segment; the legacy form ``123-alias`` means
``123/alias``.  The realtime path (``/realtime`` by default) is appended unless
the id already ends with it, as the fal clients do.
"""

from __future__ import annotations

import re
import urllib.parse

import attrs

from warmwire.core.errors import InvalidEndpointError

NAMESPACES = frozenset({"workflows", "comfy"})
DEFAULT_PATH = "/realtime"

_LEGACY_ID = re.compile(r"([0-9]+)-([a-zA-Z0-9-]+)")
_SEGMENT_CHARS = re.compile(r"[A-Za-z0-9._~-]+")


def _is_segment(text: str) -> bool:
    # fullmatch, not "^...$": "$" also matches before a trailing newline.  "." and ".."
    # would be resolved away by URL normalisation and land on another app's path.
    return _SEGMENT_CHARS.fullmatch(text) is not None and text not in (".", "..")


@attrs.frozen(slots=True)
class Endpoint:
    """A parsed realtime endpoint: which app, and which of its paths."""

    owner: str
    alias: str
    subpath: str = ""
    """Extra segments between the alias and the realtime path (``a/b``), or ``""``."""
    path: str = DEFAULT_PATH
    """The realtime path, always starting with ``/``."""
    namespace: str | None = None

    @property
    def app_id(self) -> str:
        """``owner/alias`` (with the namespace prefix when there is one)."""
        base = f"{self.owner}/{self.alias}"
        return f"{self.namespace}/{base}" if self.namespace else base

    @property
    def endpoint_path(self) -> str:
        """``owner/alias[/sub]/realtime``: what token providers receive."""
        return self.url_path.lstrip("/")

    @property
    def url_path(self) -> str:
        """The request path on the runner: ``/owner/alias[/sub]/realtime``."""
        sub = f"/{self.subpath}" if self.subpath else ""
        return f"/{self.app_id}{sub}{self.path}"


def normalize_path(path: str) -> str:
    """Return ``path`` with exactly one leading and no trailing slash."""
    stripped = path.strip("/")
    if not stripped:
        raise InvalidEndpointError(
            f"Invalid realtime path {path!r}: give a path such as '/realtime'."
        )
    for segment in stripped.split("/"):
        if not _is_segment(segment):
            raise InvalidEndpointError(
                f"Invalid realtime path {path!r}: segment {segment!r} may only use "
                "letters, digits and '._~-' (and may not be '.' or '..')."
            )
    return f"/{stripped}"


def parse_app_id(app_id: str, path: str = DEFAULT_PATH) -> Endpoint:
    """Parse an app id into an :class:`Endpoint`.

    Raises :class:`InvalidEndpointError` with the accepted forms when ``app_id``
    is not one of them.
    """
    norm_path = normalize_path(path)
    text = app_id.strip().strip("/")
    parts = text.split("/") if text else []
    if len(parts) == 1:
        legacy = _LEGACY_ID.fullmatch(parts[0])
        if legacy is None:
            raise _bad_id(app_id)
        parts = [legacy.group(1), legacy.group(2)]
    namespace = None
    if parts and parts[0] in NAMESPACES:
        namespace, parts = parts[0], parts[1:]
    if len(parts) < 2 or not all(_is_segment(p) for p in parts):
        raise _bad_id(app_id)
    owner, alias, rest = parts[0], parts[1], parts[2:]
    # An id may already end with the realtime path ("acme/stylize/realtime").
    path_parts = norm_path.strip("/").split("/")
    if rest[-len(path_parts) :] == path_parts:
        rest = rest[: -len(path_parts)]
    return Endpoint(owner, alias, "/".join(rest), norm_path, namespace)


def _bad_id(app_id: str) -> InvalidEndpointError:
    return InvalidEndpointError(
        f"Invalid app id {app_id!r}: use 'owner/alias' (optionally followed by "
        "'/sub/path'), 'workflows/owner/alias', 'comfy/owner/alias', or the legacy "
        "'123-alias'."
    )


@attrs.frozen(slots=True)
class RunnerUrl:
    """Where a runner listens: ``ws://host:port[/prefix]``, ``wss://…``, ``ws+unix:///sock``."""

    scheme: str
    host: str
    port: int
    prefix: str = ""
    """A path prefix under which the runner's apps are mounted (``/apps``)."""
    unix_path: str | None = None

    @property
    def secure(self) -> bool:
        return self.scheme == "wss"

    @property
    def host_header(self) -> str:
        """The ``Host`` header value to send."""
        if self.unix_path is not None:
            return "localhost"
        default = 443 if self.secure else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_runner_url(url: str) -> RunnerUrl:
    """Parse a runner base URL: ``ws://``, ``wss://``, ``ws+unix://`` (``http(s)`` as ``ws(s)``)."""
    parsed = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parsed.scheme, parsed.scheme)
    if not scheme:
        raise InvalidEndpointError(
            f"Invalid runner URL {url!r}: it needs a scheme, e.g. 'ws://127.0.0.1:8080'."
        )
    if scheme.endswith("+unix"):
        if not parsed.path:
            raise InvalidEndpointError(
                f"Invalid runner URL {url!r}: give the socket path, e.g. 'ws+unix:///tmp/ww.sock'."
            )
        return RunnerUrl(scheme, "localhost", 0, "", parsed.path)
    if not parsed.hostname:
        raise InvalidEndpointError(
            f"Invalid runner URL {url!r}: it needs a host, e.g. 'ws://127.0.0.1:8080'."
        )
    try:
        port = parsed.port
    except ValueError as exc:
        raise InvalidEndpointError(f"Invalid runner URL {url!r}: {exc}.") from None
    if port is None:
        port = 443 if scheme == "wss" else 80
    return RunnerUrl(scheme, parsed.hostname, port, parsed.path.rstrip("/"))
