"""Unpacking (a flattened `gantry unpack`, and `gantry pull --unpack` into
snapshots) recovers the way `gantry pull` does, although its layers stream
into the decoder while they download:

- killed with SIGKILL in the middle of a layer, a second run resumes the
  download from the partial file (a Range request from where it ends): the
  partial file is replayed into the decoder first, then the rest streams in;
- a connection that breaks in the middle of a layer, then a server that
  answers the resume with the whole blob from byte 0 (no ranges): the
  pipeline has the first bytes already and takes the rest, the store's
  file starts again;
- an upper layer of a flattened unpack, whose entries wait for the layer
  below, downloads in full while that one cannot even start: its bytes wait
  in the store's file, the connection never pauses for the pipeline;
- a mirror that sends wrong bytes for a layer has had them decoded before
  the digest could tell: the layer is then taken from the origin into the
  store and unpacked from there, and the result is the right tree.
"""

from __future__ import annotations

import secrets
import time

import pytest

from gantry_testbed import images, layers
from gantry_testbed.content import RandomContent
from gantry_testbed.faultproxy import Corrupt, Cut, IgnoreRange, Stall, Throttle
from gantry_testbed.gantry_cli import kill
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

BIG = 48 << 20
RATE = 16 << 20        # through the proxy: about 3 s for the big layer
KILL_AFTER = 8 << 20   # bytes in the partial file before the kill

MODES = ["unpack", "pull-unpack"]


@pytest.fixture(scope="module")
def big_image(registry_plain, module_scratch):
    base = layers.build_layer([Entry("etc/", kind="dir"), Entry("etc/base", data=b"first layer\n")], "gzip")
    big = layers.build_layer([Entry("data/", kind="dir"),
                              Entry("data/random", data=RandomContent(BIG, secrets.randbits(64))),
                              Entry("data/after", data=b"after the big file\n")],
                             "gzip", path=module_scratch / "big.tar.gz")
    repo = f"it/unpack-resume-{secrets.token_hex(4)}"
    image = images.build_image([base, big])
    registry_plain.client.push_image(repo, image, tag="v1")
    return repo, image


def argv(mode: str, ref: str, target, *extra: str) -> list[str]:
    if mode == "unpack":
        return ["unpack", "--plain-http", "--quiet", *extra, ref, str(target)]
    return ["pull", "--unpack", "--plain-http", "--quiet", *extra, ref]


def files_of(mode: str, gantry, image: images.Image, target):
    """(etc/base, data/after, size of data/random) as unpacked."""
    if mode == "unpack":
        base = top = target
    else:
        base = gantry.store / "snapshots" / "sha256" / image.layers[0].diff_id.split(":")[1]
        [top] = [d for d in (gantry.store / "snapshots" / "sha256").iterdir() if d != base]
    return ((base / "etc/base").read_bytes(), (top / "data/after").read_bytes(),
            (top / "data/random").stat().st_size)


EXPECTED = (b"first layer\n", b"after the big file\n", BIG)


@pytest.mark.parametrize("mode", MODES)
def test_killed_unpack_resumes_from_the_partial_file(big_image, gantry, fault_proxy, registry_plain,
                                                     scratch, mode):
    repo, image = big_image
    blob = image.layers[1].blob
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(blob.digest, Throttle(RATE))
    ref = proxy.ref(repo, "v1")
    target = scratch / "rootfs"
    store = OciStore(gantry.store)

    first = gantry.spawn(*argv(mode, ref, target))
    store.wait_for_partial(blob.digest, KILL_AFTER, first)
    kill(first)
    held = store.partials()[blob.digest]
    assert held < blob.size
    proxy.clear_rules()
    proxy.clear_log()

    gantry.ok(*argv(mode, ref, target))

    [resumed] = proxy.blob_gets(blob.digest)
    assert resumed.header("Range") == f"bytes={held}-"
    assert (resumed.status, resumed.body_bytes) == (206, blob.size - held)
    assert files_of(mode, gantry, image, target) == EXPECTED
    assert store.partials() == {}
    assert store.wrong_blobs(image.blobs()) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_resume_answered_from_byte_zero_restarts_the_file_not_the_layer(big_image, gantry, fault_proxy,
                                                                         registry_plain, scratch, mode):
    repo, image = big_image
    blob = image.layers[1].blob
    proxy = fault_proxy(registry_plain)
    cut = 20 << 20
    proxy.add_rule(blob.digest, Cut(after=cut))  # the first GET; rules are tried in turn
    proxy.add_rule(blob.digest, IgnoreRange())  # the resume
    target = scratch / "rootfs"

    gantry.ok(*argv(mode, proxy.ref(repo, "v1"), target))

    first, second = proxy.blob_gets(blob.digest)
    assert (first.header("Range"), first.body_bytes) == (None, cut)
    assert (second.header("Range"), second.status, second.body_bytes) == (f"bytes={cut}-", 200, blob.size)
    assert files_of(mode, gantry, image, target) == EXPECTED
    store = OciStore(gantry.store)
    assert store.partials() == {} and store.wrong_blobs(image.blobs()) == []


def test_an_upper_layer_downloads_in_full_while_the_one_below_cannot_apply(big_image, gantry, fault_proxy,
                                                                          registry_plain, scratch):
    repo, image = big_image
    base, big = image.layers[0].blob, image.layers[1].blob
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(base.digest, Stall(after=0, seconds=120), times=None)  # the bottom layer never comes
    store = OciStore(gantry.store)
    unpacking = gantry.spawn("unpack", "--plain-http", "--quiet", proxy.ref(repo, "v1"), str(scratch / "rootfs"))
    try:
        # 48 MiB is far more than the pipeline holds (a few MiB of queues):
        # had the download paused when its pipeline filled, it would wait
        # for the stalled layer below and never complete.
        deadline = time.monotonic() + 60
        while not store.blob_path(big.digest).exists():
            assert unpacking.poll() is None, unpacking.communicate()
            assert time.monotonic() < deadline, f"the upper layer's blob is not complete: {store.partials()}"
            time.sleep(0.02)
        assert not store.blob_path(base.digest).exists()
        assert unpacking.poll() is None  # still waiting for the bottom layer
    finally:
        kill(unpacking)


@pytest.mark.parametrize("mode", MODES)
def test_wrong_bytes_from_a_mirror_are_unpacked_from_the_origin(big_image, registry_plain, registry_tls,
                                                                gantry, fault_proxy, scratch, mode):
    repo, image = big_image
    registry_tls.client.push_image(repo, image, tag="v1")
    origin, mirror = fault_proxy(registry_plain), fault_proxy(registry_tls)
    corrupted = image.layers[1].blob.digest
    mirror.add_rule(corrupted, Corrupt(), times=None)
    target = scratch / "rootfs"

    gantry.ok(*argv(mode, origin.ref(repo, "v1"), target, "--mirror", f"{origin.host}={mirror.host}"))

    assert len(mirror.blob_gets(corrupted)) == 1
    assert [r.status for r in origin.blob_gets(corrupted)] == [200]
    assert files_of(mode, gantry, image, target) == EXPECTED
    store = OciStore(gantry.store)
    assert store.wrong_blobs(image.blobs()) == [] and store.partials() == {}
