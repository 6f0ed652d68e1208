"""`gantry export REF... [-o FILE|-]`: images from the store as one archive,
loaded by the real tools a node has: containerd 1.6's `ctr images import`
(then checked and run), and skopeo's oci-archive: and docker-archive:
transports. Two test-bed images share a busybox base layer."""

from __future__ import annotations

import hashlib
import json
import io
import os
import secrets
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from gantry_testbed import images
from gantry_testbed.containerd import ctr as run_ctr
from gantry_testbed.containerd import ctr_run

pytestmark = pytest.mark.root("containerd and ctr run need root")

NAMESPACE = "test"


@pytest.fixture(scope="module")
def pushed(registry_plain):
    """Two runnable images on one base layer, each with a file of its own."""
    repo = f"it/export-{secrets.token_hex(4)}"
    one = images.busybox_image(files={"etc/which": "one\n"})
    two = images.busybox_image(files={"etc/which": "two\n"})
    assert one.layers[0].blob.digest == two.layers[0].blob.digest
    registry_plain.client.push_image(repo, one, tag="one")
    registry_plain.client.push_image(repo, two, tag="two")
    return {registry_plain.ref(repo, "one"): one, registry_plain.ref(repo, "two"): two}


@pytest.fixture
def stored(gantry, pushed):
    """A store holding both images."""
    gantry.ok("pull", "--plain-http", "--quiet", *pushed)
    return pushed  # HOST:PORT/REPO:TAG, which gantry names the same


def ctr(socket: Path, *args: str, input: bytes | None = None) -> str:
    return run_ctr(socket, NAMESPACE, *args, input=input)


def export(gantry, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(gantry.argv("export", "--quiet", *args), capture_output=True, timeout=120,
                          env=gantry.env, stdin=subprocess.DEVNULL)


def test_ctr_imports_checks_and_runs_both_images(gantry, stored, containerd, scratch):
    archive = scratch / "images.tar"
    result = export(gantry, *stored, "-o", str(archive))
    assert (result.returncode, result.stderr) == (0, b"")
    assert not Path(f"{archive}.tmp").exists()

    ctr(containerd, "images", "import", str(archive))
    listed = {line.split()[0]: line for line in ctr(containerd, "images", "check").splitlines()[1:]}
    assert sorted(listed) == sorted(stored)
    for ref, image in stored.items():
        assert image.digest in ctr(containerd, "images", "ls"), ref
        assert "complete" in listed[ref], listed[ref]
    for ref, which in zip(stored, ("one", "two")):
        assert ctr_run(containerd, NAMESPACE, ref, f"export-{which}", "cat /etc/which; echo ran") == f"{which}\nran\n"


def test_stdout_pipes_into_ctr_import(gantry, stored, containerd):
    ref = next(iter(stored))
    exporter = subprocess.Popen(gantry.argv("export", "--quiet", ref), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=gantry.env, stdin=subprocess.DEVNULL)
    importer = subprocess.run(["ctr", "-a", str(containerd), "-n", NAMESPACE, "images", "import", "-"],
                              stdin=exporter.stdout, capture_output=True, timeout=120)
    exporter.stdout.close()
    assert exporter.wait(timeout=60) == 0, exporter.stderr.read()
    assert importer.returncode == 0, importer.stderr
    [line] = ctr(containerd, "images", "check").splitlines()[1:]
    assert line.split()[0] == ref and "complete" in line


def test_a_docker_format_image_imports_and_runs(gantry, registry_plain, containerd, scratch):
    image = images.busybox_image(fmt="docker", files={"etc/which": "docker\n"})
    ref = registry_plain.ref(f"it/export-docker-{secrets.token_hex(4)}", "v1")
    registry_plain.client.push_image(ref.split("/", 1)[1].split(":")[0], image, tag="v1")
    gantry.ok("pull", "--plain-http", "--quiet", ref)
    archive = scratch / "docker.tar"
    assert export(gantry, ref, "-o", str(archive)).returncode == 0
    ctr(containerd, "images", "import", str(archive))
    [line] = ctr(containerd, "images", "check").splitlines()[1:]
    assert line.split()[0] == ref and "complete" in line and image.media_type in line, line
    assert ctr_run(containerd, NAMESPACE, ref, "export-docker", "cat /etc/which") == "docker\n"


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_skopeo_reads_the_oci_and_docker_forms(gantry, stored, scratch):
    archive = scratch / "images.tar"
    assert export(gantry, *stored, "-o", str(archive)).returncode == 0
    for ref, image in stored.items():
        oci = scratch / f"oci-{image.digest[7:19]}"
        # The OCI form names each image by its tag, as docker save does.
        subprocess.run(["skopeo", "copy", "--quiet", f"oci-archive:{archive}:{ref.rsplit(':', 1)[1]}", f"dir:{oci}"],
                       check=True, capture_output=True, timeout=120)
        # The very manifest the registry served: nothing was rewritten.
        assert sha256_file(oci / "manifest.json") == image.digest
        assert (oci / image.config.digest[7:]).read_bytes() == image.config.data

        docker = scratch / f"docker-{image.digest[7:19]}"
        subprocess.run(["skopeo", "copy", "--quiet", f"docker-archive:{archive}:{ref}", f"dir:{docker}"],
                       check=True, capture_output=True, timeout=120)
        manifest = json.loads((docker / "manifest.json").read_text())
        # The image ID (config digest) and the layers' contents survive the Docker form.
        assert manifest["config"]["digest"] == image.config.digest
        assert (docker / image.config.digest[7:]).read_bytes() == image.config.data
        layers = [layer["digest"] for layer in manifest["layers"]]
        # skopeo hands a docker-archive's layers out uncompressed, named by diff ID.
        assert layers == [layer.diff_id for layer in image.layers]
        assert [sha256_file(docker / digest[7:]) for digest in layers] == layers


def test_a_base_shared_by_two_images_is_in_the_archive_once(gantry, stored, scratch):
    archive = scratch / "images.tar"
    assert export(gantry, *stored, "-o", str(archive)).returncode == 0
    with tarfile.open(archive) as tar:
        names = [m.name.rstrip("/") for m in tar.getmembers()]
        index = json.load(tar.extractfile("index.json"))
        docker = json.load(tar.extractfile("manifest.json"))
    assert len(names) == len(set(names))
    want = set()
    for image in stored.values():
        want |= {image.digest, image.config.digest, *(layer.blob.digest for layer in image.layers)}
    assert sorted(n for n in names if n.startswith("blobs/sha256/")) == sorted(f"blobs/sha256/{d[7:]}" for d in want)
    assert len(want) == 2 * 4 - 1  # manifest, config, base, top each; the base once
    assert [(m["digest"], m["annotations"]) for m in index["manifests"]] == [
        (image.digest, {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]})
        for ref, image in stored.items()]
    assert [d["RepoTags"] for d in docker] == [[ref] for ref in stored]


