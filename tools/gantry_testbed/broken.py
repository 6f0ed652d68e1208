"""Deliberately broken images, for gantry's negative tests.

Each generator pushes one image whose manifest the registry accepts but that
a careful puller must refuse, and returns a Broken saying what is wrong. Every
call uses fresh random content, so its blobs are shared with nothing else (the
served-blob generator edits the registry's storage in place).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable

from .blob import Blob, sha256_digest
from .content import RandomContent
from .images import Image, ImageConfig, Platform, config_blob, manifest_blob, build_image
from .layers import Layer, build_layer
from . import mediatypes, trees
from .registry import RegistryInfo
from .tarwriter import Entry

UNKNOWN_LAYER_TYPE = "application/vnd.example.unknown.layer.v1+tar"
LAYER_BYTES = 8192
DANGLING_LINK = "dangling"  # deep_tree_then_bad_entry's last entry


@dataclass(frozen=True)
class Broken:
    ref: str        # HOST/REPO:TAG
    repo: str
    tag: str
    digest: str     # the manifest's digest
    image: Image    # the manifest, config and layer blobs as pushed
    what: str       # what is wrong, in one line
    culprit: str    # digest of the blob the lie is about


def _entries(seed: int) -> list[Entry]:
    return [Entry("etc", "dir"), Entry("etc/payload", data=RandomContent(LAYER_BYTES, seed))]


def _layer(compression: str = "gzip", seed: int | None = None, level: int | None = None) -> Layer:
    return build_layer(_entries(secrets.randbits(64) if seed is None else seed),
                       compression, level=level)


def _assemble(fmt: str, layer: Layer, *, diff_id: str | None = None,
              layer_descriptor: dict | None = None, config: Blob | None = None) -> Image:
    """An image over `layer` whose config or manifest may say something false."""
    platform = Platform.host()
    config = config or config_blob(platform, ImageConfig(), [diff_id or layer.diff_id])
    manifest = manifest_blob(fmt, config.descriptor(mediatypes.CONFIG[fmt]),
                             [layer_descriptor or layer.descriptor(fmt)])
    return Image(fmt, platform, (layer,), config, manifest)


def _push(registry: RegistryInfo, repo: str, tag: str, image: Image, what: str,
          culprit: str) -> Broken:
    digest = registry.client.push_image(repo, image, tag=tag)
    return Broken(registry.ref(repo, tag), repo, tag, digest, image, what, culprit)


def served_blob_mismatch(registry: RegistryInfo, repo: str, tag: str = "broken",
                         fmt: str = "oci", compression: str = "gzip") -> Broken:
    """The registry serves other bytes than the layer digest names.

    The registry checks digests on upload, so the stored data file is
    replaced after the push. The replacement is an equally long, valid layer
    (gzip level 0 stores random data verbatim, zstd emits raw blocks), so only
    the digest check can catch it, not a decoder error. zstd still finds a
    chance match in random data now and then (about 1 seed in 30 gives a
    size a byte off), so seeds are tried until two give the same size: the
    first seed may itself be the odd one, so it is not the one all others
    must match.
    """
    seed = secrets.randbits(64)
    level = 0 if compression == "gzip" else None
    by_size: dict[int, Layer] = {}
    for other in range(seed, seed + 9):
        layer = _layer(compression, other, level)
        if layer.blob.size in by_size:
            good, evil = by_size[layer.blob.size], layer
            break
        by_size[layer.blob.size] = layer
    else:
        raise RuntimeError(f"{compression}: no two layers of the same size in 9 seeds")
    broken = _push(registry, repo, tag, build_image([good], fmt=fmt),
                   "the registry serves bytes that do not hash to the layer digest",
                   good.blob.digest)
    registry.blob_data_path(good.blob.digest).write_bytes(evil.blob.data)
    return broken


def wrong_diff_id(registry: RegistryInfo, repo: str, tag: str = "broken",
                  fmt: str = "oci") -> Broken:
    """The config's rootfs.diff_ids[0] is not the uncompressed layer's digest."""
    layer = _layer()
    image = _assemble(fmt, layer, diff_id=sha256_digest(b"not this layer"))
    return _push(registry, repo, tag, image,
                 "config rootfs.diff_ids[0] does not match the uncompressed layer",
                 layer.blob.digest)


def deep_tree_then_bad_entry(registry: RegistryInfo, repo: str, tag: str = "broken",
                             fmt: str = "oci", levels: int = 12_000) -> Broken:
    """A small layer building a tree `levels` directories deep (symlink hops
    keep every name short, trees.deep_tree_entries), then a hardlink to
    nothing, which an unpacker refuses only once the whole tree is on disk:
    a failed unpack must then remove it."""
    entries = trees.deep_tree_entries(levels) + [Entry(DANGLING_LINK, "hardlink", linkname="nothing")]
    layer = build_layer(entries)
    return _push(registry, repo, tag, build_image([layer], fmt=fmt),
                 f"a {levels}-level tree, then a hardlink to nothing", layer.blob.digest)


def _wrong_size(registry: RegistryInfo, repo: str, tag: str, fmt: str, delta: int) -> Broken:
    layer = _layer()
    descriptor = {**layer.descriptor(fmt), "size": layer.blob.size + delta}
    image = _assemble(fmt, layer, layer_descriptor=descriptor)
    return _push(registry, repo, tag, image,
                 f"the layer descriptor's size is {delta:+d} bytes off", layer.blob.digest)


def size_too_big(registry: RegistryInfo, repo: str, tag: str = "broken",
                 fmt: str = "oci") -> Broken:
    """The descriptor claims 100 bytes more than the blob has."""
    return _wrong_size(registry, repo, tag, fmt, +100)


def size_too_small(registry: RegistryInfo, repo: str, tag: str = "broken",
                   fmt: str = "oci") -> Broken:
    """The descriptor claims 100 bytes fewer than the blob has."""
    return _wrong_size(registry, repo, tag, fmt, -100)


def truncated_gzip(registry: RegistryInfo, repo: str, tag: str = "broken",
                   fmt: str = "oci") -> Broken:
    """A gzip layer cut in half. The descriptor matches the cut bytes, so
    only the decoder (unexpected end of stream) can notice."""
    full = _layer("gzip")
    cut = Blob.of(full.blob.data[: full.blob.size // 2])
    layer = Layer(cut, "gzip", full.diff_id, full.entries)
    return _push(registry, repo, tag, _assemble(fmt, layer),
                 "the gzip stream ends halfway", cut.digest)


def _first_block_offset(frame: bytes) -> int:
    """Where the first block header starts (RFC 8878 §3.1.1.1: magic,
    Frame_Header_Descriptor, optional Window_Descriptor, Dictionary_ID,
    Frame_Content_Size)."""
    descriptor = frame[4]
    single_segment = (descriptor >> 5) & 1
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
    did_size = (0, 1, 2, 4)[descriptor & 3]
    return 4 + 1 + (0 if single_segment else 1) + did_size + fcs_size


def corrupt_zstd(registry: RegistryInfo, repo: str, tag: str = "broken",
                 fmt: str = "oci") -> Broken:
    """A zstd layer whose first block has the Reserved block type (RFC 8878
    §3.1.1.2.2: "must be treated as corrupted data"). The descriptor matches
    the corrupt bytes."""
    good = _layer("zstd")
    data = bytearray(good.blob.data)
    data[_first_block_offset(data)] |= 0b110  # Block_Type bits 1-2 := 3
    bad = Blob.of(bytes(data))
    layer = Layer(bad, "zstd", good.diff_id, good.entries)
    return _push(registry, repo, tag, _assemble(fmt, layer),
                 "the zstd frame's first block has the reserved block type", bad.digest)


def malformed_config(registry: RegistryInfo, repo: str, tag: str = "broken",
                     fmt: str = "oci") -> Broken:
    """The config blob is JSON cut in half."""
    layer = _layer()
    whole = config_blob(Platform.host(), ImageConfig(), [layer.diff_id]).data
    config = Blob.of(whole[: len(whole) // 2])
    return _push(registry, repo, tag, _assemble(fmt, layer, config=config),
                 "the config blob is not valid JSON", config.digest)


def unknown_layer_media_type(registry: RegistryInfo, repo: str, tag: str = "broken",
                             fmt: str = "oci") -> Broken:
    """A good gzip layer listed under a media type no spec defines."""
    layer = _layer()
    descriptor = layer.blob.descriptor(UNKNOWN_LAYER_TYPE)
    return _push(registry, repo, tag, _assemble(fmt, layer, layer_descriptor=descriptor),
                 f"the layer media type is {UNKNOWN_LAYER_TYPE}", layer.blob.digest)


GENERATORS: dict[str, Callable[..., Broken]] = {
    "served_blob_mismatch": served_blob_mismatch,
    "wrong_diff_id": wrong_diff_id,
    "size_too_big": size_too_big,
    "size_too_small": size_too_small,
    "truncated_gzip": truncated_gzip,
    "corrupt_zstd": corrupt_zstd,
    "malformed_config": malformed_config,
    "unknown_layer_media_type": unknown_layer_media_type,
}
