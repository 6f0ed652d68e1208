"""`gantry pull` of every image format the test bed builds, over plain HTTP:
the manifest, config and every layer land in STORE/blobs/sha256 with the
bytes the registry holds, nothing else does, index.json names the reference,
and other tools (skopeo, umoci) read the store."""

from __future__ import annotations

import json
import subprocess

import pytest

from gantry_testbed import images, mediatypes
from gantry_testbed.images import Platform
from gantry_testbed.ocistore import OciStore

FORMATS = [(fmt, compression)
           for fmt in mediatypes.FORMATS for compression in mediatypes.COMPRESSIONS]


def image_blobs(image: images.Image) -> list:
    return [image.manifest, *image.blobs()]


def assert_store_holds_exactly(store: OciStore, blobs: list) -> None:
    assert store.wrong_blobs(blobs) == []
    assert store.digests() == {blob.digest for blob in blobs}
    assert store.partials() == {}


@pytest.mark.parametrize("fmt,compression", FORMATS)
def test_pull_stores_every_blob_and_names_the_ref(registry_plain, repo, gantry, fmt, compression):
    image = images.rich_image(fmt, compression)
    registry_plain.client.push_image(repo, image, tag="v1")
    ref = registry_plain.ref(repo, "v1")

    run = gantry.ok("pull", "--plain-http", ref)

    assert run.stdout == f"{registry_plain.ref(repo, digest=image.digest)}\n"
    store = OciStore(gantry.store)
    assert_store_holds_exactly(store, image_blobs(image))
    assert store.refs()[ref] == {"annotations": {"org.opencontainers.image.ref.name": ref},
                                 "digest": image.digest, "mediaType": image.media_type,
                                 "size": image.manifest.size}


def _other_platform() -> Platform:
    return Platform("linux", "arm64" if Platform.host().architecture != "arm64" else "amd64")


@pytest.mark.parametrize("fmt", mediatypes.FORMATS)
@pytest.mark.parametrize("wanted", ["host-default", "host", "other"])
def test_pull_picks_the_platform_from_an_index(registry_plain, repo, gantry, fmt, wanted):
    by_name = {"host": Platform.host(), "other": _other_platform()}
    pushed = {name: images.platform_image(p, fmt) for name, p in by_name.items()}
    index = images.build_index(list(pushed.values()), fmt)
    registry_plain.client.push_index(repo, index, tag="multi")
    ref = registry_plain.ref(repo, "multi")

    flags = [] if wanted == "host-default" else ["--platform", str(by_name[wanted])]
    run = gantry.ok("pull", "--plain-http", *flags, ref)

    picked = pushed["host" if wanted == "host-default" else wanted]
    store = OciStore(gantry.store)
    # The index itself is kept too; the other platform's blobs are not fetched.
    assert_store_holds_exactly(store, [index.manifest, *image_blobs(picked)])
    # The name records the index (as containerd's does), and is what pull prints.
    assert store.refs()[ref]["digest"] == index.manifest.digest
    assert store.refs()[ref]["mediaType"] == mediatypes.INDEX[fmt]
    assert run.stdout == f"{registry_plain.ref(repo, digest=index.manifest.digest)}\n"


@pytest.mark.parametrize("pinned", [False, True])
def test_a_second_platform_of_one_name_adds_to_the_first(registry_plain, repo, gantry, pinned):
    host, other = Platform.host(), _other_platform()
    pushed = {p: images.platform_image(p) for p in (host, other)}
    index = images.build_index(list(pushed.values()))
    registry_plain.client.push_index(repo, index, tag="multi")
    ref = registry_plain.ref(repo, digest=index.manifest.digest) if pinned else registry_plain.ref(repo, "multi")

    for platform in (host, other):
        run = gantry.ok("pull", "--plain-http", "--platform", str(platform), ref)
        assert run.stdout == f"{registry_plain.ref(repo, digest=index.manifest.digest)}\n"

    store = OciStore(gantry.store)
    assert_store_holds_exactly(store, [index.manifest, *image_blobs(pushed[host]), *image_blobs(pushed[other])])
    assert {name: d["digest"] for name, d in store.refs().items()} == {ref: index.manifest.digest}
    # Each platform is in the store for a reader that asks for it, without a registry.
    for platform, image in pushed.items():
        shown = json.loads(gantry.ok("inspect", "--local", "--platform", str(platform), ref).stdout)
        assert shown["digest"] == image.digest, shown
        assert shown["index"]["digest"] == index.manifest.digest, shown