def test_a_list_file_names_the_images_as_prewarm_reads_it(gantry, stored, scratch):
    """-f FILE as prewarm's (comments, blank lines); an image named twice is in the archive once."""
    one, two = stored
    listing = scratch / "images"
    listing.write_text(f"# the node's list\n\n  {two}   # a comment\n{one}\n{two}\n")
    archive = scratch / "images.tar"
    result = export(gantry, one, "-f", str(listing), "-o", str(archive))
    assert (result.returncode, result.stderr) == (0, b"")
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))
    assert [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]] == [one, two]
    listing.write_text(f"{one}\nnot a reference\n")
    line = gantry.fails("export", "-f", str(listing), "-o", str(archive))
    assert f"{listing}:2" in line, line


def test_an_image_not_in_the_store_fails_naming_it_and_leaves_no_file(gantry, stored, registry_plain, scratch):
    archive = scratch / "images.tar"
    missing = registry_plain.ref(f"it/export-missing-{secrets.token_hex(4)}", "v1")
    line = gantry.fails("export", *stored, missing, "-o", str(archive))
    assert missing in line and "not in the store" in line, line
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("images.tar")) == []


def test_pull_missing_fetches_what_the_store_lacks(gantry, pushed, scratch):
    ref, image = next(iter(pushed.items()))
    archive = scratch / "images.tar"
    line = gantry.fails("export", ref, "-o", str(archive))
    assert ref in line and "not in the store" in line, line
    result = export(gantry, "--plain-http", "--pull", "missing", ref, "-o", str(archive))
    assert (result.returncode, result.stderr) == (0, b"")
    with tarfile.open(archive) as tar:
        [entry] = json.load(tar.extractfile("index.json"))["manifests"]
    assert entry["digest"] == image.digest


def test_a_blob_altered_in_the_store_fails_and_leaves_no_file(gantry, stored, scratch):
    ref, image = next(iter(stored.items()))
    blob = gantry.store / "blobs" / "sha256" / image.layers[-1].blob.digest[7:]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    archive = scratch / "images.tar"
    line = gantry.fails("export", ref, "-o", str(archive))
    assert "stored blob hashes to" in line and image.layers[-1].blob.digest in line, line
    assert sorted(p.name for p in scratch.iterdir() if p.name.startswith("images.tar")) == []


def test_sigint_stops_the_stream_at_the_next_blob(gantry, stored):
    """The pipe is left full, so gantry blocks writing the base layer; the
    reader drains it only once the SIGINT was handled, and gantry stops before
    the top layer."""
    ref, image = next(iter(stored.items()))
    exporter = subprocess.Popen(gantry.argv("export", "--quiet", ref), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=gantry.env, stdin=subprocess.DEVNULL)
    time.sleep(1)
    exporter.send_signal(signal.SIGINT)
    time.sleep(0.5)
    out, err = exporter.communicate(timeout=60)
    assert (exporter.returncode, err) == (130, b"gantry: error: interrupted by SIGINT\n")
    with tarfile.open(fileobj=io.BytesIO(out), mode="r|") as tar:
        names = [member.name for member in tar]
    base, top = (f"blobs/sha256/{layer.blob.digest[7:]}" for layer in image.layers)
    assert base in names and top not in names, names


def test_a_terminal_stdout_is_refused(gantry, stored):
    primary, secondary = os.openpty()
    try:
        result = subprocess.run(gantry.argv("export", "--quiet", next(iter(stored))), stdout=secondary,
                                stderr=subprocess.PIPE, env=gantry.env, stdin=subprocess.DEVNULL, timeout=60)
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode != 0
    assert result.stderr.decode() == "gantry: error: gantry export: stdout is a terminal; give -o FILE or redirect it\n"
