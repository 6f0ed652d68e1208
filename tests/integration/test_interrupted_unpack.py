"""`gantry unpack` into a new DIR builds it beside DIR and renames it into
place only when every layer is verified and applied: a gantry killed half way
leaves no DIR at all (nothing half-applied looking complete), and a second run
produces the whole tree."""

from __future__ import annotations

import secrets
import subprocess
import time

import pytest

from gantry_testbed import images, layers
from gantry_testbed.faultproxy import Stall, Throttle
from gantry_testbed.gantry_cli import kill
from gantry_testbed.ocistore import OciStore

RATE = 8 << 20  # through the proxy: the second layer takes about 4 s


@pytest.fixture(scope="module")
def two_layer_image(registry_plain, module_scratch):
    base, big = layers.small_and_big_layers(module_scratch / "big.tar.gz")
    repo = f"it/interrupted-unpack-{secrets.token_hex(4)}"
    image = images.build_image([base, big])
    registry_plain.client.push_image(repo, image, tag="v1")
    return repo, image


def _staging_dirs(parent):
    # The rootfs being built, and the files its upper layers stage beside it.
    return [p for p in parent.iterdir() if ".gantry-partial-" in p.name or ".gantry-staged-" in p.name]


def test_killed_unpack_leaves_no_target_and_a_rerun_completes(two_layer_image, gantry, fault_proxy,
                                                              registry_plain, scratch):
    repo, image = two_layer_image
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(image.layers[1].blob.digest, Throttle(RATE))
    ref = proxy.ref(repo, "v1")
    target = scratch / "rootfs"

    first = gantry.spawn("unpack", "--plain-http", "--quiet", ref, str(target))
    # Wait until the base layer is applied in the staging directory.
    deadline = time.monotonic() + 60
    while not any((d / "etc" / "base").exists() for d in _staging_dirs(scratch)):
        if first.poll() is not None:
            pytest.fail(f"gantry exited early with {first.returncode}: {first.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail("the base layer never appeared in a staging directory")
        time.sleep(0.02)
    kill(first)
    assert not target.exists()

    proxy.clear_rules()
    gantry.ok("unpack", "--plain-http", "--quiet", ref, str(target))
    assert (target / "etc" / "base").read_bytes() == b"first layer\n"
    assert (target / "data" / "random").stat().st_size == 32 << 20
    # The rerun also removed the dead process's staging directory.
    assert _staging_dirs(scratch) == []


def test_failed_unpack_into_an_existing_empty_dir_leaves_it_empty(two_layer_image, gantry, fault_proxy,
                                                                  registry_plain, scratch):
    repo, image = two_layer_image
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(image.layers[1].blob.digest, Throttle(RATE))
    ref = proxy.ref(repo, "v1")
    target = scratch / "existing"
    target.mkdir()
    gantry.fails("unpack", "--plain-http", "--quiet", "--max-layer-size", "1M", ref, str(target))
    assert list(target.iterdir()) == []
    assert _staging_dirs(scratch) == []


def test_a_resumed_layer_that_fails_while_its_partial_is_replayed_ends_the_unpack(
        two_layer_image, gantry, fault_proxy, registry_plain, scratch):
    # The rerun replays the partial file into the layer's pipeline while the
    # rest downloads; the pipeline fails (the layer is over the size limit)
    # during the replay. The paused download must hear of it: it once waited
    # for the replay's wake for ever.
    repo, image = two_layer_image
    big = image.layers[1].blob
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(big.digest, Throttle(RATE), times=None)
    ref = proxy.ref(repo, "v1")
    store = OciStore(gantry.store)
    target = scratch / "rootfs"
    first = gantry.spawn("unpack", "--plain-http", "--quiet", ref, str(target))
    store.wait_for_partial(big.digest, 8 << 20, first)
    kill(first)

    try:
        line = gantry.fails("unpack", "--plain-http", "--max-layer-size", "1M", ref, str(target))
    except subprocess.TimeoutExpired:
        pytest.fail("the rerun hung after its replay failed")
    assert "beyond the limit" in line and big.digest in line
    assert not target.exists() and _staging_dirs(scratch) == []
    assert big.digest in store.partials()


def test_an_upper_layer_is_staged_beside_the_target_while_the_one_below_is_missing(
        two_layer_image, gantry, fault_proxy, registry_plain, scratch):
    # The base layer's first answer sends nothing for a while (the retry gets
    # it); meanwhile the upper layer's 32 MiB file is written whole in the
    # staging area, and later renamed into the tree: the same inode.
    repo, image = two_layer_image
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(image.layers[0].blob.digest, Stall(after=0, seconds=10), times=1)
    target = scratch / "rootfs"
    unpacking = gantry.spawn("unpack", "--plain-http", "--quiet", proxy.ref(repo, "v1"), str(target))
    deadline = time.monotonic() + 60
    staged = None
    while staged is None:
        assert unpacking.poll() is None, f"gantry exited early: {unpacking.communicate()}"
        assert time.monotonic() < deadline, "the upper layer's file was never staged"
        for area in (d for d in _staging_dirs(scratch) if ".gantry-staged-" in d.name):
            for f in area.glob("1/*"):
                try:
                    st = f.stat()
                except FileNotFoundError:  # renamed into place meanwhile: too late to see
                    continue
                if st.st_size == 32 << 20:
                    staged = st.st_ino
        time.sleep(0.02)
    assert not target.exists()
    assert unpacking.wait(timeout=120) == 0, unpacking.communicate()
    assert (target / "etc" / "base").read_bytes() == b"first layer\n"
    assert (target / "data" / "random").stat().st_ino == staged
    assert _staging_dirs(scratch) == []
