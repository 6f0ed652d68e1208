"""An image of 1000 tiny layers (the most gantry unpacks, kMaxLayers in
engine/layer_window.hpp) unpacks, flattened and as snapshots, with
threads and memory bounded by the layers in flight, not the layer count
(each layer in flight holds a decoder, a tar reader and a feed thread and a
few MiB of queues; it once took 2-3 threads per layer, 2.2 GB in all). One
layer more is refused with one line before any layer is fetched.

Threads and memory are measured by gantry_testbed.measure.run_sampled
(sampled threads, the child's ru_maxrss, ASan's quarantine off: the binary
under test is the ASan build)."""

from __future__ import annotations

import os
import secrets

import pytest

from gantry_testbed import images, layers
from gantry_testbed.faultproxy import FaultProxy
from gantry_testbed.measure import run_sampled
from gantry_testbed.ocistore import OciStore
from gantry_testbed.tarwriter import Entry

MAX_LAYERS = 1000
THREAD_LIMIT = 48      # 3 per layer in flight (4 by default) + the fixed ones; ~2000 before
RSS_LIMIT = 256 << 20  # ASan shadow included


@pytest.fixture(scope="module")
def many_layers(registry_plain):
    built = [layers.build_layer([Entry("layers/", kind="dir"), Entry(f"layers/{i:04}", data=f"{i}\n".encode())],
                                "gzip") for i in range(MAX_LAYERS)]
    repo = f"it/many-layers-{secrets.token_hex(4)}"
    image = images.build_image(built)
    too_many = images.build_image(built + built[:1])
    assert len(image.manifest.data) < 4 << 20  # the registry's manifest limit
    client = registry_plain.client
    client.push_image(repo, image, tag="max")
    # The same layers: only the config and the manifest are new.
    client.push_blob(repo, too_many.config)
    client.push_manifest(repo, "over", too_many.manifest.data, too_many.media_type)
    return repo, image


# --jobs 1: one layer in flight, every other layer's download goes into its
# partial file meanwhile and is replayed from there.
@pytest.mark.parametrize("command", ["unpack", "unpack --jobs 1", "pull --unpack"])
def test_a_thousand_layers_unpack_with_bounded_threads_and_memory(command, many_layers, gantry, registry_plain,
                                                                  scratch):
    repo, image = many_layers
    ref = registry_plain.ref(repo, "max")
    rootfs = scratch / "rootfs"
    name, *options = command.split()
    args = [*options, "--plain-http", "--quiet", ref] + ([str(rootfs)] if name == "unpack" else [])
    status, threads, rss, stderr = run_sampled(gantry.argv(name, *args), gantry.env)
    print(f"{command}: {threads} threads, {rss >> 20} MiB")
    assert status == 0, stderr
    if name == "unpack":
        assert sorted(os.listdir(rootfs / "layers")) == [f"{i:04}" for i in range(MAX_LAYERS)]
    else:
        snapshots = gantry.store / "snapshots" / "sha256"
        assert len(os.listdir(snapshots)) == MAX_LAYERS
    assert OciStore(gantry.store).wrong_blobs(image.blobs()) == []
    assert OciStore(gantry.store).partials() == {}
    assert threads <= THREAD_LIMIT, f"{threads} threads at once"
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"


@pytest.mark.parametrize("command", ["unpack", "pull"])
def test_more_layers_than_the_limit_are_refused_before_any_layer_is_fetched(command, many_layers, gantry,
                                                                             registry_plain, scratch):
    repo, image = many_layers
    proxy = FaultProxy(registry_plain.url).start()
    try:
        ref = proxy.ref(repo, "over")
        args = ["--plain-http", ref, str(scratch / "rootfs")] if command == "unpack" else \
            ["--unpack", "--plain-http", ref]
        line = gantry.fails(command, *args)
        assert f"{MAX_LAYERS + 1} layers, more than the {MAX_LAYERS}" in line, line
        layer_digests = {layer.blob.digest for layer in image.layers}
        assert not [r for r in proxy.requests(path="/blobs/") if r.path.rsplit("/", 1)[-1] in layer_digests]
    finally:
        proxy.stop()
    assert not (scratch / "rootfs").exists()
