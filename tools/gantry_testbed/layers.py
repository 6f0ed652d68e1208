"""Layers: a described file tree written as tar, compressed, and hashed twice
(the compressed digest names the blob; the uncompressed one is the diff_id the
config lists, image-spec config.md "rootfs")."""

from __future__ import annotations

import hashlib
import io
import posixpath
import secrets
from dataclasses import dataclass
from pathlib import Path

from . import mediatypes
from .blob import Blob
from .compress import COMPRESSORS
from .content import RandomContent
from .tarwriter import Entry, TarWriter, Sink

# OCI image-spec layer.md "Whiteouts".
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


def whiteout(path: str, **kw: object) -> Entry:
    """The entry that deletes `path` from the layers below."""
    parent, name = posixpath.split(path.rstrip("/"))
    return Entry(posixpath.join(parent, WHITEOUT_PREFIX + name), **kw)


def opaque(directory: str, **kw: object) -> Entry:
    """The entry that hides everything below in `directory` from lower layers."""
    return Entry(posixpath.join(directory.rstrip("/"), OPAQUE_MARKER), **kw)


@dataclass(frozen=True)
class Layer:
    blob: Blob
    compression: str
    diff_id: str
    entries: tuple[Entry, ...]

    def media_type(self, fmt: str) -> str:
        return mediatypes.LAYER[(fmt, self.compression)]

    def descriptor(self, fmt: str) -> dict:
        return self.blob.descriptor(self.media_type(fmt))


class _Hashing:
    """A sink that hashes and counts what passes through to `out`."""

    def __init__(self, out: Sink) -> None:
        self._out = out
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        self.size += len(data)
        self._out.write(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self.hasher.hexdigest()


def build_layer(entries: list[Entry], compression: str = "gzip", *,
                path: Path | None = None, level: int | None = None) -> Layer:
    """Write `entries` as one layer, in one pass: tar -> diff_id hash ->
    compressor -> digest hash -> memory, or the file `path` when given (for
    layers too big to hold in memory)."""
    out = open(path, "wb") if path is not None else io.BytesIO()
    with out:
        compressed = _Hashing(out)
        compressor = COMPRESSORS[compression](compressed, level)
        uncompressed = _Hashing(compressor)
        writer = TarWriter(uncompressed)
        for entry in entries:
            writer.add(entry)
        writer.close()
        compressor.close()
        data = out.getvalue() if path is None else None
    blob = Blob(compressed.digest, compressed.size, data=data,
                path=Path(path) if path is not None else None)
    return Layer(blob, compression, uncompressed.digest, tuple(entries))


def small_and_big_layers(big_path: Path, big_bytes: int = 32 << 20) -> list[Layer]:
    """Two gzip layers: a tiny one, then `big_bytes` of random data (written
    to `big_path`, not held in memory) — an image whose second download can
    be throttled, interrupted or killed half way while the first is done."""
    base = build_layer([Entry("etc/", kind="dir"), Entry("etc/base", data=b"first layer\n")], "gzip")
    big = build_layer([Entry("data/", kind="dir"),
                       Entry("data/random", data=RandomContent(big_bytes, secrets.randbits(64)))],
                      "gzip", path=big_path)
    return [base, big]
