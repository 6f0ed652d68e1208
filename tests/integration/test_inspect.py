"""`gantry inspect` prints one JSON document: the reference, the manifest
digest, media type and platform, the index it came through, and the
manifest and config exactly as the registry serves them. It stores nothing.
With --local (or --pull never) it answers from the store, without a registry."""

from __future__ import annotations

import json

import pytest

from gantry_testbed import images, mediatypes
from gantry_testbed.images import Platform


@pytest.mark.parametrize("fmt", mediatypes.FORMATS)
def test_inspect_prints_manifest_and_config(registry_plain, repo, gantry, fmt):
    image = images.rich_image(fmt)
    registry_plain.client.push_image(repo, image, tag="v1")
    ref = registry_plain.ref(repo, "v1")

    shown = json.loads(gantry.ok("inspect", "--plain-http", ref).stdout)

    assert shown["reference"] == ref
    assert shown["digest"] == image.digest
    assert shown["media_type"] == image.media_type
    assert shown["platform"] == str(image.platform)
    assert "index" not in shown
    assert shown["manifest"] == json.loads(image.manifest.data)
    assert shown["config"] == json.loads(image.config.data)
    assert not gantry.store.exists() or not any((gantry.store / "blobs").rglob("*"))


@pytest.mark.parametrize("fmt", mediatypes.FORMATS)
def test_inspect_resolves_an_index_for_the_platform(registry_plain, repo, gantry, fmt):
    arm = Platform("linux", "arm", "v7")
    pushed = [images.platform_image(Platform.host(), fmt), images.platform_image(arm, fmt)]
    index = images.build_index(pushed, fmt)
    registry_plain.client.push_index(repo, index, tag="multi")
    ref = registry_plain.ref(repo, "multi")

    shown = json.loads(gantry.ok("inspect", "--plain-http", "--platform", "linux/arm/v7",
                                 ref).stdout)

    assert shown["digest"] == pushed[1].digest
    assert shown["platform"] == "linux/arm/v7"
    assert shown["index"] == {"digest": index.digest, "media_type": index.media_type}
    assert shown["manifest"] == json.loads(pushed[1].manifest.data)
    assert shown["config"] == json.loads(pushed[1].config.data)


def test_inspect_of_a_missing_tag_fails_with_one_line(registry_plain, repo, gantry):
    registry_plain.client.push_image(repo, images.platform_image(Platform.host()), tag="v1")

    line = gantry.fails("inspect", "--plain-http", registry_plain.ref(repo, "nope"))

    assert repo in line and "nope" in line


def test_local_answers_from_the_store_with_the_registry_gone(registry_plain, repo, gantry, fault_proxy):
    """What `inspect` printed from the registry, `--local` and `--pull never`
    print from the store after a pull, the registry unreachable by then."""
    image = images.rich_image()
    registry_plain.client.push_image(repo, image, tag="v1")
    proxy = fault_proxy(registry_plain)
    ref = proxy.ref(repo, "v1")
    from_registry = json.loads(gantry.ok("inspect", "--plain-http", ref).stdout)
    gantry.ok("pull", "--plain-http", "--quiet", ref)
    proxy.stop()

    for flags in (["--local"], ["--pull", "never"], ["--pull", "missing"]):
        assert json.loads(gantry.ok("inspect", *flags, ref).stdout) == from_registry, flags
    assert from_registry["digest"] == image.digest


def test_local_of_an_image_the_store_lacks_fails_and_makes_no_store(registry_plain, repo, gantry):
    registry_plain.client.push_image(repo, images.platform_image(Platform.host()), tag="v1")
    ref = registry_plain.ref(repo, "v1")

    line = gantry.fails("inspect", "--local", ref)

    assert "not in the store" in line and repo in line, line
    assert not gantry.store.exists()
    # --pull missing asks the registry for what the store lacks, and stores nothing.
    shown = json.loads(gantry.ok("inspect", "--plain-http", "--pull", "missing", ref).stdout)
    assert shown["reference"] == ref
    assert not gantry.store.exists()
    assert "--local reads the store only" in gantry.fails("inspect", "--local", "--pull", "always", ref)


def test_local_picks_the_platform_asked(registry_plain, repo, gantry):
    image = images.platform_image(Platform.host())
    registry_plain.client.push_image(repo, image, tag="v1")
    ref = registry_plain.ref(repo, "v1")
    gantry.ok("pull", "--plain-http", "--quiet", ref)

    assert json.loads(gantry.ok("inspect", "--local", ref).stdout)["digest"] == image.digest
    line = gantry.fails("inspect", "--local", "--platform", "linux/s390x", ref)
    assert "not in the store" in line, line
