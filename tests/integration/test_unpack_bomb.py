"""Bombs through `gantry unpack`, each within a bounded memory.

A decompression bomb: 2 MiB of gzip expanding to a 2 GiB file of zeros
unpacks within a bounded memory (issue 4: peak RSS under 256 MiB whatever
the layer size), and `--max-layer-size` refuses it early.

A sparse bomb (issue 9): 2.6 MB of tar holding one pax sparse file of
200,000 one-byte segments 8 KiB apart would allocate 819 MB; under
`--max-layer-size 10M` it is refused, naming the entry, because the limit
bounds what a layer makes on disk (a segment counts a 4 KiB block). A 1 TiB
file of holes with 4 KiB of data stays accepted, and sparse.

The layer is built streaming (the test bed's tar writer and compressor take
the zeros one 1 MiB chunk at a time), so neither the test nor the registry
ever holds the expanded bytes.

Memory is the child's peak RSS, ASan's quarantine off (gantry_testbed/
measure.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gantry_testbed import images
from gantry_testbed.layers import build_layer
from gantry_testbed.measure import run_measured, without_asan_quarantine
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry, Sparse

BOMB_SIZE = 2 << 30
RSS_LIMIT = 256 << 20


class Zeros:
    """`size` zero bytes, handed out as one reused 1 MiB chunk (the test
    bed's Content protocol: size and chunks())."""

    CHUNK = bytes(1 << 20)

    def __init__(self, size: int) -> None:
        self.size = size

    def chunks(self):
        left = self.size
        while left:
            n = min(left, len(self.CHUNK))
            yield self.CHUNK if n == len(self.CHUNK) else self.CHUNK[:n]
            left -= n


@pytest.fixture(scope="module")
def bomb(registry_plain) -> tuple[str, images.Image]:
    """The bomb image, pushed once for the module; (reference, image)."""
    layer = build_layer([Entry("bomb", "dir"), Entry("bomb/zeros", data=Zeros(BOMB_SIZE))],
                        "gzip", level=9)
    assert layer.blob.size < 4 << 20  # "a few MiB"
    image = images.build_image([layer])
    registry_plain.client.push_image("it/bomb", image, tag="v1")
    return registry_plain.ref("it/bomb", "v1"), image


def test_bomb_unpacks_within_bounded_memory(gantry, scratch, bomb):
    ref, _ = bomb
    rootfs = scratch / "rootfs"
    argv = gantry.argv("unpack", "--plain-http", "--quiet", ref, str(rootfs))
    try:
        status, peak, stderr = run_measured(argv, without_asan_quarantine(gantry.env))

        assert status == 0, stderr
        zeros = rootfs / "bomb/zeros"
        assert zeros.stat().st_size == BOMB_SIZE
        with open(zeros, "rb") as f:
            for offset in (0, BOMB_SIZE // 2, BOMB_SIZE - 4096):
                f.seek(offset)
                assert f.read(4096) == bytes(4096)
        assert peak < RSS_LIMIT, f"peak RSS {peak >> 20} MiB"
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)  # 2 GiB


def test_max_layer_size_refuses_the_bomb(gantry, scratch, bomb):
    ref, image = bomb
    rootfs = scratch / "rootfs"

    line = gantry.fails("unpack", "--plain-http", "--max-layer-size", "64M", ref, str(rootfs))

    assert str(64 << 20) in line and image.layers[0].blob.digest in line, line
    assert not rootfs.exists() or os.listdir(rootfs) == []
    store = OciStore(gantry.store)
    assert store.misnamed() == {} and store.refs() == {}


def test_rss_is_measured(scratch):
    """The measurement itself sees a child's memory: a child touching 64 MiB
    reports at least that much."""
    code = "b = bytearray(64 << 20); b[::4096] = b'x' * len(b[::4096])"
    status, peak, stderr = run_measured(["/usr/bin/python3", "-c", code], dict(os.environ))
    assert status == 0, stderr
    assert peak >= 64 << 20


SPARSE_SEGMENTS = 200_000
SPARSE_STRIDE = 8 << 10
TIB = 1 << 40


def _push_one_file(registry, repo: str, entry: Entry) -> tuple[str, images.Image]:
    image = images.build_image([build_layer([entry])])
    registry.client.push_image(repo, image, tag="v1")
    return registry.ref(repo, "v1"), image


def test_max_layer_size_counts_sparse_segments_on_disk(gantry, scratch, registry_plain):
    segments = tuple((SPARSE_STRIDE * (i + 1), b"x") for i in range(SPARSE_SEGMENTS))
    entry = Entry("many-segments", sparse=Sparse(SPARSE_STRIDE * (SPARSE_SEGMENTS + 1), segments))
    ref, _ = _push_one_file(registry_plain, "it/sparse-bomb", entry)
    assert entry.size < 4 << 20  # the tar is small: only the map and 200,000 bytes
    rootfs = scratch / "rootfs"

    line = gantry.fails("unpack", "--plain-http", "--max-layer-size", "10M", ref, str(rootfs))

    assert "many-segments" in line and str(10 << 20) in line and "on disk" in line, line
    assert not rootfs.exists() and not [n for n in os.listdir(scratch) if n.startswith(".rootfs")]


def test_a_file_of_holes_stays_sparse_and_within_the_limit(gantry, scratch, registry_plain):
    data = bytes(range(256)) * 16  # 4 KiB at the very end of 1 TiB
    entry = Entry("holes", sparse=Sparse(TIB, ((TIB - len(data), data),)))
    ref, _ = _push_one_file(registry_plain, "it/sparse-holes", entry)
    rootfs = scratch / "rootfs"

    gantry.ok("unpack", "--plain-http", "--quiet", "--max-layer-size", "10M", ref, str(rootfs))

    st = (rootfs / "holes").stat()
    assert st.st_size == TIB
    assert st.st_blocks * 512 <= 1 << 20, st.st_blocks
    with open(rootfs / "holes", "rb") as f:
        f.seek(TIB - len(data))
        assert f.read() == data
        f.seek(TIB // 2)
        assert f.read(4096) == bytes(4096)
