"""What an endpoint method is: its mode (from its signature), sync or async, its models.

As in the fal runtime, the mode comes from the signature:

- unary: ``def run(self, inp) -> Out``;
- server streaming: a generator, or returns ``Iterator``/``AsyncIterator``;
- client streaming: takes ``AsyncIterator[In]``, returns one output;
- bidirectional: takes ``AsyncIterator[In]`` and yields outputs.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import typing
from collections.abc import Callable
from typing import Any

import attrs

from warmwire.core.errors import ConfigurationError
from warmwire.runner.models import Validator, validator_for


class Mode(enum.Enum):
    UNARY = "unary"
    SERVER_STREAMING = "server-streaming"
    CLIENT_STREAMING = "client-streaming"
    BIDIRECTIONAL = "bidirectional"

    @property
    def streams_input(self) -> bool:
        return self in (Mode.CLIENT_STREAMING, Mode.BIDIRECTIONAL)

    @property
    def streams_output(self) -> bool:
        return self in (Mode.SERVER_STREAMING, Mode.BIDIRECTIONAL)


_INPUT_STREAMS = {collections.abc.AsyncIterator, collections.abc.AsyncIterable}
_OUTPUT_STREAMS = {
    collections.abc.Iterator,
    collections.abc.Iterable,
    collections.abc.Generator,
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
}


@attrs.frozen(slots=True)
class Handler:
    """A bound endpoint method and how to call it."""

    fn: Callable[..., Any]
    is_async: bool
    mode: Mode = Mode.UNARY
    validate: Validator | None = None

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> Handler:
        """Inspect ``fn``'s signature; a misdeclared handler raises :class:`ConfigurationError`."""
        hints = _type_hints(fn)
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(params) != 1:
            raise ConfigurationError(
                f"realtime handler {fn.__qualname__} must take exactly one input argument "
                "(besides self)"
            )
        annotation = hints.get(params[0].name, Any)
        if isinstance(annotation, str):
            # The mode and the input model both come from this annotation: guessing
            # would call a streaming handler with one dict, or skip validation.
            raise ConfigurationError(
                f"cannot resolve the annotation {annotation!r} of {fn.__qualname__}'s input "
                f"{params[0].name!r}: define or import that type at module level (where "
                "typing.get_type_hints can see it), or annotate with the type itself"
            )
        streams_input = typing.get_origin(annotation) in _INPUT_STREAMS
        model = (
            typing.get_args(annotation)[0]
            if streams_input and typing.get_args(annotation)
            else annotation
        )
        returns = hints.get("return", Any)
        streams_output = (
            inspect.isgeneratorfunction(fn)
            or inspect.isasyncgenfunction(fn)
            or typing.get_origin(returns) in _OUTPUT_STREAMS
        )
        mode = {
            (False, False): Mode.UNARY,
            (False, True): Mode.SERVER_STREAMING,
            (True, False): Mode.CLIENT_STREAMING,
            (True, True): Mode.BIDIRECTIONAL,
        }[(streams_input, streams_output)]
        is_async = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        if streams_input and not is_async:
            raise ConfigurationError(
                f"realtime handler {fn.__qualname__} takes an AsyncIterator of inputs, so it "
                "must be 'async def'"
            )
        return cls(fn, is_async, mode, validator_for(model))


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s annotations, resolved where possible; an unresolvable one stays a string."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        pass
    # One unresolvable annotation (say, a return type imported only for type
    # checkers) must not hide the others: resolve them one by one.
    namespace = getattr(fn, "__globals__", {})
    hints: dict[str, Any] = {}
    for name, value in inspect.get_annotations(fn).items():
        try:
            hints[name] = typing.get_type_hints(_Holder(name, value, namespace))[name]
        except Exception:
            hints[name] = value if isinstance(value, str) else Any
    return hints


class _Holder:
    """Something ``typing.get_type_hints`` accepts, carrying one annotation and its globals."""

    def __init__(self, name: str, value: Any, namespace: dict[str, Any]) -> None:
        self.__annotations__ = {name: value}
        self.__globals__ = namespace
