"""Images, indexes and manifest lists built from layers.

The JSON follows image-spec config.md / manifest.md / image-index.md for "oci"
and Docker's image manifest v2 schema 2 / manifest list for "docker". The
low-level pieces (config_blob, manifest_blob) are public so the broken-image
generators can assemble manifests that lie.
"""

from __future__ import annotations

import json
import platform as host_platform
from dataclasses import dataclass, field
from pathlib import Path

from . import mediatypes, trees
from .blob import Blob
from .layers import Layer, build_layer
from .tarwriter import Entry

CREATED = "2023-11-14T22:13:20Z"  # fixed, so configs (and digests) are reproducible
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64", "i686": "386"}


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @classmethod
    def host(cls) -> Platform:
        """This machine's platform, in Go's GOARCH names as registries use them."""
        machine = host_platform.machine()
        return cls("linux", _GO_ARCH.get(machine, machine))

    def to_json(self) -> dict:
        doc = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            doc["variant"] = self.variant
        return doc

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config ("config" in config.md)."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = (DEFAULT_PATH,)
    user: str | None = None
    working_dir: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        doc: dict = {"Env": list(self.env)}
        for key, value in (("Entrypoint", self.entrypoint), ("Cmd", self.cmd)):
            if value is not None:
                doc[key] = list(value)
        for key, value in (("User", self.user), ("WorkingDir", self.working_dir)):
            if value is not None:
                doc[key] = value
        if self.labels:
            doc["Labels"] = dict(self.labels)
        return doc


def json_bytes(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def config_json(platform: Platform, config: ImageConfig, diff_ids: list[str]) -> dict:
    return {
        "created": CREATED,
        **platform.to_json(),
        "config": config.to_json(),
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": CREATED, "created_by": "gantry testbed"} for _ in diff_ids],
    }


def config_blob(platform: Platform, config: ImageConfig, diff_ids: list[str]) -> Blob:
    return Blob.of(json_bytes(config_json(platform, config, diff_ids)))


def manifest_blob(fmt: str, config: dict, layers: list[dict]) -> Blob:
    """An image manifest over the given descriptors, taken as they are."""
    return Blob.of(json_bytes({
        "schemaVersion": 2,
        "mediaType": mediatypes.MANIFEST[fmt],
        "config": config,
        "layers": layers,
    }))


@dataclass(frozen=True)
class Image:
    """What a push sends: the layer blobs, the config blob, then the manifest."""

    format: str
    platform: Platform
    layers: tuple[Layer, ...]
    config: Blob
    manifest: Blob

    @property
    def media_type(self) -> str:
        return mediatypes.MANIFEST[self.format]

    @property
    def digest(self) -> str:
        return self.manifest.digest

    def blobs(self) -> list[Blob]:
        return [layer.blob for layer in self.layers] + [self.config]

    def descriptor(self) -> dict:
        """This manifest as an index entry, with its platform."""
        return self.manifest.descriptor(self.media_type, platform=self.platform.to_json())


@dataclass(frozen=True)
class Index:
    """An OCI image index or a Docker manifest list."""

    format: str
    images: tuple[Image, ...]
    manifest: Blob

    @property
    def media_type(self) -> str:
        return mediatypes.INDEX[self.format]

    @property
    def digest(self) -> str:
        return self.manifest.digest


def build_image(layers: list[Layer], *, config: ImageConfig = ImageConfig(),
                platform: Platform | None = None, fmt: str = "oci") -> Image:
    platform = platform or Platform.host()
    cfg = config_blob(platform, config, [layer.diff_id for layer in layers])
    manifest = manifest_blob(fmt, cfg.descriptor(mediatypes.CONFIG[fmt]),
                             [layer.descriptor(fmt) for layer in layers])
    return Image(fmt, platform, tuple(layers), cfg, manifest)


def build_index(images: list[Image], fmt: str = "oci") -> Index:
    if any(image.format != fmt for image in images):
        raise ValueError(f"an {fmt} index can only list {fmt} manifests")
    manifest = Blob.of(json_bytes({
        "schemaVersion": 2,
        "mediaType": mediatypes.INDEX[fmt],
        "manifests": [image.descriptor() for image in images],
    }))
    return Index(fmt, tuple(images), manifest)


def files_layer(files: dict[str, str], compression: str = "gzip") -> Layer:
    """One layer holding `files` (path: text), with their parent directories."""
    entries, dirs = [], set()
    for path in sorted(files):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i]) + "/"
            if parent not in dirs:
                dirs.add(parent)
                entries.append(Entry(parent, kind="dir"))
        entries.append(Entry("/".join(parts), data=files[path].encode()))
    return build_layer(entries, compression)


def busybox_image(fmt: str = "oci", compression: str = "gzip", *,
                  busybox: Path = trees.BUSYBOX, files: dict[str, str] | None = None) -> Image:
    """A real, runnable one-layer image around the machine's static busybox;
    with `files`, a second layer holding them (images that share a base)."""
    layers = [build_layer(trees.busybox_entries(busybox), compression)]
    if files:
        layers.append(files_layer(files, compression))
    return build_image(layers, fmt=fmt, config=ImageConfig(cmd=("sh",)))


def rich_image(fmt: str = "oci", compression: str = "gzip", *, files: dict[str, str] | None = None) -> Image:
    """Two layers exercising every entry feature the builder has: the base
    tree, then a layer with a whiteout, an opaque directory and an overwrite;
    with `files`, a third layer holding them."""
    layers = [build_layer(trees.rich_base_entries(), compression),
              build_layer(trees.rich_top_entries(), compression)]
    if files:
        layers.append(files_layer(files, compression))
    config = ImageConfig(entrypoint=("/bin/sh", "-c"), cmd=("echo hello",),
                         env=(DEFAULT_PATH, "GANTRY_TESTBED=1"), user="1000:1000",
                         working_dir="/srv", labels={"org.example.testbed": "rich"})
    return build_image(layers, fmt=fmt, config=config)


def platform_image(platform: Platform, fmt: str = "oci", compression: str = "gzip") -> Image:
    """A one-file image whose content names its platform, so a test can tell
    which manifest of an index was picked."""
    layer = build_layer(trees.platform_entries(str(platform)), compression)
    return build_image([layer], fmt=fmt, platform=platform,
                       config=ImageConfig(cmd=("cat", "/etc/platform")))
