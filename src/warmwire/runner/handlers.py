"""Inspecting an endpoint method: is it async, what does it take and return."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen(slots=True)
class Handler:
    """A bound endpoint method and how to call it."""

    fn: Callable[[Any], Any]
    is_async: bool

    @classmethod
    def of(cls, fn: Callable[[Any], Any]) -> Handler:
        return cls(fn, inspect.iscoroutinefunction(fn))
