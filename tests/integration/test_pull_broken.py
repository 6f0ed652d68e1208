"""`gantry pull` of the test bed's broken images (tools/gantry_testbed/
broken.py): each fails with one error line and a non-zero exit, says what is
wrong, and leaves no blob with a wrong digest and no ref in the store.

(wrong_diff_id, truncated_gzip and corrupt_zstd are lies only a decoder can
see; `pull` stores compressed blobs by digest, so they belong to unpack.)"""

from __future__ import annotations

import json

import pytest

from gantry_testbed import broken
from gantry_testbed.ocistore import OciStore


def _declared_size(b: broken.Broken) -> str:
    return str(json.loads(b.image.manifest.data)["layers"][0]["size"])


# generator -> what the error line must hold. The layer lies name the layer's
# digest (and a size lie the size the descriptor declares).
EXPECTED = {
    "served_blob_mismatch": lambda b: [b.culprit],
    "size_too_big": lambda b: [b.culprit, _declared_size(b)],
    "size_too_small": lambda b: [b.culprit, _declared_size(b)],
    "malformed_config": lambda b: ["config", "JSON"],
    "unknown_layer_media_type": lambda b: [broken.UNKNOWN_LAYER_TYPE],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_image_is_refused(registry_plain, repo, gantry, name):
    b = broken.GENERATORS[name](registry_plain, repo)

    line = gantry.fails("pull", "--plain-http", b.ref)

    for part in EXPECTED[name](b):
        assert part in line, b.what
    store = OciStore(gantry.store)
    assert store.misnamed() == {}
    assert store.refs() == {}
    if b.culprit in (layer.blob.digest for layer in b.image.layers):
        assert not store.has(b.culprit)
    if name == "served_blob_mismatch":
        assert b.culprit not in store.partials()  # a mismatch deletes what was written


@pytest.mark.parametrize("name", ["size_too_big", "size_too_small"])
def test_blob_of_another_size_than_declared_fails_without_retries(registry_plain, repo, gantry,
                                                                  fault_proxy, name):
    b = broken.GENERATORS[name](registry_plain, repo)
    proxy = fault_proxy(registry_plain)

    line = gantry.fails("pull", "--plain-http", proxy.ref(b.repo, b.tag))

    served = str(b.image.layers[0].blob.size)
    assert b.culprit in line and _declared_size(b) in line and served in line
    assert len(proxy.blob_gets(b.culprit)) == 1  # a complete answer of the wrong length stays wrong
