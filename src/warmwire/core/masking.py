"""Fast WebSocket payload masking (RFC 6455 §5.3), with pure-Python fallbacks.

Every client-to-runner frame is masked, so a 1 MB camera frame is XORed once by
the client and once by the runner.  Three paths, fastest first:

* a C loop, ``websockets.speedups.apply_mask`` (the ``speedups`` extra, which
  installs ``websockets``; it ships manylinux, musllinux, macOS and Windows
  wheels), about as fast as copying the payload;
* NumPy, above a few KB, XORing 32-bit words (three to four times slower);
* Python integers (``int.from_bytes``: one C loop per step, no per-byte Python,
  but about seventy times slower than the C loop on a 100 KB payload).

Each is optional but the last; the tests prove every path agrees with a
byte-by-byte reference.
"""

from __future__ import annotations

from collections.abc import Callable

_NUMPY_MIN = 2048
"""Below this size the NumPy call overhead outweighs its speed."""

Buffer = bytes | bytearray | memoryview

try:  # NumPy is optional: an accelerator, never a requirement.
    import numpy as _np

    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - exercised where NumPy is absent
    HAVE_NUMPY = False

_apply_mask: Callable[[Buffer, bytes], bytes] | None
try:  # The `speedups` extra: websockets' C masker, if its extension module is built.
    from websockets.speedups import apply_mask as _apply_mask
except ImportError:  # pragma: no cover - exercised where websockets is absent
    _apply_mask = None

HAVE_C = _apply_mask is not None


def mask_pure(data: Buffer, key: bytes) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``key``, on Python integers."""
    n = len(data)
    if not n:
        return b""
    stream = key * (n // 4 + 1)
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream[:n], "little")).to_bytes(
        n, "little"
    )


def mask_numpy(data: Buffer, key: bytes) -> bytearray:
    """The same XOR, vectorised with NumPy (``ImportError`` without it)."""
    if not HAVE_NUMPY:
        raise ImportError("NumPy is not installed")
    n = len(data)
    out = bytearray(n)
    words = n // 4
    if words:
        # One pass: read whole 32-bit words, XOR with the key read in the same
        # (native) byte order, write straight into the result.
        _np.bitwise_xor(
            _np.frombuffer(data, dtype=_np.uint32, count=words),
            _np.frombuffer(key, dtype=_np.uint32)[0],
            out=_np.frombuffer(out, dtype=_np.uint32, count=words),
        )
    for i in range(words * 4, n):
        out[i] = data[i] ^ key[i % 4]
    return out


def mask_c(data: Buffer, key: bytes) -> bytes:
    """The same XOR in C (``ImportError`` without the ``speedups`` extra)."""
    if _apply_mask is None:
        raise ImportError("the C masker is not installed: pip install 'warmwire[speedups]'")
    return _apply_mask(data, key)


def mask(data: Buffer, key: bytes) -> bytes | bytearray:
    """XOR ``data`` with ``key`` by the fastest available path."""
    if _apply_mask is not None:
        return _apply_mask(data, key)
    if HAVE_NUMPY and len(data) >= _NUMPY_MIN:
        return mask_numpy(data, key)
    return mask_pure(data, key)


masker: Callable[[Buffer, bytes], bytes | bytearray] = mask if _apply_mask is None else _apply_mask
"""What the frame parser calls: :func:`mask` itself, or the C masker it would pick for every
size, without the Python call around it (once per frame received)."""
