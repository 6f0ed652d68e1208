"""Each broken-image generator pushes an image the registry accepts and that
really is broken in the way it claims, and in no other way: everything but
the one lie still checks out."""

from __future__ import annotations

import gzip
import json
import subprocess
import zlib

import pytest

from gantry_testbed import broken, mediatypes
from readback import assert_tar_matches, decompress, sha256, tar_members


def _manifest(registry, b: broken.Broken) -> dict:
    response = registry.client.get_manifest(b.repo, b.tag)
    assert response.body == b.image.manifest.data
    assert response.header("Docker-Content-Digest") == b.digest
    return json.loads(response.body)


def _served(registry, b: broken.Broken, descriptor: dict) -> bytes:
    return registry.client.get_blob(b.repo, descriptor["digest"])


@pytest.mark.parametrize("compression", mediatypes.COMPRESSIONS)
def test_served_blob_mismatch(registry, repo, compression):
    b = broken.served_blob_mismatch(registry, repo, compression=compression)
    [descriptor] = _manifest(registry, b)["layers"]
    served = _served(registry, b, descriptor)
    assert b.culprit == descriptor["digest"]
    assert sha256(served) != descriptor["digest"]
    assert len(served) == descriptor["size"]
    # Still a valid layer: only a digest check can tell.
    tar = decompress(served, compression)
    assert [m.name for m, _ in tar_members(tar)] == ["etc", "etc/payload"]


def test_wrong_diff_id(registry, repo):
    b = broken.wrong_diff_id(registry, repo)
    manifest = _manifest(registry, b)
    [descriptor] = manifest["layers"]
    served = _served(registry, b, descriptor)
    assert sha256(served) == descriptor["digest"]
    config = json.loads(registry.client.get_blob(b.repo, manifest["config"]["digest"]))
    tar = gzip.decompress(served)
    assert sha256(tar) != config["rootfs"]["diff_ids"][0]
    assert_tar_matches(tar, b.image.layers[0].entries)


@pytest.mark.parametrize("generator,delta", [(broken.size_too_big, 100),
                                             (broken.size_too_small, -100)])
def test_wrong_descriptor_size(registry, repo, generator, delta):
    b = generator(registry, repo)
    [descriptor] = _manifest(registry, b)["layers"]
    served = _served(registry, b, descriptor)
    assert sha256(served) == descriptor["digest"] == b.culprit
    assert descriptor["size"] == len(served) + delta


def test_truncated_gzip(registry, repo):
    b = broken.truncated_gzip(registry, repo)
    [descriptor] = _manifest(registry, b)["layers"]
    served = _served(registry, b, descriptor)
    assert sha256(served) == descriptor["digest"] == b.culprit
    assert len(served) == descriptor["size"]
    with pytest.raises(EOFError):
        gzip.decompress(served)
    # Up to the cut the stream is fine: it is truncated, not corrupt.
    partial = zlib.decompressobj(31).decompress(served)
    assert 0 < len(partial)


def test_corrupt_zstd(registry, repo):
    b = broken.corrupt_zstd(registry, repo)
    [descriptor] = _manifest(registry, b)["layers"]
    assert descriptor["mediaType"] == mediatypes.LAYER[("oci", "zstd")]
    served = _served(registry, b, descriptor)
    assert sha256(served) == descriptor["digest"] == b.culprit
    result = subprocess.run(["zstd", "-d", "-q", "-c"], input=served, capture_output=True)
    assert result.returncode != 0
    assert b"orrupt" in result.stderr  # "Corrupted block detected"


def test_malformed_config(registry, repo):
    b = broken.malformed_config(registry, repo)
    manifest = _manifest(registry, b)
    served = registry.client.get_blob(b.repo, manifest["config"]["digest"])
    assert sha256(served) == manifest["config"]["digest"] == b.culprit
    with pytest.raises(json.JSONDecodeError):
        json.loads(served)


def test_unknown_layer_media_type(registry, repo):
    b = broken.unknown_layer_media_type(registry, repo)
    manifest = _manifest(registry, b)
    [descriptor] = manifest["layers"]
    assert descriptor["mediaType"] == broken.UNKNOWN_LAYER_TYPE
    assert descriptor["mediaType"] not in mediatypes.LAYER.values()
    served = _served(registry, b, descriptor)
    assert sha256(served) == descriptor["digest"]
    config = json.loads(registry.client.get_blob(b.repo, manifest["config"]["digest"]))
    assert sha256(gzip.decompress(served)) == config["rootfs"]["diff_ids"][0]


@pytest.mark.parametrize("fmt", mediatypes.FORMATS)
def test_generators_build_either_format(registry_plain, repo, fmt):
    b = broken.wrong_diff_id(registry_plain, repo, fmt=fmt)
    assert _manifest(registry_plain, b)["mediaType"] == mediatypes.MANIFEST[fmt]
