"""`gantry unpack` reads what the store already holds instead of fetching
it again, seen through the fault proxy's request log and the `unpacked`
event of `--json`: a second unpack into a new DIR, or an unpack after
`gantry pull`, fetches no blob at all (neither layer nor config), and a layer shared with an image unpacked before is not fetched
again. The trees are the same either way."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gantry_testbed import images
from gantry_testbed.layers import build_layer
from gantry_testbed.tarwriter import Entry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import tree_print  # noqa: E402


def fetched_blobs(proxy) -> set[str]:
    return {r.path.rsplit("/", 1)[1] for r in proxy.requests(path="/blobs/", method="GET")}


def unpack_json(gantry, ref: str, rootfs: Path) -> dict:
    """The `unpacked` event of a --json unpack."""
    [event] = gantry.ok("unpack", "--plain-http", "--json", ref, str(rootfs)).of("unpacked")
    return event


def unpack_again(registry, repo, gantry, scratch, fault_proxy, first: str):
    """Fills the store with `first` ("unpack", or "pull" of a Docker zstd
    image), then unpacks the image into a new DIR; (image, the proxy with
    the second run's requests, its `unpacked` event)."""
    image = images.rich_image(*(("docker", "zstd") if first == "pull" else ("oci", "gzip")))
    registry.client.push_image(repo, image, tag="v1")
    proxy = fault_proxy(registry)
    ref = proxy.ref(repo, "v1")
    if first == "unpack":
        event = unpack_json(gantry, ref, scratch / "first")
        assert event["fetched_bytes"] == sum(layer.blob.size for layer in image.layers)
    else:
        gantry.ok("pull", "--plain-http", ref)
    assert fetched_blobs(proxy) == {blob.digest for blob in image.blobs()}
    proxy.clear_log()
    event = unpack_json(gantry, ref, scratch / "second")
    if first == "unpack":
        assert tree_print.tree_text(scratch / "second", dir_mtimes=False) == \
            tree_print.tree_text(scratch / "first", dir_mtimes=False)
    assert (scratch / "second/etc/hello.txt").read_bytes() == b"hello again\n"
    return image, proxy, event


@pytest.mark.parametrize("first", ["unpack", "pull"])
def test_second_unpack_fetches_no_layer(registry_plain, repo, gantry, scratch, fault_proxy, first):
    image, proxy, event = unpack_again(registry_plain, repo, gantry, scratch, fault_proxy, first)

    assert fetched_blobs(proxy) & {layer.blob.digest for layer in image.layers} == set()
    assert event["fetched_bytes"] == 0
    assert event["digest"] == image.digest and event["layers"] == len(image.layers)


@pytest.mark.parametrize("first", ["unpack", "pull"])
def test_second_unpack_fetches_no_blob_at_all(registry_plain, repo, gantry, scratch, fault_proxy,
                                              first):
    _, proxy, _ = unpack_again(registry_plain, repo, gantry, scratch, fault_proxy, first)

    assert proxy.requests(path="/blobs/") == []


def test_shared_base_layer_is_fetched_once(registry_plain, repo, gantry, scratch, fault_proxy):
    base = build_layer([Entry("base", "dir"), Entry("base/file", data=b"shared\n")])
    tops = {name: build_layer([Entry(name, "dir"), Entry(f"{name}/file", data=name.encode())])
            for name in ("a", "b")}
    built = {name: images.build_image([base, top]) for name, top in tops.items()}
    for name, image in built.items():
        registry_plain.client.push_image(repo, image, tag=name)
    proxy = fault_proxy(registry_plain)
    unpack_json(gantry, proxy.ref(repo, "a"), scratch / "a")
    proxy.clear_log()

    event = unpack_json(gantry, proxy.ref(repo, "b"), scratch / "b")

    assert fetched_blobs(proxy) <= {tops["b"].blob.digest, built["b"].config.digest}
    assert tops["b"].blob.digest in fetched_blobs(proxy)
    assert event["fetched_bytes"] == tops["b"].blob.size
    assert (scratch / "b/base/file").read_bytes() == b"shared\n"
    assert (scratch / "b/b/file").read_bytes() == b"b"
