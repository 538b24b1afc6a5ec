"""Request targets sent as is (``ConnectionBuilder(raw_path=...)``): for non-runner servers."""

from __future__ import annotations

import pytest

from warmwire.core.endpoint import parse_app_id, parse_runner_url
from warmwire.core.errors import ConfigurationError
from warmwire.core.request_target import build_target, check_raw_path
from warmwire.core.spec import ConnectionSpec


def test_build_target_appends_to_a_query_the_path_already_has() -> None:
    assert build_target("/runCase?case=1", token="t", max_buffering=2) == (
        "/runCase?case=1&fal_jwt_token=t&max_buffering=2"
    )
    assert build_target("/runCase?case=1") == "/runCase?case=1"


@pytest.mark.parametrize(
    "path", ["/", "/getCaseCount", "/runCase?case=12&agent=warmwire", "/a%20b?x=%C3%A9"]
)
def test_raw_path_accepts_origin_form_targets(path: str) -> None:
    assert check_raw_path(path) == path


@pytest.mark.parametrize(
    "path", ["", "runCase", "ws://host/x", "/a b", "/x#frag", "/caf\u00e9", "/a\r\nX-Evil: 1"]
)
def test_raw_path_refuses_what_http_would(path: str) -> None:
    with pytest.raises(ConfigurationError, match="raw_path"):
        check_raw_path(path)


def spec(url: str, raw_path: str | None) -> ConnectionSpec:
    return ConnectionSpec(
        url=parse_runner_url(url), endpoint=parse_app_id("acme/echo"), raw_path=raw_path
    )


def test_spec_target_uses_the_raw_path_instead_of_the_endpoint_path() -> None:
    assert spec("ws://h:9001", None).target() == "/acme/echo/realtime"
    assert spec("ws://h:9001", "/runCase?case=3").target() == "/runCase?case=3"
    assert spec("ws://h:9001/mount", "/runCase?case=3").target("tok") == (
        "/mount/runCase?case=3&fal_jwt_token=tok"
    )


def test_client_protocol_sends_the_raw_target() -> None:
    proto = spec("ws://h:9001", "/runCase?case=3&agent=warmwire").client_protocol()
    assert proto.data_to_send().startswith(b"GET /runCase?case=3&agent=warmwire HTTP/1.1\r\n")
