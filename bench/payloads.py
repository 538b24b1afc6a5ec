"""The three payloads every contender carries: a 32-byte dict, 100 KB and 1 MB images.

Images are random bytes (incompressible, like JPEG); the same seed gives the
same bytes in every run.  ``encoded`` is the msgpack form: what goes on the
wire for the WebSocket contenders, and the exact bytes of the raw-TCP floor.
"""

from __future__ import annotations

import random
from typing import Any

import attrs
import msgpack

SMALL_SIZE = 32
IMAGE_100K = 100_000
IMAGE_1M = 1_000_000


@attrs.frozen
class Payload:
    name: str
    obj: dict[str, Any] = attrs.field(repr=False)
    encoded: bytes = attrs.field(repr=False)

    @property
    def size(self) -> int:
        return len(self.encoded)


def _small() -> dict[str, Any]:
    # Padded so that its msgpack encoding is exactly SMALL_SIZE bytes.
    obj: dict[str, Any] = {"prompt": "", "seed": 42}
    base = len(msgpack.packb(obj, use_bin_type=True))
    obj["prompt"] = "x" * (SMALL_SIZE - base)
    assert len(msgpack.packb(obj, use_bin_type=True)) == SMALL_SIZE
    return obj


def _image(size: int, seed: int) -> dict[str, Any]:
    return {
        "image": random.Random(seed).randbytes(size),
        "prompt": "a cat in a hat",
        "seed": 42,
    }


def make(name: str, obj: dict[str, Any]) -> Payload:
    return Payload(name, obj, msgpack.packb(obj, use_bin_type=True))


def all_payloads() -> list[Payload]:
    return [
        make("32 B", _small()),
        make("100 KB", _image(IMAGE_100K, 1)),
        make("1 MB", _image(IMAGE_1M, 2)),
    ]
