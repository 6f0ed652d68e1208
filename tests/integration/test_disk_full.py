"""A store whose filesystem fills up during a pull: every command ends with
one line naming the path and the layer it was writing (never a hang, also
not on the resumes that follow while the disk is still full), and once space
is freed the next command resumes the partial downloads and succeeds."""

from __future__ import annotations

import os
import re
import secrets
import subprocess

import pytest

from gantry_testbed import images, layers
from gantry_testbed.content import RandomContent
from gantry_testbed.tarwriter import Entry

LAYERS = 4
LAYER_BYTES = 25 << 20   # incompressible: ~100 MiB in all, on a 60 MiB store
STORE_SIZE = "60m"
ROOMY_SIZE = "400m"
TIMEOUT = 120            # a command that has not ended by then hangs


@pytest.fixture(scope="module")
def big_image(registry_plain, module_scratch):
    built = [layers.build_layer([Entry(f"data{i}", data=RandomContent(LAYER_BYTES, secrets.randbits(64)))],
                                "none", path=module_scratch / f"layer{i}.tar")
             for i in range(LAYERS)]
    repo = f"it/disk-full-{secrets.token_hex(4)}"
    image = images.build_image(built)
    registry_plain.client.push_image(repo, image, tag="v1")
    return repo, image


@pytest.fixture
def small_store(gantry):
    gantry.store.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={STORE_SIZE}", "tmpfs", str(gantry.store)], check=True)
    yield gantry.store
    subprocess.run(["umount", "-l", str(gantry.store)], check=True)


def _one_line_failure(gantry, *args):
    try:
        run = gantry.run(*args, "--quiet", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gantry {' '.join(args)} hung on a full store")
    lines = run.stderr.splitlines()
    assert run.returncode != 0 and len(lines) == 1 and lines[0].startswith("gantry: error: "), run.describe()
    return lines[0]


def _names_a_layer_and_path(line, image, store):
    """The error names one layer, and the path that layer was being written
    to: its partial blob in the store, or a file of that layer on the host
    (the applier names TARGET/data<i> for layer i, with the layer's digest)."""
    digests = [layer.blob.digest for layer in image.layers]
    named = [i for i, d in enumerate(digests) if d in line]
    assert len(named) == 1, line
    assert "No space left on device" in line, line
    [path] = re.findall(r"path (\S+?)\)$", line)
    layer = named[0]
    if path.endswith(".partial"):
        assert path == f"{store}/ingest/{digests[layer].split(':')[1]}.partial", line
    else:
        assert path.startswith("/"), f"the error names a host path: {line}"
        if path.rsplit("/", 1)[-1].startswith("data"):
            assert path.endswith(f"/data{layer}"), f"the error names one layer and the path of another: {line}"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_store_fails_each_command_with_one_line_and_resumes_after_space_is_freed(
        big_image, gantry, small_store, registry_plain, scratch):
    repo, image = big_image
    ref = registry_plain.ref(repo, "v1")
    rootfs = scratch / "rootfs"

    for args in (("pull", "--plain-http", "--unpack", ref),
                 ("unpack", "--plain-http", ref, str(rootfs)),
                 ("pull", "--plain-http", ref)):
        line = _one_line_failure(gantry, *args)
        _names_a_layer_and_path(line, image, small_store)
    assert not rootfs.exists()
    partials = list((small_store / "ingest").glob("*.partial"))
    assert partials, "the downloads left nothing to resume"

    subprocess.run(["mount", "-o", f"remount,size={ROOMY_SIZE}", str(small_store)], check=True)
    run = gantry.run("pull", "--plain-http", "--unpack", "--json", ref, timeout=TIMEOUT)
    assert run.returncode == 0, run.describe()
    started = run.of("blob_started")
    assert any(e["resumed_from"] > 0 for e in started), run.describe()
    [done] = run.of("done")
    assert done["bytes_fetched"] < LAYERS * LAYER_BYTES
    assert list((small_store / "ingest").glob("*.partial")) == []
