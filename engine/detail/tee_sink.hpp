#pragma once
// A layer download teed into the store and into a layer pipeline
// (layer_streams.cpp). Internal to the engine.

#include <exception>
#include <filesystem>
#include <future>

#include "registry/blob_sink.hpp"
#include "engine/detail/layer_input.hpp"

namespace gantry::engine::detail {

// One blob being downloaded for the pipelines: the first layer that names
// it gets the bytes; later copies of the same blob in the image (empty
// layers repeat) read it from the store once it is committed.
struct Download {
  LayerInput* input = nullptr;  // null: the blob is wanted in the store only
  std::promise<void> committed;
  std::shared_future<void> committed_future = committed.get_future().share();
  bool settled = false;
  // A host (a mirror) sent bytes that did not match the digest, and the
  // pipeline had them: it failed, and the fetcher's next host fills the
  // store only. The caller may unpack again from the store.
  bool tainted = false;

  void settle(std::exception_ptr error);
};

// Sends a download into the store's sink (partial file, compressed digest)
// and, through the file, into the layer's pipeline: the fetcher only
// appends to the partial file and never pauses; once the layer is
// admitted, its feed (LayerInput) reads the file (what came so far, a
// resumed download's earlier bytes, then the rest as it comes) into the
// pipeline at the pipeline's pace. So the network never waits for a
// pipeline, and memory stays the pipeline's bounded queues: what the
// pipeline has not taken yet waits in the page cache. The compressed digest
// is checked by the store before the pipeline hears that its input is
// complete.
[[nodiscard]] registry::BlobSinkPtr make_tee_sink(registry::BlobSinkPtr store, std::filesystem::path partial,
                                                  std::filesystem::path blob, Download& download);

}  // namespace gantry::engine::detail
