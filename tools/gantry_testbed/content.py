"""Where an entry's bytes come from: memory, a file on disk, or a generator.

Benchmarks build 1 GiB layers, so nothing here assumes the content fits in
memory: every source is read in chunks.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Iterator, Union

CHUNK = 1 << 20


@dataclass(frozen=True)
class RandomContent:
    """`size` pseudo-random bytes from `seed`: incompressible, reproducible,
    and never held in memory at once (for large benchmark layers)."""

    size: int
    seed: int = 0

    def chunks(self) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        left = self.size
        while left:
            n = min(left, CHUNK)
            yield rng.randbytes(n)
            left -= n


Content = Union[bytes, os.PathLike, RandomContent]


def content_size(data: Content) -> int:
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, os.PathLike):
        return os.stat(data).st_size
    return data.size


def content_chunks(data: Content) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray)):
        if data:
            yield bytes(data)
        return
    if isinstance(data, os.PathLike):
        with open(data, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        return
    yield from data.chunks()

