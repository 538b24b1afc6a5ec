"""The fast masker agrees with wsproto's own, byte for byte, on every path."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core import masking

keys = st.binary(min_size=4, max_size=4)


@given(data=st.binary(max_size=10_000), key=keys)
@settings(max_examples=200, deadline=None)
def test_numpy_and_pure_paths_agree(data: bytes, key: bytes) -> None:
    expected = masking.mask_pure(data, key)
    assert masking.mask_numpy(data, key) == expected
    assert masking.mask(data, key) == expected


@given(
    chunks=st.lists(st.binary(max_size=5000), min_size=1, max_size=8),
    key=keys,
)
@settings(max_examples=200, deadline=None)
def test_chunked_masking_continues_the_key(chunks: list[bytes], key: bytes) -> None:
    # A frame's payload arrives in chunks; the key must carry on across them.
    fast = masking.FastMasker(key)
    pure = masking._PURE(key)
    for chunk in chunks:
        assert fast.process(bytearray(chunk)) == pure.process(bytearray(chunk))


def test_masking_twice_restores_the_payload() -> None:
    data, key = os.urandom(1_000_003), os.urandom(4)
    assert masking.mask(masking.mask(data, key), key) == data


def test_wsproto_uses_the_fast_masker() -> None:
    import wsproto.frame_protocol

    import warmwire.core.protocol  # noqa: F401  (installs it)

    assert wsproto.frame_protocol.XorMaskerSimple is masking.FastMasker
