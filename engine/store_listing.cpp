#include "engine/store_listing.hpp"

#include "core/error.hpp"
#include "core/file_tree.hpp"
#include "core/manifest.hpp"
#include "core/media_types.hpp"

namespace gantry::engine {
namespace {

ListedImage listed(const core::ContentStore& store, std::string name, const core::Descriptor& manifest_descriptor,
                   const std::optional<core::Descriptor>& index) {
  const core::Manifest manifest = core::parse_manifest(
      store.read_blob(manifest_descriptor.digest, core::kMaxManifestSize), manifest_descriptor.media_type);
  const core::ImageConfig config = core::parse_config(store.read_blob(manifest.config.digest, core::kMaxConfigSize));
  ListedImage image{.name = std::move(name),
                    .manifest = manifest_descriptor,
                    .index = index,
                    .platform = manifest_descriptor.platform.value_or(config.platform),
                    .compressed_bytes = manifest.config.size,
                    .layers = manifest.layers.size()};
  for (const core::Descriptor& layer : manifest.layers) image.compressed_bytes += layer.size;
  for (const core::Digest& chain : core::chain_ids(config.diff_ids)) {
    if (!store.has_snapshot(chain)) continue;
    ++image.snapshots_present;
    image.unpacked_bytes = image.unpacked_bytes.value_or(0) + core::tree_usage(store.snapshot_path(chain)).bytes;
  }
  return image;
}

}  // namespace

std::vector<ListedImage> list_images(const core::ContentStore& store) {
  std::vector<ListedImage> out;
  for (const core::Descriptor& entry : store.refs()) {
    std::string name = core::ref_name(entry).value_or(entry.digest.string());
    try {
      if (!store.has_blob(entry.digest)) continue;  // named, but never stored (another tool's entry)
      if (core::media_type::is_index(entry.media_type)) {
        const core::Index index =
            core::parse_index(store.read_blob(entry.digest, core::kMaxManifestSize), entry.media_type);
        for (const core::Descriptor& platform : core::runnable_entries(index)) {
          if (store.has_blob(platform.digest)) out.push_back(listed(store, name, platform, entry));
        }
      } else if (core::media_type::is_manifest(entry.media_type)) {
        out.push_back(listed(store, name, entry, std::nullopt));
      }
    } catch (const core::Error& e) {
      throw core::prefixed(e, name);
    }
  }
  return out;
}

}  // namespace gantry::engine
