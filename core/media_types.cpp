#include "core/media_types.hpp"

#include <array>
#include <string>
#include <utility>

#include "core/detail/json_quote.hpp"
#include "core/error.hpp"

namespace gantry::core::media_type {

namespace {

// Every tar layer type gantry unpacks, with the compression its name declares.
// The OCI types are image-spec media-types.md (non-distributable ones are
// deprecated in v1.1 but still pushed by Windows images, and their bytes are
// an ordinary tar); the Docker types are "Image Manifest V 2, Schema 2" plus
// the uncompressed and zstd spellings containerd also accepts
// (images/mediatypes.go), which real registries serve.
constexpr std::array<std::pair<std::string_view, Compression>, 11> kLayerTypes{{
    {kOciLayer, Compression::none},
    {kOciLayerGzip, Compression::gzip},
    {kOciLayerZstd, Compression::zstd},
    {kOciLayerNondistributable, Compression::none},
    {kOciLayerNondistributableGzip, Compression::gzip},
    {kOciLayerNondistributableZstd, Compression::zstd},
    {kDockerLayerGzip, Compression::gzip},
    {kDockerForeignLayerGzip, Compression::gzip},
    {"application/vnd.docker.image.rootfs.diff.tar", Compression::none},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar", Compression::none},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", Compression::zstd},
}};

}  // namespace

std::string_view to_string(Compression compression) {
  switch (compression) {
    case Compression::none: return "none";
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
  }
  return "unknown";
}

bool is_manifest(std::string_view type) { return type == kOciManifest || type == kDockerManifest; }

bool is_index(std::string_view type) { return type == kOciIndex || type == kDockerManifestList; }

bool is_config(std::string_view type) { return type == kOciConfig || type == kDockerConfig; }

Compression layer_compression(std::string_view type) {
  for (const auto& [name, compression] : kLayerTypes) {
    if (name == type) return compression;
  }
  // Encrypted (+encrypted), artifact and unknown types all land here: we
  // cannot turn them into a root filesystem, so saying so beats guessing.
  throw Error(ErrorKind::unsupported, "unsupported layer media type " + detail::quoted(type));
}

}  // namespace gantry::core::media_type
