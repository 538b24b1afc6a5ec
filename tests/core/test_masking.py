"""Every masker agrees with a byte-by-byte reference (RFC 6455 §5.3), and the right one is taken.

The maskers are parametrized by name, so a failure names the path that broke:
``pure`` always runs; ``numpy`` and ``c`` (websockets' ``apply_mask``, the
``speedups`` extra) run wherever they are installed.  The dev extras install
both, and a test says so: in this project's own test runs no path goes untested.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmwire.core import masking

Masker = Callable[[masking.Buffer, bytes], bytes | bytearray]

MASKERS: dict[str, Masker] = {"pure": masking.mask_pure}
if masking.HAVE_NUMPY:
    MASKERS["numpy"] = masking.mask_numpy
if masking.HAVE_C:
    MASKERS["c"] = masking.mask_c

every_masker = pytest.mark.parametrize("name", list(MASKERS))
keys = st.binary(min_size=4, max_size=4)


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@every_masker
@given(data=st.binary(max_size=10_000), key=keys)
@settings(max_examples=150, deadline=None)
def test_masker_agrees_with_the_reference(name: str, data: bytes, key: bytes) -> None:
    assert MASKERS[name](data, key) == reference(data, key)


@every_masker
@given(data=st.binary(max_size=3_000), key=keys, start=st.integers(0, 7), trim=st.integers(0, 7))
@settings(max_examples=150, deadline=None)
def test_masker_takes_any_buffer_at_any_offset(
    name: str, data: bytes, key: bytes, start: int, trim: int
) -> None:
    # The protocol masks views into a receive buffer, at any alignment, and bytearrays.
    padded = os.urandom(start) + data + os.urandom(trim)
    view = memoryview(padded)[start : start + len(data)]
    expected = reference(data, key)
    assert MASKERS[name](view, key) == expected
    assert MASKERS[name](bytearray(data), key) == expected


@every_masker
@pytest.mark.parametrize(
    "size",
    [0, 1, 3, 4, 5, 7, 8, masking._NUMPY_MIN - 1, masking._NUMPY_MIN, masking._NUMPY_MIN + 3],
)
def test_masker_at_word_and_threshold_edges(name: str, size: int) -> None:
    # NumPy XORs whole 32-bit words and finishes the tail byte by byte; the default
    # switches to it at _NUMPY_MIN.
    data, key = os.urandom(size), os.urandom(4)
    assert MASKERS[name](data, key) == reference(data, key)


@every_masker
def test_masking_twice_restores_a_megabyte(name: str) -> None:
    data, key = os.urandom(1_000_003), os.urandom(4)
    masker = MASKERS[name]
    assert masker(masker(data, key), key) == data


# -- which masker mask() takes --------------------------------------------------------


def taken_by_mask(monkeypatch: pytest.MonkeyPatch, data: bytes, key: bytes) -> list[str]:
    """Call ``masking.mask`` with every real masker wrapped to record its name when used."""
    taken: list[str] = []

    def recording(name: str, masker: Masker) -> Masker:
        def record(buffer: masking.Buffer, mask_key: bytes) -> bytes | bytearray:
            taken.append(name)
            return masker(buffer, mask_key)

        return record

    if masking._apply_mask is not None:
        monkeypatch.setattr(masking, "_apply_mask", recording("c", masking._apply_mask))
    monkeypatch.setattr(masking, "mask_numpy", recording("numpy", masking.mask_numpy))
    monkeypatch.setattr(masking, "mask_pure", recording("pure", masking.mask_pure))
    assert masking.mask(data, key) == reference(data, key)
    return taken


@pytest.mark.parametrize("size", [0, 5, masking._NUMPY_MIN - 1, masking._NUMPY_MIN, 100_003])
def test_the_default_is_the_fastest_masker_installed(
    monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    if masking.HAVE_C:
        expected = "c"
    elif masking.HAVE_NUMPY and size >= masking._NUMPY_MIN:
        expected = "numpy"
    else:
        expected = "pure"
    assert taken_by_mask(monkeypatch, os.urandom(size), os.urandom(4)) == [expected]


def test_the_dev_environment_has_every_masker() -> None:
    # `pip install -e '.[dev]'` brings NumPy (demo extra) and websockets (speedups
    # extra), so every masker above runs here and the default is the C one.
    assert list(MASKERS) == ["pure", "numpy", "c"]


@pytest.mark.parametrize(
    ("have_c", "have_numpy", "size", "expected"),
    [
        (False, True, masking._NUMPY_MIN - 1, "pure"),
        (False, True, masking._NUMPY_MIN, "numpy"),
        (False, True, 100_003, "numpy"),
        (False, False, 0, "pure"),
        (False, False, 100_003, "pure"),
        (True, True, 5, "c"),
        (True, False, 100_003, "c"),
    ],
)
def test_the_default_where_some_maskers_are_missing(
    monkeypatch: pytest.MonkeyPatch, have_c: bool, have_numpy: bool, size: int, expected: str
) -> None:
    # Where the speedups extra or NumPy is not installed (users who skip the extras).
    if not have_c:
        monkeypatch.setattr(masking, "_apply_mask", None)
    monkeypatch.setattr(masking, "HAVE_NUMPY", have_numpy and masking.HAVE_NUMPY)
    assert taken_by_mask(monkeypatch, os.urandom(size), os.urandom(4)) == [expected]


def test_a_missing_masker_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(masking, "_apply_mask", None)
    monkeypatch.setattr(masking, "HAVE_NUMPY", False)
    with pytest.raises(ImportError, match=r"warmwire\[speedups\]"):
        masking.mask_c(b"abc", b"1234")
    with pytest.raises(ImportError, match="NumPy"):
        masking.mask_numpy(b"abc", b"1234")
