"""Every kind of image the builder makes survives a push to each registry mode
and reads back through the HTTP API: manifests by tag and digest, blobs,
digests, diff_ids, and layer tars that decode to the entries described."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from gantry_testbed import images, mediatypes, trees
from gantry_testbed.images import Platform
from readback import assert_image_served, fetch_layer

COMBOS = [(fmt, c) for fmt in mediatypes.FORMATS for c in mediatypes.COMPRESSIONS]


@pytest.mark.parametrize("fmt,compression", COMBOS)
def test_rich_image_round_trips(registry, repo, fmt, compression):
    image = images.rich_image(fmt, compression)
    digest = registry.client.push_image(repo, image, tag="v1")
    assert digest == image.digest
    assert_image_served(registry.client, repo, "v1", image)


def test_busybox_image_round_trips(registry, repo):
    image = images.busybox_image()
    registry.client.push_image(repo, image, tag="latest")
    assert_image_served(registry.client, repo, "latest", image)
    config = json.loads(registry.client.get_blob(repo, image.config.digest))
    assert config["config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in config["config"]["Env"])


def test_busybox_applets_exist_in_this_busybox():
    applets = subprocess.run([str(trees.BUSYBOX), "--list"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert set(trees.BUSYBOX_APPLETS) <= set(applets)


@pytest.mark.root("chroot needs root")
def test_busybox_image_runs(registry_plain, repo, scratch):
    """Pulled back and unpacked by tarfile, the image runs its shell."""
    image = images.busybox_image(compression="zstd")
    registry_plain.client.push_image(repo, image)
    manifest = json.loads(registry_plain.client.get_manifest(repo, image.digest).body)
    layer = fetch_layer(registry_plain.client, repo, manifest["layers"][0])
    rootfs = scratch / "rootfs"
    tar = subprocess.run(["zstd", "-d", "-c"], input=layer, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(rootfs)
    script = "echo $(id -un) in $PWD; ls /bin"
    result = subprocess.run(["/usr/sbin/chroot", str(rootfs), "/bin/sh", "-c", script],
                            capture_output=True, text=True, env={"PATH": "/bin"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n", 1)
    assert lines[0] == "root in /"
    assert set(trees.BUSYBOX_APPLETS) | {"busybox"} == set(lines[1].split())


@pytest.mark.parametrize("fmt", mediatypes.FORMATS)
def test_multi_platform_index_round_trips(registry, repo, fmt):
    platforms = [Platform("linux", "amd64"), Platform("linux", "arm64", "v8")]
    children = [images.platform_image(p, fmt) for p in platforms]
    index = images.build_index(children, fmt)
    assert registry.client.push_index(repo, index, tag="multi") == index.digest

    for reference in ("multi", index.digest):
        response = registry.client.get_manifest(repo, reference)
        assert response.body == index.manifest.data
        assert response.header("Content-Type") == mediatypes.INDEX[fmt]
        assert response.header("Docker-Content-Digest") == index.digest
    listed = json.loads(index.manifest.data)["manifests"]
    assert [(m["digest"], m["mediaType"], m["platform"]) for m in listed] == \
        [(c.digest, mediatypes.MANIFEST[fmt], c.platform.to_json()) for c in children]
    assert listed[1]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}

    # Each child decodes to its own /etc/platform naming its platform.
    for child in children:
        assert_image_served(registry.client, repo, child.digest, child)
