"""`gantry import FILE|DIR|-` (issue 11): images back into the store from the
archive `gantry export` and `docker save` (25 and later) write, streamed (a
pipe is fine, blobs may come before index.json as in docker's archives), or
from an OCI image layout directory skopeo wrote. Every blob is verified; the
names are recorded only once every image is whole."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from gantry_testbed.gantry_cli import Gantry
from gantry_testbed.ocistore import OciStore


@pytest.fixture
def archive(gantry, family, scratch) -> Path:
    """Both images exported, and the store emptied again."""
    gantry.ok("pull", "--plain-http", "--quiet", *family)
    path = scratch / "images.tar"
    gantry.ok("export", "--quiet", *family, "-o", str(path))
    gantry.ok("rmi", "--quiet", *family)
    gantry.ok("gc", "--quiet")
    assert OciStore(gantry.store).digests() == set()
    return path


def other_store(gantry, scratch, name: str) -> Gantry:
    return Gantry(gantry.binary, scratch / name, scratch / f"{name}-home")


def printed(family) -> list[str]:
    return [f"{ref.rsplit(':', 1)[0]}@{image.digest}" for ref, image in family.items()]


def assert_holds(gantry, family) -> None:
    store = OciStore(gantry.store)
    for image in family.values():
        assert store.wrong_blobs([image.manifest, *image.blobs()]) == []
    assert {name: d["digest"] for name, d in store.refs().items()} == {r: i.digest for r, i in family.items()}
    for ref, image in family.items():
        assert json.loads(gantry.ok("inspect", "--local", ref).stdout)["digest"] == image.digest


def test_an_exported_archive_comes_back_whole(gantry, family, archive):
    run = gantry.ok("import", str(archive))
    assert run.stdout.splitlines() == printed(family)
    assert_holds(gantry, family)
    assert [row["reference"] for row in json.loads(gantry.ok("images", "--json").stdout)] == list(family)


def test_export_piped_into_import(gantry, family, scratch):
    gantry.ok("pull", "--plain-http", "--quiet", *family)
    target = other_store(gantry, scratch, "target")
    export = subprocess.Popen(gantry.argv("export", "--quiet", *family), stdout=subprocess.PIPE, env=gantry.env)
    imported = subprocess.run(target.argv("import", "--quiet", "-"), stdin=export.stdout, capture_output=True,
                              text=True, env=target.env, timeout=120)
    export.stdout.close()
    assert export.wait(timeout=120) == 0
    assert (imported.returncode, imported.stdout, imported.stderr) == (0, "", "")
    assert_holds(target, family)


def rewritten(archive: Path, out: Path, *, entry=lambda e: e, blobs_first: bool = False,
              blob=lambda name, data: data, drop: str | None = None) -> Path:
    """The archive again, with its index.json entries passed through `entry`,
    its blobs' bytes through `blob`, `drop` left out, and the blobs first
    (as docker save orders them) when asked."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    if blobs_first:
        members.sort(key=lambda item: not item[0].name.startswith("blobs"))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in members:
            if member.name == drop:
                continue
            if member.name == "index.json":
                index = json.loads(data)
                index["manifests"] = [entry(e) for e in index["manifests"]]
                data = json.dumps(index).encode()
            elif data is not None and member.name.startswith("blobs/"):
                data = blob(member.name, data)
            member.size = len(data) if data is not None else 0
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return out


def test_a_docker_save_archive_is_named_by_its_repo_tags(gantry, family, archive, scratch):
    """docker save 25: blobs first, ref.name only the tag, the names in manifest.json."""
    def as_docker(e):
        return {**e, "annotations": {"org.opencontainers.image.ref.name": e["annotations"]["org.opencontainers.image.ref.name"]}}
    docker = rewritten(archive, scratch / "docker.tar", entry=as_docker, blobs_first=True)
    assert gantry.ok("import", str(docker)).stdout.splitlines() == printed(family)
    assert_holds(gantry, family)


def test_an_oci_layout_skopeo_wrote_is_imported(gantry, family, registry_plain, scratch):
    layout = scratch / "layout"
    for ref in family:
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:{ref}"],
                       check=True, capture_output=True, timeout=120)
    assert gantry.ok("import", str(layout)).stdout.splitlines() == printed(family)
    assert_holds(gantry, family)
    archive = scratch / "oci-archive.tar"
    ref = next(iter(family))
    subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:{ref}", f"oci-archive:{archive}:{ref}"],
                   check=True, capture_output=True, timeout=120)
    target = other_store(gantry, scratch, "target")
    assert target.ok("import", str(archive)).stdout.splitlines() == printed(family)[:1]


def test_a_bad_archive_records_no_name(gantry, family, archive, scratch):
    one = family[next(iter(family))]
    top_layer = f"blobs/sha256/{one.layers[-1].blob.digest[7:]}"

    altered = rewritten(archive, scratch / "altered.tar", blob=lambda name, data: data[:-1] + bytes([data[-1] ^ 1])
                        if name == top_layer else data)
    line = gantry.fails("import", str(altered))
    assert "digest" in line and str(altered) in line, line
    assert OciStore(gantry.store).refs() == {}

    missing = rewritten(archive, scratch / "missing.tar", drop=top_layer)
    line = gantry.fails("import", str(missing))
    assert "lacks a layer" in line and one.layers[-1].blob.digest in line, line
    assert OciStore(gantry.store).refs() == {}

    unnamed = rewritten(archive, scratch / "unnamed.tar", entry=lambda e: {k: v for k, v in e.items() if k != "annotations"},
                        drop="manifest.json")
    assert "has no name" in gantry.fails("import", str(unnamed))
    assert OciStore(gantry.store).refs() == {}

    not_tar = scratch / "not.tar"
    not_tar.write_text("hello\n")
    assert "not a tar archive" in gantry.fails("import", str(not_tar))
    line = gantry.fails("import", str(scratch / "absent.tar"))
    assert "absent.tar" in line, line
