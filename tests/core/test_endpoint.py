"""App ids, endpoint paths and runner URLs (warmwire.core.endpoint)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core.endpoint import (
    DEFAULT_PATH,
    NAMESPACES,
    Endpoint,
    RunnerUrl,
    normalize_path,
    parse_app_id,
    parse_runner_url,
)
from warmwire.core.errors import ConfigurationError, InvalidEndpointError

# -- parse_app_id: the accepted forms -------------------------------------------


def test_owner_alias() -> None:
    ep = parse_app_id("acme/stylize")
    assert ep == Endpoint("acme", "stylize", "", "/realtime", None)
    assert ep.app_id == "acme/stylize"
    assert ep.url_path == "/acme/stylize/realtime"
    assert ep.endpoint_path == "acme/stylize/realtime"


def test_owner_alias_subpath() -> None:
    ep = parse_app_id("acme/stylize/v2/fast")
    assert (ep.owner, ep.alias, ep.subpath, ep.path) == ("acme", "stylize", "v2/fast", "/realtime")
    assert ep.url_path == "/acme/stylize/v2/fast/realtime"


def test_surrounding_slashes_and_whitespace_are_ignored() -> None:
    assert parse_app_id("  /acme/stylize/ ") == parse_app_id("acme/stylize")


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_namespaces_take_one_more_segment(namespace: str) -> None:
    ep = parse_app_id(f"{namespace}/acme/pipeline")
    assert ep == Endpoint("acme", "pipeline", "", "/realtime", namespace)
    assert ep.app_id == f"{namespace}/acme/pipeline"
    assert ep.url_path == f"/{namespace}/acme/pipeline/realtime"


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_namespace_with_subpath(namespace: str) -> None:
    ep = parse_app_id(f"{namespace}/acme/pipeline/step/two")
    assert ep.namespace == namespace
    assert (ep.owner, ep.alias, ep.subpath) == ("acme", "pipeline", "step/two")


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_namespace_needs_owner_and_alias(namespace: str) -> None:
    with pytest.raises(InvalidEndpointError, match="workflows/owner/alias"):
        parse_app_id(f"{namespace}/acme")


@pytest.mark.parametrize(
    ("legacy", "owner", "alias"),
    [("123-alias", "123", "alias"), ("42-my-app", "42", "my-app"), ("7-x", "7", "x")],
)
def test_legacy_id(legacy: str, owner: str, alias: str) -> None:
    ep = parse_app_id(legacy)
    assert (ep.owner, ep.alias, ep.subpath, ep.namespace) == (owner, alias, "", None)
    assert ep.url_path == f"/{owner}/{alias}/realtime"


@pytest.mark.parametrize("legacy", ["123-alias/", " 123-alias\n", "/123-alias"])
def test_legacy_id_tolerates_surrounding_slashes_and_whitespace(legacy: str) -> None:
    assert parse_app_id(legacy) == parse_app_id("123/alias")


def test_legacy_id_splits_at_the_first_dash() -> None:
    ep = parse_app_id("1-2-3")
    assert (ep.owner, ep.alias) == ("1", "2-3")


def test_path_override() -> None:
    ep = parse_app_id("acme/stylize", path="/v2/live")
    assert ep.path == "/v2/live"
    assert ep.url_path == "/acme/stylize/v2/live"


@pytest.mark.parametrize("path", ["v2/live", "/v2/live/", "v2/live/", "//v2/live"])
def test_path_override_is_normalised(path: str) -> None:
    assert parse_app_id("acme/stylize", path=path).path == "/v2/live"


def test_id_already_ending_with_the_default_path() -> None:
    ep = parse_app_id("acme/stylize/realtime")
    assert ep == parse_app_id("acme/stylize")
    assert ep.url_path == "/acme/stylize/realtime"


def test_id_already_ending_with_an_overridden_path() -> None:
    ep = parse_app_id("acme/stylize/v2/live", path="/v2/live")
    assert ep.subpath == ""
    assert ep.url_path == "/acme/stylize/v2/live"


def test_id_with_subpath_and_path() -> None:
    ep = parse_app_id("acme/stylize/extra/realtime")
    assert ep.subpath == "extra"
    assert ep.url_path == "/acme/stylize/extra/realtime"


def test_only_the_last_path_occurrence_is_stripped() -> None:
    ep = parse_app_id("acme/stylize/realtime/realtime")
    assert ep.subpath == "realtime"
    assert ep.url_path == "/acme/stylize/realtime/realtime"


def test_partial_path_suffix_is_not_stripped() -> None:
    ep = parse_app_id("acme/stylize/live", path="/v2/live")
    assert ep.subpath == "live"
    assert ep.url_path == "/acme/stylize/live/v2/live"


def test_endpoint_is_immutable() -> None:
    ep = parse_app_id("acme/stylize")
    with pytest.raises(AttributeError):
        ep.owner = "other"  # type: ignore[misc]


# -- parse_app_id: what is refused ----------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "/",
        "//",
        "stylize",  # one segment, not the legacy form
        "abc-alias",  # legacy needs a numeric owner
        "123-",
        "-alias",
        "123_alias",
        "acme//stylize",  # empty segment
        "acme/sty lize",
        "acme/stylize?x=1",
        "acme/stylize#frag",
        "acme/styl%20ize",
        "acme/\u00e9t\u00e9",
        "acme\n/stylize",
        "acme/stylize\n/sub",
        "acme/../other",
        "acme/./stylize",
        "../acme/stylize",
    ],
)
def test_invalid_ids(bad: str) -> None:
    with pytest.raises(InvalidEndpointError) as info:
        parse_app_id(bad)
    message = str(info.value)
    assert repr(bad) in message
    # The message lists every accepted form, so the user can fix the id.
    for form in ("owner/alias", "/sub/path", "workflows/owner/alias", "comfy/owner/alias", "123"):
        assert form in message


def test_invalid_endpoint_error_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        parse_app_id("nope")
    with pytest.raises(ValueError, match="Invalid app id"):
        parse_app_id("nope")


@pytest.mark.parametrize("path", ["", "/", "///", "/real time", "/a/../b", "/rt\n", "/r?t"])
def test_invalid_path(path: str) -> None:
    with pytest.raises(InvalidEndpointError, match="Invalid realtime path"):
        parse_app_id("acme/stylize", path=path)


def test_normalize_path() -> None:
    assert normalize_path("realtime") == "/realtime"
    assert normalize_path("/a/b/") == "/a/b"
    with pytest.raises(InvalidEndpointError, match="give a path such as '/realtime'"):
        normalize_path("")


# -- hypothesis: endpoints round-trip through their paths ------------------------

_SEG_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-"
segments = st.text(alphabet=_SEG_ALPHABET, min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
owners = segments.filter(lambda s: s not in NAMESPACES)


@st.composite
def endpoints(draw: st.DrawFn) -> Endpoint:
    namespace = draw(st.none() | st.sampled_from(sorted(NAMESPACES)))
    owner = draw(segments if namespace else owners)
    alias = draw(segments)
    subpath = "/".join(draw(st.lists(segments, max_size=3)))
    path = "/" + "/".join(draw(st.lists(segments, min_size=1, max_size=3)))
    return Endpoint(owner, alias, subpath, path, namespace)


@given(endpoints())
@settings(max_examples=200, deadline=None)
def test_endpoint_path_round_trips(ep: Endpoint) -> None:
    # What token providers receive (the path included) parses back to the endpoint...
    assert parse_app_id(ep.endpoint_path, path=ep.path) == ep
    # ...and so does the URL path the runner sees, with its leading slash.
    assert parse_app_id(ep.url_path, path=ep.path) == ep
    assert ep.url_path.endswith(ep.path)
    assert "//" not in ep.url_path


@given(endpoints())
@settings(max_examples=200, deadline=None)
def test_app_id_plus_subpath_round_trips(ep: Endpoint) -> None:
    app_id = ep.app_id + (f"/{ep.subpath}" if ep.subpath else "")
    parsed = parse_app_id(app_id, path=ep.path)
    # If the subpath happens to end with the path it is taken as the path, as documented.
    if ("/" + ep.subpath).endswith(ep.path):
        assert parsed.url_path == ep.url_path.removesuffix(ep.path)
    else:
        assert parsed == ep


@given(st.integers(0, 10**9), st.text(alphabet="abcxyz0189-", min_size=1, max_size=12))
@settings(max_examples=100, deadline=None)
def test_legacy_round_trip(owner: int, alias: str) -> None:
    ep = parse_app_id(f"{owner}-{alias}")
    assert (ep.owner, ep.alias) == (str(owner), alias)


@given(st.text(max_size=40), st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_parse_app_id_only_raises_invalid_endpoint(app_id: str, path: str) -> None:
    try:
        ep = parse_app_id(app_id, path=path)
    except InvalidEndpointError:
        return
    # Whatever is accepted is made of URL-safe segments only.
    assert all(c in _SEG_ALPHABET + "/" for c in ep.url_path)
    assert "/./" not in ep.url_path + "/"
    assert "/../" not in ep.url_path + "/"


# -- parse_runner_url -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected", "host_header"),
    [
        ("ws://127.0.0.1:8080", RunnerUrl("ws", "127.0.0.1", 8080), "127.0.0.1:8080"),
        ("ws://runner.local", RunnerUrl("ws", "runner.local", 80), "runner.local"),
        ("ws://runner.local:80", RunnerUrl("ws", "runner.local", 80), "runner.local"),
        (
            "wss://runner.example.com",
            RunnerUrl("wss", "runner.example.com", 443),
            "runner.example.com",
        ),
        ("wss://h:8443", RunnerUrl("wss", "h", 8443), "h:8443"),
        ("wss://h:80", RunnerUrl("wss", "h", 80), "h:80"),
        ("http://h", RunnerUrl("ws", "h", 80), "h"),
        ("http://h:9000", RunnerUrl("ws", "h", 9000), "h:9000"),
        ("https://h", RunnerUrl("wss", "h", 443), "h"),
        ("https://h:443/", RunnerUrl("wss", "h", 443), "h"),
        ("ws://h:8080/apps", RunnerUrl("ws", "h", 8080, "/apps"), "h:8080"),
        ("ws://h:8080/apps/", RunnerUrl("ws", "h", 8080, "/apps"), "h:8080"),
        ("wss://h/a/b/", RunnerUrl("wss", "h", 443, "/a/b"), "h"),
        ("ws://[::1]:8080", RunnerUrl("ws", "::1", 8080), "[::1]:8080"),
        ("ws://[::1]", RunnerUrl("ws", "::1", 80), "[::1]"),
        ("wss://[2001:db8::1]/p", RunnerUrl("wss", "2001:db8::1", 443, "/p"), "[2001:db8::1]"),
        ("WS://Runner.Local:81", RunnerUrl("ws", "runner.local", 81), "runner.local:81"),
    ],
)
def test_parse_runner_url(url: str, expected: RunnerUrl, host_header: str) -> None:
    parsed = parse_runner_url(url)
    assert parsed == expected
    assert parsed.host_header == host_header
    assert parsed.secure is (expected.scheme == "wss")


def test_parse_unix_url() -> None:
    parsed = parse_runner_url("ws+unix:///tmp/ww.sock")
    assert parsed.scheme == "ws+unix"
    assert parsed.unix_path == "/tmp/ww.sock"
    assert parsed.host_header == "localhost"
    assert parsed.secure is False


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", "needs a scheme"),
        ("127.0.0.1:8080", "needs a scheme"),
        ("//runner:8080", "needs a scheme"),
        ("ws://", "needs a host"),
        ("ws:///path", "needs a host"),
        ("ws://:8080", "needs a host"),
        ("ws+unix://", "give the socket path"),
        ("ws://h:99999", "Invalid runner URL"),
        ("ws://h:-1", "Invalid runner URL"),
        ("ws://h:abc", "Invalid runner URL"),
    ],
)
def test_parse_runner_url_errors(url: str, match: str) -> None:
    with pytest.raises(InvalidEndpointError, match=match) as info:
        parse_runner_url(url)
    assert repr(url) in str(info.value)


def test_default_path_constant() -> None:
    assert DEFAULT_PATH == "/realtime"
