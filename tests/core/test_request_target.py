"""The request target's realtime parameters (warmwire.core.request_target)."""

from __future__ import annotations

import urllib.parse
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core.errors import ConfigurationError, WarmwireError
from warmwire.core.request_target import (
    BUFFERING_PARAM,
    MAX_BUFFERING,
    MIN_BUFFERING,
    TOKEN_PARAM,
    RequestTarget,
    build_target,
    check_max_buffering,
    parse_target,
)

# -- check_max_buffering ------------------------------------------------------------


def test_protocol_constants() -> None:
    assert (TOKEN_PARAM, BUFFERING_PARAM) == ("fal_jwt_token", "max_buffering")
    assert (MIN_BUFFERING, MAX_BUFFERING) == (1, 60)


@pytest.mark.parametrize("value", range(1, 61))
def test_max_buffering_accepts_1_to_60(value: int) -> None:
    assert check_max_buffering(value) == value
    assert check_max_buffering(str(value)) == value


@pytest.mark.parametrize("text", [" 7 ", "07", "060", "1\n"])
def test_max_buffering_text_is_trimmed_decimal(text: str) -> None:
    assert check_max_buffering(text) == int(text)


@pytest.mark.parametrize(
    "value",
    [
        0,
        61,
        -1,
        10**6,
        "0",
        "61",
        "-1",
        "+5",
        "abc",
        "1.5",
        "5.0",
        "",
        " ",
        "1e1",
        "0x10",
        "\u0665",  # ARABIC-INDIC DIGIT FIVE: str.isdigit() is True, but it is not ASCII
        "\uff15",  # FULLWIDTH DIGIT FIVE
        "\u00b2",  # SUPERSCRIPT TWO: isdigit() but int() refuses it
        True,
        False,
        None,
        1.0,
        5.5,
        Decimal(5),
        b"5",
        [5],
    ],
)
def test_max_buffering_rejects(value: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_max_buffering(value)
    message = str(info.value)
    assert "max_buffering" in message
    assert "from 1 to 60" in message


def test_max_buffering_error_shows_the_value() -> None:
    with pytest.raises(ConfigurationError, match="got 'abc'"):
        check_max_buffering("abc")
    with pytest.raises(ConfigurationError, match="got 61"):
        check_max_buffering(61)


def test_max_buffering_error_is_catchable_as_warmwire_and_value_error() -> None:
    with pytest.raises(WarmwireError):
        check_max_buffering(0)
    with pytest.raises(ValueError, match="max_buffering"):
        check_max_buffering(0)


@given(st.integers())
@settings(max_examples=200, deadline=None)
def test_max_buffering_property_int(value: int) -> None:
    if 1 <= value <= 60:
        assert check_max_buffering(value) == value
        assert check_max_buffering(str(value)) == value
    else:
        with pytest.raises(ConfigurationError):
            check_max_buffering(value)
        with pytest.raises(ConfigurationError):
            check_max_buffering(str(value))


@given(st.text(max_size=8))
@settings(max_examples=200, deadline=None)
def test_max_buffering_property_text(text: str) -> None:
    try:
        result = check_max_buffering(text)
    except ConfigurationError:
        return
    assert 1 <= result <= 60
    assert text.strip().isascii()
    assert int(text.strip()) == result


# -- build_target / parse_target ----------------------------------------------------


def test_build_target_plain_path() -> None:
    assert build_target("/acme/stylize/realtime") == "/acme/stylize/realtime"


def test_build_target_with_token_and_buffering() -> None:
    target = build_target("/acme/stylize/realtime", token="abc.def", max_buffering=5)
    assert target == "/acme/stylize/realtime?fal_jwt_token=abc.def&max_buffering=5"


def test_build_target_quotes_the_token() -> None:
    target = build_target("/a/b/realtime", token="a&b=c d+/?#")
    assert "&b=" not in target
    assert "#" not in target
    assert " " not in target
    assert parse_target(target).token == "a&b=c d+/?#"


def test_build_target_checks_max_buffering() -> None:
    with pytest.raises(ConfigurationError, match="max_buffering"):
        build_target("/a/b/realtime", max_buffering=0)
    with pytest.raises(ConfigurationError, match="max_buffering"):
        build_target("/a/b/realtime", max_buffering=True)


def test_parse_target_plain() -> None:
    assert parse_target("/a/b/realtime") == RequestTarget("/a/b/realtime", None, None, ())


def test_parse_target_with_params() -> None:
    parsed = parse_target("/a/b/realtime?fal_jwt_token=tok&max_buffering=3&other=x")
    assert parsed.path == "/a/b/realtime"
    assert parsed.token == "tok"
    assert parsed.max_buffering == 3
    assert parsed.query == (("fal_jwt_token", "tok"), ("max_buffering", "3"), ("other", "x"))


def test_parse_target_empty_path_is_root() -> None:
    assert parse_target("?fal_jwt_token=t").path == "/"


def test_parse_target_unquotes_path() -> None:
    assert parse_target("/a%2Db/c/realtime").path == "/a-b/c/realtime"


def test_parse_target_blank_token_is_kept() -> None:
    assert parse_target("/x?fal_jwt_token=").token == ""


@pytest.mark.parametrize("bad", ["0", "61", "abc", "1.5", "", "-3"])
def test_parse_target_rejects_bad_max_buffering(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="max_buffering must be an integer from 1 to 60"):
        parse_target(f"/a/b/realtime?max_buffering={bad}")


# Tokens are opaque: anything a str can hold (and UTF-8 can carry) must survive.
tokens = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=64)
paths = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789._~-", min_size=1, max_size=10),
    min_size=1,
    max_size=4,
).map(lambda segs: "/" + "/".join(segs))


@given(paths, st.none() | tokens, st.none() | st.integers(1, 60))
@settings(max_examples=200, deadline=None)
def test_build_parse_round_trip(path: str, token: str | None, buffering: int | None) -> None:
    target = build_target(path, token=token, max_buffering=buffering)
    # The target is a valid HTTP request-target: printable ASCII, no spaces or fragments.
    assert target.isascii()
    assert all(33 <= ord(c) <= 126 for c in target)
    assert "#" not in target
    parsed = parse_target(target)
    assert parsed.path == path
    assert parsed.token == token
    assert parsed.max_buffering == buffering
    expected_keys = [
        k for k, v in ((TOKEN_PARAM, token), (BUFFERING_PARAM, buffering)) if v is not None
    ]
    assert [k for k, _ in parsed.query] == expected_keys


@given(tokens)
@settings(max_examples=100, deadline=None)
def test_token_matches_the_standard_library_encoding(token: str) -> None:
    target = build_target("/a/b/realtime", token=token)
    query = urllib.parse.urlsplit(target).query
    assert urllib.parse.parse_qs(query, keep_blank_values=True)[TOKEN_PARAM] == [token]
