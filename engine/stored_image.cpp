#include "engine/stored_image.hpp"

#include <utility>

#include "core/manifest.hpp"
#include "core/media_types.hpp"

namespace gantry::engine {

std::optional<registry::ResolvedImage> resolve_stored(const core::Reference& reference,
                                                      const core::ContentStore& store,
                                                      const core::Platform& wanted) {
  std::optional<core::Descriptor> stored = store.find_ref(reference.string());
  if (!stored) return std::nullopt;
  std::optional<core::Descriptor> index_descriptor;
  std::string index_bytes;
  std::optional<core::Index> index;
  if (core::media_type::is_index(stored->media_type)) {
    // The index the name was pulled through: the platform's manifest is
    // here only if that platform was pulled.
    index_bytes = store.read_blob(stored->digest, core::kMaxManifestSize);
    index = core::parse_index(index_bytes, stored->media_type);
    const core::Descriptor* entry = core::find_platform(*index, wanted);
    if (entry == nullptr || !store.has_blob(entry->digest)) return std::nullopt;
    index_descriptor = std::exchange(stored, *entry);
  }
  if (!core::media_type::is_manifest(stored->media_type)) return std::nullopt;
  std::string manifest_bytes = store.read_blob(stored->digest, core::kMaxManifestSize);
  core::Manifest manifest = core::parse_manifest(manifest_bytes, stored->media_type);
  std::string config_bytes = store.read_blob(manifest.config.digest, core::kMaxConfigSize);
  core::ImageConfig config = core::parse_config(config_bytes);
  core::Platform platform = stored->platform ? *stored->platform : config.platform;
  if (!core::matches(wanted, platform)) return std::nullopt;
  return registry::ResolvedImage{.reference = reference,
                                 .index_descriptor = std::move(index_descriptor),
                                 .index_bytes = std::move(index_bytes),
                                 .index = std::move(index),
                                 .manifest_descriptor = std::move(*stored),
                                 .manifest_bytes = std::move(manifest_bytes),
                                 .manifest = std::move(manifest),
                                 .config_bytes = std::move(config_bytes),
                                 .config = std::move(config),
                                 .platform = std::move(platform)};
}

}  // namespace gantry::engine
