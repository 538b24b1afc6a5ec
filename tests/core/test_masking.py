"""Every masking path agrees with a byte-by-byte reference (RFC 6455 §5.3).

The C path is websockets' ``apply_mask`` (the ``speedups`` extra, part of
``dev``): these tests fail, rather than skip, where it is missing.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core import masking

keys = st.binary(min_size=4, max_size=4)


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@given(data=st.binary(max_size=10_000), key=keys)
@settings(max_examples=200, deadline=None)
def test_every_path_agrees_with_the_reference(data: bytes, key: bytes) -> None:
    expected = reference(data, key)
    assert masking.mask_pure(data, key) == expected
    assert masking.mask_numpy(data, key) == expected
    assert masking.mask_c(data, key) == expected
    assert masking.mask(data, key) == expected
    assert masking.mask(memoryview(data), key) == expected


@given(data=st.binary(max_size=3_000), key=keys, start=st.integers(0, 7), trim=st.integers(0, 7))
@settings(max_examples=200, deadline=None)
def test_every_path_takes_any_buffer_at_any_offset(
    data: bytes, key: bytes, start: int, trim: int
) -> None:
    # The protocol masks views into a receive buffer, at any alignment, and bytearrays.
    padded = os.urandom(start) + data + os.urandom(trim)
    view = memoryview(padded)[start : start + len(data)]
    expected = reference(data, key)
    for buffer in (view, bytearray(data)):
        assert masking.mask_pure(buffer, key) == expected
        assert masking.mask_numpy(buffer, key) == expected
        assert masking.mask_c(buffer, key) == expected
        assert masking.mask(buffer, key) == expected


def test_the_c_path_is_the_one_taken() -> None:
    assert masking.HAVE_C
    data, key = os.urandom(100_003), os.urandom(4)
    result = masking.mask(data, key)
    assert type(result) is bytes  # the C path's result type (NumPy's is a bytearray)
    assert result == masking.mask_numpy(data, key)


@pytest.mark.parametrize("numpy", [True, False])
def test_without_the_c_masker_the_fallbacks_agree(
    monkeypatch: pytest.MonkeyPatch, numpy: bool
) -> None:
    monkeypatch.setattr(masking, "_apply_mask", None)
    monkeypatch.setattr(masking, "HAVE_NUMPY", numpy)
    key = os.urandom(4)
    for size in (0, 1, 5, masking._NUMPY_MIN - 1, masking._NUMPY_MIN, 100_003):
        data = os.urandom(size)
        assert masking.mask(data, key) == reference(data, key)
    with pytest.raises(ImportError, match=r"warmwire\[speedups\]"):
        masking.mask_c(b"abc", key)


def test_masking_twice_restores_the_payload() -> None:
    data, key = os.urandom(1_000_003), os.urandom(4)
    assert masking.mask(masking.mask(data, key), key) == data
    assert masking.mask_pure(masking.mask_pure(data, key), key) == data
    assert masking.mask_c(masking.mask_c(data, key), key) == data
