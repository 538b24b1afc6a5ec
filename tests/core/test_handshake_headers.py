"""The opening handshake's headers (warmwire.core.handshake_headers)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core.handshake_headers import choose_subprotocol, parse_subprotocols

# -- subprotocols -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], []),
        ([""], []),
        (["msgpack"], ["msgpack"]),
        (["msgpack, json"], ["msgpack", "json"]),
        (["msgpack,json,,cbor"], ["msgpack", "json", "cbor"]),
        (["  cbor ,  json  "], ["cbor", "json"]),
        (["json", "msgpack, cbor"], ["json", "msgpack", "cbor"]),
        ([" , "], []),
    ],
)
def test_parse_subprotocols(values: list[str], expected: list[str]) -> None:
    assert parse_subprotocols(values) == expected


@pytest.mark.parametrize(
    ("offered", "known", "expected"),
    [
        (["msgpack", "json"], ["json", "msgpack"], "msgpack"),  # the client's order wins
        (["zstd", "json"], ["msgpack", "json"], "json"),
        (["zstd"], ["msgpack", "json"], None),
        ([], ["msgpack"], None),
        (["msgpack"], [], None),
        (["MSGPACK"], ["msgpack"], None),  # names are case-sensitive tokens
    ],
)
def test_choose_subprotocol(offered: list[str], known: list[str], expected: str | None) -> None:
    assert choose_subprotocol(offered, known) == expected


@given(
    st.lists(st.sampled_from(["msgpack", "json", "cbor", "zstd", "x"]), max_size=6),
    st.lists(st.sampled_from(["msgpack", "json", "cbor", "y"]), max_size=4),
)
@settings(max_examples=100, deadline=None)
def test_choose_subprotocol_property(offered: list[str], known: list[str]) -> None:
    chosen = choose_subprotocol(offered, known)
    common = [name for name in offered if name in known]
    assert chosen == (common[0] if common else None)
    # Round trip through the header form.
    assert parse_subprotocols([", ".join(offered)]) == offered
