#pragma once
// Layer bytes into layer pipelines: blobs the store lacks are fetched once
// per digest and teed into the store (which checks the compressed digest)
// and the pipeline at once; blobs the store holds stream from their files.
// This is where registry/ meets unpack/ (DESIGN.md: they never include each
// other).

#include <span>

#include "core/descriptor.hpp"
#include "core/reference.hpp"
#include "core/store.hpp"
#include "registry/client.hpp"
#include "engine/detail/layer_input.hpp"

namespace gantry::engine::detail {

struct LayerFeed {
  core::Descriptor blob;
  // The layer's input; null: the blob only has to be in the store.
  LayerInput* input = nullptr;
};

struct StreamResult {
  registry::FetchStats fetched{};
  // A host (a mirror) sent wrong bytes for a layer, which failed its
  // pipeline; the next host's right bytes went into the store only. Those
  // layers unpack if the caller starts over.
  bool refetched_wrong_bytes = false;
};

// Returns when every blob is in the store: an input's bytes reach it
// (LayerInput::feed_with) once its layer is admitted, from the store or
// from its download's file. Throws the fetch's error after failing every
// input.
StreamResult stream_layers(registry::Client& client, core::ContentStore& store, const core::Reference& reference,
                           std::span<const LayerFeed> feeds);

}  // namespace gantry::engine::detail
