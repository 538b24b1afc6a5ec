"""The fal realtime message envelope (warmwire.core.envelope)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core.envelope import (
    ErrorCode,
    FalError,
    FalMessage,
    Unauthorized,
    classify,
    error_message,
    timings_message,
    unauthorized_message,
)

# -- encoding: exactly the JSON documented in DESIGN.md -------------------------------


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_message(code: ErrorCode) -> None:
    text = error_message(code, "no input within 60 s")
    assert isinstance(text, str)
    assert json.loads(text) == {
        "type": "x-fal-error",
        "error": code.value,
        "reason": "no input within 60 s",
    }
    # Compact, in the documented field order.
    assert text == (
        '{"type":"x-fal-error","error":"' + code.value + '","reason":"no input within 60 s"}'
    )


def test_error_codes_are_the_documented_ones() -> None:
    assert {c.value for c in ErrorCode} == {"TIMEOUT", "INTERNAL_ERROR", "INVALID_INPUT"}


def test_error_message_accepts_a_plain_string_code() -> None:
    assert json.loads(error_message("INVALID_INPUT", "bad")) == json.loads(
        error_message(ErrorCode.INVALID_INPUT, "bad")
    )


def test_error_message_escapes_reason() -> None:
    reason = 'quote " backslash \\ newline \n unicode \u00e9 \U0001f600'
    assert json.loads(error_message(ErrorCode.INTERNAL_ERROR, reason))["reason"] == reason


@pytest.mark.parametrize("seconds", [0.0, 0.125, 1.5, 12.0, 1e-6])
def test_timings_message(seconds: float) -> None:
    text = timings_message(seconds)
    assert json.loads(text) == {"type": "x-fal-message", "action": "timings", "timing": seconds}
    assert text.startswith('{"type":"x-fal-message","action":"timings","timing":')


def test_timings_message_exact_text() -> None:
    assert timings_message(0.25) == '{"type":"x-fal-message","action":"timings","timing":0.25}'


def test_unauthorized_message() -> None:
    text = unauthorized_message("token expired")
    assert json.loads(text) == {
        "status": "error",
        "error": "Unauthorized",
        "reason": "token expired",
    }
    assert text == '{"status":"error","error":"Unauthorized","reason":"token expired"}'


# -- classify --------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(ErrorCode))
def test_classify_error(code: ErrorCode) -> None:
    obj = json.loads(error_message(code, "why"))
    assert classify(obj) == FalError(code.value, "why")


def test_classify_timings() -> None:
    obj = json.loads(timings_message(0.5))
    result = classify(obj)
    assert isinstance(result, FalMessage)
    assert result.action == "timings"
    assert result.body["timing"] == 0.5


def test_classify_unauthorized() -> None:
    obj = json.loads(unauthorized_message("forged"))
    assert classify(obj) == Unauthorized("forged")


def test_classify_tolerates_missing_fields() -> None:
    assert classify({"type": "x-fal-error"}) == FalError("", "")
    assert classify({"type": "x-fal-message"}) == FalMessage("", {"type": "x-fal-message"})
    assert classify({"status": "error", "error": "Unauthorized"}) == Unauthorized("")


def test_classify_stringifies_odd_field_types() -> None:
    assert classify({"type": "x-fal-error", "error": 5, "reason": None}) == FalError("5", "None")


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"image": b"\x89PNG"},
        {"type": "result", "data": 1},
        {"type": "x-fal-errors"},
        {"type": "X-FAL-ERROR"},
        {"status": "error", "error": "Forbidden"},
        {"status": "ok", "error": "Unauthorized"},
        {"error": "Unauthorized"},
        {"status": "error"},
        {"request_id": "1", "output": {"type": "x-fal-error"}},  # nested: still a result
    ],
)
def test_classify_ordinary_dicts(obj: dict[str, Any]) -> None:
    assert classify(obj) is None


@pytest.mark.parametrize(
    "obj",
    [
        None,
        0,
        "x-fal-error",
        b'{"type":"x-fal-error"}',
        error_message(ErrorCode.TIMEOUT, "raw text is not classified"),
        [{"type": "x-fal-error"}],
        ("type", "x-fal-error"),
    ],
)
def test_classify_non_dicts(obj: object) -> None:
    assert classify(obj) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(["image", "request_id", "seed", "x"]), json_values))
@settings(max_examples=100, deadline=None)
def test_classify_results_without_control_keys(obj: dict[str, Any]) -> None:
    assert classify(obj) is None


@given(st.sampled_from(list(ErrorCode)), st.text())
@settings(max_examples=100, deadline=None)
def test_error_round_trip(code: ErrorCode, reason: str) -> None:
    assert classify(json.loads(error_message(code, reason))) == FalError(code.value, reason)


@given(st.text())
@settings(max_examples=100, deadline=None)
def test_unauthorized_round_trip(reason: str) -> None:
    assert classify(json.loads(unauthorized_message(reason))) == Unauthorized(reason)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
@settings(max_examples=100, deadline=None)
def test_timings_round_trip(seconds: float) -> None:
    result = classify(json.loads(timings_message(seconds)))
    assert isinstance(result, FalMessage)
    assert result.body["timing"] == seconds
