"""Media types the builder writes (image-spec media-types.md; Docker image
manifest v2 schema 2; containerd's names where Docker has none)."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

FORMATS = ("oci", "docker")
COMPRESSIONS = ("gzip", "zstd", "none")

MANIFEST = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST}
INDEX = {"oci": OCI_INDEX, "docker": DOCKER_LIST}
CONFIG = {"oci": OCI_CONFIG, "docker": DOCKER_CONFIG}

# Docker schema 2 only names gzip layers; distribution's
# MediaTypeUncompressedLayer and containerd's zstd type fill the gaps.
LAYER = {
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("docker", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("docker", "zstd"): "application/vnd.docker.image.rootfs.diff.tar.zstd",
    ("docker", "none"): "application/vnd.docker.image.rootfs.diff.tar",
}

# Every manifest type, for Accept headers when reading back.
MANIFEST_ACCEPT = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
