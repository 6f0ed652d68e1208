"""Reading images back through a registry's HTTP API and checking them with
independent code: hashlib for digests, gzip / the zstd command for decoding,
and Python's tarfile (not the test bed's writer) for the layer contents."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile

from gantry_testbed.content import content_chunks
from gantry_testbed.images import Image
from gantry_testbed.layers import Layer
from gantry_testbed.push import RegistryClient
from gantry_testbed.tarwriter import TYPEFLAGS, Entry


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decompress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zstd":
        return subprocess.run(["zstd", "-d", "-q", "-c"], input=data,
                              capture_output=True, check=True).stdout
    assert compression == "none"
    return data


def tar_members(tar: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Every member with its data (None for non-files), in archive order."""
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as archive:
        return [(m, archive.extractfile(m).read() if m.isreg() else None)
                for m in archive.getmembers()]


def _name(value: str | bytes) -> str:
    """How tarfile presents a name: decoded with surrogateescape, no trailing '/'."""
    raw = value if isinstance(value, bytes) else value.encode()
    return raw.decode("utf-8", "surrogateescape").rstrip("/")


def assert_member_matches(member: tarfile.TarInfo, data: bytes | None, entry: Entry) -> None:
    where = repr(entry.path)
    assert member.name == _name(entry.path), where
    assert member.type == TYPEFLAGS[entry.kind], where
    assert member.mode == entry.mode, where
    assert (member.uid, member.gid) == (entry.uid, entry.gid), where
    assert (member.uname, member.gname) == (entry.uname, entry.gname), where
    assert int(member.mtime) == entry.mtime, where
    if entry.mtime_nsec:
        # tarfile turns the pax mtime into a float; compare its exact text.
        assert member.pax_headers["mtime"] == f"{entry.mtime}.{entry.mtime_nsec:09d}".rstrip("0")
    if entry.kind == "file":
        assert data == b"".join(content_chunks(entry.data)), where
    if entry.kind in ("symlink", "hardlink"):
        assert member.linkname == _name(entry.linkname), where
    if entry.kind in ("char", "block"):
        assert (member.devmajor, member.devminor) == (entry.devmajor, entry.devminor), where
    xattrs = {k.removeprefix("SCHILY.xattr."): v.encode("utf-8", "surrogateescape")
              for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    assert xattrs == entry.xattrs, where


def assert_tar_matches(tar: bytes, entries: tuple[Entry, ...] | list[Entry]) -> None:
    members = tar_members(tar)
    assert len(members) == len(entries)
    for (member, data), entry in zip(members, entries):
        assert_member_matches(member, data, entry)


def fetch_layer(client: RegistryClient, repo: str, descriptor: dict) -> bytes:
    """A layer blob, checked against its descriptor's digest and size."""
    data = client.get_blob(repo, descriptor["digest"])
    assert sha256(data) == descriptor["digest"]
    assert len(data) == descriptor["size"]
    return data


def assert_image_served(client: RegistryClient, repo: str, reference: str, image: Image) -> None:
    """The manifest by `reference` and by digest, the config and every layer
    come back byte-exact, and each layer decodes to the entries it was built from."""
    for ref in (reference, image.digest):
        response = client.get_manifest(repo, ref)
        assert response.body == image.manifest.data
        assert response.header("Content-Type") == image.media_type
        assert response.header("Docker-Content-Digest") == image.digest
    manifest = json.loads(image.manifest.data)
    assert manifest["mediaType"] == image.media_type

    config_bytes = client.get_blob(repo, manifest["config"]["digest"])
    assert sha256(config_bytes) == image.config.digest
    config = json.loads(config_bytes)
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": [layer.diff_id for layer in image.layers]}
    assert (config["os"], config["architecture"]) == (image.platform.os,
                                                      image.platform.architecture)
    assert config.get("variant") == image.platform.variant

    assert len(manifest["layers"]) == len(image.layers)
    for descriptor, layer in zip(manifest["layers"], image.layers):
        assert descriptor["mediaType"] == layer.media_type(image.format)
        assert_layer_decodes(fetch_layer(client, repo, descriptor), layer)


MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}


def assert_layer_decodes(data: bytes, layer: Layer) -> None:
    """The bytes are what the media type says (by magic number), and their
    tar hashes to the diff_id and holds exactly the described entries."""
    magic = MAGIC.get(layer.compression)
    assert data.startswith(magic) if magic else not data.startswith(tuple(MAGIC.values()))
    tar = decompress(data, layer.compression)
    assert sha256(tar) == layer.diff_id
    assert_tar_matches(tar, layer.entries)
