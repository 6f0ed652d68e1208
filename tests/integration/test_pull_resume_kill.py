"""`gantry pull` killed with SIGKILL in the middle of a large blob resumes
from its partial file when run again: the second run asks for the rest with
a Range request starting where the partial file ends, and the bytes fetched
over both runs come to about the blob's size."""

from __future__ import annotations

import secrets

import pytest

from gantry_testbed import images, layers
from gantry_testbed.content import RandomContent
from gantry_testbed.faultproxy import Throttle
from gantry_testbed.gantry_cli import kill
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

BLOB_BYTES = 64 << 20
RATE = 16 << 20           # through the proxy: about 4 s for the whole blob
KILL_AFTER = 8 << 20      # bytes in the partial file before the kill
# Sent by the proxy but never written by the killed process: socket buffers
# and gantry's read buffer, a few MiB at most.
IN_FLIGHT = 8 << 20


@pytest.fixture(scope="module")
def big_image(registry_plain, module_scratch):
    data = RandomContent(BLOB_BYTES, secrets.randbits(64))
    layer = layers.build_layer([Entry("random", data=data)], "none",
                               path=module_scratch / "layer.tar")
    repo = f"it/resume-kill-{secrets.token_hex(4)}"
    image = images.build_image([layer])
    registry_plain.client.push_image(repo, image, tag="v1")
    return repo, image


def test_killed_pull_resumes_from_the_partial_file(big_image, gantry, fault_proxy, registry_plain):
    repo, image = big_image
    blob = image.layers[0].blob
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(blob.digest, Throttle(RATE))
    ref = proxy.ref(repo, "v1")
    store = OciStore(gantry.store)

    first = gantry.spawn("pull", "--plain-http", "--json", ref)
    store.wait_for_partial(blob.digest, KILL_AFTER, first)
    kill(first)

    held = store.partials()[blob.digest]
    assert KILL_AFTER <= held < blob.size
    assert not store.has(blob.digest) and store.refs() == {}
    sent_before = sum(r.body_bytes for r in proxy.blob_gets(blob.digest))
    proxy.clear_rules()
    proxy.clear_log()

    run = gantry.ok("pull", "--plain-http", "--json", ref)

    [resumed] = proxy.blob_gets(blob.digest)
    assert resumed.header("Range") == f"bytes={held}-"
    assert (resumed.status, resumed.body_bytes) == (206, blob.size - held)
    [started] = [e for e in run.of("blob_started") if e["digest"] == blob.digest]
    assert started["resumed_from"] == held
    total = sent_before + resumed.body_bytes
    assert blob.size <= total <= blob.size + IN_FLIGHT
    assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert store.refs()[ref]["digest"] == image.digest
    assert store.partials() == {}
