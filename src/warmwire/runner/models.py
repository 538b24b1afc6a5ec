"""Optional input/output models: attrs classes, dataclasses, or pydantic models.

An endpoint whose input parameter is annotated with a model class gets its
inputs validated and converted before the handler sees them; a failure is an
``INVALID_INPUT`` with field-level reasons, and the session goes on.  A handler
may return a model instance; it is turned into a plain dict for the codec.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs

Validator = Callable[[dict[str, Any]], Any]


class ValidationFailed(Exception):
    """An input does not fit the endpoint's model; ``str()`` lists each field's problem."""


def validator_for(model: Any) -> Validator | None:
    """A function validating a decoded input against ``model``, or ``None`` for plain dicts."""
    if not isinstance(model, type):
        return None
    if _is_pydantic(model):
        return _pydantic_validator(model)
    if attrs.has(model):
        fields = {f.name: (f.type, f.default is attrs.NOTHING) for f in attrs.fields(model)}
        return _field_validator(model, fields)
    if dataclasses.is_dataclass(model):
        fields = {
            f.name: (
                f.type,
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            )
            for f in dataclasses.fields(model)
        }
        return _field_validator(model, fields)
    return None


_PLAIN = frozenset((dict, list, str, bytes, int, float, bool, type(None)))


def to_plain(obj: Any) -> Any:
    """A model instance as a dict (what codecs encode); anything else unchanged."""
    if type(obj) in _PLAIN:
        return obj  # the common case, once per result: skip the model checks
    if attrs.has(type(obj)):
        return attrs.asdict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump) and _is_pydantic(type(obj)):
        return dump()
    return obj


def _is_pydantic(model: type) -> bool:
    return any(base.__module__.startswith("pydantic") for base in model.__mro__[1:]) and hasattr(
        model, "model_validate"
    )


def _pydantic_validator(model: Any) -> Validator:
    declared = set(getattr(model, "model_fields", {}))

    def validate(data: dict[str, Any]) -> Any:
        if "request_id" in data and "request_id" not in declared:
            # The protocol's field, not the app's: a model that forbids extra
            # fields must not refuse it (the runner copies it to the output).
            data = {k: v for k, v in data.items() if k != "request_id"}
        try:
            return model.model_validate(data)
        except Exception as exc:  # pydantic.ValidationError, without importing pydantic
            errors = getattr(exc, "errors", None)
            if not callable(errors):
                raise
            problems = [
                f"field {'.'.join(str(p) for p in e.get('loc', ())) or '(root)'!r}: {e.get('msg')}"
                for e in errors()
            ]
            raise ValidationFailed("; ".join(problems)) from None

    return validate


def _field_validator(model: type, fields: dict[str, tuple[Any, bool]]) -> Validator:
    try:
        hints = typing.get_type_hints(model)
    except Exception:
        hints = {}

    def validate(data: dict[str, Any]) -> Any:
        problems = []
        for name, (declared, required) in fields.items():
            if name not in data:
                if required:
                    problems.append(f"field {name!r}: required")
                continue
            expected = hints.get(name, declared)
            if not _matches(data[name], expected):
                problems.append(
                    f"field {name!r}: expected {_type_name(expected)}, "
                    f"got {type(data[name]).__name__}"
                )
        unknown = sorted(set(data) - set(fields) - {"request_id"})
        problems += [f"field {name!r}: not a field of {model.__name__}" for name in unknown]
        if problems:
            raise ValidationFailed("; ".join(problems))
        return model(**{k: v for k, v in data.items() if k in fields})

    return validate


_SIMPLE = (int, float, str, bytes, bool, list, dict, tuple)


def _matches(value: Any, expected: Any) -> bool:
    """A shallow type check: enough for a clear error, not a schema language."""
    if expected is Any or expected is None or isinstance(expected, str):
        return True
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    if expected is type(None):
        return value is None
    target = origin or expected
    if target is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if target is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if target in _SIMPLE:
        return isinstance(value, target)
    return True


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)
