"""`gantry unpack` of corrupt images: one `gantry: error:` line naming what is
wrong, a non-zero exit, DIR left empty (or absent) with nothing staged
beside it, no ref recorded and no blob in the store whose bytes do not hash
to its name.

The lies come from the test bed's broken images (tools/gantry_testbed/
broken.py), plus a tar cut mid-file built here. Each sits alone in a
one-layer image, and again as the top layer over a good base layer, so a
failure is also seen after files were already applied.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gantry_testbed import broken, images
from gantry_testbed.blob import Blob
from gantry_testbed.content import RandomContent
from gantry_testbed.layers import Layer, build_layer
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry, tar_bytes


def _layer_descriptor(b: broken.Broken) -> dict:
    return json.loads(b.image.manifest.data)["layers"][0]


def _diff_id(b: broken.Broken) -> str:
    return json.loads(b.image.config.data)["rootfs"]["diff_ids"][0]


def truncated_tar(registry, repo: str, tag: str = "broken", fmt: str = "oci") -> broken.Broken:
    """An uncompressed layer cut in the middle of a file's data. Its digest
    and diff ID are those of the cut bytes, so only the tar reader can tell."""
    entries = [Entry("etc", "dir"), Entry("etc/payload", data=RandomContent(64 * 1024, 7)),
               Entry("etc/after", data=b"never reached\n")]
    cut = Blob.of(tar_bytes(entries)[:3 * 512 + 20_000])
    layer = Layer(cut, "none", cut.digest, tuple(entries))
    image = images.build_image([layer], fmt=fmt)
    digest = registry.client.push_image(repo, image, tag=tag)
    return broken.Broken(registry.ref(repo, tag), repo, tag, digest, image,
                         "the tar ends in the middle of etc/payload", cut.digest)


GENERATORS = {**broken.GENERATORS, "truncated_tar": truncated_tar}

# generator -> what the error line must hold.
EXPECTED = {
    "served_blob_mismatch": lambda b: [b.culprit],
    "wrong_diff_id": lambda b: [_diff_id(b)],
    "size_too_big": lambda b: [b.culprit, str(_layer_descriptor(b)["size"])],
    "size_too_small": lambda b: [b.culprit, str(_layer_descriptor(b)["size"])],
    "truncated_gzip": lambda b: [b.culprit, "gzip"],
    "corrupt_zstd": lambda b: [b.culprit, "zstd"],
    "malformed_config": lambda b: [b.culprit, "config", "JSON"],
    "unknown_layer_media_type": lambda b: [broken.UNKNOWN_LAYER_TYPE],
    "truncated_tar": lambda b: [b.culprit, "tar"],
}


def on_a_good_base(registry, b: broken.Broken) -> str:
    """The broken image with a good layer inserted below its layer (config
    and descriptor lies kept); returns the new image's reference."""
    fmt = b.image.format
    base = build_layer([Entry("base", "dir"), Entry("base/file", data=b"applied first\n")])
    manifest = json.loads(b.image.manifest.data)
    config = json.loads(b.image.config.data)
    config["rootfs"]["diff_ids"].insert(0, base.diff_id)
    config["history"].insert(0, config["history"][0])
    config_blob = Blob.of(images.json_bytes(config))
    manifest_blob = images.manifest_blob(
        fmt, {**manifest["config"], "digest": config_blob.digest, "size": config_blob.size},
        [base.descriptor(fmt), *manifest["layers"]])
    for blob in (base.blob, config_blob):
        registry.client.push_blob(b.repo, blob)
    registry.client.push_manifest(b.repo, "on-base", manifest_blob.data, b.image.media_type)
    return registry.ref(b.repo, "on-base")


def assert_nothing_complete(store_dir: Path, rootfs: Path, name: str, b: broken.Broken) -> None:
    assert not rootfs.exists() or os.listdir(rootfs) == []
    store = OciStore(store_dir)
    assert store.misnamed() == {}
    assert store.refs() == {}
    if name == "served_blob_mismatch":  # a mismatch deletes what was written
        assert not store.has(b.culprit)
        assert b.culprit not in store.partials()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corrupt_image_fails_cleanly(registry_plain, repo, gantry, scratch, name):
    b = GENERATORS[name](registry_plain, repo)
    rootfs = scratch / "rootfs"

    line = gantry.fails("unpack", "--plain-http", b.ref, str(rootfs))

    for part in EXPECTED[name](b):
        assert part in line, f"{b.what}: {line}"
    assert_nothing_complete(gantry.store, rootfs, name, b)


LAYER_LIES = ["served_blob_mismatch", "wrong_diff_id", "size_too_big", "truncated_gzip",
              "corrupt_zstd", "truncated_tar", "unknown_layer_media_type"]


@pytest.mark.parametrize("name", LAYER_LIES)
def test_corrupt_top_layer_leaves_dir_empty(registry_plain, repo, gantry, scratch, name):
    b = GENERATORS[name](registry_plain, repo)
    ref = on_a_good_base(registry_plain, b)
    rootfs = scratch / "rootfs"
    rootfs.mkdir()  # an existing empty DIR is emptied again, not removed

    line = gantry.fails("unpack", "--plain-http", ref, str(rootfs))

    for part in EXPECTED[name](b):
        assert part in line, f"{b.what}: {line}"
    assert rootfs.is_dir()
    assert_nothing_complete(gantry.store, rootfs, name, b)


# A new DIR is staged as the hidden sibling .DIR.gantry-partial-PID; every
# failure, also one while resolving (before any layer), removes it.
@pytest.mark.parametrize("name", ["malformed_config", "unknown_layer_media_type",
                                  "served_blob_mismatch", "truncated_tar"])
def test_nothing_is_left_beside_a_new_dir(registry_plain, repo, gantry, scratch, name):
    b = GENERATORS[name](registry_plain, repo)
    rootfs = scratch / "rootfs"

    gantry.fails("unpack", "--plain-http", b.ref, str(rootfs))

    assert set(os.listdir(scratch)) <= {"rootfs", "store", "home"}
