#pragma once
// What `gantry images` shows: one row per image the store holds under a
// reference — the manifest a reference names, or each platform of the
// index it names whose manifest was pulled.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/descriptor.hpp"
#include "core/platform.hpp"
#include "core/store.hpp"

namespace gantry::engine {

struct ListedImage {
  std::string name;  // the reference (an entry other tools wrote without one: its digest)
  core::Descriptor manifest;
  std::optional<core::Descriptor> index;  // the index the reference names, when it does
  core::Platform platform;                // the index entry's, else the config's
  std::int64_t compressed_bytes = 0;      // config and layers, as the manifest declares them
  std::size_t layers = 0;
  std::size_t snapshots_present = 0;            // of `layers`
  std::optional<std::int64_t> unpacked_bytes{};  // on disk, over the snapshots present; none if none is
};

// In index.json's order, an index's platforms in its order. An index none
// of whose platforms was pulled lists nothing. Error(kind) naming the
// reference for a document that cannot be read (altered, malformed).
[[nodiscard]] std::vector<ListedImage> list_images(const core::ContentStore& store);

}  // namespace gantry::engine
