"""What an app author writes: an :class:`App` subclass with ``@realtime`` endpoints."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import attrs

from warmwire.core.endpoint import DEFAULT_PATH, normalize_path, parse_app_id
from warmwire.core.errors import ConfigurationError
from warmwire.core.request_target import MAX_BUFFERING, MIN_BUFFERING

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BUFFERING = 10
DEFAULT_SESSION_TIMEOUT = 60.0
DEFAULT_KEEP_ALIVE = 60.0
"""fal's default: seconds a runner stays warm with no session."""


@attrs.frozen(slots=True)
class EndpointConfig:
    """How one ``@realtime`` endpoint behaves."""

    path: str = DEFAULT_PATH
    """The endpoint's path within the app: clients dial ``/{owner}/{alias}{path}``."""
    buffering: int = DEFAULT_BUFFERING
    """Inputs that may wait; when full the oldest is dropped (the newest frame wins)."""
    session_timeout: float | None = DEFAULT_SESSION_TIMEOUT
    """Seconds without input before ``TIMEOUT`` and a 1000 close; ``None``: never."""
    max_batch_size: int = 1
    """Above 1, a unary handler takes a list of up to this many waiting inputs and returns
    a list of outputs, one per input."""
    emit_timings: bool = False
    """Send a ``timings`` ``x-fal-message`` after each result (and the cold start to the
    runner's first session)."""
    codec: str = "msgpack"
    """The codec for binary frames when the client offers none."""
    encode_message: Callable[[Any], bytes | str] | None = None
    """Encode results with this callable instead of the codec."""
    decode_message: Callable[[bytes | str], Any] | None = None
    """Decode inputs with this callable instead of the codec."""
    raw: bool = False
    """Inputs are not decoded into maps: the handler gets each message's payload
    (``bytes`` from a binary frame, ``str`` from a text frame) and returns
    ``bytes`` or ``str``, sent back in the same kind of frame (the identity
    codec; no codec is negotiated)."""
    any_path: bool = False
    """Also serve upgrades to any path no other endpoint serves (a catch-all, at
    most one per runner): for clients that dial a fixed path, such as a
    conformance suite."""

    def __attrs_post_init__(self) -> None:
        if not MIN_BUFFERING <= self.buffering <= MAX_BUFFERING:
            raise ConfigurationError(
                f"buffering must be from {MIN_BUFFERING} to {MAX_BUFFERING}, got {self.buffering}"
            )
        if self.max_batch_size < 1:
            raise ConfigurationError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.session_timeout is not None and self.session_timeout <= 0:
            raise ConfigurationError(
                f"session_timeout must be positive or None, got {self.session_timeout}"
            )
        if self.raw and (self.encode_message is not None or self.decode_message is not None):
            raise ConfigurationError(
                "a raw endpoint passes payloads through unchanged: drop encode_message and "
                "decode_message, or drop raw=True"
            )


SCALING_SETTINGS = (
    "min_concurrency",
    "max_concurrency",
    "keep_alive",
    "max_multiplexing",
    "concurrency_buffer",
)
"""The scaling settings an :class:`App` declares, in fal's terms."""


def _whole(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{name} must be a whole number, got {value!r} ({type(value).__name__})"
        )
    if value < least:
        raise ConfigurationError(f"{name} must be >= {least}, got {value}")
    return value


