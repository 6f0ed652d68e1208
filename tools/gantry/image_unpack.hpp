#pragma once
// The cold path of DESIGN.md's flow, wired together: resolve an image, then
// fetch every layer the store lacks while each layer's bytes stream through
// its own pipeline (tee into the store, decode, diff ID, tar, apply). Layers
// the store already holds stream from their blob files. This is the one
// place that joins registry/ and unpack/ (DESIGN.md: they never include
// each other).

#include <cstdint>
#include <filesystem>
#include <vector>

#include "core/reference.hpp"
#include "core/store.hpp"
#include "registry/client.hpp"
#include "unpack/layer_pipeline.hpp"

namespace gantry::tools {

struct UnpackOptions {
  // Refuse a layer that expands beyond this many bytes (decompression bombs); 0: no cap.
  std::int64_t max_layer_size = 0;
};

struct UnpackReport {
  registry::ResolvedImage image;
  registry::FetchStats fetched{};
  std::vector<unpack::LayerResult> layers{};
  double seconds = 0;
};

// A flattened rootfs of `reference` in `rootfs` (created, or an existing empty
// directory). A new directory appears only when complete (built beside it and
// renamed); an existing one is emptied again on failure; either way nothing
// half-applied is left looking complete, and the error is rethrown. On
// success every blob is verified in the store and the reference recorded in
// its index.json, as `gantry pull` would.
UnpackReport unpack_rootfs(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                           const std::filesystem::path& rootfs, const UnpackOptions& options);

}  // namespace gantry::tools
