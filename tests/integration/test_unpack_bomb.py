"""A decompression bomb through `gantry unpack`: 2 MiB of gzip expanding to a
2 GiB file of zeros unpacks within a bounded memory (issue 4: peak RSS under
256 MiB whatever the layer size), and `--max-layer-size` refuses it early.

The layer is built streaming (the test bed's tar writer and compressor take
the zeros one 1 MiB chunk at a time), so neither the test nor the registry
ever holds the expanded bytes.

Memory is the child's ru_maxrss (os.wait4). The binary under test is the
ASan build, whose allocator keeps up to 256 MiB of freed memory in
quarantine to catch use-after-free: that is ASan's memory, not gantry's, so
the quarantine is turned off for the measured run. Shadow memory and
redzones stay, so the number is an upper bound of a Release build's.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gantry_testbed import images
from gantry_testbed.layers import build_layer
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

BOMB_SIZE = 2 << 30
RSS_LIMIT = 256 << 20
NO_QUARANTINE = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"


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


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, stderr) of one child."""
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stderr.close()
    return process.returncode, usage.ru_maxrss * 1024, stderr  # ru_maxrss is in KiB


def test_bomb_unpacks_within_bounded_memory(gantry, scratch, bomb):
    ref, _ = bomb
    rootfs = scratch / "rootfs"
    argv = gantry.argv("unpack", "--plain-http", "--quiet", ref, str(rootfs))
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), NO_QUARANTINE]))
    try:
        status, peak, stderr = run_measured(argv, {**gantry.env, "ASAN_OPTIONS": asan})

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