@attrs.frozen(slots=True)
class Scaling:
    """How many runners of an app run, and how many sessions each takes: fal's knobs.

    Declared on the app (``class A(runner.App, app_id=..., min_concurrency=0,
    keep_alive=30)`` or as class attributes ``keep_alive = 30``), read by every
    way of serving it: on Ray Serve they become the deployment's autoscaling
    config and ``max_ongoing_requests``
    (:mod:`warmwire.integrations.ray`); under ``warmwire serve``,
    ``max_multiplexing`` is the runner's session limit.
    """

    min_concurrency: int = 0
    """Runners kept warm at all times; 0 scales to zero when no session is open."""
    max_concurrency: int | None = None
    """At most this many runners; ``None``: no limit of the app's own (the platform's)."""
    keep_alive: float = DEFAULT_KEEP_ALIVE
    """Seconds a runner beyond ``min_concurrency`` stays warm with no session."""
    max_multiplexing: int | None = None
    """Sessions one runner serves at once; ``None``: no limit of the app's own (the
    platform's default: unlimited under ``warmwire serve``, 100 on Ray Serve)."""
    concurrency_buffer: int = 0
    """Warm runners kept beyond current demand (so a burst finds them warm)."""

    def __attrs_post_init__(self) -> None:
        _whole("min_concurrency", self.min_concurrency, 0)
        _whole("concurrency_buffer", self.concurrency_buffer, 0)
        if self.max_concurrency is not None:
            _whole("max_concurrency", self.max_concurrency, 1)
            if self.max_concurrency < self.min_concurrency:
                raise ConfigurationError(
                    f"max_concurrency ({self.max_concurrency}) is below min_concurrency "
                    f"({self.min_concurrency}): raise max_concurrency or lower min_concurrency"
                )
        if self.max_multiplexing is not None:
            _whole("max_multiplexing", self.max_multiplexing, 1)
        keep_alive = self.keep_alive
        if (
            isinstance(keep_alive, bool)
            or not isinstance(keep_alive, int | float)
            or not math.isfinite(keep_alive)
            or keep_alive < 0
        ):
            raise ConfigurationError(
                f"keep_alive must be a number of seconds >= 0, got {keep_alive!r}"
            )

    def runners_for(self, sessions: int) -> int:
        """Runners wanted for ``sessions`` open sessions: enough for them at
        ``max_multiplexing`` each, plus ``concurrency_buffer``, within the bounds."""
        per_runner = self.max_multiplexing or 1
        wanted = -(-sessions // per_runner) + self.concurrency_buffer
        wanted = max(wanted, self.min_concurrency)
        if self.max_concurrency is not None:
            wanted = min(wanted, self.max_concurrency)
        return wanted


DEFAULT_SCALING = Scaling()


_MARK = "__warmwire_endpoint__"


def realtime(
    path: str = DEFAULT_PATH,
    *,
    buffering: int = DEFAULT_BUFFERING,
    session_timeout: float | None = DEFAULT_SESSION_TIMEOUT,
    max_batch_size: int = 1,
    emit_timings: bool = False,
    codec: str = "msgpack",
    encode_message: Callable[[Any], bytes | str] | None = None,
    decode_message: Callable[[bytes | str], Any] | None = None,
    raw: bool = False,
    any_path: bool = False,
) -> Callable[[F], F]:
    """Mark an :class:`App` method as a realtime endpoint served at ``path``::

        @runner.realtime("/realtime", buffering=2, session_timeout=60)
        def run(self, inp: dict) -> dict: ...

    The method may be sync (run in a worker thread) or ``async`` (run on the loop).
    ``raw=True`` hands it each payload as sent (``bytes`` or ``str``) instead of
    a decoded map; ``any_path=True`` also serves every path no other endpoint
    serves (see :class:`EndpointConfig`).
    """
    config = EndpointConfig(
        normalize_path(path),
        buffering,
        session_timeout,
        max_batch_size,
        emit_timings,
        codec,
        encode_message,
        decode_message,
        raw=raw,
        any_path=any_path,
    )

    def mark(fn: F) -> F:
        setattr(fn, _MARK, config)
        return fn

    return mark


class App:
    """Base class of realtime apps: the model is set up once and serves every connection.

    Subclass with an app id (``class Stylize(runner.App, app_id="acme/stylize")``),
    override :meth:`setup` / :meth:`teardown`, and mark handlers with
    :func:`realtime`.  Scaling settings (:class:`Scaling`, fal's names) are class
    keywords or class attributes::

        class Stylize(runner.App, app_id="acme/stylize", min_concurrency=0, keep_alive=30):
            max_multiplexing = 4
    """

    app_id: ClassVar[str]
    endpoints: ClassVar[dict[str, tuple[str, EndpointConfig]]]
    """Realtime path → (method name, config), collected at class creation."""
    scaling: ClassVar[Scaling] = DEFAULT_SCALING
    """The scaling settings, checked at class creation."""
    min_concurrency: ClassVar[int] = DEFAULT_SCALING.min_concurrency
    max_concurrency: ClassVar[int | None] = DEFAULT_SCALING.max_concurrency
    keep_alive: ClassVar[float] = DEFAULT_SCALING.keep_alive
    max_multiplexing: ClassVar[int | None] = DEFAULT_SCALING.max_multiplexing
    concurrency_buffer: ClassVar[int] = DEFAULT_SCALING.concurrency_buffer

    def __init_subclass__(cls, app_id: str | None = None, **kwargs: Any) -> None:
        declared = {name: kwargs.pop(name) for name in SCALING_SETTINGS if name in kwargs}
        super().__init_subclass__(**kwargs)
        for name, value in declared.items():
            setattr(cls, name, value)
        try:
            cls.scaling = Scaling(**{name: getattr(cls, name) for name in SCALING_SETTINGS})
        except ConfigurationError as exc:
            raise ConfigurationError(f"{cls.__name__}: {exc}") from None
        if app_id is not None:
            endpoint = parse_app_id(app_id)
            if endpoint.subpath:
                raise ConfigurationError(
                    f"app_id {app_id!r} must be 'owner/alias'; put sub-paths in @realtime(path)"
                )
            cls.app_id = endpoint.app_id
        found: dict[str, tuple[str, EndpointConfig]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                config = getattr(value, _MARK, None)
                if isinstance(config, EndpointConfig):
                    found[config.path] = (name, config)
        cls.endpoints = found

    def setup(self) -> None:
        """Load the model; runs once, before the first connection is accepted."""

    def teardown(self) -> None:
        """Release resources; runs once when the runner stops."""
