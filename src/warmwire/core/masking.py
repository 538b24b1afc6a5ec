"""Fast WebSocket payload masking (RFC 6455 §5.3), with a pure-Python fallback.

Every client-to-runner frame is masked, so a 1 MB camera frame is XORed once by
the client and once by the runner.  Without NumPy the XOR runs on Python
integers (``int.from_bytes``: one C loop, no per-byte Python); with NumPy
installed, payloads above a few KB are XORed as 32-bit words, several times
faster again.  The tests prove every path agrees with a byte-by-byte reference.
"""

from __future__ import annotations

_NUMPY_MIN = 2048
"""Below this size the NumPy call overhead outweighs its speed."""

try:  # NumPy is optional: an accelerator, never a requirement.
    import numpy as _np

    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - exercised where NumPy is absent
    HAVE_NUMPY = False

Buffer = bytes | bytearray | memoryview


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


def mask(data: Buffer, key: bytes) -> bytes | bytearray:
    """XOR ``data`` with ``key`` by the fastest available path."""
    if HAVE_NUMPY and len(data) >= _NUMPY_MIN:
        return mask_numpy(data, key)
    return mask_pure(data, key)
