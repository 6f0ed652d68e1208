"""Reading a gantry store (an OCI image layout, image-spec image-layout.md)
with independent code: index.json refs, blobs re-hashed with hashlib, and the
partial downloads left in ingest/."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Iterable

from .blob import Blob

REF_NAME = "org.opencontainers.image.ref.name"


class OciStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def refs(self) -> dict[str, dict]:
        """index.json's descriptors by their ref name."""
        index = json.loads((self.root / "index.json").read_text())
        return {d["annotations"][REF_NAME]: d for d in index["manifests"]
                if REF_NAME in d.get("annotations", {})}

    def blob_path(self, digest: str) -> Path:
        algorithm, hexpart = digest.split(":", 1)
        return self.root / "blobs" / algorithm / hexpart

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def digests(self) -> set[str]:
        """Every sha256 blob, by file name."""
        directory = self.root / "blobs" / "sha256"
        return {f"sha256:{p.name}" for p in directory.iterdir()} if directory.is_dir() else set()

    def wrong_blobs(self, blobs: Iterable[Blob]) -> list[str]:
        """Digests of `blobs` the store lacks or holds with other bytes
        (size and sha256 of the stored file against the Blob's)."""
        wrong = []
        for blob in blobs:
            path = self.blob_path(blob.digest)
            if not path.is_file() or path.stat().st_size != blob.size or \
                    "sha256:" + _sha256_file(path) != blob.digest:
                wrong.append(blob.digest)
        return wrong

    def misnamed(self) -> dict[str, str]:
        """Blobs whose bytes do not hash to their name: name -> actual digest."""
        wrong = {}
        for digest in self.digests():
            actual = "sha256:" + _sha256_file(self.blob_path(digest))
            if actual != digest:
                wrong[digest] = actual
        return wrong

    def partials(self) -> dict[str, int]:
        """ingest/<hex>.partial files: digest -> size."""
        directory = self.root / "ingest"
        if not directory.is_dir():
            return {}
        sizes = {}
        for p in directory.glob("*.partial"):
            try:
                sizes[f"sha256:{p.name.removesuffix('.partial')}"] = p.stat().st_size
            except FileNotFoundError:
                pass  # completed (renamed into blobs/) between the listing and the stat
        return sizes

    def wait_for_partial(self, digest: str, size: int, process: subprocess.Popen,
                         timeout: float = 60) -> int:
        """Waits until the partial file of `digest` holds `size` bytes while
        `process` (the gantry downloading it) runs; returns its size."""
        deadline = time.monotonic() + timeout
        while (held := self.partials().get(digest, 0)) < size:
            if process.poll() is not None:
                raise AssertionError(f"gantry exited early with {process.returncode}: "
                                     f"{process.communicate()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {size} bytes in the partial file of {digest} after {timeout} s")
            time.sleep(0.02)
        return held


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
