"""Which app endpoint a request path names, and the admission of an upgrade.

Both front doors (warmwire's own server and the ASGI adapter) call
:func:`admit` with what the client asked for, and get back either the
session's parameters or the HTTP refusal to send before the upgrade.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import orjson

from warmwire.codecs.base import Codec
from warmwire.codecs.callables import codec_from_callables
from warmwire.codecs.identity import IDENTITY, IdentityCodec
from warmwire.core.errors import ConfigurationError
from warmwire.core.handshake_headers import choose_subprotocol
from warmwire.core.request_target import parse_target
from warmwire.plugins import PluginError, codecs, get_codec
from warmwire.runner.app import App, EndpointConfig


@attrs.frozen(slots=True)
class Route:
    """One servable endpoint: an app instance and one of its ``@realtime`` methods."""

    app: App
    method_name: str
    config: EndpointConfig

    @property
    def url_path(self) -> str:
        return f"/{self.app.app_id}{self.config.path}"

    @property
    def handler(self) -> Any:
        return getattr(self.app, self.method_name)


class Router:
    """Maps request paths (``/owner/alias[/sub]/path``) to routes."""

    def __init__(self, apps: Iterable[App]) -> None:
        self.apps = list(apps)
        self._routes: dict[str, Route] = {}
        self._any_path: Route | None = None
        for app in self.apps:
            if not getattr(type(app), "app_id", None):
                raise ConfigurationError(
                    f"{type(app).__name__} has no app id: declare it as "
                    f"class {type(app).__name__}(runner.App, app_id='owner/alias')"
                )
            if not app.endpoints:
                raise ConfigurationError(
                    f"{type(app).__name__} has no @runner.realtime endpoint to serve"
                )
            for method_name, config in app.endpoints.values():
                route = Route(app, method_name, config)
                self._routes[route.url_path] = route
                if config.any_path:
                    if self._any_path is not None:
                        raise ConfigurationError(
                            f"two catch-all endpoints (any_path=True): {self._any_path.url_path} "
                            f"and {route.url_path}; a runner can serve only one"
                        )
                    self._any_path = route

    def routes(self) -> list[tuple[str, Route]]:
        """Every (request path, route) pair."""
        return sorted(self._routes.items())

    @property
    def paths(self) -> list[str]:
        return sorted(self._routes)

    def match(self, path: str) -> Route | None:
        """The route for ``path``, or ``None``.

        ``/acme/app/v2/realtime`` reaches ``acme/app``'s ``@realtime("/v2/realtime")``,
        whether the client wrote the app id as ``acme/app/v2`` or the path as ``/v2/realtime``.
        A path no endpoint serves reaches the catch-all endpoint (``any_path=True``), if any.
        """
        return self._routes.get(path.rstrip("/") or "/", self._any_path)


@attrs.frozen(slots=True)
class Admitted:
    """The upgrade may proceed with these session parameters."""

    route: Route
    codec: Codec
    subprotocol: str | None
    buffering: int
    token: str | None


@attrs.frozen(slots=True)
class Refused:
    """Refuse the upgrade: HTTP ``status``, ``error`` (its phrase) and ``reason`` (what to fix).

    Answered before the upgrade as an HTTP response with a JSON :attr:`body`, or, to a
    client that could not read that body (a browser), after it as an ``x-fal-error``
    message and a close (:mod:`warmwire.runner.front_door` decides).
    """

    status: int
    error: str
    reason: str

    @property
    def body(self) -> bytes:
        """The JSON body of the HTTP answer: ``{"error": ..., "reason": ...}``."""
        return orjson.dumps({"error": self.error, "reason": self.reason})

    @property
    def lets_balancer_retry(self) -> bool:
        """A 503 (draining, at capacity): nginx (``proxy_next_upstream http_503``) and
        other balancers retry it on another runner, so it stays an HTTP answer."""
        return self.status == 503


def admit(router: Router, target: str, subprotocols: Sequence[str]) -> Admitted | Refused:
    """Decide an upgrade request: route, ``max_buffering``, codec negotiation."""
    try:
        parsed = parse_target(target)
    except ConfigurationError as exc:
        return Refused(400, "Bad Request", str(exc))
    route = router.match(parsed.path)
    if route is None:
        return Refused(
            404,
            "Not Found",
            f"no realtime endpoint at {parsed.path!r} on this runner; it serves: "
            + (", ".join(router.paths) or "nothing"),
        )
    config = route.config
    buffering = config.buffering
    if parsed.max_buffering is not None:
        # A client may ask for less buffering than the app allows, never more.
        buffering = min(buffering, parsed.max_buffering)
    if config.raw:
        # Payloads pass through unchanged: only the identity codec fits.
        subprotocol = choose_subprotocol(subprotocols, (IDENTITY,))
        return Admitted(route, IdentityCodec(), subprotocol, buffering, parsed.token)
    subprotocol = choose_subprotocol(subprotocols, _known_codecs(subprotocols))
    codec = get_codec(subprotocol or config.codec)
    if config.encode_message is not None or config.decode_message is not None:
        codec = codec_from_callables(config.encode_message, config.decode_message, codec)
    return Admitted(route, codec, subprotocol, buffering, parsed.token)


def _known_codecs(offered: Sequence[str]) -> list[str]:
    known = []
    for name in offered:
        try:
            codecs.get(name)
        except PluginError:
            continue
        known.append(name)
    return known