def test_all_platforms_pulls_every_image_an_index_offers(registry_plain, repo, gantry):
    platforms = (Platform.host(), _other_platform(), Platform("linux", "s390x"))
    pushed = [images.platform_image(p) for p in platforms]
    index = images.build_index(pushed)
    registry_plain.client.push_index(repo, index, tag="multi")
    single = images.rich_image()
    registry_plain.client.push_image(repo, single, tag="single")
    multi, one = registry_plain.ref(repo, "multi"), registry_plain.ref(repo, "single")

    run = gantry.ok("pull", "--plain-http", "--all-platforms", "--quiet", multi, one)

    # One line per reference, however many of its platforms came.
    assert sorted(run.stdout.splitlines()) == sorted([registry_plain.ref(repo, digest=index.manifest.digest),
                                                      registry_plain.ref(repo, digest=single.digest)])
    store = OciStore(gantry.store)
    assert_store_holds_exactly(store, [index.manifest, *(b for i in pushed for b in image_blobs(i)),
                                       *image_blobs(single)])
    for platform, image in zip(platforms, pushed):
        shown = json.loads(gantry.ok("inspect", "--local", "--platform", str(platform), multi).stdout)
        assert shown["digest"] == image.digest


def test_pull_of_a_platform_the_index_lacks_fails(registry_plain, repo, gantry):
    index = images.build_index([images.platform_image(Platform.host())])
    registry_plain.client.push_index(repo, index, tag="multi")

    line = gantry.fails("pull", "--plain-http", "--platform", "linux/s390x",
                        registry_plain.ref(repo, "multi"))

    assert "linux/s390x" in line
    assert OciStore(gantry.store).refs() == {}


def test_pull_by_digest(registry_plain, repo, gantry):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image)
    ref = registry_plain.ref(repo, digest=image.digest)

    gantry.ok("pull", "--plain-http", ref)

    store = OciStore(gantry.store)
    assert_store_holds_exactly(store, image_blobs(image))
    assert store.refs()[ref]["digest"] == image.digest


def test_one_failing_reference_does_not_stop_the_others(registry_plain, repo, gantry):
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    good, bad = registry_plain.ref(repo, "v1"), registry_plain.ref(repo, "missing")

    run = gantry.run("pull", "--plain-http", "--quiet", bad, good)

    assert run.returncode != 0
    [line] = run.stderr.splitlines()
    assert line.startswith(f"gantry: error: {bad}: ")
    assert run.stdout == f"{registry_plain.ref(repo, digest=image.digest)}\n"
    store = OciStore(gantry.store)
    assert_store_holds_exactly(store, image_blobs(image))
    assert list(store.refs()) == [good]


# Docker-format images are left out: skopeo's oci: transport skips index.json
# entries whose mediaType is not an OCI one, and gantry keeps Docker
# manifests verbatim (their digest is the reference's).
@pytest.mark.parametrize("compression", mediatypes.COMPRESSIONS)
def test_skopeo_inspects_the_pulled_image(registry_plain, repo, gantry, compression):
    image = images.rich_image("oci", compression)
    registry_plain.client.push_image(repo, image, tag="v1")
    ref = registry_plain.ref(repo, "v1")
    gantry.ok("pull", "--plain-http", ref)

    result = subprocess.run(["skopeo", "inspect", f"oci:{gantry.store}:{ref}"],
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["Digest"] == image.digest
    assert seen["Layers"] == [layer.blob.digest for layer in image.layers]
    assert seen["Labels"] == {"org.example.testbed": "rich"}


@pytest.mark.parametrize("fmt", mediatypes.FORMATS)
def test_umoci_lists_every_pulled_ref(registry_plain, repo, gantry, fmt):
    refs = []
    for tag, compression in (("gzip", "gzip"), ("zstd", "zstd")):
        registry_plain.client.push_image(repo, images.rich_image(fmt, compression), tag=tag)
        refs.append(registry_plain.ref(repo, tag))
    gantry.ok("pull", "--plain-http", *refs)

    result = subprocess.run(["umoci", "ls", "--layout", str(gantry.store)],
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(refs)
