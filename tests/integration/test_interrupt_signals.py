"""SIGINT and SIGTERM in the middle of a download stop `gantry unpack`,
`bundle` and `pull` cleanly: exit 130 / 143 with one line saying so, no
staging directory beside DIR (and no DIR when it was new), the partial blob
kept in STORE/ingest, and the next run resumes it with a Range request."""

from __future__ import annotations

import secrets
import signal
import subprocess

import pytest

from gantry_testbed import images, layers
from gantry_testbed.faultproxy import Throttle
from gantry_testbed.ocistore import OciStore

RATE = 8 << 20          # through the proxy: the big layer takes about 4 s
SIGNAL_AFTER = 4 << 20  # bytes of the big layer in its partial file
STOP_TIMEOUT = 60       # a stop that takes longer than this hangs


@pytest.fixture(scope="module")
def two_layer_image(registry_plain, module_scratch):
    base, big = layers.small_and_big_layers(module_scratch / "big.tar.gz")
    repo = f"it/interrupt-{secrets.token_hex(4)}"
    image = images.build_image([base, big], config=images.ImageConfig(cmd=("sh",)))  # bundle needs one
    registry_plain.client.push_image(repo, image, tag="v1")
    registry_plain.client.push_manifest(repo, "v2", image.manifest.data, image.media_type)
    return repo, image


def _beside(directory):
    """Everything gantry made next to DIR: DIR itself and its staging dirs."""
    return sorted(p.name for p in directory.parent.iterdir() if directory.name in p.name)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", ["unpack", "bundle", "pull"])
def test_signal_stops_cleanly_and_the_next_run_resumes(command, sig, two_layer_image, gantry, fault_proxy,
                                                       registry_plain, scratch):
    repo, image = two_layer_image
    big = image.layers[1].blob
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(big.digest, Throttle(RATE))
    ref = proxy.ref(repo, "v1")
    target = scratch / "target"
    args = ["--plain-http", "--quiet", ref] + ([] if command == "pull" else [str(target)])
    store = OciStore(gantry.store)

    process = gantry.spawn(command, *args)
    store.wait_for_partial(big.digest, SIGNAL_AFTER, process)
    process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"gantry {command} did not stop on {sig.name}")

    assert process.returncode == 128 + sig, stderr
    assert stderr.splitlines() == [f"gantry: error: interrupted by {sig.name}"]
    assert _beside(target) == []
    held = store.partials().get(big.digest, 0)
    assert held >= SIGNAL_AFTER and not store.has(big.digest)

    proxy.clear_rules()
    proxy.clear_log()
    gantry.ok(command, *args)
    [resumed] = proxy.blob_gets(big.digest)
    assert resumed.header("Range") == f"bytes={held}-"
    assert resumed.status == 206
    assert store.wrong_blobs(image.blobs()) == []
    if command != "pull":
        assert _beside(target) == ["target"]


def test_several_images_stopped_by_a_signal_end_with_one_line(two_layer_image, gantry, fault_proxy, registry_plain):
    repo, image = two_layer_image
    big = image.layers[1].blob
    proxy = fault_proxy(registry_plain)
    proxy.add_rule(big.digest, Throttle(RATE), times=None)
    process = gantry.spawn("pull", "--unpack", "--plain-http", "--quiet", proxy.ref(repo, "v1"), proxy.ref(repo, "v2"))
    OciStore(gantry.store).wait_for_partial(big.digest, SIGNAL_AFTER, process)
    process.send_signal(signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("gantry pull did not stop on SIGTERM")
    assert process.returncode == 143, stderr
    assert stderr.splitlines() == ["gantry: error: interrupted by SIGTERM"]
