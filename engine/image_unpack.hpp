#pragma once
// The cold path of DESIGN.md's flow, wired together: resolve an image, then
// fetch every layer the store lacks while each layer's bytes stream through
// its own pipeline (tee into the store, decode, diff ID, tar, apply). Layers
// the store already holds stream from their blob files. Two outputs: a
// flattened rootfs in a directory (`gantry unpack`), or per-layer snapshots
// in the store (`gantry pull --unpack`, and what `gantry run` stacks).

#include <cstdint>
#include <filesystem>
#include <stop_token>
#include <vector>

#include "core/platform.hpp"
#include "core/reference.hpp"
#include "core/store.hpp"
#include "engine/layer_window.hpp"
#include "engine/timeline.hpp"
#include "registry/client.hpp"
#include "unpack/layer_pipeline.hpp"

namespace gantry::engine {

// Whether the registry is asked for the image (docker run's --pull).
enum class PullPolicy {
  always,   // resolve the reference at the registry
  missing,  // use what a pull left in the store for it; else as always
  never,    // the image must be in the store (Error(not_found) otherwise)
};

struct UnpackOptions {
  // Refuse a layer that expands beyond this many bytes (decompression bombs); 0: no cap.
  std::int64_t max_layer_size = 0;
  PullPolicy pull = PullPolicy::always;
  // Layers of this image decoded and applied at once (layer_window.hpp:
  // layers_in_flight); the engine's LayerBudget bounds them over all images.
  std::size_t layers_in_flight = 4;
  // PullPolicy missing/never: the platform a stored image must be for.
  core::Platform platform = core::Platform::host();
  // A stop requested here (SIGINT/SIGTERM) fails every layer pipeline; the
  // unpack then unwinds as on any failure (nothing half made stays).
  std::stop_token stop;
};

struct UnpackReport {
  registry::ResolvedImage image;
  registry::FetchStats fetched{};
  // The layers unpacked by this call, bottom first (a snapshot already in
  // the store is not unpacked again).
  std::vector<unpack::LayerResult> layers{};
  // unpack_snapshots: every layer's snapshot directory, bottom first.
  std::vector<std::filesystem::path> snapshots{};
  double resolve_seconds = 0;  // of `seconds`: the manifest and config
  double seconds = 0;
  // When the image was ready, in seconds since the timeline's origin (the
  // events' "t").
  double ready_seconds = 0;
};

// Refuses (unsupported) an image of more than kMaxLayers layers: the
// engine calls it for every request once the image is resolved, before its
// timeline or any layer; so the unpacks below take the count as checked.
void refuse_too_many_layers(const registry::ResolvedImage& image);

// A flattened rootfs of `image` (resolved) in `rootfs` (created, or an existing empty
// directory; see RootfsTarget): complete, or the error is rethrown and
// nothing half-applied is left looking complete. On success every blob is
// verified in the store and the reference recorded in its index.json, as
// `gantry pull` would. Both stamp each layer's queued, applied and
// committed on `timeline` (its layers set already).
UnpackReport unpack_rootfs(registry::Client& client, core::ContentStore& store, const registry::ResolvedImage& image,
                           const std::filesystem::path& rootfs, const UnpackOptions& options, LayerBudget& budget,
                           const ImageTimeline& timeline);

// Every layer of `image` (resolved) as a snapshot in the store (overlay whiteout
// form, named by chain ID), and the image in the store as `gantry pull`
// would leave it. A layer whose snapshot is present is not unpacked again
// (its blob is fetched only if the store lacks it); the others unpack at
// once, each into its own snapshot, and each is complete (renamed into
// place) only after its diff ID matched. A failed layer leaves no
// snapshot; the ones completed below it stay (they are correct).
UnpackReport unpack_snapshots(registry::Client& client, core::ContentStore& store, const registry::ResolvedImage& image,
                              const UnpackOptions& options, LayerBudget& budget, const ImageTimeline& timeline);

}  // namespace gantry::engine
