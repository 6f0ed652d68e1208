"""Content-addressed bytes, in memory or in a file (large layers stay on disk)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Blob:
    """What a registry stores under `digest`. Exactly one of data/path is set."""

    digest: str
    size: int
    data: bytes | None = None
    path: Path | None = None

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(sha256_digest(data), len(data), data=data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data) if self.path is None else open(self.path, "rb")

    def descriptor(self, media_type: str, **extra: object) -> dict:
        """An OCI content descriptor (image-spec descriptor.md) for this blob."""
        return {"mediaType": media_type, "digest": self.digest, "size": self.size, **extra}
