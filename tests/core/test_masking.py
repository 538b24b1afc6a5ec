"""Every masking path agrees with a byte-by-byte reference (RFC 6455 §5.3)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core import masking

keys = st.binary(min_size=4, max_size=4)


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@given(data=st.binary(max_size=10_000), key=keys)
@settings(max_examples=200, deadline=None)
def test_numpy_and_pure_paths_agree_with_the_reference(data: bytes, key: bytes) -> None:
    expected = reference(data, key)
    assert masking.mask_pure(data, key) == expected
    assert masking.mask_numpy(data, key) == expected
    assert masking.mask(data, key) == expected
    assert masking.mask(memoryview(data), key) == expected


def test_masking_twice_restores_the_payload() -> None:
    data, key = os.urandom(1_000_003), os.urandom(4)
    assert masking.mask(masking.mask(data, key), key) == data
    assert masking.mask_pure(masking.mask_pure(data, key), key) == data
